"""History's comparisons (AppTest): a comparison recorded for real — two lanes run through
start_run against the replay server with the recorder installed, then save_comparison — is
listed, reopened (from the list and from `?compare=<id>`) with its lanes, verdict and chart,
and exported. Each test has its own SQLite file (isolate())."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.compare.comparisons import new_compare_id, save_comparison
from engine.compare.lanes import LaneSpec
from engine.history import import_jsonl, recorder
from engine.providers.registry import Provider
from engine.runs.runner import Runner
from engine.runs.spec import GROUP_COMPARE, SOURCE_COMPARE, RunGroup, RunSpec
from engine.runs.start import start_run
from engine.schemas.definition import FieldDef, SchemaDefinition, build_model
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.schemas.saved import save_schema
from engine.store import Store, load_settings, open_store
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import HISTORY_ENV, MEETING, app_page, chunks, isolate, page_texts
from ui import saved_comparisons
from ui.verdict_table import NOT_IN_SCHEMA

HISTORY = "pages/2_History.py"
#: A flatter MeetingInfo made on the Schemas page: no users, no location.
FLAT = SchemaDefinition(name="Meeting flat", fields=[
    FieldDef(name="date"), FieldDef(name="budget", type="whole number"),
])  # fmt: skip
#: Lane b's answer: the same budget (agrees), another date (differs).
FLAT_ANSWER = {"date": "March 16th, 2024", "budget": 50000}


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    isolate(monkeypatch, tmp_path, home=True)
    for name in HISTORY_ENV:
        monkeypatch.delenv(name, raising=False)
    recorder.install()
    with open_store(load_settings()) as opened:
        yield opened
    recorder.uninstall()
    from ui import context

    context._store.clear()


def lane_run(srv: ReplayServer, compare_id: str, lane: str, answer: dict[str, Any],
             name: str, schema: Any, version: str | None = None) -> Runner:
    provider = Provider("Custom server", "compatible", srv.base_url, ("json_schema",),
                        "replay-model", api_key="k")
    srv.queue(Reply.content(chunks(json.dumps(answer)), pace=0.001))
    spec = RunSpec.for_provider(MEETING_NOTE, name, schema, provider, "replay-model",
                                "json_schema", source=SOURCE_COMPARE,
                                group=RunGroup(GROUP_COMPARE, compare_id, lane),
                                schema_version=version)
    runner = start_run(spec, provider)
    assert runner.wait(10), "the lane did not end"
    return runner


def record_comparison(srv: ReplayServer, store: Store, reference: Any = None) -> str:
    """Two lanes (MeetingInfo, the saved flat variant) run one after the other, recorded."""
    flat = save_schema(store, FLAT)
    compare_id = new_compare_id()
    lane_run(srv, compare_id, "a", MEETING, "MeetingInfo", MeetingInfo)
    lane_run(srv, compare_id, "b", FLAT_ANSWER, flat.name, build_model(flat.definition),
             str(flat.version))
    save_comparison(store, compare_id, [
        LaneSpec("a", "Full schema", "MeetingInfo", None, "Custom server", "replay-model",
                 "json_schema"),
        LaneSpec("b", "Flat schema", flat.name, str(flat.version), "Custom server",
                 "replay-model", "json_schema"),
    ], who="Ann", reference=reference)  # fmt: skip
    return compare_id


def frame(at: AppTest, column: str) -> Any:
    """The first table on the page with this column."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def verdict(at: AppTest) -> dict[str, dict[str, str]]:
    """The verdict table, path -> its row."""
    rows = frame(at, "agreement")
    return {row["field"]: row for row in rows.to_dict("records")}


def opened(compare_id: str) -> AppTest:
    at = app_page(HISTORY)
    at.query_params[saved_comparisons.PARAM] = compare_id
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_comparison_is_listed_and_its_runs_carry_its_id(srv: ReplayServer,
                                                            store: Store) -> None:
    compare_id = record_comparison(srv, store)
    at = app_page(HISTORY)
    listed = frame(at, "lanes")
    assert listed["comparison"].tolist() == [compare_id]
    assert listed["lanes"].tolist() == ["Full schema · Flat schema"]
    assert listed["by"].tolist() == ["Ann"]
    assert at.expander[0].label.startswith("Comparisons (1")
    runs = frame(at, "status")
    assert runs["comparison"].tolist() == [f"?compare={compare_id}"] * 2  # a link to it
    lane_run(srv, "other", "a", MEETING, "MeetingInfo", MeetingInfo)  # another comparison's
    at.text_input(key="fs_hist_compare_id").input(compare_id).run()
    assert frame(at, "status")["comparison"].tolist() == [f"?compare={compare_id}"] * 2
    at.text_input(key="fs_hist_compare_id").input("no-such-id").run()
    assert "No runs match." in page_texts(at)


def test_a_comparison_reopened_shows_its_lanes_and_verdict(srv: ReplayServer,
                                                          store: Store) -> None:
    compare_id = record_comparison(srv, store)
    at = opened(compare_id)
    assert [h.value for h in at.subheader] == [f"Comparison {compare_id}"]
    assert "by Ann" in page_texts(at)
    lanes = frame(at, "mode")
    assert lanes["lane"].tolist() == ["Full schema", "Flat schema"]
    assert lanes["status"].tolist() == ["done", "done"]
    assert lanes["schema"].tolist() == ["MeetingInfo", "Meeting flat v1"]
    rows = verdict(at)
    assert rows["budget"]["agreement"] == "agree"
    assert rows["budget"]["Flat schema"] == "50000"
    assert rows["date"]["agreement"] == "differ"
    assert (rows["date"]["Full schema"], rows["date"]["Flat schema"]) == (
        "March 15th, 2024", "March 16th, 2024")
    assert rows["location"]["agreement"] == "one-sided"
    assert rows["location"]["Flat schema"] == NOT_IN_SCHEMA
    assert rows["users[0].email"]["Full schema"] == "johndoe@email.com"
    summaries = frame(at, "field errors")
    assert summaries["status"].tolist() == ["done", "done"]
    charts = [c.proto.spec for kind in ("arrow_vega_lite_chart", "vega_lite_chart")
              for c in at.get(kind)]
    done_chart = next(json.loads(spec) for spec in charts if "fields done" in spec)
    assert done_chart["mark"]["interpolate"] == "step-after"  # fields done over time


def test_a_reference_marks_each_lane_right_or_wrong(srv: ReplayServer, store: Store) -> None:
    compare_id = record_comparison(srv, store, reference={"date": "March 16th, 2024"})
    at = opened(compare_id)
    assert "reference: expected answer" in page_texts(at)
    date = verdict(at)["date"]
    assert (date["Full schema"], date["Flat schema"], date["reference"]) == (
        "✗ March 15th, 2024", "✓ March 16th, 2024", "March 16th, 2024")
    scores = frame(at, "field errors").set_index("lane")
    assert (scores.loc["Flat schema", "correct"], scores.loc["Full schema", "wrong"]) == (1, 1)


def test_selecting_a_comparison_in_the_list_opens_it(srv: ReplayServer, store: Store) -> None:
    compare_id = record_comparison(srv, store)
    at = app_page(HISTORY)
    assert "agreement" not in {c for df in at.dataframe for c in df.value.columns}
    at.session_state[saved_comparisons.TABLE] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert [h.value for h in at.subheader] == [f"Comparison {compare_id}"]
    assert verdict(at)["date"]["agreement"] == "differ"
    at.button(key="fs_hist_cmp_close").click().run()
    assert not at.exception, at.exception
    assert not at.subheader


def test_a_comparison_exported_before_run_groups_reopens_from_its_link(store: Store) -> None:
    """Runs of an export made by the 0006 exporter (compare_id, compare_lane) imported, their
    comparison saved again: `?compare=<id>` shows each in its lane (b started first)."""
    fixture = Path(__file__).parents[1] / "fixtures" / "history" / "runs-0006.jsonl"
    assert import_jsonl(store, fixture.read_text().splitlines()).imported == 4
    compare_id = "5f0c2b8e6d7a4f1e9b3c0a1d2e3f4a5b"
    save_comparison(store, compare_id, [
        LaneSpec(n, f"Lane {n}", "MeetingInfo", None, "OpenAI", "gpt-4o-mini", "json_schema")
        for n in ("a", "b")])  # fmt: skip
    at = opened(compare_id)
    assert [h.value for h in at.subheader] == [f"Comparison {compare_id}"]
    assert frame(at, "mode")["status"].tolist() == ["done", "done"]
    budget = verdict(at)["budget"]
    assert (budget["Lane a"], budget["Lane b"], budget["agreement"]) == ("50000", "40000",
                                                                         "differ")


def test_an_unknown_comparison_is_named(srv: ReplayServer, store: Store) -> None:
    at = opened("not-a-comparison")
    assert "There is no comparison 'not-a-comparison' in the history." in page_texts(at)


def test_the_export_holds_the_comparison_and_both_runs(srv: ReplayServer, store: Store) -> None:
    from engine.compare.comparisons import export_comparison, get_comparison

    compare_id = record_comparison(srv, store)
    at = opened(compare_id)
    buttons = [b for b in at.get("download_button") if "comparison" in b.proto.label]
    assert len(buttons) == 1
    found = get_comparison(store, compare_id)
    assert found is not None and set(found.runs) == {"a", "b"}
    lines = [json.loads(line) for line in export_comparison(store, found).splitlines()]
    assert "comparison" in lines[0]
    assert [lane["label"] for lane in lines[0]["comparison"]["lanes"]] == [
        "Full schema", "Flat schema"]
    exported = {line["id"] for line in lines[1:]}
    assert exported == {found.runs["a"].id, found.runs["b"].id}
