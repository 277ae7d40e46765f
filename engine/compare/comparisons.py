"""Comparisons: the Compare page's lanes as the engine sees them, their summaries, the chart's
data, and comparisons and presets kept in the store.

A lane (`LaneSpec`) is what one column asks for: a schema version, a provider and model, a
mode; never a key. `LaneSummary` is how a lane ended (from a live `RunEnd` or a stored run);
`done_over_time` is the chart of fields done per lane, rebuilt from the chunk timeline with the
same parse as a replay (`replay.field_timeline`).

In the store (migration 0004): `comparisons` keeps each comparison's lanes and reference;
`compare_presets` keeps named lane sets, a new version per changed save of a name (names are
one preset whatever their case, as saved schemas are: the same unique `name_key`, 0006).

How a run finds its lane: each lane's `RunSpec.source` is `compare_source(id, lane)`
(`compare:<id>:<lane>`); the recorder stores the id in `runs.compare_id` (so History's
`RunFilters(compare_id=...)` lists every lane) and the lane in `runs.compare_lane`. Reopening a
comparison matches runs to lanes by that name, the newest run of a lane winning; runs recorded
without a lane name (a plain `compare:<id>` source) fill the remaining lanes in order of start.
Matching by name survives lanes that start out of order (threads, a lane waiting for a local
slot), which matching by start order alone would not.

Stored JSON that does not parse (a hand-edited or broken row) is skipped with a warning by the
lists, and `get_*` gives None for it: one bad row never hides the others.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from engine.history.compare import LaneRow, compare_lanes
from engine.history.export import jsonl_line
from engine.history.queries import get_run, shown_status, to_run
from engine.history.recorder import ms
from engine.history.replay import field_timeline
from engine.runs.hooks import RunEnd
from engine.schemas.fields import leaves
from engine.schemas.resolve import find_schema
from engine.schemas.saved import name_key, save_versioned, stored_name
from engine.store import STALE_AFTER, Store, StoredRun
from engine.store.records import utcnow
from engine.store.tables import compare_presets, comparisons, runs
from engine.store.textsafe import dumps
from engine.stream.types import is_model

__all__ = [
    "MAX_LANES", "MAX_NAME", "Comparison", "LaneRow", "LaneSpec", "LaneSummary", "Preset",
    "comparison_verdict", "delete_preset", "done_over_time", "export_comparison",
    "get_comparison", "get_preset", "list_comparisons", "list_presets", "missing_providers",
    "new_compare_id", "save_comparison", "save_preset", "summary_from_end", "summary_from_run",
]

log = logging.getLogger(__name__)

MAX_LANES = 4
MAX_NAME = 100  # a preset's or a lane's name, in characters
MAX_ID = 64
NOT_RUN = "not run"  # the status of a lane whose run was never recorded


@dataclass(frozen=True)
class LaneSpec:
    """What a lane asks for (no key). `schema_version` pins a saved schema's version (None for
    a library schema)."""

    lane: str
    label: str
    schema_name: str
    schema_version: str | None
    provider: str
    model: str
    mode: str

    def to_json(self) -> dict[str, Any]:
        return {"lane": self.lane, "label": self.label, "schema_name": self.schema_name,
                "schema_version": self.schema_version, "provider": self.provider,
                "model": self.model, "mode": self.mode}

    @classmethod
    def from_json(cls, d: Any) -> LaneSpec:
        """The inverse of `to_json`; raises ValueError naming what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"a lane must be a JSON object, got {type(d).__name__}")
        values = {}
        for name in ("lane", "label", "schema_name", "provider", "model", "mode"):
            if not isinstance(d.get(name), str):
                raise ValueError(f"a lane's {name!r} must be text, got {d.get(name)!r}")
            values[name] = d[name]
        version = d.get("schema_version")
        if version is not None and not isinstance(version, str | int):
            raise ValueError(f"a lane's 'schema_version' must be text, got {version!r}")
        return cls(schema_version=None if version is None else str(version), **values)


@dataclass(frozen=True)
class LaneSummary:
    """How one lane ended: status, run id, time to first done field and total (ms), tokens
    (the usage's total, or prompt + completion), and how many fields failed validation."""

    lane: str
    label: str
    status: str
    run_id: str | None
    first_done_ms: float | None
    total_ms: float | None
    tokens: int | None
    field_errors: int


def _tokens(usage: dict[str, Any] | None) -> int | None:
    if not usage:
        return None
    total = usage.get("total_tokens")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    counted = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
    return sum(counted) if counted else None


def summary_from_end(lane: str, label: str, end: RunEnd) -> LaneSummary:
    """A live lane's summary, from its Runner's `report()`."""
    t = end.timings
    return LaneSummary(lane, label, str(end.status), end.run_id, ms(t.first_done),
                       ms(t.total), _tokens(end.usage), len(end.field_errors))


def summary_from_run(lane: str, label: str, run: StoredRun) -> LaneSummary:
    """A recorded lane's summary ("interrupted" when its process died mid-run)."""
    return LaneSummary(lane, label, run.shown_status or run.status, run.id, run.first_field_ms,
                       run.total_ms, _tokens(run.usage), len(run.field_errors or {}))


def done_over_time(schema: Any, chunks: Sequence[tuple[float, str]]) -> list[tuple[float, int]]:
    """(seconds from the request's start, fields done so far): (0, 0), then one point per
    change in the count. A field is one of the schema's leaves (a form placeholder: a scalar,
    a whole table or item list), done or invalid, as the live progress counts them."""
    known = {node.path for node in leaves(schema)}
    ends = sorted(row["end"] for row in field_timeline(schema, chunks)
                  if row["field"] in known and row["state"] == "done")
    points = [(0.0, 0)]
    for n, at in enumerate(ends, start=1):
        if points[-1][0] == at:
            points[-1] = (at, n)  # several fields done by the same chunk: one point
        else:
            points.append((at, n))
    return points


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


@dataclass(frozen=True)
class Preset:
    """A named lane set for the team; each save of a name adds a version."""

    name: str
    version: int
    created_by: str | None
    created_at: datetime
    lanes: list[LaneSpec]


# -- validation -----------------------------------------------------------------------------


def _name(what: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} needs a name: it cannot be empty.")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ValueError(f"{what}'s name is {len(name)} characters long; at most {MAX_NAME}.")
    return name


def _check_lanes(lanes: Sequence[LaneSpec]) -> list[LaneSpec]:
    lanes = list(lanes)
    if not 1 <= len(lanes) <= MAX_LANES:
        raise ValueError(f"A comparison has 1 to {MAX_LANES} lanes, not {len(lanes)}.")
    seen: set[str] = set()
    for lane in lanes:
        if not isinstance(lane, LaneSpec):
            raise ValueError(f"A lane must be a LaneSpec, got {type(lane).__name__}.")
        name = _name("A lane", lane.lane)
        if name in seen:
            raise ValueError(f"Two lanes are named {name!r}: each lane needs its own name.")
        seen.add(name)
    return lanes


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


def _lanes_from(text: str) -> list[LaneSpec]:
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("the lanes are not a JSON list")
    return [LaneSpec.from_json(d) for d in data]


# -- comparisons ----------------------------------------------------------------------------


def new_compare_id() -> str:
    """A fresh comparison id (hex: no ':', so it fits `compare_source`)."""
    return uuid.uuid4().hex


def save_comparison(
    store: Store, compare_id: str, lanes: list[LaneSpec], *, reference: Any = None,
    reference_run_id: str | None = None, preset: str | None = None, who: str | None = None,
) -> None:  # fmt: skip
    """Record a comparison (again: its lanes, reference and preset are replaced, its creation
    kept). Raises ValueError for an empty or too long id or name, or bad lanes."""
    values = {
        "lanes": dumps([lane.to_json() for lane in _check_lanes(lanes)]),
        "reference": None if reference is None else _json_text("reference", reference),
        "reference_run_id": reference_run_id,
        "preset": None if preset is None else _name("A preset", preset),
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
        lanes = _lanes_from(row["lanes"])
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
             .where(runs.c.compare_id == compare_id)
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


def lane_fields(schemas: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each lane's leaf placeholders (what `compare_lanes` calls `fields`); a lane whose
    schema is unknown (None) or not a model is left out: it counts as having every field."""
    return {lane: [node.path for node in leaves(schema)] for lane, schema in schemas.items()
            if schema is not None and is_model(schema)}


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
    for lane in comparison.lanes:
        run = comparison.runs.get(lane.lane)
        if run is not None:
            out.write(jsonl_line(run))
    return out.getvalue()


# -- presets --------------------------------------------------------------------------------


def _preset(row: Any) -> Preset | None:
    try:
        lanes = _lanes_from(row["lanes"])
    except ValueError as exc:
        log.warning("Preset %r version %s is skipped: its stored lanes are broken (%s).",
                    row["name"], row["version"], exc)
        return None
    return Preset(row["name"], int(row["version"]), row["created_by"], row["created_at"], lanes)


def _latest_preset(conn: Connection, name: str) -> Any:
    query = (select(compare_presets).where(compare_presets.c.name_key == name_key(name))
             .order_by(compare_presets.c.version.desc()).limit(1))
    return conn.execute(query).mappings().first()


def save_preset(store: Store, name: str, lanes: list[LaneSpec], who: str | None = None) -> Preset:
    """Save the lane set as the next version of `name` (the newest version, untouched, when
    its lanes are the same). Raises ValueError for an empty or too long name, or bad lanes."""
    name = _name("A preset", name)
    text = dumps([lane.to_json() for lane in _check_lanes(lanes)])

    def save(conn: Connection) -> Preset:
        stored = stored_name(conn, compare_presets, name) or name
        latest = _latest_preset(conn, stored)
        if latest is not None and latest["lanes"] == text:  # unchanged: no new version
            return Preset(stored, int(latest["version"]), latest["created_by"],
                          latest["created_at"], list(lanes))
        return _new(conn, stored, latest["version"] + 1 if latest is not None else 1)

    def _new(conn: Connection, stored: str, version: int) -> Preset:
        values = {"name": stored, "name_key": name_key(stored), "version": version,
                  "created_by": who, "created_at": utcnow(), "lanes": text}
        conn.execute(insert(compare_presets).values(**values))
        return Preset(stored, version, who, values["created_at"], list(lanes))

    return save_versioned(store, save)


def list_presets(store: Store) -> list[Preset]:
    """The newest readable version of every preset, by name (broken rows skipped)."""
    query = select(compare_presets).order_by(compare_presets.c.name,
                                             compare_presets.c.version.desc())
    newest: dict[str, Preset] = {}
    with store.reading() as conn:
        for row in conn.execute(query).mappings():
            if row["name"] not in newest:
                preset = _preset(row)
                if preset is not None:
                    newest[row["name"]] = preset
    return list(newest.values())


def get_preset(store: Store, name: str, version: int | None = None) -> Preset | None:
    """One version of a preset (the newest without `version`), found ignoring case; None when
    there is none or its stored lanes are broken."""
    with store.reading() as conn:
        if version is None:
            row = _latest_preset(conn, name)
        else:
            row = conn.execute(select(compare_presets).where(
                compare_presets.c.name_key == name_key(name),
                compare_presets.c.version == version)
            ).mappings().first()
    return None if row is None else _preset(row)


def delete_preset(store: Store, name: str) -> int:
    """Delete every version of a preset (found ignoring case); returns how many rows went."""
    with store.transaction() as conn:
        return conn.execute(delete(compare_presets)
                            .where(compare_presets.c.name_key == name_key(name))).rowcount


def missing_providers(preset: Preset, available: Collection[str]) -> list[LaneSpec]:
    """The preset's lanes naming a provider this machine does not have."""
    have = set(available)
    return [lane for lane in preset.lanes if lane.provider not in have]
