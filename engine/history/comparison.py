"""Comparisons: several lanes (schema version + provider/model + mode) on one text, their
verdict, and named lane sets (presets) for the team — what the Compare page and History's
comparison view ask of the store.

    cid = new_compare_id()
    save_comparison(store, cid, lanes, reference={"date": "2024-03-15"})
    # ... each lane runs with RunSpec.source = compare_source(cid), so History records it
    rows, summaries = comparison_verdict(store, get_comparison(store, cid))

A lane's run is found by its comparison id (`runs.compare_id`) and matched to its lane by
start order: the page starts the lanes one after the other in lane order, and a run's
`started_at` is taken when it is started (on the page's thread, not the run's own), so the
order of `started_at` is the order of the lanes.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from engine.history.compare import LaneRow, compare_lanes
from engine.history.queries import to_run
from engine.runs.hooks import RunEnd
from engine.schemas.fields import leaves
from engine.store import Store, StoredRun
from engine.store.records import utcnow
from engine.store.tables import compare_presets, comparisons, runs

log = logging.getLogger(__name__)

MAX_NAME = 80  # a preset's name, in characters
MAX_LANES = 4
_SAVE_ATTEMPTS = 5  # concurrent saves of one preset name on Postgres: the loser retries


@dataclass(frozen=True)
class LaneSpec:
    """What a lane asks for (never a key): its name (`a`..`d`), a label, the schema and its
    saved version (None: built-in), the provider's name, the model and the mode."""

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
    def from_json(cls, data: Any) -> LaneSpec:
        """The inverse of `to_json`; ValueError for anything else."""
        if not isinstance(data, dict):
            raise ValueError("a lane is a JSON object")
        try:
            values = {name: data[name] for name in
                      ("lane", "label", "schema_name", "provider", "model", "mode")}
        except KeyError as exc:
            raise ValueError(f"a lane needs {exc.args[0]!r}") from None
        if not all(isinstance(v, str) for v in values.values()):
            raise ValueError("a lane's fields are text")
        version = data.get("schema_version")
        return cls(schema_version=None if version is None else str(version), **values)


@dataclass(frozen=True)
class LaneSummary:
    """One lane's run in numbers (milliseconds; None where unknown)."""

    lane: str
    label: str
    status: str
    run_id: str | None
    first_done_ms: float | None
    total_ms: float | None
    tokens: int | None
    field_errors: int


def summary_from_end(lane: str, label: str, end: RunEnd) -> LaneSummary:
    """A lane that just ended (`Runner.report()`)."""
    t = end.timings
    return LaneSummary(lane, label, end.status.value, end.run_id, _ms(t.first_done),
                       _ms(t.total), _tokens(end.usage), len(end.field_errors))


def summary_from_run(lane: str, label: str, run: StoredRun) -> LaneSummary:
    """A lane's recorded run."""
    return LaneSummary(lane, label, run.shown_status or run.status, run.id, run.first_field_ms,
                       run.total_ms, _tokens(run.usage), len(run.field_errors or {}))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _tokens(usage: dict[str, Any] | None) -> int | None:
    tokens = (usage or {}).get("completion_tokens")
    return tokens if isinstance(tokens, int) else None


def done_over_time(schema: Any, chunks: Sequence[tuple[float, str]]) -> list[tuple[float, int]]:
    """Fields done so far over the stream (the form's fields, as its progress bar counts
    them): (seconds from the request's start, count), one point per change of the count,
    starting at (0, 0)."""
    from engine.history.replay import field_timeline

    known = {node.path for node in _leaves(schema)}
    ends = sorted(row["end"] for row in field_timeline(schema, chunks)
                  if row["state"] == "done" and row["field"] in known)
    points = [(0.0, 0)]
    for count, at in enumerate(ends, start=1):
        if points[-1][0] == at:
            points[-1] = (at, count)
        else:
            points.append((at, count))
    return points


# --- comparisons in the store ----------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A recorded comparison; `runs` maps each lane to its run (filled by `get_comparison`)."""

    id: str
    created_at: datetime
    created_by: str | None
    preset: str | None
    lanes: list[LaneSpec]
    reference: Any
    reference_run_id: str | None
    runs: dict[str, StoredRun] = field(default_factory=dict)

    @property
    def has_reference(self) -> bool:
        return self.reference is not None or self.reference_run_id is not None


def new_compare_id() -> str:
    return uuid.uuid4().hex


def save_comparison(
    store: Store, compare_id: str, lanes: list[LaneSpec], *, reference: Any = None,
    reference_run_id: str | None = None, preset: str | None = None, who: str | None = None,
) -> None:  # fmt: skip
    """Record a comparison as it starts (before its lanes' runs)."""
    _check_lanes(lanes)
    with store.transaction() as conn:
        conn.execute(insert(comparisons).values(
            id=compare_id, created_at=utcnow(), created_by=who, preset=preset,
            lanes=[lane.to_json() for lane in lanes], reference=reference,
            reference_run_id=reference_run_id))


def _check_lanes(lanes: list[LaneSpec]) -> None:
    if not 1 <= len(lanes) <= MAX_LANES:
        raise ValueError(f"A comparison has 1 to {MAX_LANES} lanes, not {len(lanes)}.")
    names = [lane.lane for lane in lanes]
    if len(set(names)) != len(names):
        raise ValueError(f"Two lanes share a name: {', '.join(names)}.")


def get_comparison(store: Store, compare_id: str) -> Comparison | None:
    """A comparison with its lanes' runs; None when there is none by that id (or its row
    cannot be read: logged)."""
    from engine.history.queries import shown_status

    with store.reading() as conn:
        row = conn.execute(select(comparisons).where(comparisons.c.id == compare_id)
                           ).mappings().first()
        if row is None:
            return None
        query = (select(*runs.columns, shown_status(store, _stale()))
                 .where(runs.c.compare_id == compare_id)
                 .order_by(runs.c.started_at, runs.c.seq))
        lane_runs = [to_run(r) for r in conn.execute(query).mappings()]
    found = _comparison(dict(row))
    if found is None:
        return None
    matched = dict(zip((lane.lane for lane in found.lanes), lane_runs, strict=False))
    return Comparison(**{**found.__dict__, "runs": matched})


def _stale() -> float:
    from engine.store import STALE_AFTER

    return STALE_AFTER


def list_comparisons(store: Store, limit: int = 50) -> list[Comparison]:
    """The newest comparisons first (without their runs); rows that cannot be read are left
    out (and logged)."""
    query = select(comparisons).order_by(comparisons.c.created_at.desc(),
                                         comparisons.c.seq.desc()).limit(limit)
    with store.reading() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [c for c in map(_comparison, rows) if c is not None]


def _comparison(row: dict[str, Any]) -> Comparison | None:
    try:
        lanes = [LaneSpec.from_json(lane) for lane in row["lanes"]]
    except (TypeError, ValueError) as exc:
        log.warning("comparison %s cannot be read (%s): left out", row.get("id"), exc)
        return None
    return Comparison(row["id"], row["created_at"], row["created_by"], row["preset"], lanes,
                      row["reference"], row["reference_run_id"])


def comparison_verdict(store: Store, comparison: Comparison
                       ) -> tuple[list[LaneRow], list[LaneSummary]]:  # fmt: skip
    """The verdict of a recorded comparison: rows across its lanes' results (or partials),
    each lane's fields from the schema its run used, judged against the reference (the JSON
    kept, or the reference run's result) when there is one; and each lane's summary."""
    from engine.history.queries import get_run
    from engine.history.replay import schema_for

    values, fields, summaries = {}, {}, []
    for spec in comparison.lanes:
        run = comparison.runs.get(spec.lane)
        if run is None:
            continue
        values[spec.lane] = run.result
        schema = schema_for(run, store)
        if schema is not None:
            fields[spec.lane] = [node.path for node in _leaves(schema)]
        summaries.append(summary_from_run(spec.lane, spec.label, run))
    reference = comparison.reference
    if comparison.reference_run_id is not None:
        ref_run = get_run(store, comparison.reference_run_id)
        reference = ref_run.result if ref_run is not None else None
    rows = compare_lanes(values, reference=reference,
                         has_reference=comparison.has_reference and reference is not None,
                         fields=fields)
    return rows, summaries


def _leaves(schema: Any) -> list[Any]:
    try:
        return leaves(schema)
    except TypeError:  # a list schema or a bare value: no field tree
        return []


def export_comparison(store: Store, comparison: Comparison) -> str:
    """JSON Lines: one line with the comparison (lanes, reference, verdict rows, summaries),
    then each lane's run as History's export writes it."""
    rows, summaries = comparison_verdict(store, comparison)
    head = {"comparison": {
        "id": comparison.id, "created_at": comparison.created_at.isoformat(),
        "created_by": comparison.created_by, "preset": comparison.preset,
        "lanes": [lane.to_json() for lane in comparison.lanes],
        "reference": comparison.reference, "reference_run_id": comparison.reference_run_id,
        "verdict": [row.__dict__ for row in rows],
        "summaries": [s.__dict__ for s in summaries],
    }}
    out = io.StringIO()
    out.write(json.dumps(head, ensure_ascii=True, default=str) + "\n")
    for spec in comparison.lanes:
        run = comparison.runs.get(spec.lane)
        if run is not None:
            out.write(json.dumps(run.to_dict(), ensure_ascii=True) + "\n")
    return out.getvalue()


# --- presets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A named lane set, one version of it (each save of a name adds a version)."""

    name: str
    version: int
    created_by: str | None
    created_at: datetime
    lanes: list[LaneSpec]


def save_preset(store: Store, name: str, lanes: list[LaneSpec], who: str | None = None) -> Preset:
    """Save `lanes` as the next version of the preset `name` (schema versions pinned as the
    lanes name them)."""
    name = _preset_name(name)
    _check_lanes(lanes)
    for attempt in range(_SAVE_ATTEMPTS):
        try:
            with store.transaction() as conn:
                return _save_preset(conn, name, lanes, who)
        except IntegrityError:
            if attempt == _SAVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _preset_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValueError("A preset needs a name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A preset's name is at most {MAX_NAME} characters.")
    return name


def _save_preset(conn: Connection, name: str, lanes: list[LaneSpec], who: str | None) -> Preset:
    latest = conn.execute(select(func.max(compare_presets.c.version))
                          .where(compare_presets.c.name == name)).scalar()
    values = {"name": name, "version": (latest or 0) + 1, "created_by": who,
              "created_at": utcnow(), "lanes": [lane.to_json() for lane in lanes]}
    conn.execute(insert(compare_presets).values(**values))
    return Preset(name, values["version"], who, values["created_at"], list(lanes))


def list_presets(store: Store) -> list[Preset]:
    """The newest version of every preset, by name (unreadable ones left out, logged)."""
    newest = (select(compare_presets.c.name,
                     func.max(compare_presets.c.version).label("version"))
              .group_by(compare_presets.c.name).subquery())
    query = (select(compare_presets)
             .join(newest, (compare_presets.c.name == newest.c.name)
                   & (compare_presets.c.version == newest.c.version))
             .order_by(compare_presets.c.name))
    with store.reading() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [p for p in map(_preset, rows) if p is not None]


def get_preset(store: Store, name: str, version: int | None = None) -> Preset | None:
    """One version of a preset (the newest without `version`)."""
    query = select(compare_presets).where(compare_presets.c.name == " ".join(name.split()))
    if version is not None:
        query = query.where(compare_presets.c.version == version)
    query = query.order_by(compare_presets.c.version.desc()).limit(1)
    with store.reading() as conn:
        row = conn.execute(query).mappings().first()
    return _preset(dict(row)) if row else None


def delete_preset(store: Store, name: str) -> int:
    """Delete every version of a preset; how many rows went."""
    with store.transaction() as conn:
        gone = conn.execute(delete(compare_presets)
                            .where(compare_presets.c.name == " ".join(name.split())))
    return gone.rowcount or 0


def _preset(row: dict[str, Any]) -> Preset | None:
    try:
        lanes = [LaneSpec.from_json(lane) for lane in row["lanes"]]
    except (TypeError, ValueError) as exc:
        log.warning("preset %r cannot be read (%s): left out", row.get("name"), exc)
        return None
    return Preset(row["name"], row["version"], row["created_by"], row["created_at"], lanes)


def missing_providers(preset: Preset, available: Collection[str]) -> list[LaneSpec]:
    """The preset's lanes naming a provider this machine does not have."""
    return [lane for lane in preset.lanes if lane.provider not in available]
