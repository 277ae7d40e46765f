"""Many documents from one upload, for a batch (#20): a ZIP's files, a CSV's rows, or a file.

`iter_inputs(name, data)` yields one `InputItem` per document, in order: a name to show
people, and the member's bytes (to convert with `read_document`), a CSV row's text, or the
`DocumentError` that says why this one cannot be read. A bad item never stops the rest;
`to_document(item)` turns a good one into a `Document`.

- **A ZIP** (by its name, `.zip`) is read in memory, a member at a time; nothing is written to
  disk and no member's name is ever used as a path. Names are shown escaped (`shown_name`):
  controls and format characters as `\\xNN`, and a name that points outside the archive (a
  `..` part, a leading `/`, a drive letter) with those parts escaped, so it cannot pass for a
  path. Directories and macOS's `__MACOSX/` copies are skipped without a row. A ZIP inside
  the ZIP is not opened (no level of nesting: its row says to unpack it). Zip bombs: the
  archive's member count and total unpacked size (`ziplimits`, as for Word files) refuse the
  whole archive; a member growing more than `MAX_RATIO` times, or larger than the file limit
  (`FIELDSTREAM_MAX_FILE_MB`), is refused by name. Password-protected members, links and
  members zipfile cannot unpack are refused by name.
- **A CSV** (`.csv` or `.tsv`) with `text_column` set: each row whose cell in that column is
  not blank is one document, named `file.csv row N` with N as a spreadsheet numbers it (the
  header is row 1; a quoted multi-line cell is one row). Any common encoding (`decode`); the
  delimiter is the most frequent of `, ; tab |` in the header line. Without `text_column` a CSV
  is one plain document.
- **An Excel workbook** (`.xlsx`, `.xlsm`) works like a CSV, on its active sheet (the first
  worksheet if the active one is a chart): the header is the first row that is not blank, and
  each later row whose cell in `text_column` is not blank is one document, `file.xlsx row N`
  (N as Excel numbers it). Only the values Excel saved are read (openpyxl, `data_only`): a
  formula gives the value it had when the file was saved, never computed here, and a formula
  with none saved is blank. Numbers, dates and booleans in the text column become text
  (`12`, `2024-05-01`, `TRUE`). The workbook is a ZIP: the same zip-bomb checks as a Word
  file (`ziplimits`: members, total, ratio) come first and refuse it with one message; so is
  a damaged file, and a password-protected one (Office then writes an OLE file, not a ZIP).
  An `.xlsm`'s macros are never run nor read. Without `text_column` a workbook is one row
  saying to choose the column. An old binary `.xls` is refused: save it as `.xlsx` or CSV.
- `table_columns(name, data)` lists a CSV's or a workbook's header for a person to pick the
  text column (`csv_columns` is its CSV half).
- **Anything else** is one item with its bytes; `read_document` decides whether it can read it.

Duplicates: an item whose bytes (a row: its text) were seen before in the same call, or in the
`seen` mapping a caller shares between uploads, says so in `duplicate_of` (the first one's
name), so a batch can run it once and point both rows at the result."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import stat
import sys
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from engine import settings
from engine.documents.decode import Undecodable, decode
from engine.documents.model import Document, DocumentError, sha256
from engine.documents.read import check_size
from engine.documents.ziplimits import (
    OfficeKind,
    check_count,
    check_office,
    check_ratio,
    check_total,
)

CSV_SUFFIXES = (".csv", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
#: The workbooks read (Office Open XML); `.xls` is the old binary format, refused.
XLSX_SUFFIXES = (".xlsx", ".xlsm")
OLD_XLS = ("this is an old Excel file (.xls), which is not read. Open it in Excel and save it "
           "as .xlsx (Excel Workbook) or as CSV UTF-8, and choose that.")
NO_COLUMN = ("an Excel file gives one document per row: choose the column that holds the "
             "text.")
DELIMITERS = ",;\t|"
#: Characters a reader or a terminal would act on (as engine.stream.terminal; documents/ sits
#: below stream/ and cannot import it).
_ACTED_ON = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
OUTSIDE = ("its name in the archive is a path that climbs out (`..`) or starts at a root; it "
           "is shown escaped and never used as a path.")
#: A `..` part of an escaped name (parts are split by `/`, or by a backslash, now `\\x5c`).
_UP = re.compile(r"(?:(?<=^)|(?<=/)|(?<=\\x5c))\.\.(?=$|/|\\x5c)")
CONTROLS = "its name holds control or invisible characters, shown escaped."


@dataclass(frozen=True)
class InputItem:
    """One document of a batch, or why one cannot be read. Exactly one of `data`, `text`,
    `error` is set."""

    #: What people see: escaped (`shown_name`), never a path.
    name: str
    #: The upload it came from (escaped), the same as `name` for a plain file.
    source: str
    data: bytes | None = None
    text: str | None = None
    error: DocumentError | None = None
    #: Of `data`, or of `text` in UTF-8; "" for an error.
    sha256: str = ""
    #: The name of the earlier item with the same bytes (or row text), if any.
    duplicate_of: str | None = None
    notes: tuple[str, ...] = ()


def iter_inputs(name: str, data: bytes, *, text_column: str | None = None,
                env: settings.Env | None = None,
                seen: MutableMapping[str, str] | None = None) -> Iterator[InputItem]:
    """The documents in the upload `data`, named `name` (see the module's docstring). Never
    raises `DocumentError`: a problem with the whole upload (not a ZIP, a zip bomb, a column
    the CSV lacks) is one item with its error. `seen` (sha256 → name) carries duplicate
    detection across uploads; a fresh one per call when not given."""
    seen = {} if seen is None else seen
    shown, _ = shown_name(name)
    suffix = PurePosixPath(name).suffix.lower()
    max_bytes = settings.max_file_bytes(env)
    if suffix == ".zip":
        items = _zip_items(shown, data, max_bytes)
    elif suffix in XLSX_SUFFIXES and text_column is not None:
        items = _table_items(shown, _excel_rows(shown, data), text_column, max_bytes)
    elif suffix in EXCEL_SUFFIXES:
        items = iter([_failed(shown, shown, OLD_XLS if suffix == ".xls" else NO_COLUMN)])
    elif suffix in CSV_SUFFIXES and text_column is not None:
        items = _table_items(shown, _csv_rows(shown, data), text_column, max_bytes)
    else:
        items = iter([InputItem(shown, shown, data=data, sha256=sha256(data))])
    for item in items:
        yield _flag_duplicate(item, seen)


def table_columns(name: str, data: bytes) -> list[str]:
    """The column names of a CSV (`.csv`, `.tsv`) or Excel workbook (`.xlsx`, `.xlsm`): its
    header row, stripped, for a person to pick the text column. A `DocumentError` for a file
    that cannot be read, is empty, or is no table (an `.xls` says what to do)."""
    shown, _ = shown_name(name)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return csv_columns(data, name=shown)
    if suffix == ".xls":
        raise DocumentError(shown, OLD_XLS)
    if suffix not in XLSX_SUFFIXES:
        raise DocumentError(shown, "only a CSV or an Excel (.xlsx) file has columns to pick.")
    header = _header(_excel_rows(shown, data))
    if header is None:
        raise DocumentError(shown, "the sheet is empty.")
    return header


def csv_columns(data: bytes, *, name: str = "the CSV file") -> list[str]:
    """The CSV's column names (its header, the first row not blank, stripped), to pick the text
    column; a `DocumentError` for a file that is no CSV text or is empty."""
    header = _header(_csv_rows(name, data))
    if header is None:
        raise DocumentError(name, "the file is empty.")
    return header


def to_document(item: InputItem, *, env: settings.Env | None = None) -> Document:
    """The item's `Document`: a row's text as it is; a file's bytes through `read_document`
    (a child process, the settings' limits). Raises the item's `DocumentError`."""
    if item.error is not None:
        raise item.error
    if item.text is not None:
        encoded = item.text.encode("utf-8")
        return Document(name=item.name, type="text", size=len(encoded), sha256=item.sha256,
                        text=item.text)
    from engine.documents import read_document  # the package imports this module's layer

    assert item.data is not None
    return read_document(item.name, item.data, env=env)


def shown_name(raw: str) -> tuple[str, tuple[str, ...]]:
    """(`raw` safe to show, notes saying what was escaped). Controls and invisible characters
    become `\\xNN` / `\\uNNNN` (a backslash itself `\\x5c`, so an escape is never ambiguous);
    a name's `..` parts, a leading `/` and a drive letter's colon are escaped too."""
    notes: list[str] = []
    out = "".join(_escape_char(ch) for ch in raw)
    if out != raw.replace("\\", "\\x5c"):
        notes.append(CONTROLS)
    parts = raw.replace("\\", "/").split("/")
    drive = len(raw) > 1 and raw[0].isalpha() and raw[1] == ":"
    if raw.startswith(("/", "\\")) or drive or ".." in parts:
        out = _UP.sub(r"\\x2e\\x2e", out)
        if out.startswith("/"):
            out = "\\x2f" + out[1:]
        if drive:
            out = out[0] + "\\x3a" + out[2:]
        notes.append(OUTSIDE)
    return out, tuple(notes)


def _escape_char(ch: str) -> str:
    if ch == "\\":
        return "\\x5c"
    if ch.isprintable() or unicodedata.category(ch) not in _ACTED_ON:
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _failed(name: str, source: str, problem: str, notes: tuple[str, ...] = ()) -> InputItem:
    return InputItem(name, source, error=DocumentError(name, problem), notes=notes)


def _flag_duplicate(item: InputItem, seen: MutableMapping[str, str]) -> InputItem:
    if not item.sha256:
        return item
    first = seen.setdefault(item.sha256, item.name)
    if first == item.name:
        return item
    return InputItem(item.name, item.source, data=item.data, text=item.text,
                     sha256=item.sha256, duplicate_of=first, notes=item.notes)


# --- ZIP ---------------------------------------------------------------------------------


def _zip_items(source: str, data: bytes, max_bytes: int) -> Iterator[InputItem]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        yield _failed(source, source, "the name says .zip but the file is not a ZIP archive, "
                                      "or it is damaged.")
        return
    with archive:
        members = archive.infolist()
        try:
            check_count(source, len(members), parts="entries")
            check_total(source, members)
        except DocumentError as exc:
            yield InputItem(source, source, error=exc)
            return
        for info in members:
            if info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue  # (macOS's resource copies: `._name` beside every file)
            yield _member(archive, info, source, max_bytes)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str,
            max_bytes: int) -> InputItem:
    name, notes = shown_name(info.filename)
    problem = _member_problem(info)
    if problem:
        return _failed(name, source, problem, notes)
    try:
        check_size(name, info.file_size, max_bytes)
        check_ratio(name, info, "this file")
        with archive.open(info) as member:
            body = member.read(max_bytes + 1)  # bounded even if zipfile were lied to
        check_size(name, len(body), max_bytes)
    except DocumentError as exc:
        return InputItem(name, source, error=exc, notes=notes)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError,
            OSError, ValueError) as exc:
        return _failed(name, source, f"this file in the ZIP is damaged or packed in a way that "
                                     f"cannot be unpacked ({type(exc).__name__}). Unpack the "
                                     "ZIP yourself and add the file on its own.", notes)
    return InputItem(name, source, data=body, sha256=sha256(body), notes=notes)


def _member_problem(info: zipfile.ZipInfo) -> str:
    """What refuses a member before its bytes are read, or ""."""
    if info.flag_bits & 0x1:  # (0x40, strong encryption, comes with 0x1 set)
        return ("this file in the ZIP is protected by a password. Unpack it yourself and add "
                "it on its own.")
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        return "this is a link to another file, not a file; links are not followed."
    if PurePosixPath(info.filename).suffix.lower() == ".zip":
        return ("a ZIP inside the ZIP is not opened. Unpack it and add its files, or add it "
                "on its own.")
    return ""


# --- CSV ---------------------------------------------------------------------------------


def _table_items(source: str, rows: Iterator[list[str]], column: str,
                 max_bytes: int) -> Iterator[InputItem]:
    """A CSV's or a sheet's rows as documents. `rows` yields each row's cells, row 1 first
    (blank rows included, so the count is the spreadsheet's), and raises `DocumentError`
    when the file cannot be read (further); the header is the first row not blank."""
    numbered = enumerate(rows, start=1)
    try:
        header = next((_stripped(row) for _, row in numbered if any(c.strip() for c in row)),
                      [])
    except DocumentError as exc:
        yield InputItem(source, source, error=exc)
        return
    if column.strip() not in header:
        listed = ", ".join(f"“{shown_name(h)[0][:60]}”" for h in header[:20])
        more = f" and {len(header) - 20} more" if len(header) > 20 else ""
        yield _failed(source, source, f"there is no column “{shown_name(column)[0][:60]}”. "
                                      f"Its columns: {listed or 'none'}{more}.")
        return
    index = header.index(column.strip())
    number = 1
    try:
        for number, row in numbered:
            cell = row[index] if index < len(row) else ""
            if cell.strip():
                yield _row_item(f"{source} row {number}", source, cell, max_bytes)
    except DocumentError as exc:
        yield _failed(source, source, f"after row {number}: {exc.problem} The rows before it "
                                      "were read.")


def _header(rows: Iterator[list[str]]) -> list[str] | None:
    """The first row that is not blank, its cells stripped; None for a table without one."""
    return next((_stripped(row) for row in rows if any(c.strip() for c in row)), None)


def _stripped(row: Iterable[str]) -> list[str]:
    return [cell.strip() for cell in row]


def _row_item(name: str, source: str, cell: str, max_bytes: int) -> InputItem:
    text = cell.replace("\r\n", "\n").replace("\r", "\n")
    encoded = text.encode("utf-8", "surrogatepass")
    try:
        check_size(name, len(encoded), max_bytes)
    except DocumentError as exc:
        return InputItem(name, source, error=exc)
    return InputItem(name, source, text=text, sha256=sha256(encoded))


def _csv_rows(name: str, data: bytes) -> Iterator[list[str]]:
    """The rows of a CSV file's bytes; a `DocumentError` for undecodable or malformed text."""
    try:
        text, _ = decode(data)
    except Undecodable as exc:
        raise DocumentError(name, f"cannot be read as text: {exc}.") from exc
    _allow_fields(len(text))
    first = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise DocumentError(name, f"the CSV is malformed at line {reader.line_num} ({exc}).") \
            from exc


def _allow_fields(chars: int) -> None:
    """csv's field limit (131,072 characters by default) raised to what this text could hold:
    a field can be no longer than the text already in memory, and row sizes are checked
    against the file limit after. The limit is process-wide; it is only ever raised, so a
    reader in another thread is never cut short by this one."""
    wanted = min(chars + 1, 2**31 - 1, sys.maxsize)
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


# --- Excel -------------------------------------------------------------------------------


def _excel_rows(name: str, data: bytes) -> Iterator[list[str]]:
    """The active sheet's rows as text, row 1 first (blank rows as empty lists); a
    `DocumentError` for a workbook that cannot be read (see the module's docstring)."""
    _check_workbook(name, data)
    import openpyxl  # here: only a workbook needs it

    damaged = ("the workbook is damaged or is not an Excel workbook, and cannot be read. Open "
               "it in Excel and save it again, or save it as CSV UTF-8.")
    try:
        with warnings.catch_warnings():  # (unsupported extensions, styles: nothing to tell)
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # openpyxl's, zipfile's and the XML parsers' many errors
        raise DocumentError(name, damaged) from exc
    try:
        sheet = _sheet(book)
        if sheet is None:
            raise DocumentError(name, "the workbook has no worksheet (only charts).")
        try:
            for row in sheet.iter_rows(values_only=True):
                yield [_cell_text(value) for value in row]
        except (DocumentError, MemoryError):
            raise
        except Exception as exc:
            raise DocumentError(name, damaged) from exc
    finally:
        book.close()


def _check_workbook(name: str, data: bytes) -> None:
    """The container's checks before openpyxl opens it (`ziplimits.check_office`)."""
    check_office(name, data, WORKBOOK, lambda member: shown_name(member)[0])


WORKBOOK = OfficeKind(
    part="xl/workbook.xml", usual="a workbook has far fewer",
    locked="this workbook is protected by a password. Save a copy without the password and "
           "choose that.",
    older=OLD_XLS,
    not_zip="the name says Excel but the file is not an Excel workbook, or it is damaged.",
    other_zip="the name says Excel but the file is another kind of zip archive, not an Excel "
              "workbook.",
)


def _sheet(book: object) -> object | None:
    """The active sheet, or the first worksheet when the active one is a chart."""
    active = getattr(book, "active", None)
    if hasattr(active, "iter_rows"):
        return active
    return next((ws for ws in getattr(book, "worksheets", []) if hasattr(ws, "iter_rows")),
                None)


def _cell_text(value: object) -> str:
    """A cell's saved value as text: numbers as written (`12`, not `12.0`), dates ISO,
    booleans as Excel shows them, Excel's escaped carriage return as one; "" for an empty
    cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, str):
        # Excel saves a carriage return (a pasted CRLF) as `_x000D_`; openpyxl leaves it.
        return value.replace("_x000D_", "\r")
    return str(value)

