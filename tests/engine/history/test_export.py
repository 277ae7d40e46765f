"""CSV and JSON Lines exports and the JSON Lines import, on SQLite and Postgres."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from engine.history import (
    ImportFormatError,
    RunFilters,
    export_csv,
    export_jsonl,
    get_run,
    import_jsonl,
    list_runs,
    stats,
)
from engine.history.export import RUN_COLUMNS, write_csv
from engine.store import Store, StoredRun
from tests.engine.store.test_store import WEIRD, sample_run

pytest_plugins = ["tests.postgres"]

INVOICE = {
    "$ref": "#/$defs/Invoice",
    "$defs": {"Invoice": {"type": "object", "properties": {
        "number": {"type": "string"}, "total": {"type": "number"},
        "status": {"type": "string"}, "lines": {"type": "array"}}}},
}


def csv_rows(store: Store, filters: RunFilters | None = None, **kwargs: int) -> list[dict]:
    out = io.StringIO(newline="")
    count = export_csv(store, out, filters, **kwargs)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert count == len(rows)
    return rows


def header(store: Store) -> list[str]:
    out = io.StringIO(newline="")
    export_csv(store, out)
    return next(csv.reader(io.StringIO(out.getvalue(), newline="")))


def test_csv_has_the_union_of_the_schemas_fields(store: Store) -> None:
    store.add(sample_run(id="meeting"))
    store.add(sample_run(
        id="invoice", schema_name="Invoice", json_schema=INVOICE,
        result={"number": "A-1", "total": 12.5, "status": "paid",
                "lines": [{"sku": "x", "qty": 2}]},
    ))
    # Newest first, so the invoice's fields come first; "status" must not hide the run's.
    assert header(store) == [*RUN_COLUMNS, "number", "total", "result.status", "lines",
                             "topic", "attendees", "budget"]
    rows = {row["id"]: row for row in csv_rows(store)}
    invoice, meeting = rows["invoice"], rows["meeting"]
    assert (invoice["number"], invoice["total"], invoice["result.status"]) == ("A-1", "12.5",
                                                                               "paid")
    assert json.loads(invoice["lines"]) == [{"sku": "x", "qty": 2}]  # nested values as JSON
    assert invoice["status"] == "done" and invoice["topic"] == ""
    assert json.loads(meeting["attendees"]) == ["Ada", "Grace"] and meeting["number"] == ""
    assert meeting["ttft_ms"] == "210.5" and meeting["provider"] == "openai"
    assert json.loads(meeting["field_errors"]) == {"attendees.1": ["not an email"]}


def test_csv_follows_the_filters_and_the_limit(store: Store) -> None:
    store.add(sample_run(id="meeting"))
    store.add(sample_run(id="invoice", schema_name="Invoice", json_schema=INVOICE,
                         result={"number": "A-1"}))
    rows = csv_rows(store, RunFilters(schema="MeetingInfo"))
    assert [r["id"] for r in rows] == ["meeting"] and "number" not in rows[0]
    assert [r["id"] for r in csv_rows(store, limit=1)] == ["invoice"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_never_run_as_formulas(store: Store, start: str) -> None:
    payload = f"{start}HYPERLINK(\"http://evil.example\",\"x\")"
    store.add(sample_run(input_text=payload, ran_by=payload,
                         result={"topic": payload, "attendees": [payload], "budget": -3}))
    (row,) = csv_rows(store)
    for name in ("input_text", "ran_by", "topic"):
        assert row[name] == "'" + payload, name
    assert json.loads(row["attendees"]) == [payload]  # starts with "[": inert
    assert row["budget"] == "-3"  # a number, not a formula


FORMULA_FIELDS = ['=HYPERLINK("http://e.x/","x")', "+SUM(1)", "@cmd", "-2+3", "\tTAB", "\rCR"]


def test_csv_header_cells_never_run_as_formulas(store: Store) -> None:
    # A teammate's schema names its fields; the header row must be as inert as the values.
    names = [*FORMULA_FIELDS, "lone \ud800 half"]
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in names}}
    store.add(sample_run(json_schema=schema, result=dict.fromkeys(names, "x")))
    data = stats.export_bytes(store, None, "csv")  # what History's download button sends
    head = next(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert head[len(RUN_COLUMNS):] == [*("'" + name for name in FORMULA_FIELDS),
                                       "lone \ufffd half"]


def test_every_csv_cell_goes_through_one_function() -> None:
    out = io.StringIO(newline="")
    assert write_csv(out, [["=1+1", "ok"], ["@cmd", -3, None, [1]]]) == 2
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        ["'=1+1", "ok"], ["'@cmd", "-3", "", "[1]"]]
    # No other CSV writer in the app: a new spreadsheet export uses write_csv too.
    root = Path(__file__).resolve().parents[3]
    writers = re.compile(r"\bcsv\.(writer|DictWriter)\b|\.to_csv\(")
    found = [str(path.relative_to(root)) for folder in ("engine", "ui", "pages")
             for path in sorted((root / folder).rglob("*.py"))
             if writers.search(path.read_text(encoding="utf-8"))]
    assert found == ["engine/history/export.py"]


def test_csv_replaces_what_a_text_file_cannot_hold(store: Store) -> None:
    store.add(sample_run(input_text=WEIRD))
    out = io.StringIO(newline="")
    export_csv(store, out)
    out.getvalue().encode("utf-8")  # no lone surrogates left
    (row,) = csv_rows(store)
    assert "\x00" not in row["input_text"] and row["input_text"].startswith("ordinary words")


def _jsonl(store: Store, filters: RunFilters | None = None) -> str:
    out = io.StringIO()
    export_jsonl(store, out, filters)
    return out.getvalue()


def test_jsonl_export_then_import_gives_the_runs_back_exactly(store: Store) -> None:
    runs = [sample_run(id=f"r{i}", input_text=f"{WEIRD} {i}",
                       timeline=[(0.5 * k, f"{WEIRD[k]}{i}") for k in range(30)])
            for i in range(5)]
    for run in runs:
        store.add(run)
    exported = _jsonl(store)
    assert exported.isascii() and len(exported.splitlines()) == 5
    with store.transaction() as conn:  # the runs go away, then come back from the file
        conn.exec_driver_sql("DELETE FROM runs")
    assert import_jsonl(store, io.StringIO(exported)).imported == 5
    for run in runs:
        back = get_run(store, run.id)
        assert back is not None and back.to_dict() == run.to_dict()
    assert list_runs(store, RunFilters(search="ordinary words"))[1] == 5  # indexed again


def test_importing_twice_skips_the_duplicates(store: Store) -> None:
    store.add(sample_run(id="a"))
    exported = _jsonl(store)
    assert import_jsonl(store, io.StringIO(exported)).skipped == 1
    doubled = exported + json.dumps(sample_run(id="b").to_dict()) + "\n" + exported
    result = import_jsonl(store, io.StringIO(doubled))
    assert (result.imported, result.skipped) == (1, 2)
    assert {r.id for r in list_runs(store)[0]} == {"a", "b"}


def raw_line(**raw: str) -> str:
    """A valid export line with some fields' JSON text replaced as written (too deep for
    json.dumps, or not what json.dumps would write)."""
    values = {**sample_run(id="x").to_dict(), **dict.fromkeys(raw, "RAW")}
    line = json.dumps(values)
    for name, text in raw.items():
        line = line.replace(f'"{name}": "RAW"', f'"{name}": {text}', 1)
    return line


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "expected a JSON object"),
        (json.dumps({**sample_run(id="x").to_dict(), "status": "exploded"}), "status"),
        (json.dumps({**sample_run(id="x").to_dict(), "started_at": "yesterday"}), "ISO 8601"),
        (json.dumps({**sample_run(id="x").to_dict(), "api_key": "sk-1"}), "unknown field"),
        (json.dumps({**sample_run(id="x").to_dict(), "timeline": [[1, 2]]}), "timeline"),
        (json.dumps({**sample_run(id="x").to_dict(), "ttft_ms": "fast"}), "ttft_ms"),
        # Hostile values: each is a named error, never a RecursionError, OverflowError or a
        # database error (Hardening II, 6).
        (raw_line(result="[" * 100_000 + "]" * 100_000), "'result' nests deeper than 512"),
        ('{"\\q": ' + "[" * 600 + "]" * 600 + "}", "nests deeper than 512"),  # a bad name
        (raw_line(started_at='"0001-01-01T00:00:00+01:00"'), "'started_at'"),
        (raw_line(ended_at='"9999-12-31T23:59:59-01:00"'), "'ended_at'"),
        (raw_line(not_found=str(2**70)), "'not_found'"),
        (raw_line(not_found="-1"), "'not_found'"),
        (raw_line(ttft_ms="9" * 401), "'ttft_ms'"),
        (raw_line(total_ms="Infinity"), "'total_ms'"),
        (raw_line(timeline='[[Infinity, "x"]]'), "'timeline'"),
        (raw_line(timeline='[[1e300, "x"]]'), "'timeline'"),
        (raw_line(timeline=f'[[{"9" * 401}, "x"]]'), "'timeline'"),
        (raw_line(result='{"n": 1e400}'), "'result'"),
        (raw_line(usage='{"n": NaN}'), "'usage'"),
    ],
)
def test_a_malformed_line_is_reported_and_nothing_is_imported(
    store: Store, bad_line: str, reason: str
) -> None:
    # More good lines than one insert batch (500) come first: those are written, then undone.
    good = [json.dumps(sample_run(id=f"good-{i}", timeline=[]).to_dict()) for i in range(620)]
    lines = [*good[:600], "", bad_line, *good[600:]]
    with pytest.raises(ImportFormatError) as caught:
        import_jsonl(store, io.StringIO("\n".join(lines) + "\n"))
    assert caught.value.line == 602 and reason in str(caught.value)
    assert str(caught.value).startswith("line 602: ")
    assert list_runs(store) == ([], 0)


def test_an_exported_run_keeps_its_stored_status(store: Store) -> None:
    silent = StoredRun(schema_name="S", provider="p", model="m", status="running")
    store.add(silent)
    (line,) = _jsonl(store).splitlines()
    assert json.loads(line)["status"] == "running"  # "interrupted" is shown, never stored
    assert "shown_status" not in json.loads(line)
