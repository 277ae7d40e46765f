"""Comparisons across lanes: the N-way verdict (`compare_lanes`), lane summaries, and
comparisons and presets in the store (SQLite and a real Postgres, tests/postgres.py) — a
comparison recorded from real runs against the replay server, reopened with its verdict and
exported."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from alembic import command
from pydantic import BaseModel
from sqlalchemy import inspect, text

from engine.history.compare import (
    AGREE,
    DIFFER,
    ONE_SIDED,
    compare_lanes,
    compare_results,
    lane_scores,
)
from engine.history.comparison import (
    LaneSpec,
    comparison_verdict,
    delete_preset,
    done_over_time,
    export_comparison,
    get_comparison,
    get_preset,
    list_comparisons,
    list_presets,
    missing_providers,
    new_compare_id,
    save_comparison,
    save_preset,
    summary_from_end,
)
from engine.history.recorder import Recorder
from engine.runs.group import RunnerGroup
from engine.runs.spec import compare_source
from engine.runs.start import start_run
from engine.schemas.fields import leaves
from engine.schemas.library import MeetingInfo
from engine.store import Store
from engine.store import db as store_db
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import chunks, isolate
from tests.test_runs_hooks import custom

pytest_plugins = ["tests.postgres"]
pytestmark = pytest.mark.timeout(120)

TEXT = "Jason (jason@gmail.com) meets Sarah on 2024-03-15 in Berlin; budget $18,500."


class FlatMeeting(BaseModel):
    """A flatter variant: no users table, a host name, the date and the place."""

    host: str
    date: str
    location: str


MEETING = {"users": [{"name": "Jason", "email": "jason@gmail.com", "twitter": "@jxnlco"}],
           "date": "2024-03-15", "location": "Berlin", "budget": 18500, "deadline": "2024-04-01"}
FLAT = {"host": "Jason", "date": "2024-03-15", "location": "berlin "}


def fields(**schemas: type[BaseModel]) -> dict[str, list[str]]:
    return {lane: [n.path for n in leaves(schema)] for lane, schema in schemas.items()}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


# --- the verdict -----------------------------------------------------------------------------


def test_matching_differing_and_one_sided_fields_across_two_schemas() -> None:
    other = {**MEETING, "location": "Paris", "budget": "18,500.00"}
    rows = {r.path: r for r in compare_lanes(
        {"a": MEETING, "b": other, "c": FLAT},
        fields=fields(a=MeetingInfo, b=MeetingInfo, c=FlatMeeting))}
    assert rows["date"].agreement == AGREE  # all three say the same
    assert rows["budget"].agreement == AGREE  # 18500 and "18,500.00" after normalising
    assert rows["budget"].present == {"a": True, "b": True, "c": False}
    assert rows["location"].agreement == DIFFER  # "Berlin", "Paris", "berlin "
    assert rows["host"].agreement == ONE_SIDED and rows["host"].present["a"] is False
    assert rows["users[0].email"].values == {"a": "jason@gmail.com", "b": "jason@gmail.com",
                                             "c": None}
    assert rows["users[0].email"].agreement == AGREE  # c's schema has no users
    assert list(rows)[:3] == ["users[0].name", "users[0].email", "users[0].twitter"]


def test_lists_of_different_lengths_are_matched_by_position() -> None:
    a = {"users": [{"name": "A"}, {"name": "B"}]}
    b = {"users": [{"name": "a"}]}
    rows = {r.path: r for r in compare_lanes({"a": a, "b": b})}
    assert rows["users[0].name"].agreement == AGREE
    assert rows["users[1].name"].agreement == ONE_SIDED
    assert rows["users[1].name"].values == {"a": "B", "b": None}


def test_a_reference_marks_each_lane_right_or_wrong() -> None:
    reference = {"date": "2024-03-15", "location": "Berlin", "budget": 18500}
    rows = compare_lanes({"a": MEETING, "b": {**MEETING, "location": "Paris"}, "c": FLAT},
                         reference=reference, has_reference=True,
                         fields=fields(a=MeetingInfo, b=MeetingInfo, c=FlatMeeting))
    by_path = {r.path: r for r in rows}
    assert by_path["location"].correct == {"a": True, "b": False, "c": True}
    assert by_path["location"].reference == "Berlin"
    assert by_path["budget"].correct == {"a": True, "b": True, "c": None}  # c has no budget
    assert by_path["deadline"].correct == {"a": None, "b": None, "c": None}  # not in reference
    scores = lane_scores(rows)
    assert scores["a"]["correct"] == 3 and scores["a"]["wrong"] == 0
    assert scores["b"]["wrong"] == 1
    assert scores["c"][ONE_SIDED] == 1 and scores["c"]["correct"] == 2


def test_four_lanes_and_a_reference_field_no_lane_has() -> None:
    values = {lane: {"x": 1} for lane in "abcd"}
    values["d"] = {"x": 2}
    rows = compare_lanes(values, reference={"x": 1, "y": "only here"}, has_reference=True)
    by_path = {r.path: r for r in rows}
    assert by_path["x"].agreement == DIFFER
    assert by_path["x"].correct == {"a": True, "b": True, "c": True, "d": False}
    assert by_path["y"].values == dict.fromkeys("abcd") and by_path["y"].agreement == AGREE
    assert by_path["y"].correct == dict.fromkeys("abcd", False)


def test_history_two_run_comparison_keeps_its_verdicts() -> None:
    diffs = {d.path: d.verdict for d in compare_results({"a": 1, "b": {"c": [1]}},
                                                        {"a": "1", "b": {"c": [1, 2]}})}
    assert diffs == {"a": "same", "b.c[0]": "same", "b.c[1]": "only in B"}


# --- recorded comparisons --------------------------------------------------------------------


def _lanes() -> list[LaneSpec]:
    return [LaneSpec("a", "A · MeetingInfo", "MeetingInfo", None, "Custom server", "m",
                     "json_schema"),
            LaneSpec("b", "B · MeetingInfo (other)", "MeetingInfo", None, "Custom server", "m2",
                     "json_schema")]


def _record(store: Store, reference: dict | None = None) -> tuple[str, dict]:
    """Two real lanes against two replay servers, recorded as History records them."""
    cid = new_compare_id()
    save_comparison(store, cid, _lanes(), reference=reference, who="ada")
    recorder = Recorder(store).register()
    other = {**MEETING, "location": "Paris"}
    try:
        with ReplayServer() as s1, ReplayServer() as s2:
            s1.queue(Reply.content(chunks(json.dumps(MEETING), 7), pace=0.002))
            s2.queue(Reply.content(chunks(json.dumps(other), 7), pace=0.004))
            runners = {lane: start_run(TEXT, "MeetingInfo", MeetingInfo, custom(srv), model,
                                       "json_schema", source=compare_source(cid))
                       for lane, srv, model in (("a", s1, "m"), ("b", s2, "m2"))}
            group = RunnerGroup(runners)
            while not group.ended:
                group.next_update()
            ends = {lane: r.report() for lane, r in runners.items()}
    finally:
        recorder.unregister()
    return cid, ends


def test_a_recorded_comparison_reopens_with_its_runs_verdict_and_export(store: Store) -> None:
    cid, ends = _record(store, reference={"location": "Berlin"})
    found = get_comparison(store, cid)
    assert found is not None and found.created_by == "ada"
    assert [lane.lane for lane in found.lanes] == ["a", "b"]
    assert found.runs["a"].id == ends["a"].run_id and found.runs["b"].id == ends["b"].run_id
    rows, summaries = comparison_verdict(store, found)
    by_path = {r.path: r for r in rows}
    assert by_path["location"].agreement == DIFFER
    assert by_path["location"].correct == {"a": True, "b": False}
    assert by_path["date"].agreement == AGREE
    assert [s.status for s in summaries] == ["done", "done"]
    assert summaries[0].total_ms is not None and summaries[0].field_errors == 0
    lines = export_comparison(store, found).splitlines()
    head = json.loads(lines[0])["comparison"]
    assert head["id"] == cid and len(head["verdict"]) == len(rows)
    assert {json.loads(line)["id"] for line in lines[1:]} == {ends["a"].run_id,
                                                              ends["b"].run_id}
    assert [c.id for c in list_comparisons(store)] == [cid]
    live = summary_from_end("a", "A", ends["a"])
    assert live.run_id == ends["a"].run_id and live.status == "done"


def test_a_reference_run_is_judged_by_its_result(store: Store) -> None:
    cid, ends = _record(store)
    again = new_compare_id()
    save_comparison(store, again, _lanes(), reference_run_id=ends["b"].run_id)
    found = get_comparison(store, again)
    assert found is not None and found.has_reference and found.runs == {}
    stored = get_comparison(store, cid)
    assert stored is not None
    rows, _ = comparison_verdict(store, type(stored)(**{**stored.__dict__,
                                                        "reference": None,
                                                        "reference_run_id": ends["b"].run_id}))
    assert {r.path: r for r in rows}["location"].correct == {"a": False, "b": True}


def test_an_unreadable_comparison_row_is_left_out(store: Store) -> None:
    save_comparison(store, "good", _lanes())
    with store.transaction() as conn:
        conn.execute(text("INSERT INTO comparisons (id, created_at, lanes) "
                          "VALUES ('bad', CURRENT_TIMESTAMP, '[{\"lane\": 3}]')"))
    assert [c.id for c in list_comparisons(store)] == ["good"]
    assert get_comparison(store, "bad") is None


def test_done_over_time_counts_fields_as_they_finish() -> None:
    answer = json.dumps(MEETING)
    timeline = [(i * 10.0, piece) for i, piece in enumerate(chunks(answer, 10))]
    points = done_over_time(MeetingInfo, timeline)
    assert points[0] == (0.0, 0) and points[-1][1] == len(leaves(MeetingInfo))
    assert [n for _, n in points] == sorted(n for _, n in points)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(points))


# --- presets ---------------------------------------------------------------------------------


def test_presets_are_versioned_and_name_missing_providers(store: Store) -> None:
    first = save_preset(store, "  Models  race ", _lanes(), who="ada")
    assert (first.name, first.version) == ("Models race", 1)
    pinned = [LaneSpec("a", "A", "Invoice", "3", "OpenAI", "gpt-4o-mini", "tools"),
              *_lanes()[1:]]
    second = save_preset(store, "Models race", pinned)
    assert second.version == 2
    assert [(p.name, p.version) for p in list_presets(store)] == [("Models race", 2)]
    assert get_preset(store, "Models race", 1).lanes == _lanes()  # type: ignore[union-attr]
    latest = get_preset(store, "Models race")
    assert latest is not None and latest.lanes[0].schema_version == "3"
    assert [lane.lane for lane in missing_providers(latest, {"Custom server"})] == ["a"]
    assert delete_preset(store, "Models race") == 2 and list_presets(store) == []


@pytest.mark.parametrize(("name", "lanes", "message"), [
    ("", _lanes(), "needs a name"),
    ("x" * 81, _lanes(), "at most 80"),
    ("ok", [], "1 to 4 lanes"),
    ("ok", [_lanes()[0], _lanes()[0]], "share a name"),
])
def test_a_bad_preset_is_refused_with_a_reason(store: Store, name: str, lanes: list[LaneSpec],
                                               message: str) -> None:
    with pytest.raises(ValueError, match=message):
        save_preset(store, name, lanes)
    assert list_presets(store) == []


def test_the_tables_come_with_the_upgrade_and_go_with_the_downgrade(db_url: str) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0004")
    assert "comparisons" not in inspect(engine).get_table_names()
    engine.dispose()
    with Store(db_url) as upgraded:
        assert store_db.current_revision(upgraded.engine) == store_db.head_revision()
        assert {"comparisons", "compare_presets"} <= set(
            inspect(upgraded.engine).get_table_names())
        save_preset(upgraded, "p", _lanes())
    engine = store_db.connect(db_url)
    with engine.begin() as conn:
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert "compare_presets" not in inspect(engine).get_table_names()
    engine.dispose()
