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

from engine import errors
from engine.errors import ExtractionError, ProviderError, StreamInterrupted
from engine.runs.runner import Runner, StreamFactory
from engine.runs.state import timeline_rows
from engine.schemas import resolve
from engine.schemas.fields import leaves
from engine.store import Store, StoredRun
from engine.store.records import StoredPart
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
    schema: Any, chunks: Sequence[tuple[float, str]], speed: float = 1.0, *,
    ending: ExtractionError | None = None,
) -> StreamFactory:
    """A stream factory yielding the recorded deltas at their offsets divided by `speed`;
    `ending`: how the recorded stream ended badly (given to its final snapshot, as live)."""
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
        yield stream.close(ending)

    return factory


def part_factories(
    run: StoredRun, parts: Sequence[StoredPart], speed: float = 1.0, *,
    store: Store | None = None,
) -> list[tuple[StoredPart, StreamFactory]]:
    """A stream factory per part of a split run (`Store.run_parts`, in order), each replaying
    that part's recorded chunk log as `replay_factory` does: the split run replayed through
    the same merge as a live one. Timing as recorded: the parts share one clock, started by
    the first factory called, and each part's request starts `offset_ms` (divided by
    `speed`) after it, its chunks at their own offsets from there. A factory called late (a
    slot was busy) starts at once. A part that ended badly ends so again: its final snapshot
    carries the recorded error (`recorded_ending`), and a part that failed before its first
    chunk (the server could not be used) raises a `ProviderError` with the recorded message,
    as a live request does. ValueError when the schema cannot be found (`schema_for`, `store`
    for saved schemas)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    schema = schema_for(run, store)
    if schema is None:
        raise ValueError(f"The schema {run.schema_name!r} is neither in the library nor saved.")
    clock = _SharedStart()

    def factory_of(part: StoredPart) -> StreamFactory:
        ending = recorded_ending(part)
        replayed = replay_factory(schema, part.timeline, speed,
                                  ending=ending if isinstance(ending, ExtractionError) else None)

        def factory(cancel: threading.Event) -> Iterator[Snapshot]:
            due = clock.origin() + (part.offset_ms or 0.0) / 1000.0 / speed
            if cancel.wait(max(0.0, due - time.perf_counter())):
                return
            if isinstance(ending, ProviderError) and not isinstance(ending, ExtractionError):
                raise ending
            yield from replayed(cancel)

        return factory

    return [(part, factory_of(part)) for part in parts]


# Endings a stream cannot tell from its chunks, by the status a part recorded.
_SELF_EVIDENT = ("done", "invalid")  # the replayed chunks end the same way by themselves


def recorded_ending(part: StoredPart) -> Exception | None:
    """The error a part ended with, rebuilt from its recorded type and message: an
    `ExtractionError` subclass of `engine.errors` by name (Truncated, Refused, Cancelled, ...),
    else `StreamInterrupted` when chunks had arrived, else a `ProviderError` (the request
    failed before its first chunk). None for a part that ended done or invalid."""
    if part.status in _SELF_EVIDENT:
        return None
    message = part.error_message or f"The part ended {part.status}."
    known = getattr(errors, part.error_type or "", None)
    if isinstance(known, type) and issubclass(known, ExtractionError):
        try:
            return known(message)
        except TypeError:  # a subclass needing more than its message
            pass
    return StreamInterrupted(message) if part.timeline else ProviderError(message)


class _SharedStart:
    """The moment the first of a replay's parts asked for its start (one clock for all)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin: float | None = None

    def origin(self) -> float:
        with self._lock:
            if self._origin is None:
                self._origin = time.perf_counter()
            return self._origin


def start_replay(run: StoredRun, speed: float = 1.0, store: Store | None = None) -> Runner:
    """Start replaying `run` in the background (raises ValueError if it cannot be replayed)."""
    schema = schema_for(run, store)
    if schema is None:
        raise ValueError(f"The schema {run.schema_name!r} is neither in the library nor saved.")
    if run.parts:
        return _start_split_replay(run, schema, speed, store)
    if not run.timeline:
        raise ValueError("This run recorded no chunks to replay.")
    return Runner(leaves(schema), replay_factory(schema, run.timeline, speed)).start()


#: A replay this fast is over as soon as its chunks are parsed (a stored run drawn as a form).
INSTANT = 1e9


def settled(run: StoredRun, store: Store | None = None, *,
            timeout: float = 10.0) -> Runner | None:
    """The stored run as a finished live one: its chunks replayed at once into a Runner whose
    state a view draws like any run's form, with each value grounded in the run's input text
    when it was kept (the spec is not told to any hook: nothing is recorded). None when it
    cannot be replayed (its schema is gone, or it recorded no chunks)."""
    from engine.runs.spec import RunSpec

    schema = schema_for(run, store)
    if schema is None:
        return None
    if run.parts:
        runner = _start_split_replay(run, schema, INSTANT, store)
    elif run.timeline:
        spec = RunSpec(run.input_text, run.schema_name, schema, run.provider, None, run.model,
                       run.mode or "json_schema", document=run.document) \
            if run.input_text else None
        runner = Runner(leaves(schema), replay_factory(schema, run.timeline, INSTANT),
                        spec=spec, announce=False).start()
    else:
        return None
    runner.wait(timeout)
    return runner


def _start_split_replay(run: StoredRun, schema: Any, speed: float, store: Store | None) -> Runner:
    """A split run's parts replayed at their recorded times through the same merge as the
    live run (`engine.runs.chunked`), so the form fills in as it did. Told to no hook."""
    from engine.documents.chunks import TextChunk
    from engine.runs.chunked import ChunkedRunner
    from engine.runs.spec import RunSpec

    made = part_factories(run, run.parts, speed, store=store)
    chunks = [TextChunk(i, part.span_start, part.span_end) for i, (part, _) in enumerate(made)]
    factories = iter([factory for _, factory in made])
    spec = RunSpec(run.input_text or "", run.schema_name, schema, run.provider, None, run.model,
                   run.mode or "json_schema", document=run.document)
    runner = ChunkedRunner(leaves(schema), spec, plan=lambda: chunks,
                           part_factory=lambda _part: next(factories), announce=False)
    return runner.start()


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
