"""engine.documents.batch_input (#20): many documents from one upload. Every hostile input is
built here: zip-slip names, bombs, a nested ZIP, a password-protected and a damaged member,
duplicates, a cp1252 CSV with a quoted multi-line cell, a column that is not there; Excel
workbooks written here with xlsxwriter and openpyxl (formulas, blank rows, numbers, dates), a
workbook bomb, a damaged and a password-protected one."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from engine.documents import DocumentError, batch_input
from engine.documents.batch_input import (
    InputItem,
    csv_columns,
    iter_inputs,
    shown_name,
    table_columns,
    to_document,
)
from tests.documents_support import zip_of

LETTER = b"Dear team,\nthe invoice 2026-117 is attached. Total: 1 250 EUR.\n"
SMALL = {"FIELDSTREAM_MAX_FILE_MB": "1"}




def _items(name: str, data: bytes, **kw: object) -> list[InputItem]:
    return list(iter_inputs(name, data, **kw))  # type: ignore[arg-type]


def _by_name(items: list[InputItem]) -> dict[str, InputItem]:
    return {item.name: item for item in items}


# --- ZIP ----------------------------------------------------------------------------------


def test_zip_slip_names_are_shown_escaped_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = zip_of({"../../evil.txt": LETTER, "/etc/abs.txt": LETTER + b"2",
                 "C:\\win\\sys.txt": LETTER + b"3", "clear\x1b[2J\u202etxt.md": LETTER + b"4",
                 "fine/ok.txt": LETTER + b"5"})
    items = _items("upload.zip", data)
    names = [item.name for item in items]
    assert names == ["\\x2e\\x2e/\\x2e\\x2e/evil.txt", "\\x2fetc/abs.txt",
                     "C\\x3a\\x5cwin\\x5csys.txt", "clear\\x1b[2J\\u202etxt.md", "fine/ok.txt"]
    assert all(item.data is not None and item.error is None for item in items)
    assert items[0].data == LETTER
    assert batch_input.OUTSIDE in items[0].notes and batch_input.OUTSIDE in items[2].notes
    assert items[3].notes == (batch_input.CONTROLS,)
    assert items[4].notes == () and {item.source for item in items} == {"upload.zip"}
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent.parent / "evil.txt").exists()
    # The escaped name keeps its extension: the document reads under it.
    assert to_document(items[0]).name == "\\x2e\\x2e/\\x2e\\x2e/evil.txt"


@pytest.mark.parametrize(("raw", "shown"), [
    ("a/b.txt", "a/b.txt"), ("ok..txt", "ok..txt"), ("..a/b.txt", "..a/b.txt"),
    ("a/../b.txt", "a/\\x2e\\x2e/b.txt"), ("a\\..\\b.txt", "a\\x5c\\x2e\\x2e\\x5cb.txt"),
    ("back\\x1b.txt", "back\\x5cx1b.txt"),  # a literal backslash cannot forge an escape
])
def test_shown_name(raw: str, shown: str) -> None:
    assert shown_name(raw)[0] == shown


def test_directories_and_macos_copies_are_skipped_without_a_row() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.mkdir("folder")
        archive.writestr("folder/a.txt", LETTER)
        archive.writestr("__MACOSX/folder/._a.txt", b"\x00\x05\x16\x07resource fork")
    assert [item.name for item in _items("x.zip", out.getvalue())] == ["folder/a.txt"]


def _bomb(megabytes: int, parts: int = 1, extra: dict[str, bytes] | None = None) -> bytes:
    """A small ZIP declaring `megabytes` of zeros over `parts` members (written a MB at a
    time: the test's memory stays small), beside `extra` members."""
    out, zeros = io.BytesIO(), bytes(2**20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in (extra or {}).items():
            archive.writestr(name, body)
        for part in range(parts):
            with archive.open(f"bomb{part}.txt", "w") as member:
                for _ in range(megabytes // parts):
                    member.write(zeros)
    return out.getvalue()


def test_a_bomb_over_the_total_refuses_the_archive_before_anything_is_unpacked() -> None:
    data = _bomb(300, parts=3, extra={"a.txt": LETTER})
    assert len(data) < 600_000
    [item] = _items("bomb.zip", data)
    assert item.name == "bomb.zip" and item.data is None
    assert str(item.error) == ("bomb.zip: this file would unpack to 300 MB (the limit is "
                               "200 MB). It looks like a zip bomb and is not opened.")


def test_a_member_that_grows_too_much_is_refused_by_name_and_the_rest_goes_on() -> None:
    items = _by_name(_items("b.zip", _bomb(20, extra={"a.txt": LETTER})))
    assert items["a.txt"].data == LETTER
    error = items["bomb0.txt"].error
    assert error is not None and error.name == "bomb0.txt"
    assert "would grow" in error.problem and "zip bomb" in error.problem


def test_too_many_members_refuse_the_archive() -> None:
    data = zip_of({f"{i}.txt": b"" for i in range(5001)}, zipfile.ZIP_STORED)
    [item] = _items("many.zip", data)
    assert item.error is not None
    assert item.error.problem.startswith("this file holds 5,001 entries (at most 5,000")


def test_a_member_over_the_file_limit_is_refused_by_its_declared_size() -> None:
    items = _by_name(_items("big.zip", zip_of({"big.txt": os.urandom(2 * 2**20),
                                             "a.txt": LETTER}), env=SMALL))
    assert items["big.txt"].error is not None
    assert items["big.txt"].error.problem == "the file is 2.0 MB; the limit is 1 MB."
    assert items["a.txt"].data == LETTER


def test_a_nested_zip_is_not_opened() -> None:
    inner = zip_of({"deep.txt": LETTER})
    items = _by_name(_items("outer.zip", zip_of({"inner.zip": inner, "a.txt": LETTER})))
    assert items.keys() == {"inner.zip", "a.txt"}  # deep.txt is never reached
    assert items["inner.zip"].error is not None
    assert "a ZIP inside the ZIP is not opened" in items["inner.zip"].error.problem


def _patch_flags(data: bytes, flag: int) -> bytes:
    """The first member's local and central headers marked with `flag` (zipfile writes no
    encrypted members, so the mark is put on by hand)."""
    out = bytearray(data)
    central = data.index(b"PK\x01\x02")
    for offset in (6, central + 8):
        out[offset] |= flag
    return bytes(out)


def test_a_password_protected_member_is_refused_with_a_message() -> None:
    data = _patch_flags(zip_of({"secret.txt": LETTER, "open.txt": LETTER + b"!"},
                             zipfile.ZIP_STORED), 0x1)
    with (zipfile.ZipFile(io.BytesIO(data)) as archive,  # what reading it would have done
          pytest.raises(RuntimeError, match="password required")):
        archive.read("secret.txt")
    items = _by_name(_items("locked.zip", data))
    assert items["secret.txt"].error is not None
    assert "protected by a password" in items["secret.txt"].error.problem
    assert items["open.txt"].data == LETTER + b"!"


def test_a_damaged_member_and_a_link_are_refused_by_name() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("broken.txt", LETTER)
        link = zipfile.ZipInfo("link.txt")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("a.txt", LETTER + b"!")
    data = bytearray(out.getvalue())
    where = data.index(LETTER)
    data[where] ^= 0xFF  # the stored bytes no longer match their CRC
    items = _by_name(_items("d.zip", bytes(data)))
    assert "damaged" in items["broken.txt"].error.problem  # type: ignore[union-attr]
    assert "link" in items["link.txt"].error.problem  # type: ignore[union-attr]
    assert items["a.txt"].data == LETTER + b"!"


def test_a_file_named_zip_that_is_not_one_is_one_error() -> None:
    [item] = _items("fake.zip", b"just text")
    assert item.error is not None and "not a ZIP archive" in item.error.problem


# --- duplicates ---------------------------------------------------------------------------


def test_duplicates_are_flagged_within_an_upload_and_across_shared_ones() -> None:
    items = _items("d.zip", zip_of({"a.txt": LETTER, "copy/a.txt": LETTER, "b.txt": b"other"}))
    assert [item.duplicate_of for item in items] == [None, "a.txt", None]
    assert items[1].data == LETTER and items[1].sha256 == items[0].sha256
    seen: dict[str, str] = {}
    first = _items("letter.txt", LETTER, seen=seen)
    again = _items("d.zip", zip_of({"a.txt": LETTER}), seen=seen)
    assert first[0].duplicate_of is None and again[0].duplicate_of == "letter.txt"


# --- CSV ----------------------------------------------------------------------------------

ROWS = [["id", "text", "note"],
        ["1", "Café Müller, Rechnung über 120 €", "naïve"],
        ["2", "", "blank text: no document"],
        ["3", "Première ligne\r\nDeuxième ligne; « très » bien", "multi-line"],
        ["4", "Café Müller, Rechnung über 120 €", "the same as row 2"]]


def _csv(rows: list[list[str]], encoding: str, delimiter: str = ";") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def test_a_cp1252_csv_with_a_multi_line_cell_gives_a_document_per_non_empty_row() -> None:
    # (Detection needs some text: a real export has more. decode.py picks mac_latin2 or
    # iso8859_14 over cp1252 for short rows repeating "n° 5": reported, not fixed here.)
    more = [[str(i), f"Facture {i}, payée à Zürich", ""] for i in range(5, 30)]
    data = _csv(ROWS + more, "cp1252")
    assert csv_columns(data) == ["id", "text", "note"]
    items = _items("mails.csv", data, text_column="text")
    assert [item.name for item in items[:3]] == ["mails.csv row 2", "mails.csv row 4",
                                                 "mails.csv row 5"]
    assert items[0].text == "Café Müller, Rechnung über 120 €"
    assert items[1].text == "Première ligne\nDeuxième ligne; « très » bien"
    assert items[2].duplicate_of == "mails.csv row 2"
    assert items[-1].name == "mails.csv row 30" and items[-1].text == "Facture 29, payée à Zürich"
    doc = to_document(items[1])
    assert doc.type == "text" and doc.text == items[1].text and doc.sha256 == items[1].sha256


def test_a_missing_column_is_one_clear_error() -> None:
    [item] = _items("mails.csv", _csv(ROWS, "utf-8", ","), text_column="body")
    assert str(item.error) == ('mails.csv: there is no column “body”. Its columns: “id”, '
                               '“text”, “note”.')


@pytest.fixture
def default_field_limit() -> Iterator[None]:
    old = csv.field_size_limit(131_072)  # Python's default, whatever an earlier test set
    yield
    csv.field_size_limit(old)


@pytest.mark.usefixtures("default_field_limit")
def test_a_field_over_csvs_default_limit_is_read_and_one_over_the_file_limit_refused() -> None:
    long = "word " * 60_000  # 300,000 characters: over csv's 131,072
    huge = "x" * (2**20 + 10)  # over a 1 MB file limit
    data = _csv([["text"], [long], [huge], ["after"]], "utf-8", ",")
    items = _items("big.csv", data, text_column="text", env=SMALL)
    assert items[0].text == long
    assert items[1].error is not None and items[1].error.name == "big.csv row 3"
    assert "the limit is 1 MB" in items[1].error.problem
    assert items[2].text == "after"


@pytest.mark.usefixtures("default_field_limit")
def test_a_csv_error_midway_keeps_the_rows_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_input, "_allow_fields", lambda chars: None)
    data = _csv([["text"], ["first"], ["y" * 200_000], ["never"]], "utf-8", ",")
    items = _items("x.csv", data, text_column="text")
    assert [item.text for item in items[:1]] == ["first"] and len(items) == 2
    assert items[1].name == "x.csv" and items[1].error is not None
    assert items[1].error.problem.startswith("after row 2: the CSV is malformed at line")


def test_csv_columns_of_an_empty_or_binary_file() -> None:
    with pytest.raises(DocumentError, match="the file is empty"):
        csv_columns(b"", name="e.csv")
    with pytest.raises(DocumentError, match="cannot be read as text"):
        csv_columns(os.urandom(4000) + bytes(4000), name="b.csv")


def test_a_tab_separated_utf16_file_with_a_bom() -> None:
    data = _csv([["subject", "body"], ["Hi", "Hello there"]], "utf-16", "\t")
    assert csv_columns(data) == ["subject", "body"]
    [item] = _items("t.tsv", data, text_column="body")
    assert item.text == "Hello there"


# --- plain files, Excel -------------------------------------------------------------------


def test_a_plain_file_and_a_csv_without_a_column_pass_through_as_one_item() -> None:
    [item] = _items("note\n.txt", LETTER)
    assert item.name == "note\\x0a.txt" and item.data == LETTER and item.error is None
    [table] = _items("t.csv", b"a,b\n1,2\n")
    assert table.data == b"a,b\n1,2\n" and table.text is None


def test_to_document_reads_a_members_bytes_and_raises_an_items_error() -> None:
    items = _by_name(_items("m.zip", zip_of({"a.md": b"# Title\n\nBody", "x.exe": b"MZ..."})))
    assert to_document(items["a.md"]).type == "markdown"
    with pytest.raises(DocumentError, match=r"^x\.exe: this kind of file \(\.exe\)"):
        to_document(items["x.exe"])


# --- Excel --------------------------------------------------------------------------------


def _workbook(write: object, options: dict[str, object] | None = None) -> bytes:
    """A workbook written by xlsxwriter: `write(book, sheet)` fills its first sheet."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, options or {})
    write(book, book.add_worksheet("Mails"))  # type: ignore[operator]
    book.close()
    return out.getvalue()


def _mails(book: xlsxwriter.Workbook, sheet: object) -> None:
    sheet.write_row(0, 0, ["id", " text ", "note"])  # type: ignore[attr-defined]
    sheet.write_row(1, 0, [1, "Café Müller, Rechnung über 120 €", "a"])  # type: ignore[attr-defined]
    sheet.write_row(2, 0, [2, "", "blank text: no document"])  # type: ignore[attr-defined]
    # row 4 left out entirely; row 5: a formula whose saved value is the text
    sheet.write_formula(4, 1, '="Invoice "&A2', value="Invoice 1")  # type: ignore[attr-defined]
    sheet.write_row(5, 0, [6, 1234.5])  # type: ignore[attr-defined]
    sheet.write_number(6, 1, 42)  # type: ignore[attr-defined]
    sheet.write_datetime(7, 1, dt.datetime(2024, 5, 1),  # type: ignore[attr-defined]
                         book.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write_boolean(8, 1, True)  # type: ignore[attr-defined]
    sheet.write_string(9, 1, "Line one\r\nline two")  # type: ignore[attr-defined]
    sheet.write_string(10, 1, "Café Müller, Rechnung über 120 €")  # type: ignore[attr-defined]
    sheet.write_string(11, 1, "   ")  # type: ignore[attr-defined]


def test_a_workbooks_rows_by_column_with_saved_values_and_spreadsheet_numbers() -> None:
    data = _workbook(_mails)
    assert table_columns("mails.xlsx", data) == ["id", "text", "note"]
    items = _items("mails.xlsx", data, text_column="text")
    assert [(item.name, item.text) for item in items] == [
        ("mails.xlsx row 2", "Café Müller, Rechnung über 120 €"),
        ("mails.xlsx row 5", "Invoice 1"),  # the saved value, never recomputed
        ("mails.xlsx row 6", "1234.5"),
        ("mails.xlsx row 7", "42"),
        ("mails.xlsx row 8", "2024-05-01"),
        ("mails.xlsx row 9", "TRUE"),
        ("mails.xlsx row 10", "Line one\nline two"),
        ("mails.xlsx row 11", "Café Müller, Rechnung über 120 €"),
    ]
    assert items[-1].duplicate_of == "mails.xlsx row 2" and items[0].duplicate_of is None
    assert {item.source for item in items} == {"mails.xlsx"}
    doc = to_document(items[1])
    assert doc.type == "text" and doc.text == "Invoice 1" and doc.sha256 == items[1].sha256
    # The same rows when the file is written a row at a time (inline strings, not shared).
    streamed = _items("m.xlsm", _workbook(_mails, {"constant_memory": True}),
                      text_column="text")
    assert [item.text for item in streamed] == [item.text for item in items]


def test_a_formula_with_no_saved_value_is_blank_and_nothing_is_computed() -> None:
    book = openpyxl.Workbook()  # openpyxl saves formulas without values, as Excel never does
    sheet = book.active
    sheet.append(["text", "n"])
    sheet.append(["=1+1", 2])
    sheet.append(['=HYPERLINK("http://127.0.0.1:9/x","click")', 3])
    sheet.append(["plain", 4])
    out = io.BytesIO()
    book.save(out)
    items = _items("f.xlsx", out.getvalue(), text_column="text")
    assert [(item.name, item.text) for item in items] == [("f.xlsx row 4", "plain")]


def test_a_header_below_blank_rows_and_a_missing_column() -> None:
    def write(book: xlsxwriter.Workbook, sheet: object) -> None:
        sheet.write_row(2, 0, ["subject", "body"])  # type: ignore[attr-defined]
        sheet.write_row(3, 0, ["Hi", "Hello there"])  # type: ignore[attr-defined]

    data = _workbook(write)
    assert table_columns("t.xlsx", data) == ["subject", "body"]
    [item] = _items("t.xlsx", data, text_column="body")
    assert item.name == "t.xlsx row 4" and item.text == "Hello there"
    [missing] = _items("t.xlsx", data, text_column="text")
    assert str(missing.error) == 't.xlsx: there is no column “text”. Its columns: “subject”, ' \
                                 '“body”.'


def test_the_active_sheet_is_read() -> None:
    def write(book: xlsxwriter.Workbook, sheet: object) -> None:
        sheet.write_row(0, 0, ["text"])  # type: ignore[attr-defined]
        sheet.write_row(1, 0, ["first sheet"])  # type: ignore[attr-defined]
        other = book.add_worksheet("Shown")
        other.write_row(0, 0, ["text"])
        other.write_row(1, 0, ["the sheet Excel opens on"])
        other.activate()

    [item] = _items("a.xlsx", _workbook(write), text_column="text")
    assert item.text == "the sheet Excel opens on"


def test_a_workbook_bomb_is_refused_before_openpyxl_opens_it() -> None:
    good = _workbook(_mails)
    out = io.BytesIO()
    with (zipfile.ZipFile(io.BytesIO(good)) as inner,
          zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive):
        for info in inner.infolist():
            archive.writestr(info.filename, inner.read(info))
        with archive.open("xl/media/zeros.bin", "w") as member:
            for _ in range(20):
                member.write(bytes(2**20))
    [item] = _items("bomb.xlsx", out.getvalue(), text_column="text")
    assert item.name == "bomb.xlsx" and item.error is not None
    assert re.fullmatch(r"a part of this file \(xl/media/zeros\.bin\) would grow 1,0\d\d times "
                        r"when unpacked \(the limit is 100\)\. It looks like a zip bomb and "
                        r"is not opened\.", item.error.problem), item.error.problem
    with pytest.raises(DocumentError, match="zip bomb"):
        table_columns("bomb.xlsx", out.getvalue())


@pytest.mark.parametrize(("data", "problem"), [
    (b"id,text\n1,hello\n", "the name says Excel but the file is not an Excel workbook"),
    (zip_of({"word/document.xml": b"<w/>"}), "another kind of zip archive"),
    (zip_of({"xl/workbook.xml": b"<not even xml", "[Content_Types].xml": b"<x/>"}),
     "the workbook is damaged"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le")
     + bytes(500), "protected by a password"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000), "old Excel file (.xls)"),
])
def test_a_workbook_that_cannot_be_read_is_one_message(data: bytes, problem: str) -> None:
    [item] = _items("bad.xlsx", data, text_column="text")
    assert item.name == "bad.xlsx" and item.error is not None
    assert problem in item.error.problem
    with pytest.raises(DocumentError, match=re.escape(problem)):
        table_columns("bad.xlsx", data)


def test_a_damaged_sheet_is_one_message() -> None:
    good = _workbook(_mails)
    out = io.BytesIO()
    with (zipfile.ZipFile(io.BytesIO(good)) as inner,
          zipfile.ZipFile(out, "w") as archive):
        for info in inner.infolist():
            body = inner.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body[: len(body) // 2]  # cut off mid-way
            archive.writestr(info.filename, body)
    items = _items("cut.xlsx", out.getvalue(), text_column="text")
    assert items[-1].name == "cut.xlsx" and items[-1].error is not None
    assert "the workbook is damaged" in items[-1].error.problem
    assert len(items) >= 2 and all(item.error is None for item in items[:-1])  # rows before it


def test_old_xls_and_a_workbook_without_a_column_say_what_to_do() -> None:
    for column in ("text", None):
        [item] = _items("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
                        text_column=column)
        assert item.error is not None
        assert "save it as .xlsx (Excel Workbook) or as CSV UTF-8" in item.error.problem
    with pytest.raises(DocumentError, match="old Excel file"):
        table_columns("old.xls", b"")
    [item] = _items("new.xlsx", _workbook(_mails))
    assert item.error is not None and "choose the column that holds the text" in str(item.error)


def test_table_columns_for_a_csv_an_empty_sheet_and_another_file() -> None:
    assert table_columns("t.csv", _csv(ROWS, "utf-8", ",")) == ["id", "text", "note"]
    assert csv_columns(_csv(ROWS, "utf-8", ",")) == ["id", "text", "note"]
    with pytest.raises(DocumentError, match="the sheet is empty"):
        table_columns("e.xlsx", _workbook(lambda book, sheet: None))
    with pytest.raises(DocumentError, match=r"^n\.txt: only a CSV or an Excel"):
        table_columns("n.txt", b"text")

