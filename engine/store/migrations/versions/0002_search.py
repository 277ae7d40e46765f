"""Search in input and output: FTS5 trigram tables on SQLite, pg_trgm GIN indexes on Postgres.

Both give case-insensitive substring search (FTS5 `MATCH "word"` with the trigram tokenizer,
Postgres `ILIKE '%word%'`). Runs recorded before this revision are indexed by the upgrade.
Other databases get no index (search still works, by scanning).

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# One FTS table per column: the input is indexed once when the run starts and the result
# when it ends, instead of re-indexing both on every update.
_SQLITE_FTS = ("input_text", "result")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for column in _SQLITE_FTS:
            _sqlite_fts(column)
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in _SQLITE_FTS:
            op.execute(
                f"CREATE INDEX ix_runs_{column}_trgm ON runs USING gin ({column} gin_trgm_ops)"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for column in _SQLITE_FTS:
        if dialect == "sqlite":
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER runs_{column}_fts_{suffix}")
            op.execute(f"DROP TABLE runs_{column}_fts")
        elif dialect == "postgresql":
            op.execute(f"DROP INDEX ix_runs_{column}_trgm")


def _sqlite_fts(column: str) -> None:
    fts = f"runs_{column}_fts"
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='runs', content_rowid='seq',"
        " tokenize='trigram')"
    )
    delete = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.seq, old.{column});"
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.seq, new.{column});"
    op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON runs BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON runs BEGIN {delete} END")
    op.execute(
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {column} ON runs BEGIN {delete} {insert} END"
    )
    op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # index the runs already there
