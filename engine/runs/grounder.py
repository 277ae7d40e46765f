"""Grounding a run's values as they are done: the text's index, built in a thread of its own
beside the request, and the values that wait for it.

When the run has a text, it is indexed once (`engine.grounding.TextIndex`; no text or one over
`MAX_TEXT_CHARS`: no index, nothing is grounded). Each leaf value is grounded as its change
makes it done (a scalar field, a list item `tags[0]`, a table cell `users[0].email`): once per
value, never per chunk; values done before the index is ready wait for it. Runs started
together on one text (a comparison's lanes) share one index through `SharedIndexes`: it is
built once, by the first of them to ask.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.grounding import MAX_TEXT_CHARS, NOT_FOUND, Grounding, TextIndex
from engine.runs import hooks
from engine.runs.state import Cell

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


class Grounder:
    """Grounds one run's done values. `lock` is the runner's: `ground` and `take_new` are
    called with it held, and the index thread takes it to ground the values that waited;
    `signal()` then wakes the view. `indexes`: where runs started together share an index."""

    def __init__(self, lock: threading.Lock, signal: Callable[[], None], run_id: str,
                 indexes: SharedIndexes | None = None) -> None:
        self._lock = lock
        self._signal = signal
        self._run_id = run_id
        self._indexes = indexes
        self.index: TextIndex | None = None
        self._ready = False
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[str, Cell]] = []  # done before the index was ready
        self.grounding: dict[str, Grounding] = {}  # path -> where its done value stands
        self._new: dict[str, Grounding] = {}  # since the last take

    def start(self, text: str | None) -> None:
        """Index `text` in a thread of its own, so the request is not held up."""
        if not text or len(text) > MAX_TEXT_CHARS:
            self._ready, self._indexes = True, None
            return
        self._thread = threading.Thread(target=self._build, args=(text,),
                                        name="fieldstream-index", daemon=True)
        self._thread.start()

    def _build(self, text: str) -> None:
        shared, self._indexes = self._indexes, None  # needed once: let the share go after
        try:
            index: TextIndex | None = (TextIndex(text) if shared is None
                                       else shared.get(text, TextIndex))
        except Exception:  # grounding helps check a run; it must never break one
            hooks.log.exception("Run %s: its text could not be indexed for grounding.",
                                self._run_id)
            index = None
        with self._lock:
            self.index, self._ready = index, True
            pending, self._pending = self._pending, []
            for path, cell in pending:
                self.ground(path, cell)
        if pending:
            self._signal()

    def ground(self, path: str, cell: Cell) -> None:
        """Ground a value that just became done (lock held); before the index is ready, it
        waits."""
        if not self._ready:
            self._pending.append((path, cell))
            return
        if self.index is None:
            return
        try:
            grounding = self.index.ground(cell.value)
        except Exception:  # as above: the run goes on, without grounding from here
            hooks.log.exception("Run %s: grounding %s failed; grounding is off for the rest "
                                "of the run.", self._run_id, path)
            self.index = None
            return
        if grounding is None:
            return  # not a value worth looking for (a boolean, a null, a container)
        cell.grounding = grounding
        self.grounding[path] = grounding
        self._new[path] = grounding

    def adopt(self, grounding: dict[str, Grounding]) -> None:
        """Take groundings made elsewhere (a split document's parts ground their own text;
        lock held): the ones new or changed since the last adopt go out with the next take."""
        for path, found in grounding.items():
            if self.grounding.get(path) != found:
                self._new[path] = found
        self.grounding = dict(grounding)

    def settle(self) -> None:
        """Wait for the index when values are waiting for it (lock not held), so the run's
        report has them grounded; with none waiting, it does not wait."""
        with self._lock:
            waiting = bool(self._pending)
        if waiting and self._thread is not None:
            self._thread.join()

    def take_new(self) -> dict[str, Grounding]:
        """The paths grounded since the last take (lock held)."""
        new, self._new = self._new, {}
        return new

    def resend_all(self) -> None:
        """The next take carries every grounding again (a redraw from scratch; lock held)."""
        self._new = dict(self.grounding)

    def not_found(self) -> list[str]:
        """The paths whose value is nowhere in the text (lock held), in order."""
        return [p for p, g in self.grounding.items() if g.status == NOT_FOUND]
