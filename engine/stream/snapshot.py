"""What a reader sees after each chunk: a cheap snapshot of a typed stream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from engine.stream.changes import Change

if TYPE_CHECKING:
    from engine.stream.errors import ExtractionError

__all__ = ["DoneView", "Snapshot", "Timings"]


@dataclass
class Timings:
    """Seconds from the start of the request (or of the stream): when the first token arrived,
    when the first leaf field was done, and when each path started and finished."""

    started: float
    first_token: float | None = None
    first_done: float | None = None
    elapsed: float = 0.0
    fields: dict[str, list[float | None]] = field(default_factory=dict)


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


class Snapshot(tuple):
    """The stream after one chunk.

    `partial` is the live Partial model, updated in place as chunks arrive (reading it is free;
    copy it with `model_copy(deep=True)` to keep this moment). `done`, `errors`, `progress`,
    `changes` and `text` are fixed at this chunk.

    One is made after every chunk, so it is a tuple underneath (built in C, no __init__,
    fields read through C-level itemgetters): (stream, changes, number done, number of text
    chunks, errors, finished leaves, partial). `ModelStream` makes them with `Snapshot.make`.
    """

    # Set on the final snapshot by ModelStream.close, and by extract; defaults until then.
    is_final: bool = False
    error: ExtractionError | None = None
    usage: dict[str, Any] | None = None
    timings: Timings | None = None
    finish_reason: str | None = None

    make = classmethod(tuple.__new__)  # Snapshot.make((stream, changes, ndone, ntext, ...))

    #: What this chunk changed (a list of Change).
    changes: list[Change] = property(itemgetter(1))  # type: ignore[assignment]
    #: Validation errors so far, by path.
    errors: Mapping[str, str] = property(itemgetter(4))  # type: ignore[assignment]
    #: The Partial[Model] instance (a list of partial items for list schemas), live.
    partial: Any = property(itemgetter(6))

    @property
    def progress(self) -> float:
        """Finished leaf fields / all leaf fields of the schema, 0.0-1.0."""
        return self[5] / self[0].total_leaves

    @property
    def value(self) -> Any:
        """The raw JSON value parsed so far (complete values only)."""
        return self[0].raw

    @property
    def done(self) -> DoneView:
        """Paths whose value is complete and valid, e.g. {"users[0].name", "date"}."""
        return DoneView(self[0].done_order, self[2])

    @property
    def text(self) -> str:
        """The raw streamed text up to this snapshot."""
        return self[0].text_upto(self[3])

    def state(self, path: str) -> str:
        """"pending" | "streaming" | "done" | "invalid". Done and invalid are as of this
        snapshot; pending versus streaming is read from the live stream."""
        if path in self.errors:
            return "invalid"
        if path in self.done:
            return "done"
        return self[0].state(path) if not self.is_final else "pending"

    @property
    def final(self) -> Any:
        """On the final snapshot: the validated model, or raises the ExtractionError (which
        carries `.partial` and `.errors`). None before the stream has ended."""
        if not self.is_final:
            return None
        if self.error is not None:
            raise self.error
        return self[0].result

    def __repr__(self) -> str:
        return (f"Snapshot(progress={self.progress:.2f}, changes={len(self.changes)}, "
                f"done={len(self.done)}, errors={len(self.errors)}, final={self.is_final})")
