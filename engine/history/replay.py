"""Replaying a recorded run: its chunks, at their recorded offsets (or faster), through the same
engine as a live run (a `ModelStream` fed by a stream factory, driven by a `Runner`).

A replay is not a run of its own: its Runner has no `RunSpec`, so the recorder writes no row.
The library's schemas and the saved ones (by the version the run used) are replayed; a stored
`module:Class` name is never imported (the history may come from someone else's export).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from engine.runs.runner import Runner, StreamFactory
from engine.runs.state import timeline_rows
from engine.schemas.fields import leaves
from engine.schemas.library import SCHEMAS
from engine.store import Store, StoredRun
from engine.stream.model_stream import ModelStream
from engine.stream.snapshot import Snapshot

SPEEDS = (1.0, 4.0)


def library_name(run: StoredRun) -> str | None:
    """The library's name of the schema the run used (case-insensitive match), or None."""
    return _library_name(run.schema_name)


def _library_name(schema_name: str) -> str | None:
    wanted = schema_name.casefold()
    return next((name for name in SCHEMAS if name.casefold() == wanted), None)


def schema_for(run: StoredRun, store: Store | None = None) -> Any | None:
    """The schema the run used: the library's, else (with `store`) the saved version it names;
    None when neither has it."""
    return schema_named(run.schema_name, run.schema_version, store)


def schema_named(schema_name: str, version: str | None, store: Store | None = None) -> Any | None:
    """A schema by name: the library's, else (with `store`) that saved version; None when
    neither has it (a Compare lane's schema is found the same way as a run's)."""
    name = _library_name(schema_name)
    if name is not None:
        return SCHEMAS[name]
    if store is None or not version or not version.isdigit():
        return None
    from engine.schemas.definition import build_model
    from engine.schemas.saved import get_schema

    saved = get_schema(store, schema_name, int(version))
    return None if saved is None else build_model(saved.definition)


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
