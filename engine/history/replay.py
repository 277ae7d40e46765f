"""Replaying a recorded run: its chunks, at their recorded offsets (or faster), through the same
engine as a live run (a `ModelStream` fed by a stream factory, driven by a `Runner`).

A replay is not a run of its own: its Runner has no `RunSpec`, so the recorder writes no row.
The library's schemas and the saved ones (by the version the run used) are replayed, found as
everywhere by `engine.schemas.resolve`; a stored `module:Class` name is never imported (the
history may come from someone else's export).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from engine.runs.runner import Runner, StreamFactory
from engine.runs.state import timeline_rows
from engine.schemas import resolve
from engine.schemas.fields import leaves
from engine.store import Store, StoredRun
from engine.stream.model_stream import ModelStream
from engine.stream.snapshot import Snapshot

SPEEDS = (1.0, 4.0)


def library_name(run: StoredRun) -> str | None:
    """The library's name of the schema the run used (case-insensitive match), or None."""
    return resolve.library_name(run.schema_name)


def schema_for(run: StoredRun, store: Store | None = None) -> Any | None:
    """The schema the run used, found by `engine.schemas.resolve`'s rules (the library's, else
    with `store` the saved version it names); None when neither has it."""
    found = resolve.find_schema(store, run.schema_name, run.schema_version)
    return None if found is None else found.schema


def replay_factory(
    schema: Any, chunks: Sequence[tuple[float, str]], speed: float = 1.0
) -> StreamFactory:
    """A stream factory yielding the recorded deltas at their offsets divided by `speed`."""
    if speed <= 0:
        raise ValueError("speed must be positive")

    def factory(cancel: threading.Event) -> Iterator[Snapshot]:
        stream = ModelStream(schema, track_times=True)
        started = stream.timings.started
        for offset_ms, delta in chunks:
            due = started + offset_ms / 1000.0 / speed
            if cancel.wait(max(0.0, due - time.perf_counter())):
                return
            stream.mark_first_token()
            yield stream.feed(delta)
        yield stream.close()

    return factory


def start_replay(run: StoredRun, speed: float = 1.0, store: Store | None = None) -> Runner:
    """Start replaying `run` in the background (raises ValueError if it cannot be replayed)."""
    schema = schema_for(run, store)
    if schema is None:
        raise ValueError(f"The schema {run.schema_name!r} is neither in the library nor saved.")
    if not run.timeline:
        raise ValueError("This run recorded no chunks to replay.")
    return Runner(leaves(schema), replay_factory(schema, run.timeline, speed)).start()


def field_timeline(schema: Any, chunks: Sequence[tuple[float, str]]) -> list[dict[str, Any]]:
    """When each leaf field started and finished (seconds from the request), rebuilt from the
    recorded chunks on the chunks' own clock: the rows the Extract page's timeline chart takes,
    built as a live run's are (`engine.runs.state.timeline_rows`)."""
    now = [0.0]
    stream = ModelStream(schema, track_times=True, clock=lambda: now[0], started=0.0)
    for offset_ms, delta in chunks:
        now[0] = offset_ms / 1000.0
        stream.feed(delta)
    stream.close()
    known = {node.path for node in leaves(schema)}
    return timeline_rows(stream.timings.fields.items(), known, now[0])
