"""Comparing results field by field: the one walk the History and Compare pages use.

Every value is walked by path (`a.b[0].c`, built by `engine.stream.paths`, as the stream and
the field errors spell them): object members matched by name, list items by position. Leaves
are normalised before comparing: text ignores case and runs of whitespace, numbers ignore their
format ("18,500", "18500.0" and 18500 are equal), and a missing value equals null.

`compare_results(a, b)` is History's two-run comparison (one `FieldDiff` per path);
`compare_lanes(values)` is the Compare page's N-way verdict (one `LaneRow` per path, with each
lane's value, whether the field is in the lane's schema, agreement and, given a reference,
correctness). Both take their paths from the same `_walk`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from engine.stream import paths

SAME, DIFFERENT, ONLY_A, ONLY_B = "same", "different", "only in A", "only in B"
VERDICTS = (SAME, DIFFERENT, ONLY_A, ONLY_B)

AGREE, DIFFER, ONE_SIDED = "agree", "differ", "one-sided"
AGREEMENTS = (AGREE, DIFFER, ONE_SIDED)
WHOLE = "(whole answer)"  # the path shown for a value that is a bare leaf

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


@dataclass(frozen=True)
class LaneRow:
    """One path across lanes. `values`: lane -> value as it came (None when missing);
    `present`: lane -> the field is in the lane's schema; `correct`: lane -> its value matches
    the reference (None without a reference, when the reference lacks the path, or when the
    lane's schema lacks the field); `reference`: the reference's value here (None without)."""

    path: str
    values: dict[str, Any]
    present: dict[str, bool]
    agreement: str
    correct: dict[str, bool | None]
    reference: Any = None


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


def _absent(value: Any) -> bool:
    return value is _MISSING or value is None


def _walk(path: str, values: list[Any], out: list[tuple[str, list[Any]]], split: bool) -> None:
    """Append (path, the values there) for every leaf path of any of `values`, in the order
    first seen (the first value's paths, then the next one's new ones...). A missing side is
    `_MISSING`. Where containers meet a leaf (a group in one schema, plain text in another),
    `split` lists the leaf row and then each container's own paths; without it the place is
    one leaf row (History compares one schema's runs: a list is not its text)."""
    template = next((v for v in values if isinstance(v, dict | list) and v), None)
    if template is not None:  # a missing side walks as an empty container: the others' leaves
        empty = _kind(template)  # are listed one by one
        values = [empty() if _absent(v) else v for v in values]
    kinds = list(dict.fromkeys(_kind(v) for v in values))
    if kinds == [dict]:
        keys = dict.fromkeys(k for v in values for k in v)
        for key in keys:
            _walk(paths.child(path, key), [v.get(key, _MISSING) for v in values], out, split)
    elif kinds == [list]:
        for i in range(max(len(v) for v in values)):
            _walk(paths.child(path, i), [v[i] if i < len(v) else _MISSING for v in values],
                  out, split)
    elif not split or kinds == [None]:
        out.append((path or WHOLE, values))
    else:
        for kind in kinds:
            if kind is None:
                out.append((path or WHOLE, [_MISSING if _kind(v) else v for v in values]))
            else:  # the other lanes walk as empty containers of this kind
                _walk(path, [v if _kind(v) is kind else kind() for v in values], out, split)


def _kind(value: Any) -> type | None:
    return dict if isinstance(value, dict) else list if isinstance(value, list) else None


def compare_results(a: Any, b: Any) -> list[FieldDiff]:
    """One row per leaf path found in either value, in the order first seen (A's, then B's)."""
    found: list[tuple[str, list[Any]]] = []
    _walk("", [a, b], found, split=False)
    return [_leaf(path, a_at, b_at) for path, (a_at, b_at) in found]


def _leaf(path: str, a: Any, b: Any) -> FieldDiff:
    shown_a, shown_b = (None if a is _MISSING else a), (None if b is _MISSING else b)
    if _absent(a) and _absent(b):
        return FieldDiff(path, shown_a, shown_b, SAME)
    if _absent(b):
        return FieldDiff(path, shown_a, shown_b, ONLY_A)
    if _absent(a):
        return FieldDiff(path, shown_a, shown_b, ONLY_B)
    verdict = SAME if normalise(a) == normalise(b) else DIFFERENT
    return FieldDiff(path, shown_a, shown_b, verdict)


def summary(diffs: list[FieldDiff]) -> dict[str, int]:
    """How many paths got each verdict."""
    return {verdict: sum(1 for d in diffs if d.verdict == verdict) for verdict in VERDICTS}


def compare_lanes(
    values: Mapping[str, Any], *, reference: Any = None, has_reference: bool = False,
    fields: Mapping[str, Collection[str]] | None = None,
) -> list[LaneRow]:  # fmt: skip
    """One row per leaf path found in any lane (or the reference), first seen across lanes in
    lane order, the reference's own paths last.

    `fields` gives, per lane, its schema's leaf paths (`engine.schemas.fields.leaves`); a row
    whose placeholder (`paths.leaf_key`) is not under one of them, nor a group above one, is
    not in that lane's schema (`present` False). A lane missing from `fields` has every field.
    Agreement is over the lanes that have the field: one-sided when only one of them has it or
    only one has a value, agree when all their normalised values are equal (null included),
    differ otherwise. `has_reference` says `reference` is an expected answer (it may be null).
    """
    lanes = list(values)
    walked = [values[lane] for lane in lanes] + ([reference] if has_reference else [])
    found: list[tuple[str, list[Any]]] = []
    _walk("", walked, found, split=True)
    schemas = {lane: _field_segments(fields[lane]) for lane in lanes
               if fields is not None and lane in fields}
    rows = []
    for path, at in found:
        present = {lane: lane not in schemas or _in_schema(path, schemas[lane])
                   for lane in lanes}
        rows.append(_lane_row(path, dict(zip(lanes, at, strict=False)), present,
                              at[-1] if has_reference else None, has_reference))
    return rows


def _field_segments(leaf_paths: Collection[str]) -> set[tuple[paths.Segment, ...]]:
    return {paths.parse(p) for p in leaf_paths}


def _in_schema(path: str, schema: set[tuple[paths.Segment, ...]]) -> bool:
    """Is the row's placeholder a field of the schema, a value inside one (a dict field's
    keys), or a group above one (a group that came as null)?"""
    if path == WHOLE:
        return True
    key = paths.parse(paths.leaf_key(path))
    if not key:
        return True  # the items of a list answer: every lane's schema has them
    return any(key[:len(f)] == f or f[:len(key)] == key for f in schema)


def _lane_row(path: str, at: dict[str, Any], present: dict[str, bool], ref: Any,
              has_reference: bool) -> LaneRow:
    shown = {lane: None if v is _MISSING else v for lane, v in at.items()}
    having = [lane for lane, on in present.items() if on]
    with_value = [lane for lane in having if not _absent(at[lane])]
    if len(at) > 1 and (len(having) <= 1 or len(with_value) == 1):
        agreement = ONE_SIDED
    elif len({_key(at[lane]) for lane in having}) <= 1:
        agreement = AGREE
    else:
        agreement = DIFFER
    judged = has_reference and ref is not _MISSING
    correct = {lane: (_key(at[lane]) == _key(ref) if judged and present[lane] else None)
               for lane in at}
    return LaneRow(path, shown, present, agreement, correct,
                   None if ref is _MISSING else ref)


def _key(value: Any) -> Any:
    """A hashable comparable form (missing equals null; a container by its JSON text)."""
    if _absent(value):
        return None
    found = normalise(value)
    if isinstance(found, dict | list):
        return ("json", json.dumps(found, sort_keys=True, default=str))
    return found


def lane_scores(rows: list[LaneRow]) -> dict[str, dict[str, int]]:
    """Per lane: how many of its schema's rows agree / differ / are one-sided, and with a
    reference how many of its values are correct and wrong."""
    lanes = list(rows[0].values) if rows else []
    scores = {lane: {AGREE: 0, DIFFER: 0, ONE_SIDED: 0, "correct": 0, "wrong": 0}
              for lane in lanes}
    for row in rows:
        for lane in lanes:
            if row.present.get(lane):
                scores[lane][row.agreement] += 1
            verdict = row.correct.get(lane)
            if verdict is not None:
                scores[lane]["correct" if verdict else "wrong"] += 1
    return scores
