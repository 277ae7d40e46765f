"""engine.batch.export (#20): a batch's table as CSV, JSON Lines and Excel. Every file is read
back (openpyxl for Excel) and every cell checked: text a spreadsheet would run stays text."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from engine.batch import export
from engine.batch.export import (
    CUT_MARK,
    EXCEL_MAX,
    MEDIA_TYPES,
    ExportRow,
    header,
    write,
    write_csv,
    write_jsonl,
    write_xlsx,
)
from engine.history.export import cell

FORMULAS = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\t=1", "=1+1", "\r=2",
            "http://example.com", "0012", "1e5"]
FIELDS = ["=evil", "name", "amount", "tags", "status"]
TAIL = ["not in text", "reason", "duplicate of", "seconds", "tokens", "run id"]


def _rows() -> list[ExportRow]:
    return [
        ExportRow("a.pdf", "done", {"=evil": FORMULAS[0], "name": "+1", "amount": 12.5,
                                    "tags": ["x", {"y": 1}], "status": "paid"},
                  not_in_text=("name", "amount"), run_id="r1", seconds=1.25, tokens=310),
        ExportRow("=cmd|' /C calc'!A0", "failed", {}, reason="@SUM(A1): the server said no"),
        ExportRow("b.pdf", "done", {"=evil": True, "name": "-2", "amount": -3},
                  duplicate_of="a.pdf", run_id="r2", seconds=0.5, tokens=0),
        ExportRow("c.pdf", "invalid", {"=evil": None, "name": "\t=1", "amount": 2**60,
                                       "tags": [], "extra": "kept in JSON Lines"}),
    ]


def _sheet(data: bytes) -> list[list[openpyxl.cell.cell.Cell]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in book.active.iter_rows()]


def _xlsx(fields: list[str], rows: list[ExportRow]) -> tuple[int, bytes]:
    out = io.BytesIO()
    count = write_xlsx(out, fields, rows)
    return count, out.getvalue()


# --- Excel ---------------------------------------------------------------------------------


def test_excel_cells_are_text_numbers_or_blank_never_formulas() -> None:
    count, data = _xlsx(FIELDS, _rows())
    assert count == 4
    table = _sheet(data)
    assert all(c.data_type != "f" for row in table for c in row)
    head = [c.value for c in table[0]]
    assert head == ["document", "status", "=evil", "name", "amount", "tags", "result.status",
                    *TAIL]
    assert all(c.data_type == "s" for c in table[0])
    a, failed, b, c = ([x.value for x in row] for row in table[1:])
    assert a == ["a.pdf", "done", '=HYPERLINK("http://x")', "+1", 12.5, '["x",{"y":1}]',
                 "paid", "name, amount", None, None, 1.25, 310, "r1"]
    assert failed[:2] == ["=cmd|' /C calc'!A0", "failed"]
    assert failed[7:9] == [None, "@SUM(A1): the server said no"]
    assert b[2:5] == ["true", "-2", -3] and b[9] == "a.pdf" and b[11] == 0
    # An integer a double would round stays exact, as text; a missing field is blank.
    assert c[2:6] == [None, "\t=1", str(2**60), "[]"]
    types = {(x.value, x.data_type) for row in table[1:] for x in row if x.value is not None}
    assert ('=HYPERLINK("http://x")', "s") in types and ("+1", "s") in types
    assert (12.5, "n") in types and (-3, "n") in types and (2**60, "n") not in types


@pytest.mark.parametrize("text", FORMULAS)
def test_every_formula_like_text_is_a_string_cell(text: str) -> None:
    _, data = _xlsx([text], [ExportRow(text, text, {text: text}, reason=text)])
    table = _sheet(data)
    for row in table:
        for c in row:
            if c.value is not None:
                assert c.data_type == "s" and isinstance(c.value, str), (c.coordinate, c.value)
    shown = text.replace("\r", "\n")  # a cell's line break is LF
    assert table[1][2].value == shown and table[0][2].value == shown


def test_a_value_over_excels_cell_limit_is_cut_with_a_visible_mark() -> None:
    long = "word " * 8_000  # 40,000 characters
    emoji = "😀" * 20_000  # 20,000 characters, 40,000 UTF-16 units (as Excel counts)
    _, data = _xlsx(["text", "emoji"], [ExportRow("x", "done", {"text": long,
                                                                "emoji": emoji})])
    text, smiles = (c.value for c in _sheet(data)[1][2:4])
    mark = CUT_MARK.format(total=40_000)
    assert mark == "… [cut: 40,000 characters in all]"
    assert len(text) == EXCEL_MAX and text.endswith(mark)
    assert text == long[: EXCEL_MAX - len(mark)] + mark
    assert smiles.endswith(CUT_MARK.format(total=20_000))
    assert len(smiles.encode("utf-16-le")) // 2 <= EXCEL_MAX
    exact = "y" * EXCEL_MAX  # at the limit: kept whole
    _, data = _xlsx(["t"], [ExportRow("x", "done", {"t": exact})])
    assert _sheet(data)[1][2].value == exact


def test_characters_xml_cannot_hold_do_not_break_the_file() -> None:
    weird = "a\x00b\x01c\x0bd\x1fe\ud800f\ufffeg\tline\nnext_x0041_"
    _, data = _xlsx(["v\x02"], [ExportRow("n\x00me", "done", {"v\x02": weird},
                                          not_in_text=("v\x02",))])
    table = _sheet(data)  # parses: the XML is well formed
    assert table[0][2].value == "v\ufffd"
    assert table[1][0].value == "n\ufffdme"
    value = table[1][2].value
    assert value.startswith("a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\tline\nnext")


def test_the_header_is_frozen_and_filtered() -> None:
    _, data = _xlsx(["a"], [ExportRow("x", "done", {"a": 1})] * 3)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:I4"


def test_an_empty_batch_is_a_header() -> None:
    count, data = _xlsx(["a"], [])
    assert count == 0 and [c.value for c in _sheet(data)[0]][:3] == ["document", "status", "a"]


def _many(n: int) -> Iterator[ExportRow]:
    for i in range(n):
        yield ExportRow(f"doc {i}.pdf", "done", {"name": f"=name {i}", "amount": i,
                                                 "tags": ["a", i], "note": "x" * 200},
                        not_in_text=("note",), run_id=f"run-{i}", seconds=i / 10, tokens=i)


def test_ten_thousand_rows_stream_to_excel_and_leave_no_temp_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_xlsx(io.BytesIO(), [], [])  # xlsxwriter imported before memory is counted
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # (others share the real one)
    made: list[str] = []
    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **kw: made.append(kw.get("dir")) or
                        real(*a, **kw))
    tracemalloc.start()
    started = time.perf_counter()
    out = io.BytesIO()
    assert write_xlsx(out, ["name", "amount", "tags", "note"], _many(10_000)) == 10_000
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Rows go to a temp file, not memory: measured 0.9 MiB with the 0.5 MiB file (24 MiB
    # without constant_memory).
    assert peak < 8 * 2**20, peak
    assert elapsed < 30
    # xlsxwriter's row file went to a directory of our own in the temp folder, now gone.
    assert made and all(Path(d).parent == tmp_path for d in made)
    assert list(tmp_path.iterdir()) == []
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == 10_001 and rows[-1][:4] == ("doc 9999.pdf", "done", "=name 9999", 9999)


def test_an_error_midway_leaves_no_temp_files(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def broken() -> Iterator[ExportRow]:
        yield from _many(5)
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError, match="went away"):
        write_xlsx(io.BytesIO(), ["name"], broken())
    assert list(tmp_path.iterdir()) == []


# --- CSV -----------------------------------------------------------------------------------


def test_csv_cells_are_neutralised_exactly_like_historys() -> None:
    out = io.BytesIO()
    assert write_csv(out, FIELDS, _rows()) == 4
    data = out.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert table[0] == [cell(h) for h in header(FIELDS)]
    assert table[0][2] == "'=evil"
    for got, row in zip(table[1:], _rows(), strict=True):
        assert got == [cell(v) for v in export.cells(FIELDS, row)]
    assert table[1][2:7] == ["'=HYPERLINK(\"http://x\")", "'+1", "12.5", '["x", {"y": 1}]',
                             "paid"]
    assert table[2][0] == "'=cmd|' /C calc'!A0" and table[3][3] == "'-2"
    assert table[1][7:] == ["name, amount", "", "", "1.25", "310", "r1"]


def test_csv_leaves_the_callers_stream_open_and_replaces_what_utf8_cannot_hold() -> None:
    out = io.BytesIO()
    write_csv(out, ["v"], [ExportRow("x", "done", {"v": "lone \ud800 half"})])
    assert not out.closed
    assert "lone \ufffd half" in out.getvalue().decode("utf-8-sig")


# --- JSON Lines ----------------------------------------------------------------------------


def test_jsonl_round_trips() -> None:
    out = io.BytesIO()
    rows = _rows()
    assert write_jsonl(out, FIELDS, rows) == 4
    lines = out.getvalue().decode("utf-8").splitlines()
    first = json.loads(lines[0])
    assert first == {"document": "a.pdf", "status": "done",
                     "fields": {"=evil": '=HYPERLINK("http://x")', "name": "+1",
                                "amount": 12.5, "tags": ["x", {"y": 1}], "status": "paid"},
                     "not_in_text": ["name", "amount"], "reason": None,
                     "duplicate_of": None, "seconds": 1.25, "tokens": 310, "run_id": "r1"}
    assert list(first["fields"]) == FIELDS  # the schema's order
    for line, row in zip(lines, rows, strict=True):
        got = json.loads(line)
        assert got["fields"] == dict(row.fields)
        assert got["document"] == row.document and got["reason"] == row.reason
    assert json.loads(lines[3])["fields"]["amount"] == 2**60


def test_jsonl_keeps_text_as_written_and_a_lone_surrogate_escaped() -> None:
    out = io.BytesIO()
    write_jsonl(out, ["v"], [ExportRow("café", "done", {"v": "naïve"}),
                             ExportRow("x", "done", {"v": "lone \ud800 half"})])
    first, second = out.getvalue().split(b"\n")[:2]
    assert "café".encode() in first and "naïve".encode() in first
    assert json.loads(second)["fields"]["v"] == "lone \ud800 half"


# --- the choice ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MEDIA_TYPES))
def test_write_picks_the_kind(kind: str) -> None:
    out = io.BytesIO()
    assert write(kind, out, ["a"], [ExportRow("x", "done", {"a": 1})]) == 1
    start = {"csv": b"\xef\xbb\xbfdocument,", "jsonl": b'{"document": "x"', "xlsx": b"PK"}
    assert out.getvalue().startswith(start[kind])


def test_an_unknown_kind_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown export kind 'xls'; choose one of: csv, "
                                         "jsonl, xlsx"):
        write("xls", io.BytesIO(), [], [])


def test_numbers_excel_cannot_hold_exactly_are_text() -> None:
    _, data = _xlsx(["a", "b", "c", "d"], [ExportRow("x", "done", {
        "a": float("nan"), "b": float("inf"), "c": -(2**53), "d": 2**53 + 1})])
    values = [(c.value, c.data_type) for c in _sheet(data)[1][2:6]]
    assert values == [("nan", "s"), ("inf", "s"), (-(2**53), "n"), (str(2**53 + 1), "s")]
