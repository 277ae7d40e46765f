"""A comparison's lanes as the Compare page runs them: `start_run` per lane (source
`compare:<id>:<lane>`) in one `RunnerGroup`, against local ReplayServers, recorded by the
history recorder, then reopened from the store with each run in its own lane and judged."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import providers as pv
from engine.compare.comparisons import (
    comparison_verdict,
    get_comparison,
    new_compare_id,
    save_comparison,
)
from engine.compare.lanes import LaneSpec, done_over_time, summary_from_end
from engine.compare.verdict import AGREE, DIFFER
from engine.history.recorder import Recorder
from engine.runs.group import RunnerGroup
from engine.runs.runner import Runner
from engine.runs.spec import GROUP_COMPARE, SOURCE_COMPARE, RunGroup, RunSpec
from engine.runs.start import start_run
from engine.runs.status import RunStatus
from engine.schemas.library import Report
from engine.store import Store
from engine.testing.replay_server import ReplayServer, Reply
from tests.engine.runs.test_group import drive, ended_at
from tests.support import chunks, isolate

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)

LONG = {"title": "Q3", "summary": "Numbers went up. " * 40, "conclusion": "Keep going."}
SHORT = {"title": "Q3", "summary": "Up. " * 40, "conclusion": "Stop."}
TEXT = "The quarterly review: numbers went up; we keep going."


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        recorder = Recorder(opened).register()
        yield opened
        recorder.unregister()


def lane(srv: ReplayServer, compare_id: str, name: str) -> Runner:
    provider = pv.Provider(pv.CUSTOM_NAME, "compatible", srv.base_url, ("json_schema",), "m",
                           api_key="k")
    spec = RunSpec.for_provider(TEXT, "Report", Report, provider, "m", "json_schema",
                                source=SOURCE_COMPARE,
                                group=RunGroup(GROUP_COMPARE, compare_id, name))
    return start_run(spec, provider)


def specs(*names: str) -> list[LaneSpec]:
    return [LaneSpec(n, n.title(), "Report", None, pv.CUSTOM_NAME, "m", "json_schema")
            for n in names]


def first_done(calls: list[dict], name: str) -> int:
    return next(i for i, updates in enumerate(calls)
                if name in updates and updates[name].done_leaves > 0)


def test_two_lanes_at_different_paces_interleave_and_reopen_in_their_lanes(
    servers: tuple[ReplayServer, ReplayServer], store: Store,
) -> None:
    fast_srv, slow_srv = servers
    # The slow lane's title is done after 3 chunks (0.15 s), the fast lane ends after about
    # 90 (1 s) and the slow one after about 30 (1.5 s): wide margins for a loaded machine.
    fast_srv.queue(Reply.content(chunks(json.dumps(LONG), 8), pace=0.01))
    slow_srv.queue(Reply.content(chunks(json.dumps(SHORT)), pace=0.05))
    compare_id = new_compare_id()
    # The slow lane is started first, so start order alone would not say which run is which.
    group = RunnerGroup({"slow": lane(slow_srv, compare_id, "slow"),
                         "fast": lane(fast_srv, compare_id, "fast")})
    calls = drive(group)
    assert group.runners["fast"].report().result == LONG
    assert group.runners["slow"].report().result == SHORT
    # Observed in the one polling loop: the slow lane had a done field before the fast one
    # ended, and the fast one ended while the slow one still streamed.
    assert first_done(calls, "slow") < ended_at(calls, "fast") < ended_at(calls, "slow")
    end = group.runners["slow"].report()
    live = summary_from_end("slow", "Slow", end)
    assert (live.status, live.run_id, live.field_errors) == ("done", end.run_id, 0)
    assert live.tokens and live.first_done_ms is not None and live.total_ms is not None
    chart = done_over_time(Report, end.chunks)
    assert [n for _, n in chart] == [0, 1, 2, 3]  # title, summary, conclusion, in turn

    save_comparison(store, compare_id, specs("fast", "slow"))
    reopened = get_comparison(store, compare_id)
    assert reopened is not None
    assert {name: run.result for name, run in reopened.runs.items()} == {"fast": LONG,
                                                                        "slow": SHORT}
    fast = reopened.runs["fast"]
    assert (fast.group_kind, fast.group_id, fast.group_member) == ("compare", compare_id, "fast")
    rows, summaries = comparison_verdict(store, reopened)
    verdict = {row.path: row.agreement for row in rows}
    assert verdict == {"title": AGREE, "summary": DIFFER, "conclusion": DIFFER}
    assert [(s.lane, s.status) for s in summaries] == [("fast", "done"), ("slow", "done")]
    assert all(s.tokens and s.total_ms and s.first_done_ms for s in summaries)


def test_a_lane_failing_with_http_500_while_the_other_completes(
    servers: tuple[ReplayServer, ReplayServer], store: Store,
) -> None:
    broken_srv, ok_srv = servers
    broken_srv.default = Reply.error(500, "boom")  # every attempt fails (the client retries)
    ok_srv.queue(Reply.content(chunks(json.dumps(SHORT)), pace=0.02))
    compare_id = new_compare_id()
    group = RunnerGroup({"broken": lane(broken_srv, compare_id, "broken"),
                         "ok": lane(ok_srv, compare_id, "ok")})
    drive(group)
    broken, ok = group.runners["broken"], group.runners["ok"]
    assert broken.status is RunStatus.ERROR
    assert "HTTP 500" in str(broken.error) and "boom" in str(broken.error)
    assert ok.status is RunStatus.DONE and ok.report().result == SHORT

    save_comparison(store, compare_id, specs("broken", "ok"))
    reopened = get_comparison(store, compare_id)
    assert reopened is not None
    rows, summaries = comparison_verdict(store, reopened)
    assert {s.lane: s.status for s in summaries} == {"broken": "error", "ok": "done"}
    title = next(row for row in rows if row.path == "title")
    assert title.values == {"broken": None, "ok": "Q3"}


def test_stop_ends_both_lanes_and_keeps_their_partials(
    servers: tuple[ReplayServer, ReplayServer], store: Store,
) -> None:
    for srv in servers:
        srv.queue(Reply.content(chunks(json.dumps(LONG), 3), pace=0.03))
    compare_id = new_compare_id()
    group = RunnerGroup({"a": lane(servers[0], compare_id, "a"),
                         "b": lane(servers[1], compare_id, "b")})
    deadline = time.monotonic() + 20
    done = {"a": 0, "b": 0}
    while min(done.values()) < 1:  # both have their title before Stop
        assert time.monotonic() < deadline, "the lanes never streamed"
        for name, update in group.next_update().items():
            done[name] = update.done_leaves
    group.stop(wait=5.0)
    for runner in group.runners.values():
        assert runner.status is RunStatus.CANCELLED and not runner.thread_alive
        partial = runner.report().partial
        assert partial["title"] == LONG["title"]
        assert LONG["summary"].startswith(partial.get("summary") or "")
        assert partial.get("conclusion") is None  # Stop came long before the end

    save_comparison(store, compare_id, specs("a", "b"))
    reopened = get_comparison(store, compare_id)
    assert reopened is not None
    assert {run.status for run in reopened.runs.values()} == {"cancelled"}
    assert all(run.result["title"] == LONG["title"] for run in reopened.runs.values())
