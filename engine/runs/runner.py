"""Run an extraction in a background thread and hand a view the latest state, coalesced.

The LLM stream runs in its own thread and never waits for the view. It folds each Snapshot's
changes into a small mirror keyed by form placeholder (one per leaf field, see
`engine.schemas.fields.leaves`) and remembers which placeholders changed since the last draw. The
view (a Streamlit script thread, or the CLI) calls `Runner.next_update()` at its own pace (about
20 times a second) and gets only what changed, so a 100 KB answer never makes it fall behind.
Several runners on one page are polled together by `engine.runs.group.RunnerGroup`.

`Runner.stop()` sets the `cancel` event the stream checks after every chunk, closes the
generator, and returns at once with what arrived (it uses no UI call, so it is safe in a
`finally`). When the run has ended (`Runner.ended`), its status is one `RunStatus`
(`engine.runs.status`), and the run hooks (`engine.runs.hooks`) get its `report()`.

Timings are the stream's own (`Snapshot.timings`, from the request's start), never a second
clock: the page, the CLI and the history show the same numbers for the same run.

Grounding: when the spec has a text, the runner indexes it once (`engine.grounding.TextIndex`,
in a thread of its own, beside the request) and grounds each leaf value as its change makes it
done (a scalar field, a list item `tags[0]`, a table cell `users[0].email`): once per value,
never per chunk; values done before the index is ready wait for it. The cell carries its
`Grounding`; `Update.grounded` has the paths grounded since the last take. Runs started
together on one text (a comparison's lanes) share one index through `SharedIndexes`: it is
built once, by the first of them to ask.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.grounding import MAX_TEXT_CHARS, NOT_FOUND, Grounding, TextIndex
from engine.runs import hooks
from engine.runs.display import json_text, jsonable
from engine.runs.hooks import Chunk, RunEnd, RunStart, RunTimings
from engine.runs.spec import RunSpec
from engine.runs.status import RunStatus, status_for
from engine.schemas.fields import SCALAR, TABLE, FieldNode
from engine.stream import paths
from engine.stream.changes import DONE, INVALID, PENDING, Grew
from engine.stream.errors import (
    Cancelled,
    ExtractionError,
    ProviderError,
    StreamInterrupted,
    redact_error,
)
from engine.stream.snapshot import Snapshot, Timings

StreamFactory = Callable[[threading.Event], Iterator[Snapshot]]
T = TypeVar("T")


class SharedIndexes:
    """One index per distinct text for the runs given this (a comparison's lanes, which get
    the same text): the first run to ask for a text builds its index, the others wait for it
    and share it (an index of 1 MB of text is tens of MB; four lanes need not hold four).
    Thread-safe: each run asks from its own index thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Shared] = {}  # by the text itself: its hash, then equality

    def get(self, text: str, build: Callable[[str], T]) -> T:
        """The index of `text`, built by `build` on the first call for that text (a build
        that raises is tried again by the next run that asks)."""
        with self._lock:
            entry = self._entries.setdefault(text, _Shared())
        with entry.lock:  # the others wait here while the first one builds
            if not entry.built:
                entry.index, entry.built = build(text), True
            return entry.index


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    built: bool = False
    index: Any = None


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


#: What a run can be waiting for before its first token (`Update.waiting`).
WAIT_SLOT = "slot"  # queued: every slot of the local model is busy with other extractions

#: Redraws per second the view is allowed (coalescing window = 1 / DRAW_HZ).
DRAW_HZ = 20.0
#: How often the (bigger) live JSON copy is refreshed while streaming.
JSON_HZ = 4.0


@dataclass
class Cell:
    """One value in the form: its latest value, state and validation message, and where the
    value stands in the input text once it is done (None: not grounded)."""

    value: Any = None
    state: str = PENDING
    error: str | None = None
    grounding: Grounding | None = None

    def copy(self) -> Cell:
        return Cell(self.value, self.state, self.error, self.grounding)


@dataclass
class LeafData:
    """What a placeholder shows. Scalars use `cell`; tables and item lists use `items`
    (a Cell per row/item; a row's value is a dict column -> value) plus `cell` for the list."""

    kind: str
    cell: Cell = field(default_factory=Cell)
    items: list[Cell] = field(default_factory=list)
    cells: list[dict[str, Cell]] = field(default_factory=list)  # table: per-row column cells


@dataclass
class Metrics:
    """Live numbers, in seconds (None until known). `first_token` and `first_done` are the
    stream's (from the request's start); `elapsed` counts from the run's start, so it includes
    `wait`, the time before the request (the budget check, a queue for a local slot)."""

    first_token: float | None = None
    first_done: float | None = None
    elapsed: float = 0.0
    chunks: int = 0
    completion_tokens: int | None = None
    wait: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens (or chunks while streaming, about one token each) per second
        since the first token."""
        if self.first_token is None:
            return None
        span = self.elapsed - (self.wait or 0.0) - self.first_token
        count = self.completion_tokens if self.completion_tokens is not None else self.chunks
        return count / span if span > 0.05 else None


@dataclass
class Update:
    """What changed since the previous `next_update()`; `leaves` holds copies of only those."""

    leaves: dict[str, LeafData]
    progress: float
    done_leaves: int
    total_leaves: int
    metrics: Metrics
    status: RunStatus
    json_text: str | None = None  # set when the live JSON copy changed
    text_changed: bool = False
    seq: int = 0
    waiting: str | None = None  # WAIT_SLOT while queued for a free slot
    #: Paths grounded since the previous update (new ones only): highlight them as they come.
    grounded: dict[str, Grounding] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        """The run is no longer running (this is the update that says how it ended)."""
        return self.status.ended


class Runner:
    """One extraction in a background thread. Create, `start()`, poll `next_update()`.

    `secret`: the API key the run uses; every error the runner records is redacted with it.
    `spec`: what the run was asked for (the hooks pass it on; the runner itself needs only
    the leaves and the stream factory). `indexes`: where runs started together share their
    text's index (None: the run builds its own)."""

    def __init__(
        self, leaves: list[FieldNode], factory: StreamFactory, *, secret: str | None = None,
        spec: RunSpec | None = None, indexes: SharedIndexes | None = None,
    ) -> None:  # fmt: skip
        self.run_id = uuid.uuid4().hex
        self.spec = spec
        self._secret = secret
        self._waiting: str | None = None
        self._nodes = {n.path: n for n in leaves}
        self._factory = factory
        self._leaves = {n.path: LeafData(kind=n.kind) for n in leaves}
        self._dirty: set[str] = set(self._leaves)  # first draw shows every placeholder
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._wakes = [self._wake]  # set on every change (a RunnerGroup adds its own)
        self.cancel = CancelEvent()
        self.cancel.on_notice(self._note_waiting)
        self._thread: threading.Thread | None = None
        self._started = 0.0  # perf_counter at start()
        self._started_at = 0.0  # wall clock at start()
        self._ended_at: float | None = None
        self._metrics = Metrics()
        self._request_at: float | None = None  # perf_counter when the request started
        self._fields: dict[str, list[float | None]] = {}  # the stream's per-path spans
        self._chunks: list[Chunk] = []
        self._text_len = 0
        self._value: Any = {}  # the live object, JSON-ready
        self._json = "{}"
        self._json_dirty = True
        self._json_at = 0.0
        self._text = ""
        self._text_dirty = False
        self._status = RunStatus.RUNNING
        self._progress = 0.0
        self.error: BaseException | None = None
        self.result: Any = None
        self.errors: dict[str, str] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._last_take = 0.0
        self._seq = 0
        self._index: TextIndex | None = None  # built in a thread of its own (a long text)
        self._indexes = indexes
        self._index_thread: threading.Thread | None = None
        self._index_ready = False
        self._pending: list[tuple[str, Cell]] = []  # done before the index was ready
        self._grounding: dict[str, Grounding] = {}  # path -> where its done value stands
        self._grounded_new: dict[str, Grounding] = {}  # since the last take

    # --- background side --------------------------------------------------------------

    def start(self) -> Runner:
        self._started = time.perf_counter()
        self._started_at = time.time()
        self._thread = threading.Thread(target=self._run, name="fieldstream-runner", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        hooks.run_started(RunStart(self.run_id, self.spec, self._started_at))
        gen: Iterator[Snapshot] | None = None
        try:
            self._start_index()
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
        was ready are grounded first; with none waiting, the report does not wait."""
        with self._lock:
            waiting = bool(self._pending)
        if waiting and self._index_thread is not None:
            self._index_thread.join()
        try:
            report = self.report()
        except Exception:
            hooks.log.exception("Run %s: its report could not be built for the end hooks.",
                                self.run_id)
            return
        hooks.run_ended(report)

    def _start_index(self) -> None:
        """Index the input text in a thread of its own, so the request is not held up (no
        spec, no text, or a text over `MAX_TEXT_CHARS`: no index, nothing is grounded)."""
        text = self.spec.text if self.spec is not None else ""
        if not text or len(text) > MAX_TEXT_CHARS:
            self._index_ready, self._indexes = True, None
            return
        self._index_thread = threading.Thread(target=self._build_index, args=(text,),
                                              name="fieldstream-index", daemon=True)
        self._index_thread.start()

    def _build_index(self, text: str) -> None:
        shared, self._indexes = self._indexes, None  # needed once: let the share go after
        try:
            index: TextIndex | None = (TextIndex(text) if shared is None
                                       else shared.get(text, TextIndex))
        except Exception:  # grounding helps check a run; it must never break one
            hooks.log.exception("Run %s: its text could not be indexed for grounding.",
                                self.run_id)
            index = None
        with self._lock:
            self._index, self._index_ready = index, True
            pending, self._pending = self._pending, []
            for path, cell in pending:
                self._ground(path, cell)
        if pending:
            self._signal()

    def _ground(self, path: str, cell: Cell) -> None:
        """Ground a value that just became done (call with the lock held); before the index
        is ready, it waits in `_pending`."""
        if not self._index_ready:
            self._pending.append((path, cell))
            return
        if self._index is None:
            return
        try:
            grounding = self._index.ground(cell.value)
        except Exception:  # as above: the run goes on, without grounding from here
            hooks.log.exception("Run %s: grounding %s failed; grounding is off for the rest "
                                "of the run.", self.run_id, path)
            self._index = None
            return
        if grounding is None:
            return  # not a value worth looking for (a boolean, a null, a container)
        cell.grounding = grounding
        self._grounding[path] = grounding
        self._grounded_new[path] = grounding

    def _note_waiting(self, what: str | None) -> None:
        with self._lock:
            self._waiting = what
        self._signal()

    def _signal(self) -> None:
        for wake in self._wakes:
            wake.set()

    def _absorb(self, snap: Snapshot) -> None:
        now = time.perf_counter()
        with self._lock:
            if self._status.ended:
                return  # stopped: keep exactly what the view was told
            self._waiting = None
            if snap.timings is not None:
                self._note_timings(snap.timings)
            if not snap.is_final:
                self._count_chunk(snap, now)
            for change in snap.changes:
                self._apply_change(change)
            self._progress = float(snap.progress or 0.0)
            self.errors = dict(snap.errors)
            self._metrics.elapsed = now - self._started
            if now - self._json_at >= 1.0 / JSON_HZ or snap.is_final:
                self._copy_live(snap, now)
            if snap.is_final:
                self._absorb_final(snap)
        self._signal()

    def _note_timings(self, timings: Timings) -> None:
        """Take the stream's numbers as they are (same clock, `time.perf_counter`)."""
        self._request_at = timings.started
        metrics = self._metrics
        metrics.wait = max(0.0, timings.started - self._started)
        metrics.first_token = timings.first_token
        metrics.first_done = timings.first_done
        self._fields = timings.fields

    def _count_chunk(self, snap: Snapshot, now: float) -> None:
        """One more chunk: count it, keep its text and its (offset, delta) for the record."""
        self._metrics.chunks += 1
        text = snap.text
        if len(text) < self._text_len:
            self._text_len = 0  # a new stream began (tools mode drops prose before the call)
        origin = self._request_at if self._request_at is not None else self._started
        self._chunks.append((round((now - origin) * 1000), text[self._text_len:]))
        self._text_len = len(text)
        if text != self._text:
            self._text = text
            self._text_dirty = True

    def _copy_live(self, snap: Snapshot, now: float) -> None:
        """Copy the live object (O(answer) to dump, so only a few times a second, and once
        more at the end)."""
        self._json_at = now
        try:
            value = jsonable(snap.partial)
            self._json = json_text(value)
        except (TypeError, ValueError):
            return
        self._value = value
        self._json_dirty = True

    def _apply_change(self, change: Any) -> None:
        path: str = change.path
        key = paths.leaf_key(path)
        data = self._leaves.get(key)
        if data is None:
            return  # a group or the root: its leaves carry the news
        cell = self._cell_for(data, path[len(key):])
        if cell is None:
            return
        cell.state = change.state
        if type(change) is Grew and isinstance(cell.value, str):
            # Append in place: holding `change.value` would give the growing string a second
            # reference, so every later append would copy it (quadratic for a long string).
            text, cell.value = cell.value, None
            text += change.delta
            cell.value = text
        else:
            cell.value = change.value
        cell.error = change.error if change.state == INVALID else None
        cell.grounding = None
        if change.state == DONE:
            self._ground(path, cell)
        self._dirty.add(key)

    def _cell_for(self, data: LeafData, rest: str) -> Cell | None:
        """The cell a change path addresses, given the part after the leaf key:
        `""` (the leaf itself), `[3]` (row/item 3), `[3].name` or `[3]["a.b"]` (a cell)."""
        if not rest:
            return data.cell
        if data.kind == SCALAR:
            return None
        segs = paths.parse(rest)
        index = segs[0]
        if not isinstance(index, int):
            return None
        while len(data.items) <= index:
            data.items.append(Cell())
            data.cells.append({})
        if len(segs) == 1:
            return data.items[index]
        if data.kind != TABLE or len(segs) > 2 or isinstance(segs[1], int):
            return None  # deeper than a cell: the cell's own Done carries the full value
        return data.cells[index].setdefault(segs[1], Cell())

    def _absorb_final(self, snap: Snapshot) -> None:
        self.finish_reason = snap.finish_reason
        self.usage = snap.usage
        tokens = (self.usage or {}).get("completion_tokens")
        if isinstance(tokens, int):
            self._metrics.completion_tokens = tokens
        error = snap.error
        if error is None:
            try:
                self.result = snap.final
            except ExtractionError as exc:
                error = exc
        self._settle(error)

    def _settle(self, error: BaseException | None) -> None:
        """The run ends here (call with the lock held): its status, once, and the clock."""
        if error is not None:
            self.error = redact_error(error, self._secret)
        self._status = status_for(error)
        self._waiting = None
        self._ended_at = time.time()
        self._metrics.elapsed = time.perf_counter() - self._started

    def _finish_error(self, exc: BaseException) -> None:
        with self._lock:
            if self._status.ended:
                return
            if isinstance(exc, ExtractionError) and exc.errors:
                self.errors = dict(exc.errors)
            self._settle(exc)
            # The live copy may be a few chunks old: what the form shows is the truth now.
            self._value = self._mirror()
            self._json = json_text(self._value)
            self._json_dirty = True
        self._signal()

    def _mirror(self) -> dict[str, Any]:
        """What arrived, rebuilt from the form's own cells (consistent with what is shown)."""
        out: dict[str, Any] = {}
        for path, data in self._leaves.items():
            *parents, name = paths.parse(path)
            target = out
            for part in parents:
                target = target.setdefault(part, {})
            target[name] = _leaf_value(data)
        return out

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
        if not self._status.ended:
            self._finish_error(Cancelled("You stopped the extraction."))
        self.cancel.set()
        if wait:
            self.wait(wait)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run's thread is over (its end hooks have run); False on timeout."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.thread_alive

    def subscribe(self, wake: threading.Event) -> None:
        """Also set `wake` whenever something changes (set at once, so nothing is missed)."""
        with self._lock:
            self._wakes.append(wake)
        wake.set()

    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def ended(self) -> bool:
        """The run is no longer running (see `status` for how it ended)."""
        return self._status.ended

    @property
    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def text(self) -> str:
        return self._text

    @property
    def grounding(self) -> dict[str, Grounding]:
        """Where each done value stands in the text, by path (a copy)."""
        with self._lock:
            return dict(self._grounding)

    @property
    def not_found(self) -> list[str]:
        """The paths whose value is nowhere in the text (the likely inventions), in order."""
        with self._lock:
            return [p for p, g in self._grounding.items() if g.status == NOT_FOUND]

    @property
    def field_errors(self) -> dict[str, str]:
        """Validation messages by path: the ending's own (the complete list) when it has
        them, else the latest the stream reported."""
        error = self.error
        if isinstance(error, ExtractionError) and error.errors:
            return dict(error.errors)
        return dict(self.errors)

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
            leaves = {k: _copy_leaf(self._leaves[k]) for k in self._dirty}
            self._dirty.clear()
            if not self._status.ended:
                self._metrics.elapsed = time.perf_counter() - self._started
            json_text = self._json if self._json_dirty else None
            self._json_dirty = False
            text_changed, self._text_dirty = self._text_dirty, False
            grounded, self._grounded_new = self._grounded_new, {}
            done = sum(1 for d in self._leaves.values() if d.cell.state in (DONE, INVALID))
            self._seq += 1
            update = Update(
                leaves=leaves,
                progress=self._progress if self._progress else done / max(len(self._leaves), 1),
                done_leaves=done,
                total_leaves=len(self._leaves),
                metrics=Metrics(**vars(self._metrics)),
                status=self._status,
                json_text=json_text,
                text_changed=text_changed,
                seq=self._seq,
                waiting=self._waiting if not self._status.ended else None,
                grounded=grounded,
            )
        self._last_take = time.perf_counter()
        return update

    def snapshot_all(self) -> Update:
        """A full update (every placeholder, every grounding), e.g. to redraw a finished run
        after a rerun."""
        with self._lock:
            self._dirty.update(self._leaves)
            self._grounded_new = dict(self._grounding)
            self._json_dirty = True
            self._text_dirty = True
        return self.take()

    def timeline(self) -> list[dict[str, Any]]:
        """When each field started and finished (seconds from the request, the stream's own
        timings), for a chart."""
        with self._lock:
            spans = list(dict(self._fields).items())  # a copy: the stream thread adds paths
            end = self._metrics.elapsed - (self._metrics.wait or 0.0)
        rows = []
        for path, (start, done) in spans:
            if paths.leaf_key(path) not in self._leaves:
                continue  # a group or the root: its leaves have their own bars
            rows.append(
                {
                    "field": path,
                    "start": round(start or 0.0, 4),
                    "end": round(done if done is not None else end, 4),
                    "state": "done" if done is not None else "unfinished",
                }
            )
        return rows

    def json_text(self) -> str:
        with self._lock:
            return self._json

    def report(self) -> RunEnd:
        """What the run leaves behind (the end hooks get this once it has ended)."""
        with self._lock:
            status, metrics = self._status, self._metrics
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
                result=jsonable(self.result) if done else None,
                partial=None if done else self._value,
                field_errors=self.field_errors,
                error=self.error,
                usage=self.usage,
                finish_reason=self.finish_reason,
                timings=timings,
                chunks=tuple(self._chunks),
                grounding=dict(self._grounding),
            )


def _leaf_value(data: LeafData) -> Any:
    if data.kind == TABLE:
        return [{k: c.value for k, c in row.items()} for row in data.cells]
    if data.kind == SCALAR:
        return data.cell.value
    return [c.value for c in data.items]


def _copy_leaf(data: LeafData) -> LeafData:
    return LeafData(
        kind=data.kind,
        cell=data.cell.copy(),
        items=[c.copy() for c in data.items],
        cells=[{k: c.copy() for k, c in row.items()} for row in data.cells],
    )
