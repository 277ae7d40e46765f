"""Search by a document's file name: `runs.document_name`, indexed like 0002's columns (#19).

`document_name` is the `name` of `runs.document` (0008), NULL for pasted text. It is a column
of its own, not an expression over the JSON, so both databases index it the way 0002 indexes
the input and the result: on SQLite an FTS5 trigram table `runs_document_name_fts` with its
three triggers, on Postgres a pg_trgm GIN index. The upgrade fills it in for the runs already
recorded with a document.

The backfill reads each document in Python rather than with json_extract / `::json ->>`: the
column holds SafeJSON's text (`textsafe`), which a hand-edited row may have broken and whose
`\\u0000` Postgres cannot turn into text; reading it as the store does writes the name exactly
as the store would (escaped by SafeText), and skips a document that is not an object with a
text name instead of failing the upgrade. Only runs since 0008 have a document.

A downgrade drops the column and its index; `runs.document` keeps the name.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-11
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

# The stored format itself (every text column of every row is in it), so it cannot change
# under this migration.
from engine.store.textsafe import escape, unescape

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMN = "document_name"
FTS = f"runs_{COLUMN}_fts"
TRGM = f"ix_runs_{COLUMN}_trgm"
_BATCH = 500


def upgrade() -> None:
    op.add_column("runs", sa.Column(COLUMN, sa.Text()))
    _backfill()
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_fts()
    elif dialect == "postgresql":  # pg_trgm is there since 0002
        op.execute(f"CREATE INDEX {TRGM} ON runs USING gin ({COLUMN} gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER {FTS}_{suffix}")
        op.execute(f"DROP TABLE {FTS}")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX {TRGM}")
    op.drop_column("runs", COLUMN)  # SQLite 3.35+ drops it in place (0004, 0007, 0008 too)


def _backfill() -> None:
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("seq"), sa.column("document"), sa.column(COLUMN))
    update = sa.update(runs).where(runs.c.seq == sa.bindparam("key")).values(
        {COLUMN: sa.bindparam("name")})
    last = None
    while True:  # by key, in batches: no cursor open on the table being updated
        query = sa.select(runs.c.seq, runs.c.document).where(runs.c.document.is_not(None))
        if last is not None:
            query = query.where(runs.c.seq > last)
        rows = conn.execute(query.order_by(runs.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        names = [{"key": seq, "name": name} for seq, document in rows
                 if (name := _name(document)) is not None]
        if names:
            conn.execute(update, names)
        last = rows[-1][0]


def _name(stored: str) -> str | None:
    """The document's name as SafeText stores it, or None for a document that has none."""
    try:
        document: Any = json.loads(unescape(stored))
    except ValueError:
        return None
    name = document.get("name") if isinstance(document, dict) else None
    return escape(name) if isinstance(name, str) and name else None


def _sqlite_fts() -> None:
    # As 0002 does for input_text and result (see there).
    op.execute(
        f"CREATE VIRTUAL TABLE {FTS} USING fts5({COLUMN}, content='runs', content_rowid='seq',"
        " tokenize='trigram')"
    )
    delete = f"INSERT INTO {FTS}({FTS}, rowid, {COLUMN}) VALUES ('delete', old.seq, old.{COLUMN});"
    insert = f"INSERT INTO {FTS}(rowid, {COLUMN}) VALUES (new.seq, new.{COLUMN});"
    op.execute(f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON runs BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON runs BEGIN {delete} END")
    op.execute(
        f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF {COLUMN} ON runs BEGIN {delete} {insert} END"
    )
    op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")  # index the runs backfilled
