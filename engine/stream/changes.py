"""Change events: what one chunk changed, one small class per kind (after openai-python's
`lib/streaming/chat/_events.py`). Every change has `path`, `value` and `state`; a growing
string also carries its `delta`, an invalid value its `error`."""

from __future__ import annotations

from typing import Any, ClassVar

PENDING = "pending"
STREAMING = "streaming"
DONE = "done"
INVALID = "invalid"


class Change:
    """Base class: `path` (e.g. `users[0].email`, root is ``""``), `value`, `state`."""

    __slots__ = ("path", "value")
    state: ClassVar[str]

    def __init__(self, path: str, value: Any) -> None:
        self.path = path
        self.value = value

    def _fields(self) -> tuple[Any, ...]:
        return (self.path, self.value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._fields() == self._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(repr(f) for f in self._fields())
        return f"{type(self).__name__}({args})"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value, "state": self.state}


class Started(Change):
    """A value began. Containers and growing strings carry their (empty) value; numbers,
    booleans, Literals and Enums carry None until they are done."""

    __slots__ = ()
    state = STREAMING


class Grew(Change):
    """A string grew: `value` is the text so far, `delta` what this chunk added.

    The engine's Grew keeps no copy of the text: holding one would make every later append
    copy the whole string (CPython appends in place only to a string nobody else holds). It
    reads the text from where it lives (`at`, a (container, key) pair), cut to the length it
    had, so `value` is O(1) on the chunk's own change.
    """

    __slots__ = ("_at", "_v", "delta")
    state = STREAMING

    def __init__(self, path: str, value: Any, delta: str,
                 at: tuple[Any, Any] | None = None) -> None:
        self.path = path
        self._v = value  # the text; or, with `at`, its length at this change
        self.delta = delta
        self._at = at

    @property  # type: ignore[override]
    def value(self) -> Any:
        at = self._at
        if at is None:
            return self._v
        text = at[0][at[1]]
        n = self._v
        return text if len(text) == n else text[:n]

    def _fields(self) -> tuple[Any, ...]:
        return (self.path, self.value, self.delta)


_new = object.__new__


def grew_at(path: str, n: int, delta: str, at: tuple[Any, Any]) -> Grew:
    """The engine's Grew: the text of length `n` is read from `at`. Made without a call to
    `__init__` (a class call re-enters the interpreter from C: this runs once per chunk)."""
    g = _new(Grew)
    g.path = path
    g._v = n
    g.delta = delta
    g._at = at
    return g


class Done(Change):
    """A value is complete (and, for typed streams, validated). It never changes afterwards."""

    __slots__ = ()
    state = DONE


class Invalid(Change):
    """A value is complete but failed its field's validation: `error` says why."""

    __slots__ = ("error",)
    state = INVALID

    def __init__(self, path: str, value: Any, error: str) -> None:
        self.path = path
        self.value = value
        self.error = error

    def _fields(self) -> tuple[Any, ...]:
        return (self.path, self.value, self.error)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "error": self.error}
