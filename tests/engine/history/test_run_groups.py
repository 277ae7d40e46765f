"""Run groups (issue #18), on SQLite and a real Postgres server (tests/postgres.py): migration
0007 turns `compare_id` / `compare_lane` into `group_kind` / `group_id` / `group_member` and
back, rows surviving up, down and up again; a lane's `RunGroup` reaches the store; and JSON
Lines exported before groups (tests/fixtures/history, made by the 0006 exporter) still import,
their lanes found by the Comparison filter and reopened in their lanes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, inspect

from engine.compare import LaneSpec, get_comparison, save_comparison
from engine.history import import_jsonl, list_runs
from engine.history.importer import ImportFormatError
from engine.history.queries import RunFilters
from engine.runs.spec import GROUP_COMPARE, RunGroup
from engine.store import Store, StoredRun
from engine.store import db as store_db

pytest_plugins = ["tests.postgres"]

FIXTURES = Path(__file__).parents[2] / "fixtures" / "history"
FIXTURE_ID = "5f0c2b8e6d7a4f1e9b3c0a1d2e3f4a5b"  # the comparison in the fixtures
LANE_A, LANE_B = "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
OLD_RUNS = sa.table(
    "runs", sa.column("id"), sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("status"), sa.column("schema_name"), sa.column("schema_fingerprint"),
    sa.column("provider"), sa.column("model"), sa.column("source"), sa.column("input_text"),
    sa.column("compare_id"), sa.column("compare_lane"),
)  # the runs table as 0006 made it (the columns these tests write)
#: id -> (source, compare_id, compare_lane) at 0006.
OLD = {"lane-a": ("compare", "c1", "a"), "no-lane": ("compare", "c1", None),
       "page": ("page", None, None)}


def old_row(run_id: str) -> dict[str, Any]:
    source, compare_id, lane = OLD[run_id]
    return {"id": run_id, "started_at": datetime(2026, 11, 30, 9, len(run_id), tzinfo=UTC),
            "status": "done", "schema_name": "Report", "schema_fingerprint": "f",
            "provider": "OpenAI", "model": "m", "source": source,
            "input_text": f"the quarterly {run_id} review", "compare_id": compare_id,
            "compare_lane": lane}


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("runs")}


def groups(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, group_kind, group_id, group_member FROM runs")).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def check_upgraded(engine: Engine, db_url: str) -> None:
    assert groups(engine) == {"lane-a": ("compare", "c1", "a"),
                              "no-lane": ("compare", "c1", None),
                              "page": (None, None, None)}
    assert {"compare_id", "compare_lane"}.isdisjoint(columns(engine))
    with Store(db_url) as store:
        assert [r.id for r in list_runs(store, RunFilters(compare_id="c1"))[0]] == [
            "no-lane", "lane-a"]  # newest first
        found = [r.id for r in list_runs(store, RunFilters(search="lane-a review"))[0]]
        assert found == ["lane-a"]  # the search (0002) survived the renames


def test_migration_0007_carries_compare_ids_up_down_and_up(db_url: str) -> None:
    engine = store_db.connect(db_url)
    try:
        store_db.migrate(engine, "0006")
        with engine.begin() as conn:
            conn.execute(sa.insert(OLD_RUNS), [old_row(run_id) for run_id in OLD])
        store_db.migrate(engine)
        check_upgraded(engine, db_url)
        with Store(db_url) as store:  # a group of another kind: only 0007 can hold it
            store.add(StoredRun(id="batch", schema_name="Report", provider="p", model="m",
                                group_kind="batch", group_id="b1", group_member="doc-1"))
        downgrade(engine, "0006")
        assert {"group_kind", "group_id", "group_member"}.isdisjoint(columns(engine))
        with engine.connect() as conn:
            rows = conn.execute(sa.select(OLD_RUNS.c.id, OLD_RUNS.c.source,
                                          OLD_RUNS.c.compare_id, OLD_RUNS.c.compare_lane)).all()
        assert {row[0]: tuple(row[1:]) for row in rows} == {**OLD, "batch": ("page", None, None)}
        assert "ix_runs_compare" in {i["name"] for i in inspect(engine).get_indexes("runs")}
        with engine.begin() as conn:
            conn.execute(sa.delete(OLD_RUNS).where(OLD_RUNS.c.id == "batch"))
        store_db.migrate(engine)
        check_upgraded(engine, db_url)
    finally:
        engine.dispose()


def test_a_lane_reopens_by_its_group_member_not_another_kinds(store: Store) -> None:
    save_comparison(store, "c1", [LaneSpec(n, n, "Report", None, "p", "m", "json_schema")
                                  for n in ("a", "b")])
    for run_id, kind, member in (("b", GROUP_COMPARE, "b"), ("x", "batch", "a")):
        store.add(StoredRun(id=run_id, schema_name="Report", provider="p", model="m",
                            status="done", group_kind=kind, group_id="c1", group_member=member))
    found = get_comparison(store, "c1")
    assert found is not None and {lane: run.id for lane, run in found.runs.items()} == {"b": "b"}
    assert [r.compare_id for r in list_runs(store)[0]] == [None, "c1"]  # newest first


def test_a_run_group_has_a_kind_and_an_id() -> None:
    assert RunGroup(GROUP_COMPARE, "c1") == RunGroup("compare", "c1", None)
    for kind, group_id in (("", "c1"), ("compare", ""), (None, "c1")):
        with pytest.raises(ValueError, match="a run group's"):
            RunGroup(kind, group_id)  # type: ignore[arg-type]


def fixture_lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def lanes_of(store: Store) -> dict[str, str]:
    save_comparison(store, FIXTURE_ID, [
        LaneSpec(n, n.upper(), "MeetingInfo", None, "OpenAI", "gpt-4o-mini", "json_schema")
        for n in ("a", "b")])  # fmt: skip
    found = get_comparison(store, FIXTURE_ID)
    assert found is not None
    return {lane: run.id for lane, run in found.runs.items()}


@pytest.mark.parametrize("name", ["runs-0006.jsonl", "comparison-0006.jsonl"])
def test_an_export_made_before_groups_imports_its_lanes_as_a_compare_group(
    store: Store, name: str
) -> None:
    lines = fixture_lines(name)
    assert '"compare_id"' in lines[-1] and '"group_id"' not in lines[-1]  # really the old shape
    result = import_jsonl(store, lines)
    assert result.imported == (4 if name.startswith("runs") else 2)
    lanes = list_runs(store, RunFilters(compare_id=FIXTURE_ID))[0]
    assert [(r.id, r.source, r.group_kind, r.group_member) for r in lanes] == [
        (LANE_A, "compare", "compare", "a"), (LANE_B, "compare", "compare", "b")]
    others = [r for r in list_runs(store)[0] if r.id not in (LANE_A, LANE_B)]
    assert [(r.source, r.group_kind, r.group_id) for r in others] == (
        [("cli", None, None), ("page", None, None)] if name.startswith("runs") else [])
    assert lanes_of(store) == {"a": LANE_A, "b": LANE_B}  # b started first: by member


def test_a_lane_spelled_in_its_source_imports_as_a_compare_group(store: Store) -> None:
    """The oldest spelling, `source: "compare:<id>:<lane>"` with no compare_id: the same."""
    lines = []
    for line in fixture_lines("runs-0006.jsonl"):
        data = json.loads(line)
        compare_id, lane = data.pop("compare_id"), data.pop("compare_lane")
        if compare_id:
            data["source"] = f"compare:{compare_id}:{lane}"
        lines.append(json.dumps(data))
    assert import_jsonl(store, lines).imported == 4
    assert lanes_of(store) == {"a": LANE_A, "b": LANE_B}
    run = store_run(store, LANE_A)
    assert (run.source, run.group_kind, run.group_id) == ("compare", "compare", FIXTURE_ID)


def store_run(store: Store, run_id: str) -> StoredRun:
    from engine.history.queries import get_run

    run = get_run(store, run_id)
    assert run is not None
    return run


def test_an_exported_group_round_trips_and_a_half_group_is_refused(store: Store) -> None:
    run = StoredRun(id="r", schema_name="S", provider="p", model="m", status="done",
                    group_kind="compare", group_id="c1", group_member="lane:2")
    data = run.to_dict()
    assert "compare_id" not in data and StoredRun.from_dict(data) == run
    for half in ({"group_kind": None}, {"group_id": None}, {"group_kind": None,
                                                            "group_id": None}):
        line = json.dumps({**data, **half})
        with pytest.raises(ImportFormatError, match=r"^line 1: 'group_kind', 'group_id'"):
            import_jsonl(store, [line])
    with pytest.raises(ImportFormatError, match="'compare_id' has the wrong type"):
        import_jsonl(store, [json.dumps({**data, "compare_id": 3})])
