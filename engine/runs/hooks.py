"""Run hooks: code that wants to know when any run starts and ends (the run history records
each run this way; the page and the CLI need not know it exists).

    handle = hooks.register(on_start=write_row, on_end=update_row)
    ...
    hooks.unregister(handle)

The Runner calls the hooks in its own thread: `on_start(RunStart)` before anything is sent,
`on_end(RunEnd)` once the run has ended and its request is closed, exactly once per run. A
hook that raises is logged and skipped: it never breaks, stops or delays the run beyond its
own duration. Every run goes through the Runner (the app's pages and the CLI alike), so a
hook sees them all.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.grounding import Grounding
from engine.runs.spec import RunSpec
from engine.runs.status import RunStatus

log = logging.getLogger(__name__)

#: One chunk of the answer: (milliseconds from the request's start, the text it added).
Chunk = tuple[int, str]


@dataclass(frozen=True)
class RunStart:
    """A run is starting: nothing has been sent yet."""

    run_id: str  # unique per run; the same in its RunEnd
    spec: RunSpec | None  # None only for a Runner made without one (tests, custom streams)
    started_at: float  # wall clock, seconds since the epoch


@dataclass(frozen=True)
class RunTimings:
    """When things happened. `first_token` and `first_done` are the stream's own numbers
    (`Snapshot.timings`): seconds from the request's start, the first done field being the
    first leaf that was done or invalid. `wait` is what came before the request (the budget
    check, a queue for a free local slot); `total` runs from the run's start to its end, so
    it includes `wait`. All on one clock (`time.perf_counter`); None when it never happened."""

    started_at: float  # wall clock, seconds since the epoch
    ended_at: float  # wall clock, seconds since the epoch
    total: float
    wait: float | None = None
    first_token: float | None = None
    first_done: float | None = None


@dataclass(frozen=True)
class PartEnd:
    """One part of a split document's run (a chunk, or an extra pass): characters
    `start:end` of the run's text, the pages they stand on (1 when there is no document),
    and how its own request ended, as a run's would (`result` or `partial`, JSON-ready;
    `chunks` its answer as it arrived, offsets from the part's request start; `offset` is when
    that request started, seconds after the run's start; `grounding` relative to the whole
    text). `kind` is "chunk" or "pass"."""

    index: int
    kind: str
    start: int
    end: int
    first_page: int
    last_page: int
    status: RunStatus
    result: Any
    partial: Any
    error: BaseException | None
    usage: dict[str, Any] | None
    timings: RunTimings
    offset: float
    chunks: tuple[Chunk, ...]
    grounding: dict[str, Grounding] = field(default_factory=dict)

    @property
    def error_message(self) -> str | None:
        return str(self.error) if self.error is not None else None


@dataclass(frozen=True)
class RunEnd:
    """Everything a finished run leaves behind, ready to store.

    `result` (status DONE) or `partial` (any other ending) is JSON-ready data (what the page
    shows and the CLI prints). `field_errors` maps paths (`users[0].email`) to validation
    messages. `error` is how it ended badly (None when DONE), its message already redacted
    with the run's key. `chunks` is the answer as it arrived: `(offset_ms, delta)` per chunk,
    offsets from the request's start (from the run's start for a stream without timings);
    joined, the deltas are `text`, the raw answer. `grounding` maps each done leaf's path to
    where its value stands in the input text (empty when the run had no text). A split
    document's run has its `parts` (`PartEnd`, in order); its `chunks` are empty (each part
    has its own) and `result`/`partial` is the merge."""

    run_id: str
    spec: RunSpec | None
    status: RunStatus
    result: Any
    partial: Any
    field_errors: dict[str, str]
    error: BaseException | None
    usage: dict[str, Any] | None
    finish_reason: str | None
    timings: RunTimings
    chunks: tuple[Chunk, ...]
    grounding: dict[str, Grounding] = field(default_factory=dict)
    parts: tuple[PartEnd, ...] = ()

    @property
    def error_type(self) -> str | None:
        """The error's class name (`Truncated`, `TimedOut`, ...), None when there is none."""
        return type(self.error).__name__ if self.error is not None else None

    @property
    def error_message(self) -> str | None:
        return str(self.error) if self.error is not None else None

    @property
    def text(self) -> str:
        return "".join(delta for _, delta in self.chunks)


StartHook = Callable[[RunStart], None]
EndHook = Callable[[RunEnd], None]


@dataclass(frozen=True, eq=False)  # compared by identity: unregister removes this very one
class RunHooks:
    """A registered pair of hooks (either may be None); `unregister` takes it back."""

    on_start: StartHook | None = None
    on_end: EndHook | None = None


_registered: list[RunHooks] = []
_lock = threading.Lock()


def register(*, on_start: StartHook | None = None, on_end: EndHook | None = None) -> RunHooks:
    """Call `on_start` / `on_end` for every run from now on; returns the handle to unregister."""
    hooks = RunHooks(on_start, on_end)
    with _lock:
        _registered.append(hooks)
    return hooks


def unregister(hooks: RunHooks) -> None:
    """Stop calling these hooks (a handle that is not registered is ignored)."""
    with _lock, contextlib.suppress(ValueError):
        _registered.remove(hooks)


@contextlib.contextmanager
def registered(*, on_start: StartHook | None = None,
               on_end: EndHook | None = None) -> Iterator[RunHooks]:
    """The hooks, registered for the duration of a `with` block."""
    hooks = register(on_start=on_start, on_end=on_end)
    try:
        yield hooks
    finally:
        unregister(hooks)


def run_started(start: RunStart) -> None:
    """Call every start hook (the Runner does, in its thread)."""
    for hooks in _snapshot():
        if hooks.on_start is not None:
            _call(hooks.on_start, start, "start")


def run_ended(end: RunEnd) -> None:
    """Call every end hook (the Runner does, in its thread, once per run)."""
    for hooks in _snapshot():
        if hooks.on_end is not None:
            _call(hooks.on_end, end, "end")


def _snapshot() -> list[RunHooks]:
    with _lock:  # a hook may (un)register hooks: iterate over a copy
        return list(_registered)


def _call(hook: Callable[[Any], None], payload: RunStart | RunEnd, when: str) -> None:
    try:
        hook(payload)
    except Exception:  # a broken recorder must never break the run it records
        log.exception("A run %s hook (%s) failed for run %s; the run goes on.",
                      when, getattr(hook, "__qualname__", repr(hook)), payload.run_id)
