"""What the Batch page shows, as plain data (no Streamlit here): the table's rows as text cells,
a running document's partial values merged in, the header's figures in words, and the
batches still to finish (the app resumes them when it starts).

Every cell is text: a nested value as compact JSON, never markup. The page draws these rows
with `st.dataframe`'s text columns, a page of them at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from engine.batch.model import CANCELLED, DONE, FAILED, INVALID, QUEUED, RUNNING, Row
from engine.store import Store
from engine.store.tables import batch_items

#: The table's columns before and after the schema's fields.
HEAD = ("status", "document")
TAIL = ("not in text", "seconds", "tokens", "reason")
#: A field named like one of those columns is shown as `field: <name>`.
FIELD_PREFIX = "field: "
#: The header's counts, in the order shown.
SHOWN_COUNTS = (DONE, FAILED, QUEUED, RUNNING, CANCELLED, INVALID)


def cell(value: Any) -> str | None:
    """A value as one text cell: strings as they are, numbers and booleans as JSON writes
    them, lists and objects as compact JSON; None stays empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def field_columns(fields: Sequence[str]) -> list[str]:
    """The schema's fields as column names, none clashing with the table's own columns."""
    taken = {*HEAD, *TAIL}
    return [f"{FIELD_PREFIX}{name}" if name in taken else name for name in fields]


def columns(fields: Sequence[str]) -> list[str]:
    return [*HEAD, *field_columns(fields), *TAIL]


def table_rows(rows: Sequence[Row], fields: Sequence[str],
               partials: Mapping[str, Any] | None = None) -> list[dict[str, str | None]]:
    """One dict of text cells per document, keyed by `columns(fields)`. `partials`: run id ->
    the partial object of a document running in this process (its fields so far), shown
    until its run writes its row."""
    partials = partials or {}
    names = field_columns(fields)
    out = []
    for row in rows:
        values: Mapping[str, Any] = row.values
        partial = partials.get(row.run_id or "") if row.status == RUNNING else None
        if isinstance(partial, Mapping):
            values = {**partial, **values}
        line: dict[str, str | None] = {"status": row.status, "document": row.item.name}
        for field, name in zip(fields, names, strict=True):
            line[name] = cell(values.get(field))
        line["not in text"] = ", ".join(row.not_in_text) or None
        line["seconds"] = f"{row.seconds:.1f}" if row.seconds is not None else None
        line["tokens"] = f"{row.tokens:,}" if row.tokens is not None else None
        line["reason"] = _reason(row)
        out.append(line)
    return out


def _reason(row: Row) -> str | None:
    if row.duplicate_of is not None:
        same = f"Same file as {row.duplicate_of}."
        return f"{same} {row.reason}" if row.reason else same
    return row.reason


def partial_values(json_text: str) -> dict[str, Any] | None:
    """A running document's object so far (its runner's `json_text()`), or None."""
    try:
        value = json.loads(json_text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- the header ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The header's figures as text (`—` where not known yet)."""

    counts: dict[str, int]
    total: int
    rate: str
    eta: str
    tokens: str
    cost: str | None


def figures(progress: Any) -> Figures:
    """`service.Progress` in words: counts by status, documents per minute, time left,
    tokens so far, and the cost when the provider's price is configured."""
    counts = progress.counts
    rate = f"{progress.per_minute:,.1f}/min" if progress.per_minute else "—"
    if counts.left == 0:
        eta = "finished"
    else:
        eta = duration(progress.eta_seconds) if progress.eta_seconds is not None else "—"
    cost = f"${progress.cost:,.4f}" if progress.cost is not None else None
    return Figures({s: counts[s] for s in SHOWN_COUNTS}, counts.total, rate, eta,
                   f"{counts.tokens:,}", cost)


def duration(seconds: float) -> str:
    """`45 s`, `3 min 20 s`, `2 h 05 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


# --- batches to resume ----------------------------------------------------------------------------


def unfinished_batches(store: Store, limit: int = 100) -> list[str]:
    """Ids of batches with a document queued or running (a cheap query: the app asks once
    when it starts, to take up its batches again)."""
    query = (select(batch_items.c.batch_id)
             .where(batch_items.c.status.in_([QUEUED, RUNNING]))
             .distinct().limit(limit))
    with store.reading() as conn:
        return [row[0] for row in conn.execute(query)]
