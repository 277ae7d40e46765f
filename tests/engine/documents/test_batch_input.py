"""engine.documents.batch_input (#20): many documents from one upload. Every hostile input is
built here: zip-slip names, bombs, a nested ZIP, a password-protected and a damaged member,
duplicates, a cp1252 CSV with a quoted multi-line cell, a column that is not there."""

from __future__ import annotations

import csv
import io
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.documents import DocumentError, batch_input
from engine.documents.batch_input import (
    InputItem,
    csv_columns,
    iter_inputs,
    shown_name,
    to_document,
)

LETTER = b"Dear team,\nthe invoice 2026-117 is attached. Total: 1 250 EUR.\n"
SMALL = {"FIELDSTREAM_MAX_FILE_MB": "1"}


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return out.getvalue()


def _items(name: str, data: bytes, **kw: object) -> list[InputItem]:
    return list(iter_inputs(name, data, **kw))  # type: ignore[arg-type]


def _by_name(items: list[InputItem]) -> dict[str, InputItem]:
    return {item.name: item for item in items}


# --- ZIP ----------------------------------------------------------------------------------


def test_zip_slip_names_are_shown_escaped_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = _zip({"../../evil.txt": LETTER, "/etc/abs.txt": LETTER + b"2",
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
    data = _zip({f"{i}.txt": b"" for i in range(5001)}, zipfile.ZIP_STORED)
    [item] = _items("many.zip", data)
    assert item.error is not None
    assert item.error.problem.startswith("this file holds 5,001 entries (at most 5,000")


def test_a_member_over_the_file_limit_is_refused_by_its_declared_size() -> None:
    items = _by_name(_items("big.zip", _zip({"big.txt": os.urandom(2 * 2**20),
                                             "a.txt": LETTER}), env=SMALL))
    assert items["big.txt"].error is not None
    assert items["big.txt"].error.problem == "the file is 2.0 MB; the limit is 1 MB."
    assert items["a.txt"].data == LETTER


def test_a_nested_zip_is_not_opened() -> None:
    inner = _zip({"deep.txt": LETTER})
    items = _by_name(_items("outer.zip", _zip({"inner.zip": inner, "a.txt": LETTER})))
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
    data = _patch_flags(_zip({"secret.txt": LETTER, "open.txt": LETTER + b"!"},
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
    items = _items("d.zip", _zip({"a.txt": LETTER, "copy/a.txt": LETTER, "b.txt": b"other"}))
    assert [item.duplicate_of for item in items] == [None, "a.txt", None]
    assert items[1].data == LETTER and items[1].sha256 == items[0].sha256
    seen: dict[str, str] = {}
    first = _items("letter.txt", LETTER, seen=seen)
    again = _items("d.zip", _zip({"a.txt": LETTER}), seen=seen)
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


def test_excel_is_refused_with_what_to_do() -> None:
    [item] = _items("sheet.xlsx", _zip({"xl/workbook.xml": b"<w/>"}), text_column="text")
    assert item.error is not None and "Save the sheet as CSV" in item.error.problem


def test_to_document_reads_a_members_bytes_and_raises_an_items_error() -> None:
    items = _by_name(_items("m.zip", _zip({"a.md": b"# Title\n\nBody", "x.exe": b"MZ..."})))
    assert to_document(items["a.md"]).type == "markdown"
    with pytest.raises(DocumentError, match=r"^x\.exe: this kind of file \(\.exe\)"):
        to_document(items["x.exe"])
