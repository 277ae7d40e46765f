"""engine.runs.runner: the background extraction thread and its coalesced view updates, driven by a
fake stream of Snapshot-like objects (no LLM, no Streamlit)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.errors import Cancelled, StreamInterrupted, Truncated
from engine.runs.display import display_value, table_rows
from engine.runs.outcome import explain
from engine.runs.runner import CancelEvent, Runner
from engine.runs.status import RunStatus
from engine.schemas.fields import leaves
from engine.schemas.library import MeetingInfo, UserProfile
from engine.stream.changes import Done, Grew, Invalid, Started
from engine.stream.snapshot import Timings


@dataclass
class FakeSnap:
    text: str
    changes: list[Any]
    progress: float = 0.0
    value: Any = None
    errors: dict[str, str] = field(default_factory=dict)
    is_final: bool = False
    error: Any = None
    result: Any = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    partial: Any = None
    timings: Timings | None = None

    @property
    def final(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


def _profile_stream(pace: float = 0.0) -> list[FakeSnap]:
    snaps = [
        FakeSnap('{"name": "Al', [Started("name", ""), Grew("name", "Al", "Al")]),
        FakeSnap('{"name": "Alex"', [Grew("name", "Alex", "ex"), Done("name", "Alex")], 1 / 3),
        FakeSnap('{"name": "Alex", "interests": ["a"', [Started("interests", []),
                                                        Started("interests[0]", ""),
                                                        Grew("interests[0]", "a", "a"),
                                                        Done("interests[0]", "a")], 1 / 3),
        FakeSnap('{"name": "Alex", "interests": ["a"], "bio": 3', [Done("interests", ["a"]),
                                                                  Invalid("bio", 3, "not text")],
                 1.0),
    ]
    return snaps


def _factory(snaps: list[FakeSnap], pace: float = 0.0, final: FakeSnap | None = None):
    def factory(cancel: threading.Event) -> Iterator[FakeSnap]:
        for snap in snaps:
            if cancel.is_set():
                return
            if pace:
                time.sleep(pace)
            yield snap
        if final is not None:
            yield final

    return factory


def _until(predicate: Any, timeout: float = 5.0) -> None:
    """Wait for a state, not for a guessed time: poll `predicate` until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the state was not reached in time"
        time.sleep(0.01)


def _bio(runner: Runner) -> Any:
    return runner.snapshot_all().leaves["bio"].cell.value


def _wait(runner: Runner, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not runner.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.ended


def test_runner_folds_changes_into_leaves() -> None:
    final = FakeSnap("{}", [], 1.0, is_final=True, result="MODEL", finish_reason="stop",
                     usage={"completion_tokens": 12})
    snaps = [*_profile_stream(), final]
    timings = Timings(started=time.perf_counter(), first_token=0.01, first_done=0.02)
    for snap in snaps:  # the stream's own timings ride on every snapshot
        snap.timings = timings
    runner = Runner(leaves(UserProfile), _factory(snaps)).start()
    _wait(runner)
    update = runner.take()
    assert runner.status == RunStatus.DONE and runner.result == "MODEL"
    assert set(update.leaves) == {"name", "bio", "interests"}  # first take shows everything
    assert update.leaves["name"].cell.value == "Alex"
    assert update.leaves["name"].cell.state == "done"
    assert update.leaves["bio"].cell.state == "invalid"
    assert update.leaves["bio"].cell.error == "not text"
    assert [c.value for c in update.leaves["interests"].items] == ["a"]
    assert update.metrics.completion_tokens == 12
    assert update.metrics.first_token is not None and update.metrics.first_done is not None
    assert (update.metrics.first_token, update.metrics.first_done) == (0.01, 0.02)  # as sent
    assert runner.take().leaves == {}  # nothing changed since


def test_only_changed_leaves_are_redrawn() -> None:
    gate = threading.Event()

    def factory(cancel: threading.Event) -> Iterator[FakeSnap]:
        yield FakeSnap('{"name": "A', [Started("name", ""), Grew("name", "A", "A")])
        gate.wait(5)
        yield FakeSnap('{"name": "AB', [Grew("name", "AB", "B")])

    runner = Runner(leaves(UserProfile), factory).start()
    first = runner.next_update(timeout=1)
    assert "bio" in first.leaves
    gate.set()
    second = runner.next_update(timeout=1)
    while "name" not in second.leaves or second.leaves["name"].cell.value != "AB":
        second = runner.next_update(timeout=1)
    assert set(second.leaves) == {"name"}


def test_table_rows_grow_row_by_row() -> None:
    snaps = [
        FakeSnap("x", [Started("users", []), Started("users[0]", {}),
                       Started("users[0].name", ""), Grew("users[0].name", "Jo", "Jo")]),
        FakeSnap("xx", [Done("users[0].name", "John"), Done("users[0]", {"name": "John"}),
                        Started("users[1]", {}), Started("users[1].email", ""),
                        Grew("users[1].email", "j@", "j@")]),
    ]
    runner = Runner(leaves(MeetingInfo), _factory(snaps)).start()
    _wait(runner)
    data = runner.snapshot_all().leaves["users"]
    rows = table_rows(data, ["name", "email", "twitter"])
    assert rows[0]["name"] == "John" and rows[0]["state"].endswith("done")
    assert rows[1]["email"] == "j@" and rows[1]["state"].endswith("streaming")


def test_coalescing_limits_redraws_for_a_fast_stream() -> None:
    snaps = [FakeSnap("x" * (i + 1), [Grew("bio", "x" * (i + 1), "x")]) for i in range(4000)]
    runner = Runner(leaves(UserProfile), _factory(snaps, pace=0.0002)).start()
    draws = 0
    started = time.perf_counter()
    while True:
        update = runner.next_update(timeout=0.2, hz=20)
        draws += 1
        if update.ended:
            break
    seconds = time.perf_counter() - started
    assert draws <= seconds * 20 + 3
    assert runner.snapshot_all().leaves["bio"].cell.value == "x" * 4000


def test_stop_returns_at_once_and_keeps_partial() -> None:
    snaps = [FakeSnap("x" * (i + 1), [Grew("bio", "x" * (i + 1), "x")]) for i in range(1000)]
    runner = Runner(leaves(UserProfile), _factory(snaps, pace=0.01)).start()
    _until(lambda: _bio(runner))  # streaming: part of the bio arrived
    t0 = time.perf_counter()
    runner.stop(wait=1.0)
    assert time.perf_counter() - t0 < 1.0
    assert runner.status == RunStatus.CANCELLED and isinstance(runner.error, Cancelled)
    assert not runner.thread_alive
    kept = runner.snapshot_all().leaves["bio"].cell.value
    assert kept and len(kept) < 1000


def test_final_error_keeps_partial_and_explains() -> None:
    err = Truncated("finish_reason=length", partial={"name": "Alex"})
    final = FakeSnap("{", [], 0.3, is_final=True, error=err, finish_reason="length")
    runner = Runner(leaves(UserProfile), _factory(_profile_stream()[:2], final=final)).start()
    _wait(runner)
    assert runner.status == RunStatus.TRUNCATED and runner.error is err
    assert runner.snapshot_all().leaves["name"].cell.value == "Alex"
    outcome = explain(runner.error)
    assert "cut off" in outcome.headline and "token limit" in outcome.hint


def test_generator_exception_becomes_plain_error() -> None:
    def factory(cancel: threading.Event) -> Iterator[FakeSnap]:
        yield FakeSnap("{", [])
        raise ConnectionResetError("peer reset")

    runner = Runner(leaves(UserProfile), factory).start()
    _wait(runner)
    assert runner.status == RunStatus.ERROR
    assert "lost" in explain(runner.error).headline


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), ("a", "a"), (50000, "50,000"), (5010.0, "5,010"), (951.9, "951.9"),
     (True, "yes"), ({"a": 1}, '{"a": 1}')],
)
def test_display_value(value: Any, text: str) -> None:
    assert display_value(value) == text


# --- against the real extract and a local server ---------------------------------------------


def _profile_answer(items: int) -> str:
    interests = [f"interest number {i:05d} with some padding text" for i in range(items)]
    return json.dumps({"name": "Alex Chen", "bio": "Designer. " * 50, "interests": interests})


def test_100kb_answer_view_never_falls_behind() -> None:
    from openai import OpenAI

    from engine.llm.extract import extract
    from engine.testing.replay_server import ReplayServer, Reply

    answer = _profile_answer(2200)
    assert len(answer) > 100_000
    pieces = [answer[i:i + 20] for i in range(0, len(answer), 20)]
    with ReplayServer() as srv:
        srv.queue(Reply.content(pieces, pace=0.0005))
        client = OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        runner = Runner(
            leaves(UserProfile),
            lambda cancel: extract("t", UserProfile, client=client, model="m", cancel=cancel),
        ).start()
        draws, started = 0, time.perf_counter()
        while True:
            update = runner.next_update()
            draws += 1
            time.sleep(0.03)  # a slow view: drawing takes 30 ms each time
            if update.ended:
                break
        seconds = time.perf_counter() - started
        behind = time.time() - srv.sent[-1][0]
    assert runner.status == RunStatus.DONE, runner.error
    assert draws <= seconds * 20 + 3, (draws, seconds)
    # A view that fell behind would see the end minutes late (5,000 chunks x 30 ms a draw);
    # 2 s leaves room for a loaded machine (0.5 s failed once beside two busy test workers).
    assert behind < 2.0, f"the view saw the end {behind:.2f}s after the last chunk"
    items = runner.snapshot_all().leaves["interests"].items
    assert len(items) == 2200 and all(c.state == "done" for c in items)


def test_stopped_json_matches_the_form() -> None:
    snaps = [FakeSnap("x" * (i + 1), [Grew("bio", "x" * (i + 1), "x")], value={"bio": ""})
             for i in range(1000)]
    runner = Runner(leaves(UserProfile), _factory(snaps, pace=0.005)).start()
    _until(lambda: _bio(runner))
    runner.stop(wait=1.0)
    shown = runner.snapshot_all().leaves["bio"].cell.value
    assert json.loads(runner.json_text()) == {"name": None, "bio": shown, "interests": []}
    assert explain(runner.error).hint == "Press Extract to run it again."


@pytest.mark.parametrize("stall", ["mid-stream", "before the first chunk"])
def test_stop_wakes_a_stream_blocked_on_a_silent_server(stall: str) -> None:
    from engine.llm.request import RequestSpec
    from engine.providers import Provider
    from engine.runs.start import extraction_factory
    from engine.schemas.library import Report
    from engine.testing.replay_server import ReplayServer, Reply

    if stall == "mid-stream":
        reply = Reply.content(['{"title": "x"', ', "summary": "y"}'], pace=5.0)
    else:
        reply = Reply.content(['{"title": "x"}'], delay=5.0)
    with ReplayServer() as srv:
        srv.queue(reply)
        provider = Provider("Custom server", "compatible", srv.base_url, ("json_schema",), "m",
                            api_key="k")
        factory = extraction_factory(RequestSpec("t", Report, "m", "json_schema"), provider)
        runner = Runner(leaves(Report), factory).start()
        _until(lambda: srv.sent if stall == "mid-stream" else srv.requests)  # the server stalls
        t0 = time.perf_counter()
        runner.stop(wait=2.0)
        assert time.perf_counter() - t0 < 1.0
        assert not runner.thread_alive, "the request is still open"
        assert runner.status == RunStatus.CANCELLED


def test_stop_is_reported_as_stopped_even_when_shutting_the_socket_breaks_the_stream() -> None:
    """Stop shuts the request's socket (a cancel hook); the stream then fails like a lost
    connection. The outcome must still be "stopped", however the threads interleave: here the
    hook waits until the stream has failed and the thread has ended before returning."""
    shut = threading.Event()
    holder: dict[str, Runner] = {}

    def factory(cancel: CancelEvent) -> Iterator[FakeSnap]:
        def shut_socket() -> None:
            shut.set()
            thread = holder["runner"]._thread
            assert thread is not None
            thread.join(2.0)  # the worst case: the failure is recorded before stop() goes on

        cancel.on_set(shut_socket)
        yield FakeSnap('{"bio": "x', [Started("bio", "x")])
        shut.wait(5.0)
        raise StreamInterrupted("Connection reset by peer")

    runner = holder["runner"] = Runner(leaves(UserProfile), factory).start()
    _until(lambda: _bio(runner) == "x")  # the first snapshot is in; the stream now waits
    runner.stop(wait=1.0)
    assert runner.status == RunStatus.CANCELLED and isinstance(runner.error, Cancelled)
    assert runner.snapshot_all().leaves["bio"].cell.value == "x"
