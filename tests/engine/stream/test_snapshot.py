"""The Snapshot interface (issue #8): every attribute a reader uses is declared on the class,
nothing is assigned onto a snapshot after it is made, snapshots read a LiveView rather than
their ModelStream, and the final one is built with how the stream ended."""

from __future__ import annotations

import inspect
import sys

import pytest
from openai import OpenAI
from pydantic import BaseModel

from engine import ModelStream, stream_model
from engine.errors import Truncated
from engine.llm.extract import extract
from engine.schemas.library import MeetingInfo
from engine.stream.snapshot import FinalSnapshot, LiveView, Snapshot
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import FIXTURES, Location

#: What readers (the Runner, the CLI, README's examples) use.
READER_ATTRIBUTES = ("partial", "value", "done", "changes", "errors", "progress", "text",
                     "is_final", "error", "final", "usage", "timings", "finish_reason")


class Pair(BaseModel):
    a: str
    b: int


def _declared_type(cls: type, name: str) -> object:
    """The annotation of a class attribute, or the return annotation of a property."""
    for klass in cls.__mro__:
        annotations = inspect.get_annotations(klass)
        if name in annotations:
            return annotations[name]
    attr = inspect.getattr_static(cls, name)
    if isinstance(attr, property):
        return inspect.signature(attr.fget).return_annotation
    return inspect.Signature.empty


@pytest.mark.parametrize("name", READER_ATTRIBUTES)
def test_every_reader_attribute_is_declared_with_its_type(name: str) -> None:
    assert _declared_type(Snapshot, name) is not inspect.Signature.empty
    attr = inspect.getattr_static(Snapshot, name)
    if isinstance(attr, property):
        assert attr.__doc__, f"{name} has no docstring"


def test_state_is_a_documented_method() -> None:
    assert Snapshot.state.__doc__ and "pending" in Snapshot.state.__doc__


@pytest.mark.parametrize("name", ("is_final", "error", "usage", "finish_reason", "timings",
                                  "changes", "partial"))
def test_nothing_can_be_assigned_onto_a_snapshot(name: str) -> None:
    ms = ModelStream(Pair)
    snaps = [ms.feed('{"a": "x", "b": 1}'), ms.close()]
    for snap in snaps:
        with pytest.raises(AttributeError):
            setattr(snap, name, None)


def test_a_snapshot_holds_the_live_view_not_the_stream() -> None:
    ms = ModelStream(Pair)
    snap = ms.feed('{"a": "x"')
    assert isinstance(snap.view, LiveView) and snap.view is ms.view
    assert not any(item is ms for item in snap)
    final = ms.close()
    assert final.view is ms.view and not any(item is ms for item in final)


def test_the_final_snapshot_is_built_with_how_the_stream_ended() -> None:
    ms = ModelStream(Pair)
    chunk = ms.feed('{"a": "x", "b": 1}')
    usage = {"completion_tokens": 7}
    final = ms.close(usage=usage, finish_reason="stop")
    assert type(chunk) is Snapshot and not chunk.is_final
    assert chunk.error is None and chunk.usage is None and chunk.finish_reason is None
    assert chunk.final is None
    assert isinstance(final, FinalSnapshot) and isinstance(final, Snapshot)
    assert final.is_final and final.error is None
    assert final.usage is usage and final.finish_reason == "stop"
    assert final.final == Pair(a="x", b=1)


def test_a_failed_final_snapshot_carries_the_error_and_raises_it() -> None:
    ms = ModelStream(Pair)
    ms.feed('{"a": "x", "b": ')
    cut = Truncated("cut at the token limit")
    final = ms.close(cut, finish_reason="length")
    assert final.error is cut and final.finish_reason == "length"
    assert final.errors == {} and final.error.partial is final.partial
    with pytest.raises(Truncated):
        final.final  # raises the stream's error


def test_states_on_a_chunk_and_on_the_final_snapshot() -> None:
    ms = ModelStream(Pair)
    snap = ms.feed('{"a": "x", "b": 1')  # b is still streaming: a number ends at a delimiter
    assert snap.state("a") == "done" and snap.state("b") == "streaming"
    final = ms.close()  # the answer was cut: b never came
    assert final.error is not None and final.state("a") == "done"
    assert final.state("b") == "pending" and final.state("no.such.path") == "pending"
    assert snap.state("b") == "pending"  # read late: nothing streams once the stream ended


def test_timings_are_the_streams_own_when_it_tracks_them() -> None:
    tracked = ModelStream(Pair, track_times=True)
    snap = tracked.feed('{"a": "x"')
    assert snap.timings is tracked.timings and tracked.close().timings is tracked.timings
    assert ModelStream(Pair).feed("{").timings is None


def test_mark_first_token_counts_once_on_the_streams_clock() -> None:
    ticks = iter([10.5, 11.0])  # `started` given: the clock is read from the token on
    ms = ModelStream(Pair, track_times=True, clock=lambda: next(ticks), started=10.0)
    ms.mark_first_token()
    ms.mark_first_token()
    assert ms.timings.first_token == 0.5


def test_kept_snapshots_do_not_add_a_reference_to_a_growing_string() -> None:
    """Snapshots hold the partial model, never the string in progress: keeping every one of
    them leaves the partial's entry the only reference, so appends stay in place."""
    chunks = ['{"date": "', *["abcdefg"] * 2_000, '"}']
    kept = []
    counts = []
    for i, snap in enumerate(stream_model(MeetingInfo, chunks)):
        kept.append(snap)
        if 300 < i < len(chunks) - 1:
            counts.append(sys.getrefcount(snap.partial.__dict__["date"]))
    assert set(counts) == {2}
    assert kept[-1].partial.date == "abcdefg" * 2_000 and kept[500].text.endswith("abcdefg")


def test_extract_gives_usage_and_finish_reason_to_the_final_snapshot_only(
        srv: ReplayServer, client: OpenAI) -> None:
    srv.queue(Reply.from_sse_file(FIXTURES / "structured-output-location.sse"))
    snaps = list(extract("SF weather", Location, client=client, model="gpt-4o-2024-08-06"))
    *chunks, final = snaps
    assert chunks and all(type(s) is Snapshot for s in chunks)
    assert all(s.usage is None and s.finish_reason is None for s in chunks)
    assert all(s.timings is final.timings for s in chunks)
    assert isinstance(final, FinalSnapshot)
    assert final.finish_reason == "stop" and final.usage["total_tokens"] == 93
    assert 0 < final.timings.first_token <= final.timings.first_done
