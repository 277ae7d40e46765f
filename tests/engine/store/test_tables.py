"""The Alembic migrations and `engine/store/tables.py` describe the same tables: an empty SQLite
file and an empty Postgres database (tests/postgres.py), upgraded to the newest migration,
compared with the metadata by Alembic's autogenerate (tables, columns, types, nullability,
server defaults, indexes, unique constraints).

Left out of the comparison, on purpose, because the metadata does not describe them: the
search of migrations 0002 and 0009 (SQLite's FTS5 tables `runs_input_text_fts`,
`runs_result_fts` and `runs_document_name_fts`, their shadow tables and triggers; Postgres's
pg_trgm GIN indexes `ix_runs_input_text_trgm`, `ix_runs_result_trgm` and
`ix_runs_document_name_trgm`) and the version table `fieldstream_alembic_version`. The test
checks that those are there, so the list cannot go stale unseen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, text

from engine.store import db
from engine.store.tables import metadata

pytest_plugins = ["tests.postgres"]

SEARCHED = ("input_text", "result", "document_name")  # the columns 0002 and 0009 index
# FTS5 makes `<name>_data`, `_idx`, `_docsize` and `_config` beside each table it indexes into.
_SEARCHED = "|".join(SEARCHED)
FTS_TABLE = re.compile(rf"runs_(?:{_SEARCHED})_fts(?:_data|_idx|_docsize|_config)?")
TRGM_INDEX = re.compile(rf"ix_runs_(?:{_SEARCHED})_trgm")


def outside_the_metadata(name: str | None, kind: str, _parents: dict[str, Any]) -> bool:
    """False for what the metadata leaves out on purpose (the search), so Alembic skips it."""
    if kind == "table":
        return not FTS_TABLE.fullmatch(name or "")
    if kind == "index":
        return not TRGM_INDEX.fullmatch(name or "")
    return True


def differences(engine: Engine, described: MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "version_table": db.VERSION_TABLE,
            "compare_type": True,
            "compare_server_default": True,
            "include_name": outside_the_metadata,
        })  # fmt: skip
        return compare_metadata(context, described)


@pytest.fixture
def migrated(db_url: str) -> Iterator[Engine]:
    engine = db.connect(db_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


def test_the_migrations_make_the_tables_that_tables_py_describes(migrated: Engine) -> None:
    assert differences(migrated, metadata) == []
    # What the comparison left out is really there (and nothing else was left out).
    found = inspect(migrated)
    tables = set(found.get_table_names())
    assert tables - set(metadata.tables) - {db.VERSION_TABLE} == (
        {f"runs_{column}_fts{part}" for column in SEARCHED
         for part in ("", "_data", "_idx", "_docsize", "_config")}
        if migrated.dialect.name == "sqlite" else set())
    with migrated.connect() as conn:
        if migrated.dialect.name == "sqlite":
            triggers = conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
            assert sorted(triggers) == sorted(f"runs_{column}_fts_{suffix}" for column in SEARCHED
                                              for suffix in ("ai", "ad", "au"))
        else:
            indexes = {index["name"] for index in found.get_indexes("runs")}
            assert {f"ix_runs_{column}_trgm" for column in SEARCHED} <= indexes


def test_a_column_the_migrations_lack_is_a_difference(tmp_path) -> None:
    """The comparison is not blind: a column only in the code, or a lost index, is reported."""
    engine = db.connect(f"sqlite:///{tmp_path / 'history.db'}")
    try:
        db.migrate(engine)
        changed = MetaData()
        for table in metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["runs"].append_column(Column("only_in_the_code", Integer()))
        index = next(i for i in changed.tables["runs"].indexes if i.name == "ix_runs_started")
        changed.tables["runs"].indexes.discard(index)
        found = {(diff[0], getattr(diff[-1], "name", None)) for diff in
                 differences(engine, changed)}
        assert found == {("add_column", "only_in_the_code"), ("remove_index", "ix_runs_started")}
    finally:
        engine.dispose()
