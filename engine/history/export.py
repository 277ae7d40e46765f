"""Exports of the filtered runs: CSV for spreadsheets, JSON Lines for everything.

CSV: the run's own columns, then one column per top-level field of each schema among the
exported runs (the union, in order of first appearance); nested values are written as JSON.
Every CSV the app writes goes through `write_csv`, which passes every cell, the header's
included, through `cell`: text a spreadsheet would run as a formula (starting with = + - @,
tab or CR) gets a leading apostrophe. `not_found` counts the values not in the text; `document`
is the name of the file the text was read from. JSON Lines: one `StoredRun.to_dict()` per line
(timeline, grounding, the document's metadata and a split run's parts included), pure ASCII, so
any text survives and `import_jsonl` reads it back exactly.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, TextIO

from sqlalchemy import func, select

from engine.history.queries import NEWEST_FIRST, RunFilters, conditions, shown_status, to_run
from engine.store import STALE_AFTER, Store, StoredRun
from engine.store.tables import runs

RUN_COLUMNS = ("id", "started_at", "ended_at", "status", "schema_name", "schema_version",
               "provider", "base_url_host", "model", "mode", "source", "group_kind", "group_id",
               "group_member", "ran_by", "ttft_ms", "first_field_ms", "total_ms", "input_text",
               "field_errors", "usage", "not_found", "document")
VALUE_COLUMN = "result"  # the column for results whose schema is not an object
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNWRITABLE = re.compile("[\x00\ud800-\udfff]")  # no spreadsheet or UTF-8 file takes these
_BATCH = 500


def export_jsonl(
    store: Store, out: TextIO, filters: RunFilters | None = None, *, limit: int | None = None,
    stale_after: float = STALE_AFTER,
) -> int:
    """Write the filtered runs (newest first) as JSON Lines; returns how many."""
    count = 0
    for run in with_parts(store, iter_runs(store, filters, limit=limit, stale_after=stale_after)):
        out.write(jsonl_line(run))
        count += 1
    return count


def with_parts(store: Store, found: Iterable[StoredRun]) -> Iterator[StoredRun]:
    """The runs with their parts filled in, read a batch of runs at a time (one query each)."""
    batch: list[StoredRun] = []
    for run in chain(found, [None]):
        if run is not None:
            batch.append(run)
            if len(batch) < _BATCH:
                continue
        parts = store.parts_of([r.id for r in batch])
        for held in batch:
            held.parts = parts.get(held.id, [])
        yield from batch
        batch = []


def jsonl_line(run: StoredRun) -> str:
    """One run as a JSON Lines line (what `import_jsonl` reads back)."""
    return json.dumps(run.to_dict(), ensure_ascii=True) + "\n"


def export_csv(
    store: Store, out: TextIO, filters: RunFilters | None = None, *, limit: int | None = None,
    stale_after: float = STALE_AFTER,
) -> int:
    """Write the filtered runs (newest first) as CSV; returns how many rows."""
    fields = schema_fields(store, filters, limit, stale_after)
    # Field names come from whoever wrote the schema: the header is cells like any other.
    head = [*RUN_COLUMNS, *(_field_header(field) for field in fields)]
    body = (
        [*_run_cells(run), *_field_cells(run.result, fields)]
        for run in iter_runs(store, filters, limit=limit, stale_after=stale_after, light=True)
    )
    return write_csv(out, chain([head], body)) - 1


def write_csv(out: TextIO, rows: Iterable[Iterable[Any]]) -> int:
    """Write rows of values as CSV, every cell through `cell`; returns how many rows. The one
    CSV writer of the app: a spreadsheet export added later must use it too (a test checks)."""
    writer = csv.writer(out)
    count = 0
    for row in rows:
        writer.writerow([cell(value) for value in row])
        count += 1
    return count


def iter_runs(
    store: Store, filters: RunFilters | None, *, limit: int | None = None,
    stale_after: float = STALE_AFTER, light: bool = False,
) -> Iterator[StoredRun]:
    """The filtered runs, newest first, fetched in batches; `light` leaves out the timeline
    and JSON Schema (what the CSV does not need)."""
    skipped = ("timeline", "json_schema") if light else ()
    columns = [c for c in runs.columns if c.name not in skipped]
    conds = conditions(store, filters or RunFilters(), stale_after)
    query = select(*columns, shown_status(store, stale_after)).where(*conds)
    query = query.order_by(*NEWEST_FIRST).limit(limit)
    with store.reading() as conn:
        result = conn.execution_options(yield_per=_BATCH).execute(query).mappings()
        for row in result:
            yield to_run(row)


def schema_fields(
    store: Store, filters: RunFilters | None, limit: int | None, stale_after: float
) -> list[str]:
    """Union of the top-level fields of the schemas among the exported runs."""
    conds = conditions(store, filters or RunFilters(), stale_after)
    chosen = (
        select(runs.c.seq, runs.c.schema_fingerprint).where(*conds)
        .order_by(*NEWEST_FIRST).limit(limit).subquery()
    )
    firsts = select(func.max(chosen.c.seq).label("seq")).group_by(chosen.c.schema_fingerprint)
    query = select(runs.c.json_schema).where(runs.c.seq.in_(firsts)).order_by(runs.c.seq.desc())
    with store.reading() as conn:
        schemas = conn.execute(query).scalars().all()
    fields: dict[str, None] = {}
    for schema in schemas:
        fields.update(dict.fromkeys(top_level_fields(schema)))
    return list(fields)


def top_level_fields(schema: Any) -> list[str]:
    """The property names of an object schema (a root `$ref` into `$defs` is followed)."""
    if not isinstance(schema, dict):
        return [VALUE_COLUMN]
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        schema = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), schema)
    props = schema.get("properties")
    return list(props) if isinstance(props, dict) and props else [VALUE_COLUMN]


def _field_header(field: str) -> str:
    # A field named like a run column ("status", "id") must not hide it.
    return f"result.{field}" if field in RUN_COLUMNS else field


def _run_cells(run: StoredRun) -> list[Any]:
    values = {name: getattr(run, name) for name in RUN_COLUMNS}
    values["status"] = run.shown_status or run.status
    values["document"] = run.document.name if run.document is not None else None
    for name in ("started_at", "ended_at"):
        values[name] = values[name] and values[name].isoformat()
    return [values[name] for name in RUN_COLUMNS]


def _field_cells(result: Any, fields: list[str]) -> list[Any]:
    if not isinstance(result, dict):
        return [result if field == VALUE_COLUMN else None for field in fields]
    return [result.get(field) for field in fields]


def cell(value: Any) -> str:
    """One CSV cell: JSON for nested values, never a live formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # a number, never a formula, even when negative
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    if _UNWRITABLE.search(value):
        value = _UNWRITABLE.sub("\ufffd", value)
    return "'" + value if value.startswith(_FORMULA_START) else value

