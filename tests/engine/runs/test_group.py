"""Several runs on one page (engine.runs.group.RunnerGroup): one polling loop drives two runners
against two local ReplayServers; a slow or failing lane never holds the other back; stop ends
both. And the views: two live forms on one page do not collide (every key is the lane's)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine import providers as pv
from engine.runs.group import RunnerGroup
from engine.runs.runner import DRAW_HZ, Runner, Update
from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.runs.status import RunStatus
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING, isolate

ANSWER = json.dumps(MEETING)
OTHER = {**MEETING, "budget": 777, "location": "Harbour Hall"}


def chunks(text: str, size: int = 6) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


def run_on(srv: ReplayServer) -> Runner:
    provider = pv.Provider(pv.CUSTOM_NAME, "compatible", srv.base_url, ("json_schema",), "m",
                           api_key="k")
    return start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, provider, "m",
                                          "json_schema", source="compare"), provider)


def drive(group: RunnerGroup) -> list[dict[str, Update]]:
    """Poll the group the way a page does, until every lane has ended (stopping all after)."""
    calls: list[dict[str, Update]] = []
    try:
        deadline = time.monotonic() + 30
        while not group.ended:
            assert time.monotonic() < deadline, "the group never ended"
            calls.append(group.next_update())
    finally:
        group.stop(wait=2.0)
    return calls


def changed(calls: list[dict[str, Update]], lane: str) -> list[int]:
    """The calls in which `lane` had news (after the first, which draws every placeholder)."""
    return [i for i, updates in enumerate(calls) if i and lane in updates
            and updates[lane].leaves]


def ended_at(calls: list[dict[str, Update]], lane: str) -> int:
    return next(i for i, updates in enumerate(calls) if lane in updates and updates[lane].ended)


def test_two_lanes_at_different_paces_both_finish_and_interleave(
    servers: tuple[ReplayServer, ReplayServer],
) -> None:
    fast_srv, slow_srv = servers
    fast_srv.queue(Reply.content(chunks(ANSWER), pace=0.01))
    slow_srv.queue(Reply.content(chunks(json.dumps(OTHER)), pace=0.04))
    group = RunnerGroup({"fast": run_on(fast_srv), "slow": run_on(slow_srv)})
    started = time.perf_counter()
    calls = drive(group)
    seconds = time.perf_counter() - started
    fast, slow = group.runners["fast"], group.runners["slow"]
    assert fast.status is RunStatus.DONE and slow.status is RunStatus.DONE
    assert fast.report().result == MEETING and slow.report().result == OTHER
    # One loop drew both: the slow lane's news came in between the fast lane's.
    assert changed(calls, "slow")[0] < changed(calls, "fast")[-1]
    # The fast lane ended (and was drawn ended) while the slow one still ran.
    end = ended_at(calls, "fast")
    assert not calls[end]["slow"].ended and end < ended_at(calls, "slow")
    assert all("fast" not in updates for updates in calls[end + 1:])  # its end, once
    assert len(calls) <= seconds * DRAW_HZ + 3  # ~20 redraws a second for both lanes together


def test_a_failing_lane_never_holds_the_other_back(
    servers: tuple[ReplayServer, ReplayServer],
) -> None:
    broken_srv, ok_srv = servers
    broken_srv.default = Reply.error(500, "boom")  # every attempt fails (the client retries)
    ok_srv.queue(Reply.content(chunks(ANSWER), pace=0.05))
    group = RunnerGroup({"broken": run_on(broken_srv), "ok": run_on(ok_srv)})
    calls = drive(group)
    broken, ok = group.runners["broken"], group.runners["ok"]
    assert broken.status is RunStatus.ERROR and "HTTP 500" in str(broken.error)
    assert ok.status is RunStatus.DONE and ok.report().result == MEETING
    failed = ended_at(calls, "broken")
    assert any(i > failed for i in changed(calls, "ok")), "the other lane went on streaming"


def test_stop_ends_every_lane_and_closes_their_requests(
    servers: tuple[ReplayServer, ReplayServer],
) -> None:
    for srv in servers:
        srv.queue(Reply.content(chunks(ANSWER, 2), pace=0.05))
    group = RunnerGroup({"a": run_on(servers[0]), "b": run_on(servers[1])})
    deadline = time.monotonic() + 10
    got = {"a": 0, "b": 0}
    while min(got.values()) < 3:
        assert time.monotonic() < deadline, "the lanes never streamed"
        for lane, update in group.next_update().items():
            got[lane] = update.metrics.chunks
    group.stop(wait=2.0)
    last = group.next_update()
    assert set(last) == {"a", "b"} and all(u.ended for u in last.values())
    assert group.ended and group.next_update() == {}
    for runner in group.runners.values():
        assert runner.status is RunStatus.CANCELLED and not runner.thread_alive
    for srv in servers:
        deadline = time.monotonic() + 3
        while "client closed" not in srv.outcomes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.outcomes == ["client closed"], srv.outcomes


# --- two live forms on one page --------------------------------------------------------------


def two_lanes(url_a: str, url_b: str, lane_a: str, lane_b: str) -> None:
    """A page with two lanes, one under the other: each its own live area and outcome."""
    import streamlit as st

    from engine.providers.registry import Provider
    from engine.runs.group import RunnerGroup
    from engine.runs.spec import RunSpec
    from engine.runs.start import start_run
    from engine.schemas.library import MEETING_NOTE, MeetingInfo
    from ui.keys import RunKeys
    from ui.live_form import LiveView, stream_lanes
    from ui.run_lane import render_outcome

    lanes = {"first": (lane_a, url_a), "second": (lane_b, url_b)}
    views, runners, boxes = {}, {}, {}
    for name, (lane, _) in lanes.items():  # every placeholder before any request
        boxes[name] = st.container()
        with boxes[name]:
            views[name] = LiveView(MeetingInfo, RunKeys(lane))
            views[name].build()
    for name, (_, url) in lanes.items():
        provider = Provider("Custom server", "compatible", url, ("json_schema",), "m",
                            api_key="k")
        spec = RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, provider, "m",
                                    "json_schema", source="compare")
        runners[name] = start_run(spec, provider)
    stream_lanes(views, RunnerGroup(runners))
    for name, view in views.items():
        with boxes[name]:
            view.apply(runners[name].snapshot_all(), runners[name], final=True)
            render_outcome(runners[name], view.keys)


def _page(servers: tuple[ReplayServer, ReplayServer], lane_a: str, lane_b: str) -> AppTest:
    servers[0].queue(Reply.content(chunks(ANSWER), pace=0.002))
    servers[1].queue(Reply.content(chunks(json.dumps(OTHER)), pace=0.004))
    at = AppTest.from_function(two_lanes, default_timeout=30,
                               args=(servers[0].base_url, servers[1].base_url, lane_a, lane_b))
    return at.run()


def _shown(at: AppTest) -> str:
    parts: list[Any] = [e.value for e in at.markdown] + [e.value for e in at.text]
    parts += [e.value for e in at.success] + [e.value for e in at.code]
    return "\n".join(str(p) for p in parts).replace("\\", "")


def test_two_live_forms_on_one_page_do_not_collide(
    servers: tuple[ReplayServer, ReplayServer],
) -> None:
    at = _page(servers, "a", "b")
    assert not at.exception, at.exception
    assert sum("every field arrived" in s.value for s in at.success) == 2
    shown = _shown(at)
    assert "Grand Tech Arena, 4521 Innovation Drive" in shown and "Harbour Hall" in shown
    assert "50,000" in shown and "777" in shown
    downloads = at.get("download_button")
    assert len(downloads) == 2
    assert {d.proto.id.rsplit("-", 1)[-1] for d in downloads} == {"fs_a_download",
                                                                  "fs_b_download"}
    results = [json.loads(c.value) for c in at.code if c.language == "json"
               and c.value.lstrip().startswith("{") and '"budget": ' in c.value]
    assert MEETING in results and OTHER in results


def test_the_same_keys_twice_would_collide(servers: tuple[ReplayServer, ReplayServer]) -> None:
    """Why every key is the lane's: two live forms with one set of keys break the page."""
    at = _page(servers, "a", "a")
    assert at.exception
    assert "multiple elements with the same `key='fsbox_a-" in at.exception[0].message
    assert not servers[0].requests and not servers[1].requests  # it broke before any run


def two_pickers(url: str) -> None:
    """Two lanes' provider, model and mode pickers on one page, on a server whose model list
    fails (so each draws its retry button too)."""
    from engine.providers.registry import Provider
    from ui.provider_widgets import pick_mode, pick_model, pick_provider

    provider = Provider("Custom server", "compatible", url, ("json_schema", "md_json"), None,
                        api_key="k")
    for lane in ("a", "b"):
        chosen = pick_provider([provider], key=f"fs_{lane}_provider")
        pick_model(chosen, key=f"fs_{lane}_model")
        pick_mode(chosen, key=f"fs_{lane}_mode")


def test_two_lanes_pickers_on_one_page_do_not_collide() -> None:
    with ReplayServer(api_key="other") as srv:  # answers 401: the model list fails
        at = AppTest.from_function(two_pickers, default_timeout=30, args=(srv.base_url,)).run()
    assert not at.exception, at.exception
    assert at.button(key="fs_a_model_retry") and at.button(key="fs_b_model_retry")
    assert at.selectbox(key="fs_a_mode").value == at.selectbox(key="fs_b_mode").value == (
        "json_schema")
