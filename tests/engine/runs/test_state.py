"""engine.runs.state: the run's state folded snapshot by snapshot, on the clock it is given. No
thread, no socket, no sleep: a `ModelStream` on a fake clock feeds `RunState.apply`."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from engine.history.replay import field_timeline
from engine.runs.state import Cell, RunState, timeline_rows
from engine.runs.status import RunStatus
from engine.schemas.fields import leaves
from engine.schemas.library import MeetingInfo, UserProfile
from engine.stream.changes import DONE
from engine.stream.errors import Cancelled
from engine.stream.model_stream import ModelStream
from tests.support import chunks

ANSWER = {"users": [{"name": "Ann Lee", "email": "ann@example.com", "twitter": None}],
          "date": "2024-03-01",
          "location": "Room 4", "budget": 1200, "deadline": "2024-04-01"}


def fold(schema: Any, deltas: list[str], *, step: float = 0.1, start: float = 10.0,
         wait: float = 0.5, **state_args: Any) -> tuple[RunState, list[set[str]]]:
    """Feed `deltas` through a ModelStream and a RunState on one fake clock: the run starts at
    `start`, the request `wait` later, one chunk every `step` seconds; the final snapshot comes
    at the last chunk's time. Returns the state and each apply's changed placeholders."""
    now = [start + wait]
    stream = ModelStream(schema, track_times=True, clock=lambda: now[0], started=now[0])
    state = RunState(leaves(schema), **state_args)
    state.started = start
    changed = []
    for delta in deltas:
        now[0] += step
        stream.mark_first_token()
        changed.append(state.apply(stream.feed(delta), now[0]))
    changed.append(state.apply(stream.close(), now[0]))
    return state, changed


def test_a_snapshot_sequence_gives_the_changed_placeholders_in_order() -> None:
    deltas = ['{"name": "Al', 'ex", "bio": "x', 'yz", "interests": ["chess"', "]}"]
    state, changed = fold(UserProfile, deltas)
    assert changed == [{"name"}, {"name", "bio"}, {"bio", "interests"}, {"interests"}, set()]
    assert state.status is RunStatus.DONE and state.error is None
    assert state.answer == "".join(deltas)
    assert state.leaves["name"].cell.value == "Alex" and state.leaves["name"].cell.state == DONE
    assert [c.value for c in state.leaves["interests"].items] == ["chess"]


def test_metrics_and_the_chunk_log_come_from_the_times_given() -> None:
    deltas = chunks(json.dumps(ANSWER), 9)
    state, _ = fold(MeetingInfo, deltas, step=0.25, start=100.0, wait=2.0)
    metrics = state.metrics
    assert metrics.chunks == len(deltas)
    assert metrics.wait == 2.0
    assert metrics.first_token == 0.25  # from the request's start
    assert metrics.elapsed == 2.0 + 0.25 * len(deltas)  # from the run's start
    assert [offset for offset, _ in state.chunks] == [250 * (i + 1) for i in range(len(deltas))]
    assert "".join(delta for _, delta in state.chunks) == json.dumps(ANSWER)


def test_take_hands_over_what_changed_once() -> None:
    state, _ = fold(MeetingInfo, chunks(json.dumps(ANSWER), 9))
    first = state.take(state.started + 99.0, {})
    assert set(first.leaves) == {n.path for n in leaves(MeetingInfo)}
    assert first.ended and first.done_leaves == first.total_leaves == 5
    assert json.loads(first.json_text or "") == ANSWER and first.text_changed
    assert first.metrics.elapsed == state.metrics.elapsed  # an ended run's clock stops
    second = state.take(state.started + 100.0, {})
    assert second.leaves == {} and second.json_text is None and not second.text_changed
    assert second.seq == first.seq + 1
    state.mark_all()
    assert set(state.take(0.0, {}).leaves) == set(first.leaves)


def test_done_values_are_handed_to_on_done_once_each() -> None:
    done: list[tuple[str, Any]] = []

    def on_done(path: str, cell: Cell) -> None:
        done.append((path, cell.value))

    fold(MeetingInfo, chunks(json.dumps(ANSWER), 5), on_done=on_done)
    assert done == [("users[0].name", "Ann Lee"), ("users[0].email", "ann@example.com"),
                    ("date", "2024-03-01"), ("location", "Room 4"), ("budget", 1200),
                    ("deadline", "2024-04-01")]


def test_a_stopped_run_keeps_what_the_form_shows_and_takes_nothing_more() -> None:
    text = json.dumps(ANSWER)
    now = [1.0]
    stream = ModelStream(MeetingInfo, track_times=True, clock=lambda: now[0], started=1.0)
    state = RunState(leaves(MeetingInfo), secret="sk-secret")
    for delta in chunks(text[:60], 4):
        state.apply(stream.feed(delta), now[0])
    assert state.fail(Cancelled("You stopped it (key sk-secret)."), 2.0)
    assert state.status is RunStatus.CANCELLED and "sk-secret" not in str(state.error)
    assert json.loads(state.json) == state.mirror()
    assert state.apply(stream.feed(text[60:]), 3.0) == set()
    assert not state.fail(Cancelled("again"), 4.0)
    assert state.metrics.elapsed == 2.0


def test_the_timeline_is_the_replays_for_the_same_chunks() -> None:
    """A live run's timeline and History's replay of its recorded chunks are the same rows."""
    deltas = chunks(json.dumps(ANSWER), 7)
    state, _ = fold(MeetingInfo, deltas, step=0.125, start=0.0, wait=0.0)
    recorded = [(offset, delta) for offset, delta in state.chunks]
    assert state.timeline() == field_timeline(MeetingInfo, recorded)
    assert {row["field"] for row in state.timeline()} >= {"users[0].email", "budget"}


def test_an_unfinished_field_ends_its_bar_at_the_end_given() -> None:
    rows = timeline_rows([("a", [0.1, None]), ("g", [0.0, 0.3]), ("a[0]", [0.2, 0.25])],
                         {"a"}, 0.9)
    assert rows == [{"field": "a", "start": 0.1, "end": 0.9, "state": "unfinished"},
                    {"field": "a[0]", "start": 0.2, "end": 0.25, "state": "done"}]


def test_the_state_takes_no_thread_nor_clock() -> None:
    """Pure: time is passed in, and nothing here starts a thread."""
    source = Path(__file__).parents[3] / "engine" / "runs" / "state.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"threading", "time", "socket", "asyncio"}
