"""Comparisons kept in the store: each comparison's lanes and reference (`comparisons`,
migration 0005), its lanes' runs found again, its verdict and its export.

How a run finds its lane: each lane's `RunSpec.group` is `RunGroup("compare", id, lane)`; the
recorder stores it in `runs.group_kind` / `group_id` / `group_member` (so History's
`RunFilters(compare_id=...)` lists every lane). Reopening a comparison matches runs to lanes
by that member, the newest run of a lane winning; runs recorded without a lane name fill the
remaining lanes in order of start.
Matching by name survives lanes that start out of order (threads, a lane waiting for a local
slot), which matching by start order alone would not.

Stored JSON that does not parse (a hand-edited or broken row) is skipped with a warning by the
list, and `get_comparison` gives None for it: one bad row never hides the others.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from engine.compare.lanes import (
    LaneSpec,
    LaneSummary,
    check_lanes,
    check_name,
    lanes_from_json,
    summary_from_run,
)
from engine.compare.verdict import LaneRow, compare_lanes, lane_fields
from engine.history.export import jsonl_line, with_parts
from engine.history.queries import get_run, shown_status, to_run
from engine.schemas.resolve import find_schema
from engine.store import STALE_AFTER, Store, StoredRun
from engine.store.records import GROUP_COMPARE, utcnow
from engine.store.tables import comparisons, runs
from engine.store.textsafe import dumps

log = logging.getLogger(__name__)

MAX_ID = 64
NOT_RUN = "not run"  # the status of a lane whose run was never recorded


@dataclass(frozen=True)
class Comparison:
    """A recorded comparison: its lanes, the reference (an expected answer, or None), the
    reference run's id when the reference came from History, and each lane's run."""

    id: str
    created_at: datetime
    created_by: str | None
    preset: str | None
    lanes: list[LaneSpec]
    reference: Any
    reference_run_id: str | None
    runs: dict[str, StoredRun] = field(default_factory=dict)


def _check_id(compare_id: Any) -> str:
    if not isinstance(compare_id, str) or not compare_id.strip():
        raise ValueError("A comparison needs an id: it cannot be empty.")
    if len(compare_id) > MAX_ID or ":" in compare_id:
        raise ValueError(f"A comparison id has at most {MAX_ID} characters and no ':'; "
                         f"got {compare_id!r}.")
    return compare_id


def _json_text(what: str, value: Any) -> str:
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The {what} is not JSON data: {exc}") from None


def new_compare_id() -> str:
    """A fresh comparison id (hex: no ':', the one character an id may not hold)."""
    return uuid.uuid4().hex


def save_comparison(
    store: Store, compare_id: str, lanes: list[LaneSpec], *, reference: Any = None,
    reference_run_id: str | None = None, preset: str | None = None, who: str | None = None,
) -> None:  # fmt: skip
    """Record a comparison (again: its lanes, reference and preset are replaced, its creation
    kept). Raises ValueError for an empty or too long id or name, or bad lanes."""
    values = {
        "lanes": dumps([lane.to_json() for lane in check_lanes(lanes)]),
        "reference": None if reference is None else _json_text("reference", reference),
        "reference_run_id": reference_run_id,
        "preset": None if preset is None else check_name("A preset", preset),
    }
    compare_id = _check_id(compare_id)
    with store.transaction() as conn:
        found = conn.execute(update(comparisons).where(comparisons.c.id == compare_id)
                             .values(**values)).rowcount
        if not found:
            conn.execute(insert(comparisons).values(id=compare_id, created_at=utcnow(),
                                                    created_by=who, **values))


def _comparison(row: Any) -> Comparison | None:
    try:
        lanes = lanes_from_json(row["lanes"])
        reference = None if row["reference"] is None else json.loads(row["reference"])
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        log.warning("Comparison %s is skipped: its stored data is broken (%s).", row["id"], exc)
        return None
    return Comparison(row["id"], row["created_at"], row["created_by"], row["preset"], lanes,
                      reference, row["reference_run_id"])


def get_comparison(store: Store, compare_id: str, *,
                   stale_after: float = STALE_AFTER) -> Comparison | None:
    """A comparison with each lane's run (see the module doc), None when unknown or broken."""
    with store.reading() as conn:
        row = conn.execute(select(comparisons).where(comparisons.c.id == compare_id)
                           ).mappings().first()
        found = None if row is None else _comparison(row)
        if found is None:
            return None
        recorded = _lane_runs(conn, store, compare_id, stale_after)
    return replace(found, runs=_match(found.lanes, recorded))


def _lane_runs(conn: Connection, store: Store, compare_id: str,
               stale_after: float) -> list[StoredRun]:
    query = (select(runs, shown_status(store, stale_after))
             .where(runs.c.group_kind == GROUP_COMPARE, runs.c.group_id == compare_id)
             .order_by(runs.c.started_at, runs.c.seq))
    return [to_run(row) for row in conn.execute(query).mappings()]


def _match(lanes: list[LaneSpec], recorded: list[StoredRun]) -> dict[str, StoredRun]:
    names = {lane.lane for lane in lanes}
    matched: dict[str, StoredRun] = {}
    for run in recorded:  # oldest first: a lane run again keeps its newest run
        if run.compare_lane in names:
            matched[run.compare_lane] = run
    unnamed = iter(run for run in recorded if run.compare_lane not in names)
    for lane in lanes:
        if lane.lane not in matched:
            run = next(unnamed, None)
            if run is None:
                break
            matched[lane.lane] = run
    return {lane.lane: matched[lane.lane] for lane in lanes if lane.lane in matched}


def list_comparisons(store: Store, limit: int = 50) -> list[Comparison]:
    """The newest comparisons first, without their runs (`get_comparison` has them)."""
    query = (select(comparisons)
             .order_by(comparisons.c.created_at.desc(), comparisons.c.seq.desc()).limit(limit))
    with store.reading() as conn:
        found = [_comparison(row) for row in conn.execute(query).mappings()]
    return [c for c in found if c is not None]


def _lane_schema(store: Store, lane: LaneSpec, run: StoredRun | None) -> Any | None:
    """The schema the lane's run used, else the one the lane asks for (None when gone)."""
    name, version = ((run.schema_name, run.schema_version) if run is not None
                     else (lane.schema_name, lane.schema_version))
    found = find_schema(store, name, version)
    return None if found is None else found.schema


def _reference(store: Store, comparison: Comparison) -> tuple[Any, bool]:
    if comparison.reference is not None:
        return comparison.reference, True
    if comparison.reference_run_id:
        run = get_run(store, comparison.reference_run_id)
        if run is not None:
            return run.result, True
    return None, False


def comparison_verdict(store: Store,
                       comparison: Comparison) -> tuple[list[LaneRow], list[LaneSummary]]:
    """The verdict rows over the lanes' results (a partial for a lane that did not finish)
    and each lane's summary. A lane whose schema is unknown here counts as having every
    field; a lane never recorded has no value and the status "not run"."""
    values: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    summaries = []
    for lane in comparison.lanes:
        run = comparison.runs.get(lane.lane)
        values[lane.lane] = None if run is None else run.result
        schemas[lane.lane] = _lane_schema(store, lane, run)
        summaries.append(summary_from_run(lane.lane, lane.label, run) if run is not None
                         else LaneSummary(lane.lane, lane.label, NOT_RUN, None, None, None,
                                          None, 0))
    reference, has_reference = _reference(store, comparison)
    rows = compare_lanes(values, reference=reference, has_reference=has_reference,
                         fields=lane_fields(schemas))
    return rows, summaries


def export_comparison(store: Store, comparison: Comparison) -> str:
    """JSON Lines: one `{"comparison": {...}}` line (lanes, reference, verdict rows, lane
    summaries), then each lane's run as `export_jsonl` writes it (History imports those)."""
    rows, summaries = comparison_verdict(store, comparison)
    head = {
        "id": comparison.id, "created_at": comparison.created_at.isoformat(),
        "created_by": comparison.created_by, "preset": comparison.preset,
        "lanes": [lane.to_json() for lane in comparison.lanes],
        "reference": comparison.reference, "reference_run_id": comparison.reference_run_id,
        "runs": {lane: run.id for lane, run in comparison.runs.items()},
        "verdict": [asdict(row) for row in rows],
        "summaries": [asdict(summary) for summary in summaries],
    }
    out = io.StringIO()
    out.write(json.dumps({"comparison": head}, ensure_ascii=True, default=str) + "\n")
    lanes = [run for lane in comparison.lanes if (run := comparison.runs.get(lane.lane))]
    for run in with_parts(store, lanes):  # a split document's lane keeps its parts (#19)
        out.write(jsonl_line(run))
    return out.getvalue()
