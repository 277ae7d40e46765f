"""Chunking asked for when the text fits (#19): the Extract page's option reaches the run's
spec and splits the run; on Compare a lane can be split beside a single-shot lane of the same
schema and model, says so in its label, and keeps it in a preset (AppTest, replay servers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.runs.chunked import ChunkedRunner
from engine.testing.replay_server import ReplayServer, Reply
from tests.pages.test_compare import COMPARE, EXTRACT, compare_page, run, servers  # noqa: F401
from tests.pages.test_every_page import extract_page, press_extract, server  # noqa: F401
from tests.support import MEETING, chunks
from ui.keys import EXTRACT_KEYS, RunKeys

pytestmark = pytest.mark.timeout(120)

OPTION = EXTRACT_KEYS.picker("chunking")


def answer_meeting(srv: ReplayServer) -> None:
    """Every request (a whole text or a part of it) gets the meeting's values."""
    srv.responder = lambda body: Reply.content(chunks(json.dumps(MEETING)), pace=0.001)


def lines(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_the_extract_option_splits_the_run_and_is_on_the_spec(
    server: ReplayServer,  # noqa: F811
) -> None:
    answer_meeting(server)
    at = extract_page()
    assert at.checkbox(key=OPTION).value is False  # FIELDSTREAM_CHUNKING's default: auto
    assert at.checkbox(key=OPTION).label == "Split into chunks even when the text fits"
    press_extract(at)
    runner = at.session_state[EXTRACT_KEYS.run]
    assert runner.spec.chunking == "auto" and not isinstance(runner, ChunkedRunner)
    assert not any(line.startswith("Chunk ") for line in lines(at))

    at.checkbox(key=OPTION).set_value(True).run()
    press_extract(at)
    runner = at.session_state[EXTRACT_KEYS.run]
    assert runner.spec.chunking == "always" and isinstance(runner, ChunkedRunner)
    assert "Chunk 1 of 1 · 1 done" in lines(at)
    assert any("every field arrived" in s.value for s in at.success)
    assert any(c.value.endswith("json\\_schema · chunked") for c in at.caption)
    assert len(server.requests) == 2
    run(at.switch_page(COMPARE))
    run(at.switch_page(EXTRACT))
    assert at.checkbox(key=OPTION).value is True  # kept across pages, as the token limit is


def test_the_setting_turns_the_option_on_by_default(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setenv("FIELDSTREAM_CHUNKING", "always")
    assert extract_page().checkbox(key=OPTION).value is True
    monkeypatch.setenv("FIELDSTREAM_CHUNKING", "often")
    at = extract_page()
    assert at.checkbox(key=OPTION).value is False
    assert [w.value for w in at.warning] == [
        "FIELDSTREAM\\_CHUNKING must be auto or always, got 'often'"]


def test_a_chunked_lane_beside_a_single_shot_lane_of_the_same_schema(
    servers: Any,  # noqa: F811
) -> None:
    one, _ = servers
    answer_meeting(one)
    at = compare_page()
    assert [at.toggle(key=RunKeys(lane).picker("chunking")).value for lane in "ab"] == [
        False, False]
    run(at.toggle(key=RunKeys("b").picker("chunking")).set_value(True))
    run(at.button(key="fs_cmp_run").click())
    a, b = (at.session_state[RunKeys(lane).run] for lane in "ab")
    assert (a.spec.schema_name, a.spec.model) == (b.spec.schema_name, b.spec.model)
    assert (a.spec.chunking, b.spec.chunking) == ("auto", "always")
    assert isinstance(b, ChunkedRunner) and not isinstance(a, ChunkedRunner)
    assert lines(at).count("Chunk 1 of 1 · 1 done") == 1  # lane b's form only
    assert sum("every field arrived" in s.value for s in at.success) == 2
    assert len(one.requests) == 2
    columns = [str(c) for f in at.dataframe for c in f.value.columns]
    assert "A · MeetingInfo · replay-model" in columns
    assert "B · MeetingInfo · replay-model · chunked" in columns


def test_a_preset_keeps_each_lanes_chunking(servers: Any) -> None:  # noqa: F811
    from engine.compare.presets import get_preset
    from engine.store import open_store

    at = compare_page()
    toggle = RunKeys("b").picker("chunking")
    run(at.toggle(key=toggle).set_value(True))
    run(at.text_input(key="fs_cmp_preset_name").input("Split or not"))
    run(at.button(key="fs_cmp_preset_save").click())
    with open_store() as store:
        assert [(s.chunking, s.label) for s in get_preset(store, "Split or not").lanes] == [
            ("auto", "A · MeetingInfo"), ("always", "B · MeetingInfo · chunked")]
    run(at.toggle(key=toggle).set_value(False))
    run(at.button(key="fs_cmp_preset_load").click())
    assert at.toggle(key=toggle).value is True
    assert at.toggle(key=RunKeys("a").picker("chunking")).value is False
    run(at.switch_page(EXTRACT))
    run(at.switch_page(COMPARE))
    assert at.toggle(key=toggle).value is True  # the lane set, kept across pages
