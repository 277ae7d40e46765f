"""Saved schema definitions on SQLite and on a real Postgres server (tests/postgres.py): the
migration from the previous head, versions, lookups ignoring case, nothing saved when invalid."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import inspect, select

from engine.schemas.convert import to_json_schema, to_pydantic_source
from engine.schemas.definition import FieldDef, SchemaDefinition, SchemaDefinitionError
from engine.schemas.saved import (
    SchemaChoice,
    get_schema,
    list_schemas,
    save_schema,
    schema_versions,
)
from engine.store import Store
from engine.store import db as store_db
from engine.store.tables import schemas
from tests.support import OLD_FIELD_NAMES, OLD_SCHEMA_NAME, old_definition, save_unchecked

pytest_plugins = ["tests.postgres"]  # the db_url (SQLite and Postgres) and store fixtures


def invoice(*extra: FieldDef, description: str = "An invoice") -> SchemaDefinition:
    return SchemaDefinition(name="Invoice", description=description, fields=[
        FieldDef(name="Number"), FieldDef(name="Due date", type="date", required=False),
        FieldDef(name="Lines", type="list of objects", children=[
            FieldDef(name="What"), FieldDef(name="Kind", type="choice", choices=["a", "b\x00"])]),
        *extra,
    ])


def test_the_schemas_table_comes_with_the_upgrade_from_the_previous_head(db_url: str) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0002")
    assert "schemas" not in inspect(engine).get_table_names()
    engine.dispose()
    with Store(db_url) as upgraded:
        assert store_db.current_revision(upgraded.engine) == store_db.head_revision()
        assert "schemas" in inspect(upgraded.engine).get_table_names()
        assert save_schema(upgraded, invoice()).version == 1
    engine = store_db.connect(db_url)
    with engine.begin() as conn:  # and back down again
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert "schemas" not in inspect(engine).get_table_names()
    engine.dispose()


def test_each_change_is_a_new_version_and_older_ones_stay_readable(store: Store) -> None:
    first = save_schema(store, invoice(), author="ada")
    same = save_schema(store, invoice(), author="bob")
    second = save_schema(store, invoice(FieldDef(name="Total", type="number")), author="bob")
    third = save_schema(store, invoice(description="Changed words only"))
    assert (first.version, same.version, second.version, third.version) == (1, 1, 2, 3)
    assert same.author == "ada"  # unchanged: the version as it was saved
    old = get_schema(store, "Invoice", version=1)
    assert old is not None and old.definition == invoice()
    assert old.definition.fields[2].children[1].choices == ["a", "b\x00"]  # exact text back
    latest = get_schema(store, "invoice")  # any case
    assert latest is not None and (latest.version, latest.description) == (3, "Changed words only")
    assert [s.version for s in schema_versions(store, "INVOICE")] == [1, 2, 3]
    assert get_schema(store, "Invoice", version=9) is None and get_schema(store, "x") is None


def test_list_gives_the_newest_version_of_each_name(store: Store) -> None:
    save_schema(store, invoice())
    save_schema(store, invoice(FieldDef(name="Total")))
    save_schema(store, SchemaDefinition(name="Ärger", fields=[FieldDef(name="why")]))
    save_schema(store, SchemaDefinition(name="ärger", fields=[FieldDef(name="why"),
                                                              FieldDef(name="who")]))
    listed = [(s.name, s.version) for s in list_schemas(store)]
    assert listed == [("Invoice", 2), ("Ärger", 2)]  # one schema whatever the case


def test_an_invalid_definition_saves_nothing(store: Store) -> None:
    bad = SchemaDefinition(name="Bad", fields=[FieldDef(name="a"), FieldDef(name="A")])
    with pytest.raises(SchemaDefinitionError, match="used twice"):
        save_schema(store, bad)
    with store.reading() as conn:
        assert conn.execute(select(schemas)).first() is None
    assert list_schemas(store) == []


def test_concurrent_saves_get_distinct_versions(store: Store) -> None:
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            save_schema(store, invoice(FieldDef(name=f"extra {i}")))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s.version for s in schema_versions(store, "Invoice")] == [1, 2, 3, 4, 5, 6]


def test_names_saved_before_the_rule_still_load_run_and_export(store: Store) -> None:
    """Loading stays lenient: a version saved when control and invisible characters were let
    through still loads, builds a model to run and exports; saving it again asks for names
    that follow today's rule, naming each character."""
    save_unchecked(store, old_definition())
    saved = get_schema(store, OLD_SCHEMA_NAME)
    assert saved is not None and saved.definition == old_definition()
    assert [s.name for s in list_schemas(store)] == [OLD_SCHEMA_NAME]
    choice = SchemaChoice.of_saved(saved)
    assert [f.alias for f in choice.schema.model_fields.values()] == list(OLD_FIELD_NAMES)
    assert list(to_json_schema(saved.definition)["properties"]) == list(OLD_FIELD_NAMES)
    compile(to_pydantic_source(saved.definition), "<old>", "exec")
    with pytest.raises(SchemaDefinitionError) as refused:
        save_schema(store, saved.definition.model_copy(update={"description": "new"}))
    assert refused.value.problems == [
        "The schema name holds a control or invisible character (U+001B); choose another name.",
        "Total\u200b: the name holds a control or invisible character (U+200B).",
        "\u202eeman: the name holds a control or invisible character (U+202E).",
    ]
    assert [s.version for s in schema_versions(store, OLD_SCHEMA_NAME)] == [1]
