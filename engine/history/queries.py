"""Listing and reading runs; all filtering and paging happen in the database.

"interrupted" is not stored: a row still marked running whose heartbeat (written with the
database's own clock) is older than `stale_after` seconds is shown as interrupted, decided in
the SQL, so every process and host sees the same answer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    not_,
    or_,
    select,
    text,
)

from engine.documents.model import DocumentInfo
from engine.history import search
from engine.store import STALE_AFTER, Store, StoredRun
from engine.store.db import db_now
from engine.store.records import GROUP_COMPARE, INTERRUPTED, RUNNING, document_from
from engine.store.tables import runs
from engine.store.timeline import unpack

PREVIEW_CHARS = 200


@dataclass(frozen=True)
class RunFilters:
    schema: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str | Collection[str] | None = None  # stored statuses and/or "interrupted"
    started_from: datetime | None = None  # inclusive
    started_to: datetime | None = None  # exclusive
    search: str | None = None  # case-insensitive substring of the input or the output
    source: str | None = None
    compare_id: str | None = None  # the lanes of this comparison (group kind "compare")
    # True: runs with at least one value not in the text; False: the others (none, or not known)
    not_found: bool | None = None


@dataclass(frozen=True)
class RunSummary:
    """One line of the History list (no timeline, schema or full texts)."""

    id: str
    started_at: datetime
    ended_at: datetime | None
    status: str  # as shown: "interrupted" derived
    schema_name: str
    schema_version: str | None
    provider: str
    model: str
    mode: str | None
    source: str
    group_kind: str | None
    group_id: str | None
    group_member: str | None
    ran_by: str | None
    ttft_ms: float | None
    first_field_ms: float | None
    total_ms: float | None
    input_preview: str | None
    not_found: int | None = None  # values not in the text; None for runs recorded before
    document: DocumentInfo | None = None  # the file the text was read from; None: pasted

    @property
    def compare_id(self) -> str | None:
        """The comparison this run was a lane of (None for other runs)."""
        return self.group_id if self.group_kind == GROUP_COMPARE else None


_SUMMARY = ("id", "started_at", "ended_at", "schema_name", "schema_version", "provider",
            "model", "mode", "source", "group_kind", "group_id", "group_member", "ran_by",
            "ttft_ms", "first_field_ms", "total_ms", "not_found", "document")
NEWEST_FIRST = (runs.c.started_at.desc(), runs.c.seq.desc())


class RunPage(tuple[list[RunSummary], int]):
    """`(rows, total)`, unpacked like a pair. `exact` is False when a search matched more
    runs than the count cap: `total` is then the cap (the page shows "5,000+")."""

    exact: bool

    def __new__(cls, rows: list[RunSummary], total: int, exact: bool = True) -> RunPage:
        page = super().__new__(cls, (rows, total))
        page.exact = exact
        return page

    def __getnewargs__(self) -> tuple[list[RunSummary], int, bool]:  # type: ignore[override]
        return self[0], self[1], self.exact  # pickle (st.cache_data) rebuilds it whole

    @property
    def rows(self) -> list[RunSummary]:
        return self[0]

    @property
    def total(self) -> int:
        return self[1]


def list_runs(
    store: Store,
    filters: RunFilters | None = None,
    limit: int = 50,
    offset: int = 0,
    *,
    stale_after: float = STALE_AFTER,
    count_cap: int = search.COUNT_CAP,
) -> RunPage:
    """One page of runs, newest first, and how many runs match in all."""
    f = filters or RunFilters()
    term = (f.search or "").strip()
    base = conditions(store, replace(f, search=None), stale_after)
    page = Page(store, limit, offset, stale_after)
    with store.reading() as conn:
        if not term:
            total = conn.execute(select(func.count()).select_from(runs).where(*base)).scalar_one()
            return RunPage(page.rows(conn, base), total)
        found = search.candidates(conn, store, base, term, count_cap + 1)
        if len(found) <= count_cap:  # all matches in hand: sort and cut the page here
            newest = sorted(found, key=lambda seq: (found[seq], seq), reverse=True)
            chosen = newest[offset : offset + limit]
            rows = page.rows(conn, [runs.c.seq.in_(chosen)], first=0) if chosen else []
            return RunPage(rows, len(found))
        return RunPage(page.dense(conn, base, term), count_cap, exact=False)


@dataclass(frozen=True)
class Page:
    store: Store
    limit: int
    offset: int
    stale_after: float

    def rows(
        self, conn: Connection, conds: list[Any], first: int | None = None
    ) -> list[RunSummary]:
        """The page's rows among `conds`, skipping `first` rows (default: the offset)."""
        query = (
            select(*(runs.c[name] for name in _SUMMARY), runs.c.input_text,
                   shown_status(self.store, self.stale_after))
            .where(*conds).order_by(*NEWEST_FIRST).limit(self.limit)
            .offset(self.offset if first is None else first)
        )
        return [_summary(row) for row in conn.execute(query).mappings()]

    def dense(self, conn: Connection, base: list[Any], term: str) -> list[RunSummary]:
        """Newest first, each run checked: matches are dense, so the page fills quickly."""
        if self.store.dialect == "postgresql":
            # Postgres cannot estimate how common a word is in long texts (they are left out
            # of its statistics), and would collect every match before sorting. Make it walk
            # the started_at index instead, for this transaction only.
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        return self.rows(conn, [*base, search.row_matches(self.store, term)])


def get_run(store: Store, run_id: str, *, stale_after: float = STALE_AFTER) -> StoredRun | None:
    """The whole run, a split run's parts included."""
    query = select(runs, shown_status(store, stale_after)).where(runs.c.id == run_id)
    with store.reading() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    run = to_run(row)
    run.parts = store.run_parts(run_id)
    return run


def timeline(store: Store, run_id: str) -> list[tuple[float, str]]:
    """(offset in ms, delta) for each chunk, to replay the run at its original pace."""
    with store.reading() as conn:
        blob = conn.execute(select(runs.c.timeline).where(runs.c.id == run_id)).scalar()
    return unpack(blob)


def delete_run(store: Store, run_id: str) -> bool:
    """Delete the run and its parts."""
    with store.transaction() as conn:
        return store.delete_runs(conn, runs.c.id == run_id) > 0


def to_run(row: Any) -> StoredRun:
    """A `runs` row as a `StoredRun` (without its parts: `Store.run_parts`)."""
    skipped = ("seq", "timeline", "document", "document_name")  # the name is in the document
    values = {k: v for k, v in row.items() if k not in skipped}
    return StoredRun(**values, timeline=unpack(row.get("timeline")),
                     document=_document(row.get("document")))


def _document(value: Any) -> DocumentInfo | None:
    # The recorder wrote it; a row edited by hand into something else shows no document
    # rather than breaking the page.
    try:
        return document_from(value)
    except ValueError:
        return None


def shown_status(store: Store, stale_after: float) -> ColumnElement[str]:
    return case((_stale(store, stale_after), INTERRUPTED), else_=runs.c.status).label(
        "shown_status"
    )


def conditions(store: Store, f: RunFilters, stale_after: float) -> list[ColumnElement[bool]]:
    """The WHERE clauses for these filters (shared by the list, the count and the exports)."""
    equal = {"schema_name": f.schema, "provider": f.provider, "model": f.model,
             "source": f.source}
    conds = [runs.c[name] == value for name, value in equal.items() if value is not None]
    if f.compare_id is not None:
        conds += [runs.c.group_kind == GROUP_COMPARE, runs.c.group_id == f.compare_id]
    if f.status:
        conds.append(_status(store, f.status, stale_after))
    if f.started_from is not None:
        conds.append(runs.c.started_at >= f.started_from)
    if f.started_to is not None:
        conds.append(runs.c.started_at < f.started_to)
    if f.search and f.search.strip():
        conds.append(search.matching(store, f.search.strip()))
    if f.not_found is not None:
        some = runs.c.not_found > 0
        conds.append(some if f.not_found else or_(runs.c.not_found.is_(None), not_(some)))
    return conds


def _stale(store: Store, stale_after: float) -> ColumnElement[bool]:
    # A row that never beat (imported, or written by hand) is judged by its start.
    last_sign = func.coalesce(runs.c.heartbeat_at, runs.c.started_at)
    return and_(runs.c.status == RUNNING, last_sign < db_now(store.dialect, stale_after))


def _status(store: Store, wanted: str | Collection[str], stale_after: float) -> Any:
    statuses = {wanted} if isinstance(wanted, str) else set(wanted)
    stale = _stale(store, stale_after)
    options = []
    if INTERRUPTED in statuses:
        options.append(stale)
    if RUNNING in statuses:
        options.append(and_(runs.c.status == RUNNING, not_(stale)))
    others = statuses - {INTERRUPTED, RUNNING}
    if others:
        options.append(runs.c.status.in_(sorted(others)))
    return or_(*options)


def _summary(row: Any) -> RunSummary:
    text_in = row["input_text"]
    preview = None if text_in is None else text_in[:PREVIEW_CHARS]
    values = {name: row[name] for name in _SUMMARY}
    values["document"] = _document(values["document"])
    return RunSummary(**values, status=row["shown_status"], input_preview=preview)
