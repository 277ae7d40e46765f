"""Comparing two results field by field: the one function the History and Compare pages use.

Both JSON values are walked by path (`a.b[0].c`, built by `engine.stream.paths`, as the stream
and the field errors spell them). Leaves are
normalised before comparing: text ignores case and runs of whitespace, numbers ignore their
format ("18,500", "18500.0" and 18500 are equal), and a missing value equals null.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.stream import paths

SAME, DIFFERENT, ONLY_A, ONLY_B = "same", "different", "only in A", "only in B"
VERDICTS = (SAME, DIFFERENT, ONLY_A, ONLY_B)

_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")
_MISSING = object()


@dataclass(frozen=True)
class FieldDiff:
    path: str
    a: Any
    b: Any
    verdict: str

    @property
    def same(self) -> bool:
        return self.verdict == SAME


def normalise(value: Any) -> Any:
    """The comparable form of a leaf (see the module doc)."""
    if isinstance(value, bool):
        return ("bool", value)  # True must not equal 1
    if value is None:
        return None
    if isinstance(value, int | float):
        return _number(float(value))
    if isinstance(value, str):
        text = " ".join(value.split()).casefold()
        if _NUMBER.fullmatch(text):
            return _number(float(text.replace(",", "")))
        return text
    return value


def _number(value: float) -> Any:
    if math.isfinite(value) and value == int(value):
        return int(value)
    return value


def compare_results(a: Any, b: Any) -> list[FieldDiff]:
    """One row per leaf path found in either value, in the order first seen (A's, then B's)."""
    out: list[FieldDiff] = []
    _walk("", a, b, out)
    return out


def _walk(path: str, a: Any, b: Any, out: list[FieldDiff]) -> None:
    # A side that is missing walks as an empty container, so each leaf of the other is listed.
    if a is _MISSING or a is None:
        a = _empty_like(b, a)
    if b is _MISSING or b is None:
        b = _empty_like(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            _walk(paths.child(path, key), a.get(key, _MISSING), b.get(key, _MISSING), out)
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            _walk(paths.child(path, i), a[i] if i < len(a) else _MISSING,
                  b[i] if i < len(b) else _MISSING, out)
        return
    out.append(_leaf(path or "(whole answer)", a, b))


def _empty_like(other: Any, value: Any) -> Any:
    if isinstance(other, dict) and other:
        return {}
    if isinstance(other, list) and other:
        return []
    return value


def _leaf(path: str, a: Any, b: Any) -> FieldDiff:
    a_none, b_none = a is _MISSING or a is None, b is _MISSING or b is None
    shown_a, shown_b = (None if a is _MISSING else a), (None if b is _MISSING else b)
    if a_none and b_none:
        return FieldDiff(path, shown_a, shown_b, SAME)
    if b_none:
        return FieldDiff(path, shown_a, shown_b, ONLY_A)
    if a_none:
        return FieldDiff(path, shown_a, shown_b, ONLY_B)
    verdict = SAME if normalise(a) == normalise(b) else DIFFERENT
    return FieldDiff(path, shown_a, shown_b, verdict)


def summary(diffs: list[FieldDiff]) -> dict[str, int]:
    """How many paths got each verdict."""
    return {verdict: sum(1 for d in diffs if d.verdict == verdict) for verdict in VERDICTS}
