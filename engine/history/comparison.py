"""Comparisons: the Compare page's lanes as the engine sees them, their summaries, the chart's
data, and comparisons and presets kept in the store.

A lane (`LaneSpec`) is what one column asks for: a schema version, a provider and model, a
mode; never a key. `LaneSummary` is how a lane ended (from a live `RunEnd` or a stored run);
`done_over_time` is the chart of fields done per lane, rebuilt from the chunk timeline with the
same parse as a replay (`replay.field_timeline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.history.compare import LaneRow
from engine.history.replay import field_timeline
from engine.runs.hooks import RunEnd
from engine.schemas.fields import leaves
from engine.store import StoredRun

__all__ = [
    "Comparison", "LaneRow", "LaneSpec", "LaneSummary", "Preset", "done_over_time",
    "summary_from_end", "summary_from_run",
]


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


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def summary_from_end(lane: str, label: str, end: RunEnd) -> LaneSummary:
    """A live lane's summary, from its Runner's `report()`."""
    t = end.timings
    return LaneSummary(lane, label, str(end.status), end.run_id, _ms(t.first_done),
                       _ms(t.total), _tokens(end.usage), len(end.field_errors))


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
