"""Search in a run's input, output and document name: case-insensitive substring, per database.

SQLite answers from the FTS5 trigram tables of migrations 0002 and 0009 (`MATCH "term"`),
Postgres from the pg_trgm GIN indexes (`ILIKE '%term%'`; the index finds candidates, each is checked
against the text). Terms shorter than a trigram are scanned with LIKE / ILIKE (on SQLite,
LIKE folds only ASCII case).

Counting every match of a word found in most runs would mean checking every run, so the
page counts matches only up to a cap. Below the cap the matches are collected, sorted and
paged exactly; above it the page is read newest first, checking each run until the page is
full, which is quick precisely because matches are then dense (at least cap / runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    column,
    or_,
    select,
    table,
    text,
    type_coerce,
    union,
)

from engine.store import Store
from engine.store.tables import runs
from engine.store.textsafe import SafeText

COUNT_CAP = 2000  # matches counted exactly; beyond it the total shows as "2,000+"
_TRIGRAM = 3
_FTS = (("q_in", "runs_input_text_fts"), ("q_out", "runs_result_fts"),
        ("q_doc", "runs_document_name_fts"))


def uses_fts(store: Store, term: str) -> bool:
    return store.dialect == "sqlite" and len(term) >= _TRIGRAM


def matching(store: Store, term: str) -> ColumnElement[bool]:
    """The runs matching `term`, as a set (for counts and exports)."""
    if not uses_fts(store, term):
        return _like(store, term)
    matches = [
        select(text("rowid")).select_from(text(fts)).where(_match(fts, name, term))
        for name, fts in _FTS
    ]
    return runs.c.seq.in_(union(*matches))


def row_matches(store: Store, term: str) -> ColumnElement[bool]:
    """Whether this row matches, checked row by row (for newest-first scans)."""
    if not uses_fts(store, term) or term.isascii():
        # SQLite's LIKE folds ASCII case, so for an ASCII term it finds what the trigram
        # index finds, at a fraction of the cost of one FTS lookup per row.
        return _like(store, term)
    probes = [
        text(f"EXISTS (SELECT 1 FROM {fts} WHERE {fts} MATCH :{name} AND rowid = runs.seq)")
        .bindparams(bindparam(name, _phrase(term), type_=SafeText()))
        for name, fts in _FTS
    ]
    return or_(*probes)


def candidates(
    conn: Connection, store: Store, base: Sequence[ColumnElement[bool]], term: str, most: int
) -> dict[int, datetime]:
    """Up to `most` matching runs (seq -> started_at) that also meet `base`, in no order."""
    if not uses_fts(store, term):
        query = select(runs.c.seq, runs.c.started_at).where(*base, _like(store, term))
        query = query.limit(most)
        return dict(conn.execute(query).all())
    found: dict[int, datetime] = {}
    for name, fts in _FTS:  # driven by the FTS table, so LIMIT stops the index walk early
        index = table(fts, column("rowid"))
        query = (
            select(runs.c.seq, runs.c.started_at)
            .select_from(index.join(runs, runs.c.seq == index.c.rowid))
            .where(_match(fts, name, term), *base).limit(most)
        )
        found.update(conn.execute(query).all())
    return found


def _match(fts: str, name: str, term: str) -> Any:
    # The indexed text is stored escaped (textsafe), so the term is escaped the same way.
    return text(f"{fts} MATCH :{name}").bindparams(
        bindparam(name, _phrase(term), type_=SafeText())
    )


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'  # one FTS5 phrase: no query syntax


def _like(store: Store, term: str) -> ColumnElement[bool]:
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # The result column is JSON: search its stored text, not a JSON-encoded pattern.
    columns = (runs.c.input_text, type_coerce(runs.c.result, SafeText()), runs.c.document_name)
    if store.dialect == "sqlite":  # LIKE ignores ASCII case already; lower() would copy
        return or_(*(col.like(pattern, escape="\\") for col in columns))
    return or_(*(col.ilike(pattern, escape="\\") for col in columns))
