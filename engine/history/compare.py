"""Comparing results field by field: two runs (History, `compare_results`) or the lanes of a
comparison (the Compare page, `compare_lanes`), through one walk and one normalisation.

Both JSON values are walked by path (`a.b[0].c`, built by `engine.stream.paths`, as the stream
and the field errors spell them). Leaves are
normalised before comparing: text ignores case and runs of whitespace, numbers ignore their
format ("18,500", "18500.0" and 18500 are equal), and a missing value equals null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from engine.stream import paths

SAME, DIFFERENT, ONLY_A, ONLY_B = "same", "different", "only in A", "only in B"
VERDICTS = (SAME, DIFFERENT, ONLY_A, ONLY_B)
#: Across the lanes of a comparison (`compare_lanes`).
AGREE, DIFFER, ONE_SIDED = "agree", "differ", "one-sided"
WHOLE = "(whole answer)"  # the path of an answer that is one bare value

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
    return [_leaf(path, values["a"], values["b"]) for path, values in _leaf_rows({"a": a, "b": b})]


def _leaf_rows(values: Mapping[Any, Any]) -> list[tuple[str, dict[Any, Any]]]:
    """Every leaf path of any of `values` (walked together: keys by name, list items by
    position), with each value's leaf there (`_MISSING` where it has none)."""
    out: list[tuple[str, dict[Any, Any]]] = []
    _walk("", dict(values), out)
    return out


def _walk(path: str, values: dict[Any, Any], out: list[tuple[str, dict[Any, Any]]]) -> None:
    # A missing side walks as an empty container of the others' kind, so each leaf of theirs
    # is listed; values of different kinds (an object here, a text there) are one leaf.
    present = [v for v in values.values() if v is not _MISSING and v is not None]
    kinds = {type(v) for v in present if isinstance(v, dict | list)}
    walk_in = (len(kinds) == 1 and len(present) == sum(isinstance(v, dict | list) for v in present)
               and (any(present) or len(present) == len(values)))
    if walk_in and dict in kinds:
        keys: dict[Any, None] = {}
        for v in present:
            keys.update(dict.fromkeys(v))
        for key in keys:
            _walk(paths.child(path, key), {lane: v.get(key, _MISSING) if isinstance(v, dict)
                                           else _MISSING for lane, v in values.items()}, out)
        return
    if walk_in:
        for i in range(max(len(v) for v in present)):
            _walk(paths.child(path, i), {lane: v[i] if isinstance(v, list) and i < len(v)
                                         else _MISSING for lane, v in values.items()}, out)
        return
    out.append((path or WHOLE, values))


def _leaf(path: str, a: Any, b: Any) -> FieldDiff:
    a_none, b_none = a is _MISSING or a is None, b is _MISSING or b is None
    shown_a, shown_b = _shown(a), _shown(b)
    if a_none and b_none:
        return FieldDiff(path, shown_a, shown_b, SAME)
    if b_none:
        return FieldDiff(path, shown_a, shown_b, ONLY_A)
    if a_none:
        return FieldDiff(path, shown_a, shown_b, ONLY_B)
    verdict = SAME if normalise(a) == normalise(b) else DIFFERENT
    return FieldDiff(path, shown_a, shown_b, verdict)


def _shown(value: Any) -> Any:
    return None if value is _MISSING else value


# --- several lanes (the Compare page) --------------------------------------------------------


@dataclass(frozen=True)
class LaneRow:
    """One field path across the lanes of a comparison.

    `values`: each lane's value (None when it has none); `present`: whether the lane's schema
    has the field at all; `agreement`: AGREE, DIFFER or ONE_SIDED (only one lane's schema has
    the field, or only one lane has a value); `correct`: with a reference, whether each lane's
    value matches it (None without a reference, where the reference lacks the path, or for a
    lane whose schema has no such field); `reference`: the reference's value here."""

    path: str
    values: dict[str, Any]
    present: dict[str, bool]
    agreement: str
    correct: dict[str, bool | None]
    reference: Any = None


def compare_lanes(
    values: Mapping[str, Any], *, reference: Any = None, has_reference: bool = False,
    fields: Mapping[str, Collection[str]] | None = None,
) -> list[LaneRow]:  # fmt: skip
    """One row per leaf path found in any lane (or the reference), in the order first seen
    (lane by lane, then the reference). `fields`: each lane's leaf placeholders
    (`engine.schemas.fields.leaves`); a path whose placeholder a lane lacks is not in that
    lane's schema. Values are compared after `normalise`, the same for every lane."""
    lanes = list(values)
    known = {lane: set(f) for lane, f in (fields or {}).items()}
    walked: dict[Any, Any] = dict(values)
    if has_reference:
        walked[_REFERENCE] = reference
    rows = []
    for path, leaf in _leaf_rows(walked):
        present = {lane: _has_field(known.get(lane), path) for lane in lanes}
        ref = leaf.get(_REFERENCE, _MISSING)
        rows.append(LaneRow(
            path, {lane: _shown(leaf[lane]) for lane in lanes}, present,
            _agreement([leaf[lane] for lane in lanes if present[lane]]),
            {lane: None if not has_reference or ref is _MISSING or not present[lane]
             else normalise(_shown(leaf[lane])) == normalise(ref) for lane in lanes},
            _shown(ref)))
    return rows


_REFERENCE = object()  # the reference's key among the walked values


def _has_field(known: set[str] | None, path: str) -> bool:
    return known is None or path == WHOLE or paths.leaf_key(path) in known


def _agreement(leaves: list[Any]) -> str:
    given = [normalise(v) for v in leaves if v is not _MISSING and v is not None]
    if len(leaves) <= 1 or (len(given) == 1 and len(leaves) > 1):
        return ONE_SIDED
    every = [normalise(_shown(v)) for v in leaves]
    return AGREE if all(v == every[0] for v in every) else DIFFER


def lane_scores(rows: list[LaneRow]) -> dict[str, dict[str, int]]:
    """Per lane: how many of its fields agree, differ or are one-sided, and (with a
    reference) how many are correct or wrong."""
    lanes = list(rows[0].values) if rows else []
    out = {lane: {AGREE: 0, DIFFER: 0, ONE_SIDED: 0, "correct": 0, "wrong": 0} for lane in lanes}
    for row in rows:
        for lane in lanes:
            if not row.present.get(lane):
                continue
            out[lane][row.agreement] += 1
            verdict = row.correct.get(lane)
            if verdict is not None:
                out[lane]["correct" if verdict else "wrong"] += 1
    return out


def summary(diffs: list[FieldDiff]) -> dict[str, int]:
    """How many paths got each verdict."""
    return {verdict: sum(1 for d in diffs if d.verdict == verdict) for verdict in VERDICTS}
