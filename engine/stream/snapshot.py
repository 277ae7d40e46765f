"""What a reader sees after each chunk: a cheap, typed snapshot of a typed stream.

Three objects:

- `LiveView`: the stream's live state, read-only, as snapshots read it (the raw value, the
  order paths finished in, the streamed text, a path's state). `ModelStream` owns one and
  updates what it holds; a snapshot never calls back into the stream itself.
- `Snapshot`: the stream after one chunk. Everything it says is given when it is made;
  nothing is assigned onto it later.
- `FinalSnapshot`: the last one, made by `ModelStream.close` with how the stream ended
  (`error`, `usage`, `finish_reason`).

One snapshot is made after every chunk, so both are tuples underneath: built in C with one
`tuple.__new__` call (no `__init__`), their fields read through C-level itemgetters. A
`__slots__` class set up field by field costs about 130 ns more per chunk (~6% of the
engine's per-chunk cost on the benchmark), so the tuple stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from engine.stream.changes import INVALID, PENDING, STREAMING, Change

if TYPE_CHECKING:
    from engine.errors import ExtractionError
    from engine.stream.typed_builder import TypedBuilder

__all__ = ["DoneView", "FinalSnapshot", "LiveView", "Snapshot", "Timings"]


@dataclass
class Timings:
    """Seconds from the start of the request (or of the stream): when the first token arrived,
    when the first leaf field was done, and when each path started and finished."""

    started: float
    first_token: float | None = None
    first_done: float | None = None
    elapsed: float = 0.0
    fields: dict[str, list[float | None]] = field(default_factory=dict)


class LiveView:
    """The live state of one stream, as its snapshots read it.

    `ModelStream` makes one and keeps it current (`closed`, the text chunks); everything else
    is read from the builder and the parser when asked. Snapshots hold this, not the stream.
    """

    __slots__ = ("_builder", "_joined", "_joined_n", "_parser_state", "closed", "done_order",
                 "texts", "timings", "total_leaves")

    def __init__(self, builder: TypedBuilder, parser_state: Callable[[str], str],
                 texts: list[str], total_leaves: int, timings: Timings | None) -> None:
        self._builder = builder  # read for root, result and errors, which it reassigns
        self._parser_state = parser_state
        #: Path -> the order it finished in (done or default); grows, never reordered.
        self.done_order: dict[str, int] = builder.done
        #: The text chunks fed so far (after surrogate cleaning).
        self.texts = texts
        #: Leaf fields of the schema (at least 1): the denominator of `progress`.
        self.total_leaves = total_leaves
        #: The stream's timings, when it tracks them (None otherwise); updated in place.
        self.timings = timings
        #: Whether the stream has ended: nothing is streaming any more.
        self.closed = False
        self._joined, self._joined_n = "", 0

    @property
    def raw(self) -> Any:
        """The raw JSON value parsed so far (complete values only)."""
        return self._builder.root

    @property
    def result(self) -> Any:
        """The validated root value once it is complete and valid, else None."""
        return self._builder.result

    def text_upto(self, n: int) -> str:
        """The first `n` chunks joined. Reading it as the stream grows costs only the new
        chunks: the joined text is kept and extended."""
        if n == self._joined_n:
            return self._joined
        if n > self._joined_n:
            joined, self._joined = self._joined, ""
            joined += "".join(self.texts[self._joined_n : n])  # in place while nobody holds it
            self._joined, self._joined_n = joined, n
            return joined
        return "".join(self.texts[:n])  # an older snapshot, read late

    def state(self, path: str) -> str:
        """"pending" | "streaming" | "done" | "invalid" now. Nothing streams once closed."""
        if path in self._builder.errors:
            return INVALID
        state = self._parser_state(path)
        return PENDING if state == STREAMING and self.closed else state


class DoneView(AbstractSet[str]):
    """The done paths as they were at one snapshot: O(1) to make, O(1) membership."""

    __slots__ = ("_n", "_order")

    def __init__(self, order: dict[str, int], n: int) -> None:
        self._order = order
        self._n = n

    def __contains__(self, path: object) -> bool:
        seq = self._order.get(path)  # type: ignore[call-overload]
        return seq is not None and seq < self._n

    def __iter__(self) -> Iterator[str]:
        return islice(self._order, self._n)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"DoneView({set(self)!r})"


def _item(index: int, doc: str) -> Any:
    """A field read from the tuple by a C itemgetter, with its docstring. Typed `Any` here so
    the class-level annotation next to it is the type readers see."""
    return property(itemgetter(index), doc=doc)


class Snapshot(tuple):
    """The stream after one chunk.

    `partial` is the live Partial model, updated in place as chunks arrive (reading it is free;
    copy it with `model_copy(deep=True)` to keep this moment). `done`, `errors`, `progress`,
    `changes` and `text` are fixed at this chunk. `is_final`, `error`, `usage` and
    `finish_reason` are those of a chunk in the middle of a stream: only a `FinalSnapshot` has
    others.

    Made by `ModelStream` with `Snapshot.make((view, changes, number done, number of text
    chunks, errors, finished leaves, partial))`.
    """

    __slots__ = ()

    make = classmethod(tuple.__new__)

    #: Whether this is the stream's last snapshot (a `FinalSnapshot`).
    is_final: bool = False
    #: The ExtractionError that ended the stream (on the final snapshot only); `errors` holds
    #: the field-by-field validation errors.
    error: ExtractionError | None = None
    #: The server's token usage, e.g. {"prompt_tokens": ..., "completion_tokens": ...}: known
    #: once the stream ended (`extract`'s final snapshot), None before and for plain streams.
    usage: dict[str, Any] | None = None
    #: The server's finish_reason ("stop", "length", "tool_calls", ...): on `extract`'s final
    #: snapshot, None before and for plain streams.
    finish_reason: str | None = None

    changes: list[Change] = _item(1, "What this chunk changed (Started, Grew, Done, Invalid).")
    errors: Mapping[str, str] = _item(
        4, "Field validation errors so far, by path (`users[0].email` -> message).")
    partial: Any = _item(
        6, "The live Partial[Model] instance (a list of partial items for list schemas).")

    @property
    def view(self) -> LiveView:
        """The live state of the stream this snapshot was taken from."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def progress(self) -> float:
        """Finished leaf fields / all leaf fields of the schema, 0.0-1.0."""
        return self[5] / self[0].total_leaves  # type: ignore[no-any-return]

    @property
    def value(self) -> Any:
        """The raw JSON value parsed so far (complete values only), live."""
        return self[0].raw

    @property
    def done(self) -> DoneView:
        """Paths whose value is complete and valid, e.g. {"users[0].name", "date"}."""
        return DoneView(self[0].done_order, self[2])

    @property
    def text(self) -> str:
        """The raw streamed text up to this snapshot."""
        return self[0].text_upto(self[3])  # type: ignore[no-any-return]

    @property
    def timings(self) -> Timings | None:
        """The stream's timings (live: they keep counting), or None when it does not track
        them (`extract` always does)."""
        return self[0].timings  # type: ignore[no-any-return]

    @property
    def final(self) -> Any:
        """On the final snapshot: the validated model, or raises the ExtractionError (which
        carries `.partial` and `.errors`). None before the stream has ended."""
        return None

    def state(self, path: str) -> str:
        """"pending" | "streaming" | "done" | "invalid". Done and invalid are as of this
        snapshot; pending versus streaming is read from the live stream."""
        if path in self[4]:
            return INVALID
        if path in self.done:
            return "done"
        return self._open_state(path)

    def _open_state(self, path: str) -> str:
        """The state of a path neither done nor invalid at this snapshot."""
        return self[0].state(path)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(progress={self.progress:.2f}, "
                f"changes={len(self.changes)}, done={len(self.done)}, "
                f"errors={len(self.errors)}, final={self.is_final})")


class FinalSnapshot(Snapshot):
    """The last snapshot of a stream, with how it ended.

    Made by `ModelStream.close` with `FinalSnapshot.make((view, changes, number done, number
    of text chunks, errors, finished leaves, partial, error, usage, finish_reason))`.
    """

    __slots__ = ()

    is_final = True
    error = _item(7, "The ExtractionError that ended the stream, or None if it succeeded.")
    usage = _item(8, "The server's token usage (when the stream came from a server).")
    finish_reason = _item(9, "The server's finish_reason (when the stream came from a server).")

    @property
    def final(self) -> Any:
        """The validated model, or raises the ExtractionError that ended the stream."""
        if self[7] is not None:
            raise self[7]
        return self[0].result

    def _open_state(self, path: str) -> str:
        return PENDING  # the stream has ended: what is not done or invalid never came
