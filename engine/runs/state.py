"""A run's state as a view needs it, folded snapshot by snapshot: pure, no thread, no clock.

`RunState.apply(snapshot, now)` takes one `Snapshot` and returns the form placeholders it
changed, like openai-python's `ChatCompletionStreamState.handle_chunk`: the caller feeds it
chunk by chunk and passes the time in (`time.perf_counter()` seconds, the stream's own clock).
It keeps the form-shaped mirror (a `LeafData` per leaf field, see
`engine.schemas.fields.leaves`), the live numbers (`Metrics`), the chunk log the history
records, the model's answer so far, and what changed since the view last took an `Update`.
The `Runner` (`engine.runs.runner`) owns the thread, the lock and the hooks around it; the
grounding of done values is the `Grounder`'s (`engine.runs.grounder`), called through `on_done`.

`timeline_rows` is the one builder of the per-field timeline: a live run's and a recorded run's
(`engine.history.replay.field_timeline`) are the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.grounding import Grounding
from engine.runs.display import json_text, jsonable
from engine.runs.hooks import Chunk
from engine.runs.status import RunStatus, status_for
from engine.schemas.fields import SCALAR, TABLE, FieldNode
from engine.stream import paths
from engine.stream.changes import DONE, INVALID, PENDING, Grew
from engine.stream.errors import ExtractionError, redact_error
from engine.stream.snapshot import Snapshot, Timings

#: What a run can be waiting for before its first token (`Update.waiting`).
WAIT_SLOT = "slot"  # queued: every slot of the local model is busy with other extractions
WAIT_TURN = "turn"  # queued: the provider's limit of runs at once is reached in this process

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
    #: A split document's run (`engine.runs.chunked`): which part (0-based) the value came
    #: from, and the other values the other parts gave (most frequent first).
    part: int | None = None
    others: tuple[Any, ...] = ()

    def copy(self) -> Cell:
        return Cell(self.value, self.state, self.error, self.grounding, self.part, self.others)


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

    def copy(self) -> Metrics:
        return Metrics(**vars(self))

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens (or chunks while streaming, about one token each) per second
        since the first token."""
        if self.first_token is None:
            return None
        span = self.elapsed - (self.wait or 0.0) - self.first_token
        count = self.completion_tokens if self.completion_tokens is not None else self.chunks
        return count / span if span > 0.05 else None


@dataclass(frozen=True)
class PartsProgress:
    """How far a split document's run is (`Update.parts`): `total` parts, how many are
    `done` (ended well), `failed`, `running` (streaming) and waiting for their turn."""

    total: int
    done: int = 0
    failed: int = 0
    running: int = 0

    @property
    def waiting(self) -> int:
        return self.total - self.done - self.failed - self.running

    @property
    def current(self) -> int:
        """The part a person would say is being read ("chunk 3 of 7"): 1-based."""
        return min(self.total, self.done + self.failed + max(self.running, 1))


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
    text_changed: bool = False  # the model's answer (`Runner.answer`) grew
    seq: int = 0
    waiting: str | None = None  # WAIT_SLOT / WAIT_TURN while queued
    #: Paths grounded since the previous update (new ones only): highlight them as they come.
    grounded: dict[str, Grounding] = field(default_factory=dict)
    #: A split document's run: its parts' progress (None: a run of one request).
    parts: PartsProgress | None = None

    @property
    def ended(self) -> bool:
        """The run is no longer running (this is the update that says how it ended)."""
        return self.status.ended


def timeline_rows(
    spans: Iterable[tuple[str, Sequence[float | None]]], known: Container[str], end: float
) -> list[dict[str, Any]]:
    """When each leaf field started and finished (seconds from the request), for a chart:
    `spans` are the stream's (path, (start, done)), `known` the leaf keys (a group or the root
    has no bar of its own), `end` where an unfinished field's bar stops."""
    rows = []
    for path, (start, done) in spans:
        if paths.leaf_key(path) not in known:
            continue  # a group or the root: its leaves have their own bars
        rows.append({"field": path, "start": round(start or 0.0, 4),
                     "end": round(done if done is not None else end, 4),
                     "state": "done" if done is not None else "unfinished"})
    return rows


class RunState:
    """One run's state, folded from its snapshots (see the module's doc). Not thread-safe: the
    Runner calls it with its lock held. `started` is the run's start on the stream's clock;
    `secret` redacts every error it keeps; `on_done(path, cell)` is called for each value a
    change makes done (to ground it)."""

    def __init__(self, leaves: Sequence[FieldNode], *, secret: str | None = None,
                 on_done: Callable[[str, Cell], None] | None = None) -> None:
        self.leaves = {n.path: LeafData(kind=n.kind) for n in leaves}
        self.on_done = on_done
        self.started = 0.0
        self.secret = secret
        self.dirty: set[str] = set(self.leaves)  # first draw shows every placeholder
        self.metrics = Metrics()
        self.status = RunStatus.RUNNING
        self.progress = 0.0
        self.waiting: str | None = None
        self.request_at: float | None = None  # when the request started (stream's clock)
        self.fields: dict[str, list[float | None]] = {}  # the stream's per-path spans
        self.chunks: list[Chunk] = []
        self.answer = ""  # the model's text so far
        self.answer_dirty = False
        self.value: Any = {}  # the live object, JSON-ready
        self.json = "{}"
        self.json_dirty = True
        self.json_at = 0.0
        self.error: BaseException | None = None
        self.result: Any = None
        self.errors: dict[str, str] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.seq = 0
        self._text_len = 0
        self.parts: PartsProgress | None = None  # a split document's run

    @property
    def ended(self) -> bool:
        return self.status.ended

    # --- folding snapshots --------------------------------------------------------------

    def apply(self, snap: Snapshot, now: float) -> set[str]:
        """Fold one snapshot in, at `now`; the placeholders it changed. Once the run has
        ended (stopped), nothing changes: the view keeps exactly what it was told."""
        if self.status.ended:
            return set()
        self.waiting = None
        if snap.timings is not None:
            self._note_timings(snap.timings)
        if not snap.is_final:
            self._count_chunk(snap, now)
        changed = set()
        for change in snap.changes:
            key = self._apply_change(change)
            if key is not None:
                changed.add(key)
        self.dirty |= changed
        self.progress = float(snap.progress or 0.0)
        self.errors = dict(snap.errors)
        self.metrics.elapsed = now - self.started
        if now - self.json_at >= 1.0 / JSON_HZ or snap.is_final:
            self._copy_live(snap, now)
        if snap.is_final:
            self._apply_final(snap, now)
        return changed

    def _note_timings(self, timings: Timings) -> None:
        """Take the stream's numbers as they are (same clock)."""
        self.request_at = timings.started
        metrics = self.metrics
        metrics.wait = max(0.0, timings.started - self.started)
        metrics.first_token = timings.first_token
        metrics.first_done = timings.first_done
        self.fields = timings.fields

    def _count_chunk(self, snap: Snapshot, now: float) -> None:
        """One more chunk: count it, keep its text and its (offset, delta) for the record."""
        self.metrics.chunks += 1
        text = snap.text
        if len(text) < self._text_len:
            self._text_len = 0  # a new stream began (tools mode drops prose before the call)
        origin = self.request_at if self.request_at is not None else self.started
        self.chunks.append((round((now - origin) * 1000), text[self._text_len:]))
        self._text_len = len(text)
        if text != self.answer:
            self.answer = text
            self.answer_dirty = True

    def _copy_live(self, snap: Snapshot, now: float) -> None:
        """Copy the live object (O(answer) to dump, so only a few times a second, and once
        more at the end)."""
        self.json_at = now
        try:
            value = jsonable(snap.partial)
            self.json = json_text(value)
        except (TypeError, ValueError):
            return
        self.value = value
        self.json_dirty = True

    def _apply_change(self, change: Any) -> str | None:
        """Fold one change into its cell; the placeholder it changed (None: not a form's)."""
        path: str = change.path
        key = paths.leaf_key(path)
        data = self.leaves.get(key)
        if data is None:
            return None  # a group or the root: its leaves carry the news
        cell = _cell_for(data, path[len(key):])
        if cell is None:
            return None
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
        if change.state == DONE and self.on_done is not None:
            self.on_done(path, cell)
        return key

    def _apply_final(self, snap: Snapshot, now: float) -> None:
        self.finish_reason = snap.finish_reason
        self.usage = snap.usage
        tokens = (self.usage or {}).get("completion_tokens")
        if isinstance(tokens, int):
            self.metrics.completion_tokens = tokens
        error = snap.error
        if error is None:
            try:
                self.result = snap.final
            except ExtractionError as exc:
                error = exc
        self.settle(error, now)

    # --- endings ------------------------------------------------------------------------

    def settle(self, error: BaseException | None, now: float) -> None:
        """The run ends here: its status, once, and its elapsed time."""
        if error is not None:
            self.error = redact_error(error, self.secret)
        self.status = status_for(error)
        self.waiting = None
        self.metrics.elapsed = now - self.started

    def fail(self, exc: BaseException, now: float) -> bool:
        """End the run with `exc` (stopped, a broken stream), keeping what the form shows;
        False when it had already ended."""
        if self.status.ended:
            return False
        if isinstance(exc, ExtractionError) and exc.errors:
            self.errors = dict(exc.errors)
        self.settle(exc, now)
        # The live copy may be a few chunks old: what the form shows is the truth now.
        self.value = self.mirror()
        self.json = json_text(self.value)
        self.json_dirty = True
        return True

    @property
    def field_errors(self) -> dict[str, str]:
        """Validation messages by path: the ending's own (the complete list) when it has
        them, else the latest the stream reported."""
        error = self.error
        if isinstance(error, ExtractionError) and error.errors:
            return dict(error.errors)
        return dict(self.errors)

    def mirror(self) -> dict[str, Any]:
        """What arrived, rebuilt from the form's own cells (consistent with what is shown)."""
        out: dict[str, Any] = {}
        for path, data in self.leaves.items():
            *parents, name = paths.parse(path)
            target = out
            for part in parents:
                target = target.setdefault(part, {})
            target[name] = _leaf_value(data)
        return out

    # --- the view's side ----------------------------------------------------------------

    def take(self, now: float, grounded: dict[str, Grounding]) -> Update:
        """Everything changed since the last take (copies), at `now`; `grounded` is what
        the grounder grounded since then."""
        leaves = {k: _copy_leaf(self.leaves[k]) for k in self.dirty}
        self.dirty.clear()
        if not self.status.ended:
            self.metrics.elapsed = now - self.started
        json = self.json if self.json_dirty else None
        self.json_dirty = False
        answer_changed, self.answer_dirty = self.answer_dirty, False
        done = sum(1 for d in self.leaves.values() if d.cell.state in (DONE, INVALID))
        self.seq += 1
        return Update(
            leaves=leaves,
            progress=self.progress if self.progress else done / max(len(self.leaves), 1),
            done_leaves=done,
            total_leaves=len(self.leaves),
            metrics=self.metrics.copy(),
            status=self.status,
            json_text=json,
            text_changed=answer_changed,
            seq=self.seq,
            waiting=self.waiting if not self.status.ended else None,
            grounded=grounded,
            parts=self.parts,
        )

    def put_leaves(self, merged: dict[str, LeafData], now: float,
                   request_at: float | None) -> set[str]:
        """Take the form's cells as a merge made them (a split document's run): the
        placeholders that changed. `request_at` is when its first request began, the start
        of `first_done`."""
        changed = {k for k, d in merged.items() if k in self.leaves and self.leaves[k] != d}
        for key in changed:
            self.leaves[key] = merged[key]
        self.dirty |= changed
        done = sum(1 for d in self.leaves.values() if d.cell.state == DONE)
        self.progress = done / max(len(self.leaves), 1)
        if done and self.metrics.first_done is None:
            self.metrics.first_done = now - (request_at if request_at is not None
                                             else self.started)
        self.metrics.elapsed = now - self.started
        if changed and (now - self.json_at >= 1.0 / JSON_HZ):
            self.json_at = now
            self.value = self.mirror()
            self.json = json_text(self.value)
            self.json_dirty = True
        return changed

    def leaves_copy(self) -> dict[str, LeafData]:
        return {k: _copy_leaf(d) for k, d in self.leaves.items()}

    def mark_all(self) -> None:
        """The next take carries everything (a redraw from scratch)."""
        self.dirty.update(self.leaves)
        self.json_dirty = True
        self.answer_dirty = True

    def timeline(self) -> list[dict[str, Any]]:
        """The per-field timeline so far (`timeline_rows`), unfinished bars ending now."""
        end = self.metrics.elapsed - (self.metrics.wait or 0.0)
        spans = list(dict(self.fields).items())  # a copy: the stream's thread adds paths
        return timeline_rows(spans, self.leaves, end)


def _cell_for(data: LeafData, rest: str) -> Cell | None:
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

