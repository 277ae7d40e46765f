"""The per-provider limiter: at most `size` running, the rest wait in line without a thread,
first come first served; leaving the line is immediate."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from engine.runs.limits import LEFT, RUNNING, WAITING, Limiter, limiter_for
from tests import support


def test_at_most_size_run_and_the_line_is_served_in_order() -> None:
    limiter = Limiter(2)
    started: list[int] = []
    tickets = [limiter.enter(lambda i=i: started.append(i)) for i in range(5)]
    assert started == [0, 1]
    assert [t.state for t in tickets] == [RUNNING, RUNNING, WAITING, WAITING, WAITING]
    assert (limiter.running, limiter.waiting) == (2, 3)
    tickets[1].release()
    assert started == [0, 1, 2]
    tickets[0].release()
    tickets[2].release()
    assert started == [0, 1, 2, 3, 4]
    assert (limiter.running, limiter.waiting) == (2, 0)


def test_leaving_the_line_is_immediate_and_frees_nothing() -> None:
    limiter = Limiter(1)
    started: list[str] = []
    first = limiter.enter(lambda: started.append("first"))
    second = limiter.enter(lambda: started.append("second"))
    third = limiter.enter(lambda: started.append("third"))
    second.release()  # Stop while waiting
    assert second.state == LEFT and limiter.waiting == 1 and limiter.running == 1
    first.release()
    assert started == ["first", "third"] and third.state == RUNNING
    first.release()  # twice is harmless
    assert limiter.running == 1


def test_waiting_holds_no_thread() -> None:
    limiter = Limiter(1)
    before = threading.active_count()
    limiter.enter(lambda: None)
    for _ in range(20):
        limiter.enter(lambda: None)
    assert threading.active_count() == before and limiter.waiting == 20


def test_a_start_that_fails_gives_its_place_back() -> None:
    limiter = Limiter(1)

    def boom() -> None:
        raise RuntimeError("no thread")

    with pytest.raises(RuntimeError):
        limiter.enter(boom)
    assert limiter.running == 0
    started: list[int] = []
    limiter.enter(lambda: started.append(1))
    assert started == [1]


def test_threads_racing_never_exceed_the_limit() -> None:
    limiter = Limiter(3)
    lock = threading.Lock()
    counts = {"now": 0, "peak": 0, "finished": 0}
    done = threading.Event()

    def body(ticket: list) -> None:
        with lock:
            counts["now"] += 1
            counts["peak"] = max(counts["peak"], counts["now"])
        with lock:
            counts["now"] -= 1
        ticket[0].release()  # the next in line starts from this thread
        with lock:
            counts["finished"] += 1
            if counts["finished"] == 50:
                done.set()

    for _ in range(50):
        box: list = [None]
        ready = threading.Event()  # the ticket is in its box before the body may release it

        def start(box: list = box, ready: threading.Event = ready) -> None:
            threading.Thread(target=lambda: (ready.wait(), body(box))).start()

        box[0] = limiter.enter(start)
        ready.set()
    assert done.wait(10)
    assert counts["peak"] <= 3 and limiter.running == 0 and limiter.waiting == 0


def test_one_limiter_per_key() -> None:
    a = limiter_for(("test-limits", "http://127.0.0.1:1", "m"), 3)
    assert limiter_for(("test-limits", "http://127.0.0.1:1", "m"), 5) is a and a.size == 3
    assert limiter_for(("test-limits", "http://127.0.0.1:2", "m"), 3) is not a
    with pytest.raises(ValueError):
        Limiter(0)


# --- runs against a provider with a limit (a real replay server counts what is in flight) ----


def _provider(srv: Any) -> Any:
    from engine.providers.registry import Provider

    return Provider("Custom server", "compatible", srv.base_url, ("json_schema",), "m",
                    api_key="k")


def _start(provider: Any) -> Any:
    from engine.runs.spec import RunSpec
    from engine.runs.start import start_run
    from engine.schemas.library import MEETING_NOTE, MeetingInfo

    spec = RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, provider, "m",
                                "json_schema")
    return start_run(spec, provider)


def _runner_threads() -> int:
    return sum(t.name == "fieldstream-runner" for t in threading.enumerate())


def test_twenty_runs_against_a_limit_of_three_never_have_more_than_three_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.runs.state import WAIT_TURN
    from engine.runs.status import RunStatus
    from engine.testing.replay_server import ReplayServer, Reply

    monkeypatch.setenv("FIELDSTREAM_PROVIDER_LIMIT", "3")
    with ReplayServer() as srv:
        srv.default = Reply.content(support.chunks(json.dumps(support.MEETING)), pace=0.005)
        before = _runner_threads()
        runners = [_start(_provider(srv)) for _ in range(20)]
        assert _runner_threads() - before <= 3  # the other 17 wait holding no thread
        assert sum(r.take().waiting == WAIT_TURN for r in runners) >= 17 - 3
        for runner in runners:
            assert runner.wait(60), "a run did not end"
        assert [r.status for r in runners] == [RunStatus.DONE] * 20
        assert len(srv.requests) == 20
        assert srv.peak_in_flight == 3  # the limit was reached and never passed


def test_stop_ends_a_waiting_run_at_once_and_it_never_sends_a_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.runs.state import WAIT_TURN
    from engine.runs.status import RunStatus
    from engine.testing.replay_server import ReplayServer, Reply

    monkeypatch.setenv("FIELDSTREAM_PROVIDER_LIMIT", "1")
    with ReplayServer() as srv:
        srv.default = Reply.content(support.chunks(json.dumps(support.MEETING)), pace=0.05)
        first = _start(_provider(srv))
        second = _start(_provider(srv))
        assert second.take().waiting == WAIT_TURN and not second.thread_alive
        second.stop()
        assert second.status == RunStatus.CANCELLED  # at once, not when the first ends
        assert second.wait(5) and not first.ended
        assert first.wait(60) and first.status == RunStatus.DONE
        assert len(srv.requests) == 1  # the stopped run never asked
