"""A Compare lane: what one column asks for (`LaneSpec`: a schema version, a provider and model,
a mode; never a key), how it ended (`LaneSummary`, from a live `RunEnd` or a stored run), the
chart of its fields done over time, and a preset lane's pinned schema, found or named as
missing, never swapped for another (`pin_schema`).

`done_over_time` is rebuilt from the chunk timeline with the same parse as a replay
(`engine.history.replay.field_timeline`). A lane's schema is found by name and version as
everywhere (`engine.schemas.resolve`). Every problem is a `ValueError` whose message can be
shown as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.history.recorder import ms
from engine.history.replay import field_timeline
from engine.runs.hooks import RunEnd
from engine.schemas.fields import leaves
from engine.schemas.resolve import resolve_schema
from engine.schemas.saved import SchemaChoice, get_schema
from engine.settings import CHUNKING_ALWAYS, CHUNKING_AUTO
from engine.store import Store, StoredRun

MAX_LANES = 4
MAX_NAME = 100  # a preset's or a lane's name, in characters
CHUNKINGS = (CHUNKING_AUTO, CHUNKING_ALWAYS)


@dataclass(frozen=True)
class LaneSpec:
    """What a lane asks for (no key). `schema_version` pins a saved schema's version (None for
    a library schema); `chunking` is the run's (`RunSpec.chunking`): `auto`, or `always` to
    split the text even when it fits, so a chunked lane can be set beside a single-shot one."""

    lane: str
    label: str
    schema_name: str
    schema_version: str | None
    provider: str
    model: str
    mode: str
    chunking: str = CHUNKING_AUTO

    def to_json(self) -> dict[str, Any]:
        return {"lane": self.lane, "label": self.label, "schema_name": self.schema_name,
                "schema_version": self.schema_version, "provider": self.provider,
                "model": self.model, "mode": self.mode, "chunking": self.chunking}

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
        # lanes stored before lanes could be chunked have no `chunking`: they ran as `auto`
        chunking = d.get("chunking", CHUNKING_AUTO)
        if chunking not in CHUNKINGS:
            raise ValueError(f"a lane's 'chunking' must be one of {', '.join(CHUNKINGS)}, "
                             f"got {chunking!r}")
        return cls(schema_version=None if version is None else str(version), chunking=chunking,
                   **values)


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


def check_name(what: str, name: Any) -> str:
    """A preset's or lane's name, stripped; raises ValueError when empty or too long."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} needs a name: it cannot be empty.")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ValueError(f"{what}'s name is {len(name)} characters long; at most {MAX_NAME}.")
    return name


def check_lanes(lanes: Sequence[LaneSpec]) -> list[LaneSpec]:
    """1 to `MAX_LANES` lanes, each named, no name twice; raises ValueError."""
    lanes = list(lanes)
    if not 1 <= len(lanes) <= MAX_LANES:
        raise ValueError(f"A comparison has 1 to {MAX_LANES} lanes, not {len(lanes)}.")
    seen: set[str] = set()
    for lane in lanes:
        if not isinstance(lane, LaneSpec):
            raise ValueError(f"A lane must be a LaneSpec, got {type(lane).__name__}.")
        name = check_name("A lane", lane.lane)
        if name in seen:
            raise ValueError(f"Two lanes are named {name!r}: each lane needs its own name.")
        seen.add(name)
    return lanes


def lanes_from_json(text: str) -> list[LaneSpec]:
    """Stored lanes (a JSON list); raises ValueError when they are broken."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("the lanes are not a JSON list")
    return [LaneSpec.from_json(d) for d in data]


@dataclass(frozen=True)
class LanePin:
    """A preset lane's pinned schema as this store has it: `choice` when found; else
    `problem`, a sentence naming what it pinned. `found_name` is the schema's
    stored name when only the pinned version is missing (the person picks a version of it);
    None when the schema itself is missing (they pick a schema)."""

    spec: LaneSpec
    choice: SchemaChoice | None = None
    problem: str | None = None
    found_name: str | None = None


def pin_schema(store: Store | None, spec: LaneSpec) -> LanePin:
    """The schema and version `spec` pins, or why it cannot be had here: a missing schema or
    version is named, never replaced by another (the default schema, the newest version)."""
    try:
        return LanePin(spec, resolve_schema(store, spec.schema_name, spec.schema_version))
    except ValueError:
        pass
    name = spec.schema_name
    # Only a saved schema has versions: a built-in of the same name is not the one pinned.
    newest = get_schema(store, name) if store is not None and spec.schema_version else None
    if newest is not None:
        return LanePin(spec, problem=f"The preset pins version {spec.schema_version} "
                                     f"of schema {newest.name!r}, which is not saved here; "
                                     f"pick a version.", found_name=newest.name)
    which = f" (version {spec.schema_version})" if spec.schema_version else ""
    return LanePin(spec, problem=f"The preset pins schema {name!r}{which}, which is "
                                 f"not here; pick a schema.")


def pin_schemas(store: Store | None, specs: Iterable[LaneSpec]) -> dict[str, LanePin]:
    """`pin_schema` for each lane, by lane name."""
    return {spec.lane: pin_schema(store, spec) for spec in specs}


def lane_values(ends: Mapping[str, RunEnd]) -> dict[str, Any]:
    """Each lane's answer: the result when it finished, else what arrived (its partial)."""
    return {lane: end.result if end.result is not None else end.partial
            for lane, end in ends.items()}
