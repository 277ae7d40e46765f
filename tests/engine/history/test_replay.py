"""engine.history.replay finds a run's schema by `engine.schemas.resolve`'s rules: the library's
by name, a saved one by the version the run recorded, None when this store has neither."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.history.replay import library_name, schema_for
from engine.schemas.definition import FieldDef, SchemaDefinition
from engine.schemas.library import MeetingInfo
from engine.schemas.saved import save_schema
from engine.store import Store, StoredRun


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def _run(name: str, version: str | None) -> StoredRun:
    return StoredRun(schema_name=name, provider="p", model="m", schema_version=version)


def test_a_runs_schema_by_name_and_recorded_version(store: Store) -> None:
    save_schema(store, SchemaDefinition(name="Ticket", fields=[FieldDef(name="title")]))
    assert schema_for(_run("meetinginfo", None)) is MeetingInfo
    assert library_name(_run("meetinginfo", None)) == "MeetingInfo"
    assert set(schema_for(_run("ticket", "1"), store).model_fields) == {"title"}
    assert schema_for(_run("Ticket", "2"), store) is None  # a version not saved here
    assert schema_for(_run("Ticket", "v1"), store) is None  # a broken version
    assert schema_for(_run("Ticket", "1")) is None  # no store: the library only
