"""Comparisons and presets in the store, on SQLite and on a real Postgres server
(tests/postgres.py): migration 0004 up and down, lanes matched to runs, the verdict from the
stored runs and a reference, the export, preset versions, bad names and broken rows."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect, update

from engine.compare.comparisons import (
    NOT_RUN,
    comparison_verdict,
    export_comparison,
    get_comparison,
    list_comparisons,
    new_compare_id,
    save_comparison,
)
from engine.compare.lanes import LaneSpec, done_over_time, summary_from_run
from engine.compare.presets import (
    Preset,
    delete_preset,
    get_preset,
    list_presets,
    missing_providers,
    save_preset,
)
from engine.compare.verdict import AGREE, DIFFER, ONE_SIDED
from engine.history import import_jsonl
from engine.history.recorder import stored_run
from engine.runs.hooks import RunStart
from engine.runs.spec import GROUP_COMPARE, SOURCE_COMPARE, RunGroup, RunSpec
from engine.schemas.library import MeetingInfo, Report
from engine.store import Store, StoredRun
from engine.store import db as store_db
from engine.store.records import utcnow
from engine.store.tables import compare_presets, comparisons
from tests.support import MEETING, all_at_once, racing

pytest_plugins = ["tests.postgres"]  # the db_url (SQLite and Postgres) and store fixtures

FLAT = {"date": "march 15th, 2024", "location": "Grand Tech Arena, 4521 Innovation Drive",
        "budget": 50000}


def lane(name: str, schema: str = "MeetingInfo", provider: str = "OpenAI",
         version: str | None = None) -> LaneSpec:
    return LaneSpec(name, name.upper(), schema, version, provider, "gpt-4o-mini", "json_schema")


def run_of(compare_id: str | None, lane_name: str | None, result: object, *,
           schema: str = "MeetingInfo", minutes: int = 0, status: str = "done") -> StoredRun:
    return StoredRun(schema_name=schema, provider="OpenAI", model="gpt-4o-mini",
                     status=status, result=result, source="compare",
                     group_kind=GROUP_COMPARE if compare_id else None, group_id=compare_id,
                     group_member=lane_name, started_at=utcnow() + timedelta(minutes=minutes),
                     total_ms=900.0, first_field_ms=120.0,
                     usage={"prompt_tokens": 100, "completion_tokens": 50},
                     field_errors={"budget": "not a number"} if status != "done" else None)


def test_migration_0005_comes_up_from_0004_and_goes_back_down(db_url: str) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0004")
    assert "comparisons" not in inspect(engine).get_table_names()
    engine.dispose()
    with Store(db_url) as upgraded:
        assert store_db.current_revision(upgraded.engine) == store_db.head_revision()
        names = inspect(upgraded.engine).get_table_names()
        assert {"comparisons", "compare_presets"} <= set(names)
        assert "group_member" in {c["name"] for c in inspect(upgraded.engine).get_columns("runs")}
        save_comparison(upgraded, "c1", [lane("a")])
    engine = store_db.connect(db_url)
    with engine.begin() as conn:
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert "comparisons" not in inspect(engine).get_table_names()
    assert "compare_lane" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    engine.dispose()


def test_a_lanes_group_carries_the_id_and_the_lane_to_the_store() -> None:
    spec = RunSpec("text", "Report", Report, "OpenAI", None, "m", "json_schema",
                   source=SOURCE_COMPARE, group=RunGroup(GROUP_COMPARE, "abc", "lane:2"))
    run = stored_run(RunStart("r1", spec, 0.0), spec)
    assert (run.source, run.group_kind, run.group_id, run.group_member) == (
        "compare", "compare", "abc", "lane:2")
    assert (run.compare_id, run.compare_lane) == ("abc", "lane:2")


def test_a_comparison_reopens_each_run_in_its_lane(store: Store) -> None:
    cid = new_compare_id()
    save_comparison(store, cid, [lane("full"), lane("flat", "FlatMeeting")], preset="Team",
                    who="ada", reference={"date": "March 15th, 2024", "budget": 40000})
    # Started out of lane order, one lane run twice: its newest run counts.
    store.add(run_of(cid, "flat", FLAT, schema="FlatMeeting", minutes=0))
    store.add(run_of(cid, "full", {"date": "old"}, minutes=1))
    store.add(run_of(cid, "full", MEETING, minutes=2))
    store.add(run_of("other", "full", {"date": "not this one"}))
    found = get_comparison(store, cid)
    assert found is not None
    assert (found.created_by, found.preset, [ln.lane for ln in found.lanes]) == (
        "ada", "Team", ["full", "flat"])
    assert found.runs["full"].result == MEETING and found.runs["flat"].result == FLAT

    rows, summaries = comparison_verdict(store, found)
    by_path = {row.path: row for row in rows}
    assert by_path["date"].agreement == AGREE
    assert by_path["date"].correct == {"full": True, "flat": True}
    assert by_path["budget"].agreement == AGREE
    assert by_path["budget"].correct == {"full": False, "flat": False}
    # FlatMeeting is not a saved schema here: the flat lane counts as having every field.
    assert by_path["users[0].email"].agreement == ONE_SIDED
    assert [(s.lane, s.status, s.tokens, s.total_ms) for s in summaries] == [
        ("full", "done", 150, 900.0), ("flat", "done", 150, 900.0)]


def test_runs_without_a_lane_name_fill_the_lanes_in_order_of_start(store: Store) -> None:
    save_comparison(store, "c2", [lane("a"), lane("b"), lane("c")])
    store.add(run_of("c2", None, {"date": "second"}, minutes=1))
    store.add(run_of("c2", None, {"date": "first"}, minutes=0))
    found = get_comparison(store, "c2")
    assert found is not None
    assert {k: r.result["date"] for k, r in found.runs.items()} == {"a": "first", "b": "second"}
    rows, summaries = comparison_verdict(store, found)
    assert [s.status for s in summaries] == ["done", "done", NOT_RUN]
    assert next(r for r in rows if r.path == "date").agreement == DIFFER


def test_a_reference_run_from_history_judges_the_lanes(store: Store) -> None:
    reference = run_of(None, None, {**MEETING, "budget": 1})
    store.add(reference)
    save_comparison(store, "c3", [lane("a"), lane("b")], reference_run_id=reference.id)
    store.add(run_of("c3", "a", MEETING))
    store.add(run_of("c3", "b", {**MEETING, "budget": "1"}, status="invalid"))
    found = get_comparison(store, "c3")
    assert found is not None
    rows, summaries = comparison_verdict(store, found)
    budget = next(r for r in rows if r.path == "budget")
    assert budget.reference == 1 and budget.correct == {"a": False, "b": True}
    assert summaries[1].field_errors == 1 and summaries[1].status == "invalid"


def test_saving_again_replaces_the_lanes_and_the_list_is_newest_first(store: Store) -> None:
    save_comparison(store, "old", [lane("a")])
    save_comparison(store, "new", [lane("a"), lane("b")])
    save_comparison(store, "old", [lane("x")], reference={"a": 1})
    assert [c.id for c in list_comparisons(store)] == ["new", "old"]
    old = get_comparison(store, "old")
    assert old is not None and [ln.lane for ln in old.lanes] == ["x"]
    assert old.reference == {"a": 1} and old.runs == {}
    assert list_comparisons(store, limit=1)[0].id == "new"
    assert get_comparison(store, "nope") is None


def test_bad_ids_names_and_lanes_are_refused_with_a_clear_message(store: Store) -> None:
    with pytest.raises(ValueError, match="cannot be empty"):
        save_comparison(store, " ", [lane("a")])
    with pytest.raises(ValueError, match="no ':'"):
        save_comparison(store, "a:b", [lane("a")])
    with pytest.raises(ValueError, match="1 to 4 lanes"):
        save_comparison(store, "c", [lane(str(n)) for n in range(5)])
    with pytest.raises(ValueError, match="Two lanes are named 'a'"):
        save_comparison(store, "c", [lane("a"), lane("a")])
    with pytest.raises(ValueError, match="A lane needs a name"):
        save_comparison(store, "c", [lane("")])
    with pytest.raises(ValueError, match="not JSON data"):
        save_comparison(store, "c", [lane("a")], reference={"a": object()})
    with pytest.raises(ValueError, match="A preset needs a name"):
        save_preset(store, "  ", [lane("a")])
    with pytest.raises(ValueError, match="at most 100"):
        save_preset(store, "p" * 101, [lane("a")])
    assert list_comparisons(store) == [] and list_presets(store) == []


def test_broken_stored_json_is_skipped_and_said(store: Store,
                                               caplog: pytest.LogCaptureFixture) -> None:
    save_comparison(store, "good", [lane("a")])
    save_comparison(store, "bad", [lane("a")])
    save_preset(store, "Fine", [lane("a")])
    save_preset(store, "Fine", [lane("b")])
    with store.transaction() as conn:
        conn.execute(update(comparisons).where(comparisons.c.id == "bad")
                     .values(lanes='[{"lane": 1'))
        conn.execute(update(compare_presets).where(compare_presets.c.version == 2)
                     .values(lanes='{"not": "a list"}'))
        conn.execute(insert(compare_presets).values(name="Broken", name_key="broken",
                                                    version=1, created_at=utcnow(),
                                                    lanes="[1]"))
    with caplog.at_level(logging.WARNING):
        assert [c.id for c in list_comparisons(store)] == ["good"]
        assert get_comparison(store, "bad") is None
        presets = list_presets(store)
        assert get_preset(store, "Fine") is None  # the newest version is the broken one
    assert [(p.name, p.version) for p in presets] == [("Fine", 1)]  # the last readable one
    assert "Comparison bad is skipped" in caplog.text and "'Broken' version 1" in caplog.text


def test_presets_keep_a_version_per_change_and_pin_schema_versions(store: Store) -> None:
    first = save_preset(store, "Team race", [lane("a", "Invoice", version="2"), lane("b")],
                        who="ada")
    assert (first.name, first.version, first.created_by) == ("Team race", 1, "ada")
    assert save_preset(store, "team RACE", first.lanes).version == 1  # unchanged: no version
    second = save_preset(store, "team race", [lane("a", "Invoice", version="3")])
    assert (second.name, second.version) == ("Team race", 2)  # the first spelling stays
    save_preset(store, "Another", [lane("z")])
    assert [(p.name, p.version) for p in list_presets(store)] == [("Another", 1),
                                                                 ("Team race", 2)]
    old = get_preset(store, "TEAM RACE", version=1)
    assert old is not None and old.lanes[0].schema_version == "2"
    assert get_preset(store, "Team race", version=9) is None
    assert delete_preset(store, "team race") == 2 and get_preset(store, "Team race") is None
    assert delete_preset(store, "nobody") == 0


SPELLINGS = ("Race1x", "RACE1X", "race1x")


def test_preset_spellings_saved_at_the_same_moment_are_one_preset(store: Store) -> None:
    with racing(store, "compare_presets", len(SPELLINGS)):
        saved = all_at_once([lambda i=i: save_preset(store, SPELLINGS[i], [lane(f"l{i}")])
                             for i in range(len(SPELLINGS))])
    assert sorted(p.version for p in saved) == [1, 2, 3]  # type: ignore[attr-defined]
    [one] = list_presets(store)
    assert one.name in SPELLINGS and one.version == 3
    lanes = {get_preset(store, "race1X", version=v).lanes[0].lane  # type: ignore[union-attr]
             for v in (1, 2, 3)}
    assert lanes == {"l0", "l1", "l2"}


def test_migration_0006_merges_presets_split_by_case(db_url: str) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0005")
    with engine.begin() as conn:  # as Postgres left them: one name, two spellings
        for name, version, minutes, lane_name in [("Team race", 1, 0, "a"),
                                                  ("TEAM RACE", 1, 1, "b"),
                                                  ("TEAM RACE", 2, 2, "c")]:
            conn.execute(insert(compare_presets).values(
                name=name, version=version, lanes=json.dumps([lane(lane_name).to_json()]),
                created_at=utcnow() + timedelta(minutes=minutes)))
    engine.dispose()
    with Store(db_url) as store:
        assert [(p.name, p.version) for p in list_presets(store)] == [("Team race", 3)]
        assert [get_preset(store, "team race", version=v).lanes[0].lane  # type: ignore[union-attr]
                for v in (1, 2, 3)] == ["a", "b", "c"]
        assert save_preset(store, "TEAM race", [lane("d")]).version == 4
    engine = store_db.connect(db_url)
    with engine.begin() as conn:
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert "name_key" not in {c["name"] for c in inspect(engine).get_columns("compare_presets")}
    engine.dispose()


def test_a_preset_naming_a_provider_this_machine_lacks_says_which_lanes() -> None:
    preset = Preset("P", 1, None, utcnow(), [lane("a", provider="OpenAI"),
                                             lane("b", provider="Ollama")])
    assert [ln.lane for ln in missing_providers(preset, ["OpenAI", "Local"])] == ["b"]
    assert missing_providers(preset, ["OpenAI", "Ollama"]) == []


def test_lane_json_round_trips_and_bad_lane_json_is_named() -> None:
    spec = lane("a", version="3")
    assert LaneSpec.from_json(spec.to_json()) == spec
    assert LaneSpec.from_json({**spec.to_json(), "schema_version": 3}) == spec
    with pytest.raises(ValueError, match="'provider' must be text"):
        LaneSpec.from_json({**spec.to_json(), "provider": None})
    with pytest.raises(ValueError, match="must be a JSON object"):
        LaneSpec.from_json([1])


def test_the_export_has_the_verdict_then_each_lanes_run_and_imports(
    store: Store, tmp_path: Path,
) -> None:
    save_comparison(store, "c4", [lane("a"), lane("b")], reference={"budget": 50000})
    runs = [run_of("c4", "a", MEETING), run_of("c4", "b", {**MEETING, "date": "May"})]
    for run in runs:
        store.add(run)
    found = get_comparison(store, "c4")
    assert found is not None
    lines = export_comparison(store, found).splitlines()
    head = json.loads(lines[0])["comparison"]
    assert head["id"] == "c4" and [ln["lane"] for ln in head["lanes"]] == ["a", "b"]
    assert head["runs"] == {"a": runs[0].id, "b": runs[1].id}
    date = next(row for row in head["verdict"] if row["path"] == "date")
    assert date["agreement"] == DIFFER and date["values"] == {"a": MEETING["date"], "b": "May"}
    assert [s["status"] for s in head["summaries"]] == ["done", "done"]
    assert [json.loads(line)["id"] for line in lines[1:]] == [runs[0].id, runs[1].id]
    with Store(f"sqlite:///{tmp_path}/other.db") as other:  # History imports the runs
        result = import_jsonl(other, io.StringIO("\n".join(lines)))
        assert (result.imported, result.skipped) == (2, 0)


def test_summaries_and_the_done_over_time_chart() -> None:
    run = run_of("c", "a", MEETING, status="invalid")
    summary = summary_from_run("a", "A", run)
    assert (summary.status, summary.run_id, summary.first_done_ms, summary.tokens,
            summary.field_errors) == ("invalid", run.id, 120.0, 150, 1)
    text = json.dumps(MEETING)
    half = len(text) // 2
    points = done_over_time(MeetingInfo, [(100.0, text[:half]), (250.0, text[half:])])
    assert points[0] == (0.0, 0) and points[-1] == (0.25, 5)
    counts = [n for _, n in points]
    assert counts == sorted(set(counts))  # one point per change, only going up
