"""Saved schema definitions on SQLite and on a real Postgres server (tests/postgres.py): the
migration from the previous head, versions, lookups ignoring case, nothing saved when invalid,
one schema for names that differ only by case (saved at the same moment, or split before
migration 0006 merged them)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from engine.compare.comparisons import get_comparison
from engine.history import get_run
from engine.schemas.convert import to_json_schema, to_pydantic_source
from engine.schemas.definition import (
    FieldDef,
    SchemaDefinition,
    SchemaDefinitionError,
    fingerprint,
)
from engine.schemas.saved import (
    SchemaChoice,
    get_schema,
    list_schemas,
    save_schema,
    schema_versions,
)
from engine.store import Store, StoredRun
from engine.store import db as store_db
from engine.store.tables import comparisons, runs, schemas
from tests.support import (
    OLD_FIELD_NAMES,
    OLD_SCHEMA_NAME,
    all_at_once,
    old_definition,
    racing,
    save_unchecked,
)

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


# -- one name whatever its case, however many save it at once ----------------------------------

SPELLINGS = ("Race1x", "RACE1X", "race1x")


def race_defn(i: int) -> SchemaDefinition:
    return SchemaDefinition(name=SPELLINGS[i], fields=[FieldDef(name=f"field {i}")])


def test_spellings_saved_at_the_same_moment_are_one_schema_with_three_versions(
    store: Store,
) -> None:
    with racing(store, "schemas", len(SPELLINGS)):
        saved = all_at_once([lambda i=i: save_schema(store, race_defn(i))
                             for i in range(len(SPELLINGS))])
    assert sorted(s.version for s in saved) == [1, 2, 3]  # type: ignore[attr-defined]
    [one] = list_schemas(store)
    assert one.name in SPELLINGS and one.version == 3
    versions = schema_versions(store, "RACE1x")
    assert [(s.name, s.version) for s in versions] == [(one.name, v) for v in (1, 2, 3)]
    assert sorted(s.definition.fields[0].name for s in versions) == [
        "field 0", "field 1", "field 2"]


# -- migration 0006: names already split by case are merged -----------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed_schema(conn: Connection, name: str, version: int, minutes: int, field: str) -> None:
    defn = SchemaDefinition(name=name, fields=[FieldDef(name=field)])
    when = T0 + timedelta(minutes=minutes)
    conn.execute(insert(schemas).values(
        name=name, version=version, created_at=when, updated_at=when,
        definition=defn.model_dump(mode="json"), fingerprint=fingerprint(defn)))


def seed_run(conn: Connection, name: str, version: str | None) -> str:
    run = StoredRun(schema_name=name, schema_version=version, provider="p", model="m",
                    status="done")
    conn.execute(insert(runs).values(
        id=run.id, started_at=run.started_at, status="done", schema_name=name,
        schema_version=version, schema_fingerprint="f", provider="p", model="m",
        source="page"))
    return run.id


def downgrade(url: str, revision: str) -> None:
    engine = store_db.connect(url)
    with engine.begin() as conn:
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    engine.dispose()


def test_migration_0006_merges_names_split_by_case_and_renumbers_in_time_order(
    db_url: str,
) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0005")
    with engine.begin() as conn:  # as Postgres left them: one name, three spellings
        for name, version, minutes, field in [("Race1x", 1, 0, "a"), ("RACE1X", 1, 1, "b"),
                                              ("Race1x", 2, 2, "c"), ("race1x", 1, 3, "d"),
                                              ("Other", 1, 0, "e")]:
            seed_schema(conn, name, version, minutes, field)
        ran = {pin: seed_run(conn, *pin) for pin in [("RACE1X", "1"), ("Race1x", "2"),
                                                     ("Race1x", "1"), ("race1x", "1"),
                                                     ("Other", "1"), ("RACE1X", None)]}
        pinned = [{"lane": "a", "label": "A", "schema_name": "race1x", "schema_version": "1",
                   "provider": "p", "model": "m", "mode": "json_schema"},
                  {"lane": "b", "label": "B", "schema_name": "MeetingInfo",
                   "schema_version": None, "provider": "p", "model": "m", "mode": "json_schema"}]
        conn.execute(insert(comparisons).values(id="c1", created_at=T0,
                                                lanes=json.dumps(pinned)))
    engine.dispose()

    with Store(db_url) as store:  # opening it upgrades it
        assert [(s.name, s.version) for s in list_schemas(store)] == [("Other", 1),
                                                                     ("Race1x", 4)]
        versions = schema_versions(store, "RACE1X")
        assert [(s.name, s.version, s.definition.fields[0].name) for s in versions] == [
            ("Race1x", 1, "a"), ("Race1x", 2, "b"), ("Race1x", 3, "c"), ("Race1x", 4, "d")]
        follows = {pin: (run.schema_name, run.schema_version) for pin, run_id in ran.items()
                   if (run := get_run(store, run_id)) is not None}
        assert follows == {("RACE1X", "1"): ("Race1x", "2"), ("Race1x", "2"): ("Race1x", "3"),
                           ("Race1x", "1"): ("Race1x", "1"), ("race1x", "1"): ("Race1x", "4"),
                           ("Other", "1"): ("Other", "1"), ("RACE1X", None): ("RACE1X", None)}
        lanes = get_comparison(store, "c1").lanes  # type: ignore[union-attr]
        assert [(ln.schema_name, ln.schema_version) for ln in lanes] == [
            ("Race1x", "4"), ("MeetingInfo", None)]
        assert save_schema(store, race_defn(1)).version == 5
        with pytest.raises(IntegrityError), store.transaction() as conn:  # the key holds
            seed_schema(conn, "RACE1x", 5, 9, "z")

    downgrade(db_url, "0005")
    engine = store_db.connect(db_url)
    assert "name_key" not in {c["name"] for c in inspect(engine).get_columns("schemas")}
    with engine.connect() as conn:  # the merge stays
        names = conn.execute(select(schemas.c.name).distinct()).scalars().all()
    assert sorted(names) == ["Other", "Race1x"]
    engine.dispose()


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
