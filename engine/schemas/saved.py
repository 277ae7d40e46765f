"""Schema definitions saved in the store, versioned: each save that changes a definition adds
a version, and every older version stays readable (a run recorded with version 2 can still be
shown with the fields it had).

    saved = save_schema(store, defn, author="ada")   # SavedSchema(name, version, ...)
    list_schemas(store)                             # the newest version of each name
    get_schema(store, "Invoice", version=1)

Names are one schema whatever their case ("Invoice" and "invoice"): the first spelling saved
stays the stored one, so the CLI and the page find it either way. The store's unique
(`name_key`, `version`) makes that hold for saves at the same moment too (migration 0006): the
loser of a race saves again, as the next version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.schemas.definition import (
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
    fingerprint,
    parse_definition,
    validate_definition,
)
from engine.store import Store
from engine.store.records import utcnow
from engine.store.tables import schemas

# Concurrent saves of one name on Postgres: each round one wins and the others go again with
# the next version, so N saves at once need N attempts.
_SAVE_ATTEMPTS = 10
T = TypeVar("T")


@dataclass(frozen=True)
class SavedSchema:
    name: str
    version: int
    description: str
    author: str | None
    created_at: datetime
    updated_at: datetime
    definition: SchemaDefinition
    fingerprint: str


@dataclass(frozen=True)
class SchemaChoice:
    """The schema a run uses: its name, class, saved version (None: built-in) and instruction
    (the system prompt; None: the default)."""

    name: str
    schema: Any
    version: str | None = None
    system: str | None = None

    @classmethod
    def of_saved(cls, saved: SavedSchema) -> SchemaChoice:
        return cls(saved.name, build_model(saved.definition), str(saved.version),
                   saved.definition.instruction)


def save_schema(store: Store, defn: SchemaDefinition, author: str | None = None) -> SavedSchema:
    """Save `defn` as the next version of its name, or return the newest version untouched
    when nothing changed. An invalid definition raises `SchemaDefinitionError`, saving nothing."""
    problems = validate_definition(defn)
    if problems:
        raise SchemaDefinitionError(problems)
    return save_versioned(store, lambda conn: _save(conn, defn, author))


def save_versioned(store: Store, save: Callable[[Connection], T]) -> T:
    """Run `save` (which writes the next version of a name) in a transaction, again when a
    concurrent save took the same version number of the same name in any case (the unique
    (name_key, version) key)."""
    for attempt in range(_SAVE_ATTEMPTS):
        try:
            with store.transaction() as conn:
                return save(conn)
        except IntegrityError:
            if attempt == _SAVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _save(conn: Connection, defn: SchemaDefinition, author: str | None) -> SavedSchema:
    name = stored_name(conn, schemas, defn.name) or defn.name.strip()
    defn = defn.model_copy(update={"name": name})
    latest = _latest(conn, name)
    mark = fingerprint(defn)
    now = utcnow()
    if latest is not None and latest.fingerprint == mark:
        return latest  # unchanged: no new version
    values = {
        "name": name, "name_key": name_key(name), "version": (latest.version + 1) if latest else 1,
        "description": defn.description, "author": author, "created_at": now,
        "updated_at": now, "definition": defn.model_dump(mode="json"), "fingerprint": mark,
    }
    conn.execute(insert(schemas).values(**values))
    if latest is not None:  # the schema as a whole changed now
        conn.execute(update(schemas).where(schemas.c.name_key == name_key(name))
                     .values(updated_at=now))
    return _row(values)


def name_key(name: str) -> str:
    """What makes two names one (the store's `name_key` column): Python's casefold, not SQL's
    lower(), which folds ASCII only on SQLite and by the server's locale on Postgres; one
    function gives one answer on both ("Ärger" is "ärger" everywhere, "Straße" "STRASSE")."""
    return name.strip().casefold()


def stored_name(conn: Connection, table: Table, name: str) -> str | None:
    """The stored spelling of `name` in a table of named versions (`schemas`,
    `compare_presets`), found ignoring case, or None for a new name."""
    query = select(table.c.name).where(table.c.name_key == name_key(name)).limit(1)
    return conn.execute(query).scalar()


def _latest(conn: Connection, name: str) -> SavedSchema | None:
    query = (select(schemas).where(schemas.c.name_key == name_key(name))
             .order_by(schemas.c.version.desc()).limit(1))
    row = conn.execute(query).mappings().first()
    return _row(dict(row)) if row else None


def _row(values: dict[str, object]) -> SavedSchema:
    return SavedSchema(
        name=str(values["name"]), version=int(values["version"]),  # type: ignore[call-overload]
        description=str(values.get("description") or ""),
        author=values.get("author"),  # type: ignore[arg-type]
        created_at=values["created_at"],  # type: ignore[arg-type]
        updated_at=values["updated_at"],  # type: ignore[arg-type]
        definition=parse_definition(values["definition"]),
        fingerprint=str(values["fingerprint"]),
    )


def list_schemas(store: Store) -> list[SavedSchema]:
    """The newest version of every saved schema, by name."""
    newest = (select(schemas.c.name, func.max(schemas.c.version).label("version"))
              .group_by(schemas.c.name).subquery())
    query = (select(schemas)
             .join(newest, (schemas.c.name == newest.c.name)
                   & (schemas.c.version == newest.c.version))
             .order_by(schemas.c.name))
    with store.reading() as conn:
        return [_row(dict(row)) for row in conn.execute(query).mappings()]


def get_schema(store: Store, name: str, version: int | None = None) -> SavedSchema | None:
    """One version of a saved schema (the newest without `version`), found ignoring case."""
    with store.reading() as conn:
        if version is None:
            return _latest(conn, name)
        query = select(schemas).where(schemas.c.name_key == name_key(name),
                                      schemas.c.version == version)
        row = conn.execute(query).mappings().first()
    return _row(dict(row)) if row else None


def schema_versions(store: Store, name: str) -> list[SavedSchema]:
    """Every saved version of a schema, oldest first."""
    query = (select(schemas).where(schemas.c.name_key == name_key(name))
             .order_by(schemas.c.version))
    with store.reading() as conn:
        return [_row(dict(row)) for row in conn.execute(query).mappings()]
