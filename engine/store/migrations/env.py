"""Alembic environment for the store: always run programmatically by `engine.store.db.migrate`,
which passes an open connection (already inside its locked transaction)."""

from __future__ import annotations

from alembic import context

from engine.store.db import VERSION_TABLE


def run() -> None:
    connection = context.config.attributes["connection"]
    # SQLite can roll back DDL too; one transaction keeps a failed upgrade from half-applying.
    context.configure(
        connection=connection, version_table=VERSION_TABLE, transactional_ddl=True
    )
    with context.begin_transaction():
        context.run_migrations()


run()
