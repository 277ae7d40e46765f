"""A batch's table as a file, one row per document: CSV, JSON Lines or Excel (#20).

The input is plain data (`ExportRow`), so any caller can write it: the batch's page, the CLI.
`fields` are the schema's top-level field names, in order; `rows` any iterable (a generator
over 10,000+ rows is fine: nothing here holds them all).

- **CSV**: UTF-8 with a BOM (Excel then reads it as UTF-8), written by History's one CSV
  writer (`engine.history.export.write_csv`): every cell, the header's included, goes through
  `cell`, so text a spreadsheet would run as a formula gets a leading apostrophe and nested
  values are JSON.
- **JSON Lines**: one object per document, values as JSON (data, not a spreadsheet: nothing
  neutralised), UTF-8 as written; a line holding a lone surrogate is written with `\\u`
  escapes instead, so every line is valid UTF-8 and reads back the same.
- **Excel** (`.xlsx`, xlsxwriter): every text cell, the header's included, with
  `write_string` (never a formula, a number or a link however it looks); numbers as numbers
  (an integer beyond 2**53, which Excel would round, and NaN or infinity as text); booleans as
  `true` / `false`; nested values as compact JSON; nothing for None. Text over Excel's
  32,767-character cell limit (counted in UTF-16, as Excel and xlsxwriter count) is cut with a
  visible mark (`CUT_MARK`). Line ends become LF, Excel's line break in a cell (xlsxwriter
  would write a CR as `_x000D_`, which only Excel reads back). Characters XML 1.0 cannot hold
  (C0 controls but tab and line feed, lone surrogates, U+FFFE, U+FFFF) become U+FFFD, as
  History's CSV does with NUL: no reader has to understand an escape. Written in xlsxwriter's
  `constant_memory` mode (a row at a time), its temporary files in a directory of its own in
  the system's temp folder (never beside a user's file), removed when done, whatever
  happens. The header row is frozen and has a filter.
"""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, BinaryIO

from engine.history.export import write_csv as _write_cells

#: What each row says after its fields, in this order (headers as shown).
TAIL = ("not in text", "reason", "duplicate of", "seconds", "tokens", "run id")
HEAD = ("document", "status")
EXCEL_MAX = 32_767  # characters in a cell (UTF-16 code units)
CUT_MARK = "… [cut: {total:,} characters in all]"
#: What an XML 1.0 document cannot hold (tab, LF and CR it can).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_EXACT_INT = 2**53  # beyond it a double (Excel's only number) rounds an integer

MEDIA_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class ExportRow:
    """One document of a batch as its table shows it."""

    document: str  # the document's shown name
    status: str  # queued, running, done, invalid, failed, cancelled
    fields: Mapping[str, Any]  # top-level field name -> value (any JSON value, may be missing)
    not_in_text: Sequence[str] = ()  # top-level field names whose value is not in the text
    reason: str | None = None  # why it failed / was refused
    run_id: str | None = None
    seconds: float | None = None
    tokens: int | None = None
    duplicate_of: str | None = None  # the first document's name, when this one is a duplicate


def write(kind: str, out: BinaryIO, fields: Sequence[str], rows: Iterable[ExportRow]) -> int:
    """Write the rows as `kind` (a key of `MEDIA_TYPES`); returns how many rows."""
    writer = _WRITERS.get(kind)
    if writer is None:
        raise ValueError(f"unknown export kind {kind!r}; choose one of: "
                         f"{', '.join(MEDIA_TYPES)}")
    return writer(out, fields, rows)


def header(fields: Sequence[str]) -> list[str]:
    """The table's column names: a field named like one of the batch's columns (`status`)
    is shown as `result.status`, as History's CSV does, so it cannot hide that column."""
    own = {*HEAD, *TAIL}
    return [*HEAD, *(f"result.{f}" if f in own else f for f in fields), *TAIL]


def cells(fields: Sequence[str], row: ExportRow) -> list[Any]:
    """One row's values in `header` order (a missing field is None)."""
    return [row.document, row.status, *(row.fields.get(f) for f in fields),
            ", ".join(row.not_in_text) or None, row.reason, row.duplicate_of, row.seconds,
            row.tokens, row.run_id]


# --- CSV -----------------------------------------------------------------------------------


def write_csv(out: BinaryIO, fields: Sequence[str], rows: Iterable[ExportRow]) -> int:
    """The rows as CSV, UTF-8 with a BOM, every cell through History's `cell`."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        body = (cells(fields, row) for row in rows)
        return _write_cells(text, chain([header(fields)], body)) - 1
    finally:
        text.flush()
        text.detach()  # the caller's stream stays open


# --- JSON Lines ----------------------------------------------------------------------------


def write_jsonl(out: BinaryIO, fields: Sequence[str], rows: Iterable[ExportRow]) -> int:
    """The rows as JSON Lines, one object per document (see the module's docstring)."""
    count = 0
    for row in rows:
        out.write(jsonl_line(fields, row))
        count += 1
    return count


def jsonl_line(fields: Sequence[str], row: ExportRow) -> bytes:
    """One row's JSON object and its newline, in UTF-8."""
    values = {f: row.fields[f] for f in fields if f in row.fields}
    values.update((k, v) for k, v in row.fields.items() if k not in values)
    record = {"document": row.document, "status": row.status, "fields": values,
              "not_in_text": list(row.not_in_text), "reason": row.reason,
              "duplicate_of": row.duplicate_of, "seconds": row.seconds, "tokens": row.tokens,
              "run_id": row.run_id}
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: UTF-8 cannot hold it, a \u escape can
        return (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")


# --- Excel ---------------------------------------------------------------------------------


def write_xlsx(out: BinaryIO, fields: Sequence[str], rows: Iterable[ExportRow]) -> int:
    """The rows as an Excel workbook of one sheet (see the module's docstring)."""
    import xlsxwriter  # here: only this export needs it

    names = header(fields)
    with tempfile.TemporaryDirectory(prefix="fieldstream-xlsx-") as tmp:
        book = xlsxwriter.Workbook(out, {
            "constant_memory": True, "tmpdir": tmp,  # rows go to a file there, not memory
            "strings_to_formulas": False, "strings_to_numbers": False,
            "strings_to_urls": False,
        })
        try:
            sheet = book.add_worksheet("Batch")
            bold = book.add_format({"bold": True})
            for col, name in enumerate(names):
                sheet.write_string(0, col, excel_text(name), bold)
            sheet.freeze_panes(1, 0)
            sheet.set_column(0, 0, 32)
            sheet.set_column(2, len(names) - 1, 18)
            count = 0
            for count, row in enumerate(rows, start=1):
                for col, value in enumerate(cells(fields, row)):
                    _excel_cell(sheet, count, col, value)
            sheet.autofilter(0, 0, count, len(names) - 1)
        finally:
            book.close()  # also on an error: xlsxwriter's own files are closed and removed
    return count


def excel_text(value: str) -> str:
    """Text as a cell can hold it: line ends as Excel's (LF), characters XML cannot hold as
    U+FFFD, and at most
    `EXCEL_MAX` UTF-16 units, a longer text cut with `CUT_MARK`."""
    value = _NOT_XML.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))
    if len(value) <= EXCEL_MAX // 2 or _utf16_len(value) <= EXCEL_MAX:
        return value
    mark = CUT_MARK.format(total=len(value))
    room, units = EXCEL_MAX - _utf16_len(mark), 0
    for end, ch in enumerate(value):  # (stops before the end: the text is over the limit)
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > room:
            return value[:end] + mark
    return value  # (not reached)


def _excel_cell(sheet: Any, row: int, col: int, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_string(row, col, "true" if value else "false")
    elif _exact_number(value):
        sheet.write_number(row, col, value)
    elif isinstance(value, int | float):
        sheet.write_string(row, col, repr(value))  # exact digits; NaN, inf spelled out
    elif isinstance(value, str):
        sheet.write_string(row, col, excel_text(value))
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        sheet.write_string(row, col, excel_text(text))


def _exact_number(value: Any) -> bool:
    """A number Excel holds as it is: a finite float, an integer a double holds exactly."""
    if isinstance(value, int):
        return abs(value) <= _EXACT_INT
    return isinstance(value, float) and math.isfinite(value)


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_WRITERS: dict[str, Callable[[BinaryIO, Sequence[str], Iterable[ExportRow]], int]] = {
    "csv": write_csv, "jsonl": write_jsonl, "xlsx": write_xlsx,
}
