"""What the History page shows around the list: filter choices, chart data, the database's size,
and exports as bytes for a download button. All computed in the database."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from engine.history.export import export_csv, export_jsonl
from engine.history.queries import RunFilters, conditions, shown_status
from engine.store import STALE_AFTER, Store
from engine.store.tables import runs

EXPORT_LIMIT = 100_000  # a download is built in memory: a bound keeps the page alive


@dataclass(frozen=True)
class Facets:
    schemas: list[str]
    providers: list[str]
    models: list[str]


def facets(store: Store) -> Facets:
    """The distinct schemas, providers and models in the history (for the filter pickers)."""
    with store.reading() as conn:
        values = [
            sorted(v for v in conn.execute(select(col).distinct()).scalars() if v)
            for col in (runs.c.schema_name, runs.c.provider, runs.c.model)
        ]
    return Facets(*values)


def runs_per_day(
    store: Store, filters: RunFilters | None = None, stale_after: float = STALE_AFTER
) -> list[dict[str, Any]]:
    """[{day: 'YYYY-MM-DD', status, runs}] for the filtered runs (days in UTC)."""
    conds = conditions(store, filters or RunFilters(), stale_after)
    day = func.date(runs.c.started_at).label("day")
    status = shown_status(store, stale_after)
    inner = select(day, status).where(*conds).subquery()
    query = (
        select(inner.c.day, inner.c.shown_status, func.count().label("runs"))
        .group_by(inner.c.day, inner.c.shown_status).order_by(inner.c.day)
    )
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return [{"day": str(d), "status": s, "runs": int(n)} for d, s, n in rows]


def timings_by_model(
    store: Store, filters: RunFilters | None = None, stale_after: float = STALE_AFTER
) -> list[dict[str, Any]]:
    """[{model, first_field_s, total_s, runs}]: mean times of the filtered runs per model."""
    conds = conditions(store, filters or RunFilters(), stale_after)
    query = (
        select(runs.c.model, func.avg(runs.c.first_field_ms), func.avg(runs.c.total_ms),
               func.count())
        .where(*conds).group_by(runs.c.model).order_by(runs.c.model)
    )
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return [
        {"model": m, "first_field_s": _s(first), "total_s": _s(total), "runs": int(n)}
        for m, first, total, n in rows
    ]


def export_bytes(store: Store, filters: RunFilters | None, fmt: str) -> bytes:
    """The filtered runs as CSV (`csv`) or JSON Lines (`jsonl`), UTF-8."""
    writers = {"csv": export_csv, "jsonl": export_jsonl}
    if fmt not in writers:
        raise ValueError(f"fmt must be csv or jsonl, got {fmt!r}")
    out = io.StringIO(newline="")
    writers[fmt](store, out, filters, limit=EXPORT_LIMIT)
    return out.getvalue().encode("utf-8")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _s(ms: float | None) -> float | None:
    return None if ms is None else round(float(ms) / 1000.0, 3)
