"""engine.schemas.resolve: one rule set for a schema by name and version (the CLI, the Compare
page and History's replays all ask it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.schemas.definition import FieldDef, SchemaDefinition
from engine.schemas.library import Invoice, MeetingInfo
from engine.schemas.resolve import (
    UnknownSchema,
    find_schema,
    library_name,
    resolve_schema,
    saved_version,
)
from engine.schemas.saved import save_schema
from engine.store import Store

FLAT = SchemaDefinition(name="Meeting flat", fields=[
    FieldDef(name="date"), FieldDef(name="venue"), FieldDef(name="budget", type="whole number"),
])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def test_a_built_in_schema_needs_no_store() -> None:
    picked = resolve_schema(None, "MeetingInfo")
    assert picked.schema is MeetingInfo and picked.version is None and picked.system is None
    assert resolve_schema(None, "meetinginfo").name == "MeetingInfo"  # any case
    assert library_name("INVOICE") == "Invoice" and library_name("Nope") is None


def test_a_saved_schema_in_the_version_asked_for(store: Store) -> None:
    save_schema(store, FLAT)
    save_schema(store, FLAT.model_copy(update={"instruction": "Be brief."}))
    first = resolve_schema(store, "Meeting flat", "1")
    newest = resolve_schema(store, "meeting flat")
    assert (first.version, newest.version, newest.system) == ("1", "2", "Be brief.")
    assert set(first.schema.model_fields) == {"date", "venue", "budget"}
    assert resolve_schema(store, "Meeting flat", 1).version == "1"  # a version as a number


def test_an_unknown_schema_or_version_is_named(store: Store) -> None:
    save_schema(store, FLAT)
    with pytest.raises(UnknownSchema, match="no version 7 of schema 'Meeting flat'"):
        resolve_schema(store, "Meeting flat", "7")
    with pytest.raises(UnknownSchema, match="no schema 'Nope'"):
        resolve_schema(store, "Nope")
    with pytest.raises(ValueError, match="whole number"):
        resolve_schema(store, "Meeting flat", "v2")
    with pytest.raises(UnknownSchema, match="no schema 'Meeting flat'"):
        resolve_schema(None, "Meeting flat")  # no store: built-ins only


def test_library_names_win_and_a_version_means_a_saved_schema(store: Store) -> None:
    shadow = save_schema(store, SchemaDefinition(name="invoice", fields=[FieldDef(name="only")]))
    assert resolve_schema(store, "invoice").schema is Invoice
    pinned = resolve_schema(store, "Invoice", str(shadow.version))
    assert pinned.version == "1" and set(pinned.schema.model_fields) == {"only"}
    with pytest.raises(UnknownSchema):
        resolve_schema(store, "MeetingInfo", "1")  # built-ins have no versions


def test_find_schema_is_none_where_resolve_raises(store: Store) -> None:
    assert find_schema(store, "Nope") is None
    assert find_schema(store, "MeetingInfo", "abc") is None
    assert find_schema(None, "MeetingInfo").schema is MeetingInfo
    assert (saved_version(None), saved_version(""), saved_version(" 3 ")) == (None, None, 3)
