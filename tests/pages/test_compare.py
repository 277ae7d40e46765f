"""AppTest tests of the Compare page against two local ReplayServers (127.0.0.1): lane a on the
"Custom server" (the environment's), lane b on a saved server ("Second"), so each lane's answer
is known whatever order the requests arrive in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.schemas.definition import FieldDef, SchemaDefinition
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING, app_page, chunks, isolate, page_texts
from tests.ui_support import custom_server_env

COMPARE, EXTRACT = "pages/4_Compare.py", "pages/1_Extract.py"
SECOND = "Second"
#: A flatter MeetingInfo made on the Schemas page: no users, the place under another name.
FLAT = SchemaDefinition(name="Meeting flat", fields=[
    FieldDef(name="date"), FieldDef(name="venue"), FieldDef(name="budget", type="whole number"),
])
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> Iterator[tuple[ReplayServer, ReplayServer]]:
    from engine.providers import save_provider

    isolate(monkeypatch, tmp_path)
    with ReplayServer() as one, ReplayServer() as two:
        for name, value in custom_server_env(one.base_url).items():
            monkeypatch.setenv(name, value)
        save_provider(SECOND, two.base_url, default_model="replay-model")
        yield one, two


def compare_page() -> AppTest:
    return app_page(COMPARE)


def lanes_shown(at: AppTest) -> list[str]:
    return [lane for lane in "abcd" if _has(at, f"fs_{lane}_schema")]


def _has(at: AppTest, key: str) -> bool:
    return any(box.key == key for box in at.selectbox)


def run(what: Any) -> AppTest:
    """Run the page after an interaction (a widget's or the AppTest's own `run`)."""
    at = what.run()
    assert not at.exception, at.exception
    return at


def test_two_lanes_to_start_then_add_and_remove(servers: Any) -> None:
    at = compare_page()
    assert lanes_shown(at) == ["a", "b"]
    assert not _button(at, "fs_a_remove")  # two is the fewest
    at = run(at.button(key="fs_cmp_add").click())
    at = run(at.button(key="fs_cmp_add").click())
    assert lanes_shown(at) == ["a", "b", "c", "d"]
    assert not _button(at, "fs_cmp_add")  # four is the most
    run(at.button(key="fs_b_remove").click())
    assert lanes_shown(at) == ["a", "c", "d"]
    run(at.button(key="fs_c_remove").click())
    assert lanes_shown(at) == ["a", "d"]
    assert not _button(at, "fs_a_remove")  # two is the fewest


def _button(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def test_the_lane_set_is_kept_across_pages(servers: Any) -> None:
    at = compare_page()
    run(at.button(key="fs_cmp_add").click())
    run(at.selectbox(key="fs_a_schema").select("Invoice"))
    run(at.selectbox(key="fs_b_provider").select(SECOND))
    run(at.selectbox(key="fs_c_mode").select("md_json"))
    run(at.switch_page(EXTRACT))
    assert not _has(at, "fs_a_schema")
    run(at.switch_page(COMPARE))
    assert lanes_shown(at) == ["a", "b", "c"]
    assert at.selectbox(key="fs_a_schema").value == "Invoice"
    assert at.selectbox(key="fs_b_provider").value == SECOND
    assert at.selectbox(key="fs_c_mode").value == "md_json"
    assert at.selectbox(key="fs_a_provider").value == "Custom server"


def test_a_bad_reference_is_named_and_nothing_runs(servers: Any) -> None:
    one, two = servers
    at = compare_page()
    run(at.radio(key="fs_cmp_ref_kind").set_value("Expected answer (JSON)"))
    run(at.text_area(key="fs_cmp_ref_json").input('{"date": "March 15",}'))
    assert any("not valid JSON" in e.value and "line 1" in e.value for e in at.error)
    run(at.button(key="fs_cmp_run").click())
    assert any("Fix the reference first" in w.value for w in at.warning)
    assert at.text_area(key="fs_cmp_ref_json").value == '{"date": "March 15",}'  # kept
    assert not one.requests and not two.requests


def test_a_missing_history_run_is_named(servers: Any) -> None:
    at = compare_page()
    run(at.radio(key="fs_cmp_ref_kind").set_value("A History run"))
    run(at.text_input(key="fs_cmp_ref_run").input("nope"))
    assert any("No run 'nope' in the History" in e.value.replace("\\", "") for e in at.error)


def _save_flat() -> None:
    from engine.schemas.saved import save_schema
    from engine.store import open_store

    with open_store() as store:
        save_schema(store, FLAT)


def test_run_all_then_the_verdict(servers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lane a: MeetingInfo; lane b: the flat variant. The verdict lists matching (budget,
    date, after normalising), differing (nothing here but the reference's date) and one-sided
    fields (users and location only in A, venue only in B). The lanes' one text is indexed
    for grounding once, not once per lane (Hardening II #12)."""
    from engine.runs import grounder as grounder_module

    built: list[str] = []
    real = grounder_module.TextIndex
    monkeypatch.setattr(grounder_module, "TextIndex", lambda text: built.append(text) or real(text))
    one, two = servers
    _save_flat()
    one.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    other = {"date": "march 15TH,  2024", "venue": "Harbour Hall", "budget": 40000}
    two.queue(Reply.content(chunks(json.dumps(other)), pace=0.001))
    at = compare_page()
    run(at.selectbox(key="fs_b_schema").select("Meeting flat (saved)"))
    run(at.selectbox(key="fs_b_provider").select(SECOND))
    assert at.selectbox(key="fs_b_version").value == "1"
    run(at.button(key="fs_cmp_run").click())
    assert sum("every field arrived" in s.value for s in at.success) == 2
    assert one.requests and two.requests
    assert one.requests[0]["messages"][-1]["content"] == two.requests[0]["messages"][-1]["content"]
    assert not at.exception, at.exception
    assert "Verdict" in [h.value for h in at.subheader]
    verdict = _verdict_rows(at)
    assert verdict["date"]["agreement"] == "agree"
    assert verdict["budget"]["agreement"] == "differ"
    assert verdict["location"]["agreement"] == "one-sided"
    assert "not in this schema" in str(verdict["location"].values())
    assert "not in this schema" in str(verdict["venue"].values())
    assert "John Doe" in str(verdict["users[0].name"].values())
    assert len(built) == 1


def _verdict_rows(at: AppTest) -> dict[str, dict[str, Any]]:
    """The verdict table's rows by path (the first table that has a `field` column)."""
    for frame in at.dataframe:
        df = frame.value
        columns = [str(c).lower() for c in df.columns]
        if "field" in columns and any("agree" in c for c in columns):
            records = df.to_dict("records")
            name = df.columns[columns.index("field")]
            agree = df.columns[next(i for i, c in enumerate(columns) if "agree" in c)]
            return {str(r[name]): {**r, "agreement": str(r[agree]).lower()} for r in records}
    raise AssertionError("no verdict table on the page")


def test_a_preset_saves_the_lane_set_and_names_a_provider_this_machine_lacks(
        servers: Any) -> None:
    from engine.providers import remove_provider

    at = compare_page()
    run(at.selectbox(key="fs_b_provider").select(SECOND))
    run(at.text_input(key="fs_cmp_preset_name").input("Two servers"))
    run(at.button(key="fs_cmp_preset_save").click())
    assert "Saved preset Two servers (version 1)." in page_texts(at)
    run(at.selectbox(key="fs_b_provider").select(at.selectbox(key="fs_a_provider").value))
    run(at.button(key="fs_cmp_preset_load").click())
    assert "Loaded preset Two servers." in page_texts(at)
    assert at.selectbox(key="fs_b_provider").value == SECOND  # the preset's lane b is back
    assert remove_provider(SECOND)
    at = compare_page()
    run(at.button(key="fs_cmp_preset_load").click())
    assert "names providers this machine does not have: lane B (Second)" in page_texts(at)
    assert at.selectbox(key="fs_b_provider").value != SECOND  # pick another: a default is set


def test_a_preset_whose_pinned_schema_or_version_is_missing_names_the_lanes_and_waits(
        servers: Any) -> None:
    """Regression (Hardening II #11): lane B's pinned schema is gone, lane C's pinned version
    is; loading the preset used to run B as MeetingInfo and C as the newest version under
    "Loaded preset P1.". Now each is named and left unpicked, and Run all refuses, naming the
    lanes, until a schema and a version are picked."""
    from dataclasses import replace

    from engine.compare.presets import get_preset, save_preset
    from engine.store import open_store

    one, _ = servers
    _save_flat()
    at = compare_page()
    run(at.button(key="fs_cmp_add").click())
    run(at.text_input(key="fs_cmp_preset_name").input("P1"))
    run(at.button(key="fs_cmp_preset_save").click())
    with open_store() as store:
        a, b, c = get_preset(store, "P1").lanes
        save_preset(store, "P1", [a, replace(b, schema_name="Gone", schema_version="1"),
                                  replace(c, schema_name="Meeting flat", schema_version="7")])
    run(at.button(key="fs_cmp_preset_load").click())
    texts = page_texts(at)
    assert "Loaded preset P1." not in texts
    assert "Lane B: The preset pins schema 'Gone' (version 1), which is not here" in texts
    assert "Lane C: The preset pins version 7 of schema 'Meeting flat'" in texts
    assert at.selectbox(key="fs_a_schema").value == "MeetingInfo"
    assert at.selectbox(key="fs_b_schema").value is None  # not MeetingInfo
    assert at.selectbox(key="fs_c_schema").value == "Meeting flat (saved)"
    assert at.selectbox(key="fs_c_version").value is None  # not the newest
    run(at.text_input(key="fs_cmp_preset_name").input("P2"))
    run(at.button(key="fs_cmp_preset_save").click())  # a lane not picked keeps its pin
    with open_store() as store:
        assert [(s.schema_name, s.schema_version) for s in get_preset(store, "P2").lanes] == [
            ("MeetingInfo", None), ("Gone", "1"), ("Meeting flat", "7")]
    run(at.switch_page(EXTRACT))
    run(at.switch_page(COMPARE))  # the lanes still wait for a pick after a trip away
    assert at.selectbox(key="fs_b_schema").value is None
    run(at.button(key="fs_cmp_run").click())
    refusal = " ".join(w.value for w in at.warning if "cannot run yet" in w.value)
    assert "lane B: The preset pins schema 'Gone'" in refusal.replace("\\", "")
    assert "lane C: The preset pins version 7" in refusal.replace("\\", "")
    assert not one.requests
    run(at.selectbox(key="fs_b_schema").select("Invoice"))
    run(at.selectbox(key="fs_c_version").select("1"))
    assert not any("preset pins" in w.value for w in at.warning)
    for _ in range(3):
        one.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    run(at.button(key="fs_cmp_run").click())
    assert len(one.requests) == 3
