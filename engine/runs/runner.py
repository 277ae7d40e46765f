"""Run an extraction in a background thread and hand a view the latest state, coalesced.

The LLM stream runs in its own thread and never waits for the view. Each Snapshot is folded
into the run's `RunState` (`engine.runs.state`: the form-shaped mirror, metrics, the chunk log)
under the runner's lock, and its done values are grounded by the run's `Grounder`
(`engine.runs.grounder`). The view (a Streamlit script thread, or the CLI) calls
`Runner.next_update()` at its own pace (about 20 times a second) and gets only what changed, so
a 100 KB answer never makes it fall behind. Several runners on one page are polled together by
`engine.runs.group.RunnerGroup`. The runner itself keeps only the thread, Stop, the lock, the
hooks and the hand-over (`take`, `next_update`).

`Runner.stop()` sets the `cancel` event the stream checks after every chunk, closes the
generator, and returns at once with what arrived (it uses no UI call, so it is safe in a
`finally`). When the run has ended (`Runner.ended`), its status is one `RunStatus`
(`engine.runs.status`), and the run hooks (`engine.runs.hooks`) get its `report()`.

Timings are the stream's own (`Snapshot.timings`, from the request's start), never a second
clock: the page, the CLI and the history show the same numbers for the same run.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from engine.grounding import Grounding
from engine.runs import hooks
from engine.runs.display import jsonable
from engine.runs.grounder import Grounder, SharedIndexes
from engine.runs.hooks import RunEnd, RunStart, RunTimings
from engine.runs.limits import WAITING, Limiter, Ticket
from engine.runs.spec import RunSpec
from engine.runs.state import (  # re-exported: their old home was here
    JSON_HZ,
    WAIT_SLOT,
    WAIT_TURN,
    Cell,
    LeafData,
    Metrics,
    RunState,
    Update,
)
from engine.runs.status import RunStatus
from engine.schemas.fields import FieldNode
from engine.stream.errors import (
    Cancelled,
    ExtractionError,
    ProviderError,
    StreamInterrupted,
)
from engine.stream.snapshot import Snapshot

__all__ = ["DRAW_HZ", "JSON_HZ", "WAIT_SLOT", "WAIT_TURN", "CancelEvent", "Cell", "LeafData",
           "Metrics", "Runner", "SharedIndexes", "StreamFactory", "Update", "notice"]

StreamFactory = Callable[[threading.Event], Iterator[Snapshot]]


class CancelEvent(threading.Event):
    """A `threading.Event` that also runs hooks when set (e.g. shut the request's socket, so
    a stream blocked waiting for the next chunk wakes up at once). It also carries notices
    from the stream back to its runner (`notice(WAIT_SLOT)`: queued for a free slot)."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()
        self._notice_hooks: list[Callable[[str | None], None]] = []

    def on_notice(self, hook: Callable[[str | None], None]) -> None:
        with self._hooks_lock:
            self._notice_hooks.append(hook)

    def notice(self, what: str | None) -> None:
        """Tell whoever listens what the run is waiting for (None: no longer waiting)."""
        with self._hooks_lock:
            hooks = list(self._notice_hooks)
        for hook in hooks:
            _quietly(lambda hook=hook: hook(what))

    def on_set(self, hook: Callable[[], None]) -> None:
        with self._hooks_lock:
            self._hooks.append(hook)
            already = self.is_set()
        if already:
            _quietly(hook)

    def set(self) -> None:
        super().set()
        with self._hooks_lock:
            hooks = list(self._hooks)
        for hook in hooks:
            _quietly(hook)


def _quietly(hook: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # a failing hook must not break Stop
        hook()


def notice(cancel: threading.Event | None, what: str | None) -> None:
    """`cancel.notice(what)` when the event carries notices (a plain Event does not)."""
    if isinstance(cancel, CancelEvent):
        cancel.notice(what)


#: Redraws per second the view is allowed (coalescing window = 1 / DRAW_HZ).
DRAW_HZ = 20.0


class Runner:
    """One extraction in a background thread. Create, `start()`, poll `next_update()`.

    `secret`: the API key the run uses; every error the runner records is redacted with it.
    `spec`: what the run was asked for (the hooks pass it on; the runner itself needs only
    the leaves and the stream factory). `indexes`: where runs started together share their
    text's index (None: the run builds its own)."""

    def __init__(
        self, leaves: list[FieldNode], factory: StreamFactory, *, secret: str | None = None,
        spec: RunSpec | None = None, indexes: SharedIndexes | None = None,
        announce: bool = True, run_id: str | None = None,
    ) -> None:  # fmt: skip
        #: Unique per run; a batch's document passes its workflow id (its row's key).
        self.run_id = run_id or uuid.uuid4().hex
        #: Whether the run hooks hear of this run (a split document's parts are not runs of
        #: their own: their run reports them).
        self.announce = announce
        self.spec = spec
        self._factory = factory
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._wakes = [self._wake]  # set on every change (a RunnerGroup adds its own)
        self._grounder = Grounder(self._lock, self._signal, self.run_id, indexes)
        self._state = RunState(leaves, secret=secret, on_done=self._grounder.ground)
        self.cancel = CancelEvent()
        self.cancel.on_notice(self._note_waiting)
        self._thread: threading.Thread | None = None
        self._ticket: Ticket | None = None  # its place with its provider's limiter
        self._has_thread = threading.Event()
        self._asked_to_start = False
        self._started_at = 0.0  # wall clock at start()
        self._ended_at: float | None = None
        self._last_take = 0.0

    # --- background side --------------------------------------------------------------

    def start(self, limiter: Limiter | None = None, waits_for: str = WAIT_TURN) -> Runner:
        """Run in a thread of its own; with a `limiter`, once its turn comes: until then the
        run holds no thread and says it waits for `waits_for` (`Update.waiting`)."""
        self._state.started = time.perf_counter()
        self._started_at = time.time()
        self._asked_to_start = True
        if limiter is None:
            self._launch()
            return self
        self._ticket = limiter.enter(self._launch)
        if self._ticket.state == WAITING:
            self.cancel.notice(waits_for)
        return self

    def _launch(self) -> None:
        """Its turn: the request's thread starts (once; a Stop that came first ends it)."""
        self.cancel.notice(None)
        self._start_thread(self._run)

    def _start_thread(self, target: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=target, name="fieldstream-runner",
                                            daemon=True)
        self._thread.start()
        self._has_thread.set()

    def _run(self) -> None:
        try:
            self._stream()
        finally:
            if self._ticket is not None:
                self._ticket.release()  # the next run in line starts

    def _ended_waiting(self) -> None:
        """A run stopped before its turn: its hooks still hear of it (start and end)."""
        self._announce_start()
        self._report_end()

    def _announce_start(self) -> None:
        if self.announce:
            hooks.run_started(RunStart(self.run_id, self.spec, self._started_at))

    def _stream(self) -> None:
        self._announce_start()
        gen: Iterator[Snapshot] | None = None
        try:
            grounded = self.spec is not None and self.spec.ground  # a draft: no source
            self._grounder.start(self.spec.text if grounded else None)
            gen = self._factory(self.cancel)
            for snap in gen:
                self._absorb(snap)
                if self.cancel.is_set() and not snap.is_final:
                    break
        except (ExtractionError, ProviderError) as exc:
            self._finish_error(exc)
        except Exception as exc:  # a bug or an unexpected client error: say it, keep partial
            self._finish_error(StreamInterrupted(f"{type(exc).__name__}: {exc}"))
        finally:
            close = getattr(gen, "close", None)  # any iterator will do; generators close
            if close is not None:
                with contextlib.suppress(Exception):  # closing must never mask the outcome
                    close()
            self._finish_unended()
            self._report_end()

    def _report_end(self) -> None:
        """Hand the end hooks the run's report (a report that cannot be built is logged like
        a failing hook: the run has ended either way). Values done before the text's index
        was ready are grounded first."""
        self._grounder.settle()
        if not self.announce:
            return
        try:
            report = self.report()
        except Exception:
            hooks.log.exception("Run %s: its report could not be built for the end hooks.",
                                self.run_id)
            return
        hooks.run_ended(report)

    def _note_waiting(self, what: str | None) -> None:
        with self._lock:
            self._state.waiting = what
        self._signal()

    def _signal(self) -> None:
        for wake in self._wakes:
            wake.set()

    def _absorb(self, snap: Snapshot) -> None:
        now = time.perf_counter()
        with self._lock:
            state = self._state
            if state.status.ended:
                return  # stopped: keep exactly what the view was told
            state.apply(snap, now)
            if state.status.ended:
                self._ended_at = time.time()
        self._signal()

    def _finish_error(self, exc: BaseException) -> None:
        with self._lock:
            if not self._state.fail(exc, time.perf_counter()):
                return
            self._ended_at = time.time()
        self._signal()

    def _finish_unended(self) -> None:
        """The loop ended without a final snapshot (stopped, or the stream just ended)."""
        if self.cancel.is_set():
            self._finish_error(Cancelled("You stopped the extraction."))
        else:
            self._finish_error(StreamInterrupted("The stream ended without a final answer."))

    # --- view side (never blocks on the stream) ---------------------------------------

    def stop(self, wait: float = 0.0) -> None:
        """Stop the stream and keep what arrived. Safe in a `finally`: no UI calls, returns
        at once (or after `wait` seconds at most for the thread to close the request)."""
        # Settle the outcome first: shutting the socket (a cancel hook) makes the stream fail,
        # and that failure must not be reported as a lost connection.
        if not self._state.ended:
            self._finish_error(Cancelled("You stopped the extraction."))
        self.cancel.set()
        if self._ticket is not None and self._ticket.leave_line():
            self._start_thread(self._ended_waiting)  # the hooks' writes stay off the caller
        if wait:
            self.wait(wait)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run's thread is over (its end hooks have run); False on timeout.
        A run waiting for its turn has no thread yet: its wait counts too."""
        if not self._asked_to_start:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._has_thread.wait(timeout):
            return False
        assert self._thread is not None
        self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.thread_alive

    def subscribe(self, wake: threading.Event) -> None:
        """Also set `wake` whenever something changes (set at once, so nothing is missed)."""
        with self._lock:
            self._wakes.append(wake)
        wake.set()

    @property
    def status(self) -> RunStatus:
        return self._state.status

    @property
    def ended(self) -> bool:
        """The run is no longer running (see `status` for how it ended)."""
        return self._state.status.ended

    @property
    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def answer(self) -> str:
        """The model's answer so far, as it streamed (the raw text the JSON is parsed from)."""
        return self._state.answer

    @property
    def error(self) -> BaseException | None:
        """Why the run ended badly (redacted), or None."""
        return self._state.error

    @property
    def result(self) -> Any:
        """The validated result of a run that ended DONE."""
        return self._state.result

    @property
    def errors(self) -> dict[str, str]:
        """The latest validation messages the stream reported, by path."""
        return self._state.errors

    @property
    def finish_reason(self) -> str | None:
        return self._state.finish_reason

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._state.usage

    @property
    def grounding(self) -> dict[str, Grounding]:
        """Where each done value stands in the text, by path (a copy)."""
        with self._lock:
            return dict(self._grounder.grounding)

    @property
    def not_found(self) -> list[str]:
        """The paths whose value is nowhere in the text (the likely inventions), in order."""
        with self._lock:
            return self._grounder.not_found()

    @property
    def field_errors(self) -> dict[str, str]:
        """Validation messages by path: the ending's own (the complete list) when it has
        them, else the latest the stream reported."""
        return self._state.field_errors

    def next_update(self, timeout: float = 0.2, hz: float = DRAW_HZ) -> Update:
        """Wait until something changed (or `timeout`), but never return sooner than 1/hz
        after the previous update: at most `hz` redraws a second, each carrying only what
        changed since the last one. An idle stream still returns after `timeout` so the view
        can tick its clock."""
        gap = 1.0 / hz - (time.perf_counter() - self._last_take)
        if gap > 0:
            time.sleep(gap)
        self._wake.wait(timeout)
        return self.take()

    def take(self) -> Update:
        """Everything changed since the last call (without waiting)."""
        self._wake.clear()
        with self._lock:
            update = self._state.take(time.perf_counter(), self._grounder.take_new())
        self._last_take = time.perf_counter()
        return update

    def snapshot_all(self) -> Update:
        """A full update (every placeholder, every grounding), e.g. to redraw a finished run
        after a rerun."""
        with self._lock:
            self._state.mark_all()
            self._grounder.resend_all()
        return self.take()

    def timeline(self) -> list[dict[str, Any]]:
        """When each field started and finished (seconds from the request, the stream's own
        timings), for a chart."""
        with self._lock:
            return self._state.timeline()

    def metrics_copy(self) -> Metrics:
        with self._lock:
            return self._state.metrics.copy()

    @property
    def started(self) -> float:
        """When `start()` was called (perf_counter seconds: the stream's clock)."""
        return self._state.started

    @property
    def waiting(self) -> str | None:
        """What the run waits for before its request (WAIT_SLOT / WAIT_TURN), else None."""
        return self._state.waiting

    @property
    def begun(self) -> bool:
        """Its request's thread has started (its turn came)."""
        return self._has_thread.is_set()

    def leaves_copy(self) -> dict[str, LeafData]:
        """The form's cells as they stand (copies, groundings included)."""
        with self._lock:
            return self._state.leaves_copy()

    def json_text(self) -> str:
        with self._lock:
            return self._state.json

    def report(self) -> RunEnd:
        """What the run leaves behind (the end hooks get this once it has ended)."""
        with self._lock:
            state = self._state
            status, metrics = state.status, state.metrics
            done = status is RunStatus.DONE
            timings = RunTimings(
                started_at=self._started_at,
                ended_at=self._ended_at if self._ended_at is not None else time.time(),
                total=metrics.elapsed,
                wait=metrics.wait,
                first_token=metrics.first_token,
                first_done=metrics.first_done,
            )
            return RunEnd(
                run_id=self.run_id,
                spec=self.spec,
                status=status,
                result=jsonable(state.result) if done else None,
                partial=None if done else state.value,
                field_errors=state.field_errors,
                error=state.error,
                usage=state.usage,
                finish_reason=state.finish_reason,
                timings=timings,
                chunks=tuple(state.chunks),
                grounding=dict(self._grounder.grounding),
            )
