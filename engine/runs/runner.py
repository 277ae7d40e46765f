"""Run an extraction in a background thread and hand a view the latest state, coalesced.

The LLM stream runs in its own thread and never waits for the view. It folds each Snapshot's
changes into a small mirror keyed by form placeholder (one per leaf field, see
`engine.schemas.fields.leaves`) and remembers which placeholders changed since the last draw. The
view (a Streamlit script thread) calls `Runner.next_update()` at its own pace (about 20 times a
second) and gets only what changed, so a 100 KB answer never makes it fall behind.

`Runner.stop()` sets the `cancel` event the stream checks after every chunk, closes the
generator, and returns at once with what arrived (it uses no UI call, so it is safe in a
`finally`). Everything here is UI-free; views turn the data into widgets.

`stream_extraction` is the one run path the app and the CLI share: check that the text fits,
queue for a free slot of the local model, then stream with the read timeout. Every error a
run reports is redacted with the key it used.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.schemas.fields import SCALAR, TABLE, FieldNode
from engine.stream import paths
from engine.stream.changes import DONE, INVALID, PENDING, STREAMING
from engine.stream.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    JSONStreamError,
    ProviderError,
    Refused,
    StreamInterrupted,
    TextTooLong,
    TimedOut,
    Truncated,
    ValidationFailed,
    redact_error,
)

StreamFactory = Callable[[threading.Event], Iterator[Any]]


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


RUNNING = "running"
FINISHED = "finished"  # validated result
FAILED = "failed"  # ended with an ExtractionError / ProviderError (partial kept)
STOPPED = "stopped"  # the user stopped it (partial kept)

#: What a run can be waiting for before its first token (`Update.waiting`).
WAIT_SLOT = "slot"  # queued: every slot of the local model is busy with other extractions

#: Redraws per second the view is allowed (coalescing window = 1 / DRAW_HZ).
DRAW_HZ = 20.0
#: How often the (bigger) live JSON copy is refreshed while streaming.
JSON_HZ = 4.0


@dataclass
class Cell:
    """One value in the form: its latest value, state and validation message."""

    value: Any = None
    state: str = PENDING
    error: str | None = None


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
    """Live numbers, all in seconds (None until known)."""

    first_token: float | None = None
    first_done: float | None = None
    elapsed: float = 0.0
    chunks: int = 0
    completion_tokens: int | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens (or chunks while streaming, about one token each) per second
        since the first token."""
        if self.first_token is None:
            return None
        span = self.elapsed - self.first_token
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
    status: str
    json_text: str | None = None  # set when the live JSON copy changed
    text_changed: bool = False
    seq: int = 0
    waiting: str | None = None  # WAIT_SLOT while queued for a free slot

    @property
    def finished(self) -> bool:
        return self.status != RUNNING


class Runner:
    """One extraction in a background thread. Create, `start()`, poll `next_update()`.

    `secret`: the API key the run uses; every error the runner records is redacted with it."""

    def __init__(
        self, leaves: list[FieldNode], factory: StreamFactory, secret: str | None = None
    ) -> None:
        self._secret = secret
        self._waiting: str | None = None
        self._nodes = {n.path: n for n in leaves}
        self._factory = factory
        self._leaves = {n.path: LeafData(kind=n.kind) for n in leaves}
        self._dirty: set[str] = set(self._leaves)  # first draw shows every placeholder
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.cancel = CancelEvent()
        self.cancel.on_notice(self._note_waiting)
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._metrics = Metrics()
        self._times: dict[str, list[float | None]] = {}
        self._json = "{}"
        self._json_dirty = True
        self._json_at = 0.0
        self._text = ""
        self._text_dirty = False
        self._status = RUNNING
        self._progress = 0.0
        self.error: BaseException | None = None
        self.result: Any = None
        self.errors: dict[str, str] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._last_take = 0.0
        self._seq = 0

    # --- background side --------------------------------------------------------------

    def start(self) -> Runner:
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="fieldstream-runner", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        gen: Iterator[Any] | None = None
        try:
            gen = self._factory(self.cancel)
            for snap in gen:
                self._absorb(snap)
                if self.cancel.is_set() and not getattr(snap, "is_final", False):
                    break
        except (ExtractionError, ProviderError) as exc:
            self._finish_error(exc)
        except Exception as exc:  # a bug or an unexpected client error: say it, keep partial
            self._finish_error(StreamInterrupted(f"{type(exc).__name__}: {exc}"))
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing must never mask the outcome
                    close()
            self._finish_unended()

    def _note_waiting(self, what: str | None) -> None:
        with self._lock:
            self._waiting = what
        self._wake.set()

    def _absorb(self, snap: Any) -> None:
        now = time.perf_counter() - self._started
        with self._lock:
            if self._status != RUNNING:
                return  # stopped: keep exactly what the view was told
            self._waiting = None
            self._count_chunk(snap, now)
            for change in getattr(snap, "changes", ()):
                self._apply_change(change, now)
            self._progress = float(getattr(snap, "progress", self._progress) or 0.0)
            self.errors = dict(getattr(snap, "errors", {}) or {})
            self._metrics.elapsed = now
            if now - self._json_at >= 1.0 / JSON_HZ or getattr(snap, "is_final", False):
                self._copy_live(snap, now)
            if getattr(snap, "is_final", False):
                self._absorb_final(snap)
        self._wake.set()

    def _count_chunk(self, snap: Any, now: float) -> None:
        if getattr(snap, "is_final", False):
            return
        if self._metrics.first_token is None:
            self._metrics.first_token = now
        self._metrics.chunks += 1

    def _copy_live(self, snap: Any, now: float) -> None:
        """Copy the live object and raw text (both O(answer) to read, so only a few times a
        second, and once more at the end)."""
        self._json_at = now
        text = getattr(snap, "text", None)
        if isinstance(text, str) and text != self._text:
            self._text = text
            self._text_dirty = True
        try:
            value = _plain(snap)
            self._json = json.dumps(value, ensure_ascii=False, indent=2, default=str)
        except (TypeError, ValueError):
            return
        self._json_dirty = True

    def _apply_change(self, change: Any, now: float) -> None:
        path: str = change.path
        key = paths.leaf_key(path)
        data = self._leaves.get(key)
        if data is None:
            return  # a group or the root: its leaves carry the news
        self._track_time(key if path == key else path, change.state, now)
        if change.state in (DONE, INVALID) and self._metrics.first_done is None:
            self._metrics.first_done = now
        cell = self._cell_for(data, path[len(key):])
        if cell is None:
            return
        cell.state = change.state
        cell.value = change.value
        cell.error = getattr(change, "error", None)
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

    def _track_time(self, path: str, state: str, now: float) -> None:
        times = self._times.setdefault(path, [now, None])
        if state in (DONE, INVALID) and times[1] is None:
            times[1] = now

    def _absorb_final(self, snap: Any) -> None:
        self.finish_reason = getattr(snap, "finish_reason", None)
        self.usage = getattr(snap, "usage", None)
        tokens = (self.usage or {}).get("completion_tokens")
        if isinstance(tokens, int):
            self._metrics.completion_tokens = tokens
        error = getattr(snap, "error", None)
        if error is None:
            try:
                self.result = snap.final
            except ExtractionError as exc:
                error = exc
        if error is not None:
            self.error = redact_error(error, self._secret)
            self._status = STOPPED if isinstance(error, Cancelled) else FAILED
        else:
            self._status = FINISHED

    def _finish_error(self, exc: BaseException) -> None:
        with self._lock:
            if self._status != RUNNING:
                return
            self.error = redact_error(exc, self._secret)
            self._waiting = None
            errors = getattr(exc, "errors", None)
            if errors:
                self.errors = dict(errors)
            self._status = STOPPED if isinstance(exc, Cancelled) else FAILED
            self._metrics.elapsed = time.perf_counter() - self._started
            # The live copy may be a few chunks old: what the form shows is the truth now.
            self._json = json.dumps(self._mirror(), ensure_ascii=False, indent=2, default=str)
            self._json_dirty = True
        self._wake.set()

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
        if self._status == RUNNING:
            self._finish_error(Cancelled("You stopped the extraction."))
        self.cancel.set()
        if wait and self._thread is not None:
            self._thread.join(wait)

    @property
    def status(self) -> str:
        return self._status

    @property
    def finished(self) -> bool:
        return self._status != RUNNING

    @property
    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def text(self) -> str:
        return self._text

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
            if self._status == RUNNING:
                self._metrics.elapsed = time.perf_counter() - self._started
            json_text = self._json if self._json_dirty else None
            self._json_dirty = False
            text_changed, self._text_dirty = self._text_dirty, False
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
                waiting=self._waiting if self._status == RUNNING else None,
            )
        self._last_take = time.perf_counter()
        return update

    def snapshot_all(self) -> Update:
        """A full update (every placeholder), e.g. to redraw a finished run after a rerun."""
        with self._lock:
            self._dirty.update(self._leaves)
            self._json_dirty = True
            self._text_dirty = True
        return self.take()

    def timeline(self) -> list[dict[str, Any]]:
        """When each field started and finished (seconds from the request), for a chart."""
        with self._lock:
            items = list(self._times.items())
            end = self._metrics.elapsed
        rows = []
        for path, (start, done) in items:
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


def _leaf_value(data: LeafData) -> Any:
    if data.kind == TABLE:
        return [{k: c.value for k, c in row.items()} for row in data.cells]
    if data.kind == SCALAR:
        return data.cell.value
    return [c.value for c in data.items]


def _plain(snap: Any) -> Any:
    """The live object as JSON-ready data: the Partial model (strings as far as they got),
    else the raw parsed value."""
    partial = getattr(snap, "partial", None)
    if hasattr(partial, "model_dump"):
        return partial.model_dump(mode="json")
    if isinstance(partial, list):
        return [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in partial]
    return getattr(snap, "value", None)


def _copy_leaf(data: LeafData) -> LeafData:
    return LeafData(
        kind=data.kind,
        cell=Cell(data.cell.value, data.cell.state, data.cell.error),
        items=[Cell(c.value, c.state, c.error) for c in data.items],
        cells=[{k: Cell(c.value, c.state, c.error) for k, c in row.items()} for row in data.cells],
    )


# --- plain-language outcome ----------------------------------------------------------------

_HEADLINES: list[tuple[type[BaseException], str]] = [
    (TextTooLong, "The text is too long for this model."),
    (TimedOut, "The model sent nothing for too long, so the run was given up."),
    (Truncated, "The answer was cut off before it was complete."),
    (Refused, "The model refused to answer."),
    (ContentFiltered, "The provider's safety filter stopped the answer."),
    (Cancelled, "Stopped. Everything that arrived before you pressed Stop is kept below."),
    (StreamInterrupted, "The connection to the model was lost in the middle of the answer."),
    (ValidationFailed, "The answer arrived, but some fields do not fit the schema."),
    (JSONStreamError, "The model's answer was not valid JSON."),
    (ProviderError, "The model could not be reached."),
    (ExtractionError, "The extraction did not finish with a valid result."),
]

_DEFAULT_HINTS: dict[type[BaseException], str] = {
    ProviderError: "Check the provider and model (Extract page, right-hand column), then try "
                   "again.",
}


@dataclass(frozen=True)
class Outcome:
    """How a run ended, in words for people who write no code."""

    kind: str  # "success" | "warning" | "error"
    headline: str
    detail: str
    hint: str


def explain(error: BaseException | None) -> Outcome:
    """Plain words for how a run ended: a headline, the technical detail, what to try next."""
    if error is None:
        return Outcome("success", "Done: every field arrived and the result is valid.", "", "")
    headline = next((h for cls, h in _HEADLINES if isinstance(error, cls)), "Something failed.")
    if isinstance(error, TextTooLong):
        headline = error.headline  # the numbers are the news: they go first
    hint = getattr(error, "hint", "") or next(
        (h for cls, h in _DEFAULT_HINTS.items() if isinstance(error, cls)), ""
    )
    if isinstance(error, Cancelled):
        hint = "Press Extract to run it again."
    if isinstance(error, Refused) and error.refusal:
        detail = f"The model said: {error.refusal}"
    else:
        detail = str(error)
    kind = "warning" if isinstance(error, Cancelled) else "error"
    return Outcome(kind, headline, detail, hint)


STATE_LABELS = {  # symbols every system font has (no emoji font needed)
    PENDING: "○ waiting",
    STREAMING: "✎ streaming",
    DONE: "✓ done",
    INVALID: "✗ invalid",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def display_value(value: Any) -> str:
    """A value as plain text for the form (containers as compact JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")
    return json.dumps(value, ensure_ascii=False, default=str)


def table_rows(data: LeafData, columns: list[str]) -> list[dict[str, str]]:
    """Rows for a growing table: one dict per row, a `state` column first."""
    rows = []
    for item, cells in zip(data.items, data.cells, strict=False):
        row = {"state": state_label(item.state)}
        for col in columns:
            cell = cells.get(col)
            row[col] = display_value(cell.value) if cell is not None else ""
        rows.append(row)
    return rows


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"



# --- starting a run ------------------------------------------------------------------------

@dataclass
class RunRecord:
    """A run as the view keeps it across reruns: what was asked, and its runner."""

    schema_name: str
    schema: Any
    provider: str
    model: str
    mode: str
    runner: Runner
    text_chars: int = 0


def local_server(provider: Any, model: str) -> Any | None:
    """The local model's server (`engine.local.server.LocalServer`) for a local provider."""
    if getattr(provider, "kind", None) != "local":
        return None
    from engine.local.server import ensure_server

    return ensure_server(model or provider.default_model)


def stream_extraction(
    text: str,
    schema: Any,
    provider: Any,
    model: str,
    mode: str,
    max_tokens: int | None = None,
    *,
    client: Any,
    cancel: threading.Event | None = None,
    on_wait: Callable[[], None] | None = None,
    on_slot: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """The snapshots of one extraction, the way the app and the CLI run it.

    First the text must fit the model (`TextTooLong` otherwise, counted exactly for the local
    model, before anything is queued). Then, for the local model, the request holds one of its
    slots: when none is free, `on_wait()` is called and the run queues (Stop, i.e. `cancel`,
    ends the wait at once); `on_slot()` is called once a slot is held. The read timeout
    starts only then, so time spent queued never counts towards it."""
    from engine.llm.budget import check_fits
    from engine.llm.extract import build_request, extract

    server = local_server(provider, model)
    request = build_request(text, schema, model=model, mode=mode, max_tokens=max_tokens)
    check_fits(request, kind=provider.kind, model=model, max_tokens=max_tokens, server=server)
    slot = server.slot(cancel, on_wait) if server is not None else contextlib.nullcontext()
    with slot:
        if on_slot is not None:
            on_slot()
        yield from extract(text, schema, client=client, model=model, mode=mode,
                           max_tokens=max_tokens, cancel=cancel)


def extraction_factory(
    text: str, schema: Any, provider: Any, model: str, mode: str, max_tokens: int | None = None
) -> StreamFactory:
    """A factory that connects to the provider and streams the extraction in the runner's
    thread (so starting the local model, a slow connect or a queue never blocks the view)."""

    def factory(cancel: threading.Event) -> Iterator[Any]:
        from engine.providers import client_for

        client, close = stoppable_client(client_for(provider, model), cancel)
        try:
            yield from stream_extraction(
                text, schema, provider, model, mode, max_tokens, client=client, cancel=cancel,
                on_wait=lambda: notice(cancel, WAIT_SLOT), on_slot=lambda: notice(cancel, None),
            )  # fmt: skip
        finally:
            close()

    return factory


def stoppable_client(client: Any, cancel: threading.Event) -> tuple[Any, Callable[[], None]]:
    """A copy of an `openai.OpenAI` client with its own connection, whose socket is shut down
    when `cancel` is set: a read blocked on a silent server (a model still reading the
    prompt, a stalled stream) returns at once instead of at the next chunk.
    Returns (client, close)."""
    import openai

    sockets: list[socket.socket] = []

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                sockets.append(sock)

    def on_request(request: Any) -> None:
        request.extensions["trace"] = trace

    def shut() -> None:
        for sock in list(sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    http = openai.DefaultHttpxClient(timeout=client.timeout,
                                     event_hooks={"request": [on_request]})
    if isinstance(cancel, CancelEvent):
        cancel.on_set(shut)
    return client.with_options(http_client=http), http.close


def start_run(
    text: str, schema_name: str, schema: Any, provider: Any, model: str, mode: str,
    max_tokens: int | None = None, factory: StreamFactory | None = None,
) -> RunRecord:
    """Start an extraction in the background and return its record."""
    from engine.schemas.fields import leaves

    factory = factory or extraction_factory(text, schema, provider, model, mode, max_tokens)
    runner = Runner(leaves(schema), factory, secret=getattr(provider, "api_key", None)).start()
    return RunRecord(schema_name, schema, provider.name, model, mode, runner, len(text))
