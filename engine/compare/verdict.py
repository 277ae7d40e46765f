"""The Compare page's verdict: one row per path across N lanes (`compare_lanes`), each lane's
scores (`lane_scores`), and the reference it is judged against.

The paths come from History's walk (`engine.history.diff.walk`, leaves normalised the same way):
a row holds each lane's value, whether the field is in the lane's schema, the lanes'
agreement and, given a reference, each lane's correctness. `live_verdict` judges lanes that
just ended (their `RunEnd`s); `engine.compare.comparisons.comparison_verdict` a stored
comparison. Every problem with a reference is a `ValueError` whose message can be shown as it is.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from engine.compare.lanes import lane_values
from engine.history.diff import MISSING, WHOLE, absent, normalise, walk
from engine.history.queries import get_run
from engine.runs.hooks import RunEnd
from engine.schemas.fields import leaves
from engine.store import Store
from engine.stream import document, paths
from engine.stream.types import is_model

AGREE, DIFFER, ONE_SIDED = "agree", "differ", "one-sided"
AGREEMENTS = (AGREE, DIFFER, ONE_SIDED)


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


def compare_lanes(
    values: Mapping[str, Any], *, reference: Any = None, has_reference: bool = False,
    fields: Mapping[str, Collection[str]] | None = None,
) -> list[LaneRow]:  # fmt: skip
    """One row per leaf path found in any lane (or the reference), first seen across lanes in
    lane order, the reference's own paths last.

    `fields` gives, per lane, its schema's leaf paths (`lane_fields`); a row
    whose placeholder (`paths.leaf_key`) is not under one of them, nor a group above one, is
    not in that lane's schema (`present` False). A lane missing from `fields` has every field.
    Agreement is over the lanes that have the field: one-sided when only one of them has it or
    only one has a value, agree when all their normalised values are equal (null included),
    differ otherwise. `has_reference` says `reference` is an expected answer (it may be null).
    """
    lanes = list(values)
    walked = [values[lane] for lane in lanes] + ([reference] if has_reference else [])
    found: list[tuple[str, list[Any]]] = []
    walk("", walked, found, split=True)
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
    shown = {lane: None if v is MISSING else v for lane, v in at.items()}
    having = [lane for lane, on in present.items() if on]
    with_value = [lane for lane in having if not absent(at[lane])]
    if len(at) > 1 and (len(having) <= 1 or len(with_value) == 1):
        agreement = ONE_SIDED
    elif len({_key(at[lane]) for lane in having}) <= 1:
        agreement = AGREE
    else:
        agreement = DIFFER
    judged = has_reference and ref is not MISSING
    correct = {lane: (_key(at[lane]) == _key(ref) if judged and present[lane] else None)
               for lane in at}
    return LaneRow(path, shown, present, agreement, correct,
                   None if ref is MISSING else ref)


def _key(value: Any) -> Any:
    """A hashable comparable form (missing equals null; a container by its JSON text)."""
    if absent(value):
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


def lane_fields(schemas: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each lane's leaf placeholders (what `compare_lanes` calls `fields`); a lane whose
    schema is unknown (None) or not a model is left out: it counts as having every field."""
    return {lane: [node.path for node in leaves(schema)] for lane, schema in schemas.items()
            if schema is not None and is_model(schema)}


# -- what a lane is judged against -----------------------------------------------------------


def parse_reference(text: str) -> Any:
    """The expected answer typed as JSON (None when the text is blank)."""
    if not text.strip():
        return None
    try:
        return document.load(text)
    except document.JSONDocumentError as exc:
        raise ValueError(f"The reference is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}.") from None


def reference_of_run(store: Store, run_id: str) -> Any:
    """The result (or, for a run that did not finish, the partial) of a History run."""
    wanted = run_id.strip()
    run = get_run(store, wanted) if wanted else None
    if run is None:
        raise ValueError(f"No run {wanted!r} in the History: copy its id from the History page.")
    return run.result


def live_verdict(ends: Mapping[str, RunEnd], schemas: Mapping[str, Any], *,
                 reference: Any = None, has_reference: bool = False) -> list[Any]:
    """The verdict rows of lanes that just ended."""
    return compare_lanes(lane_values(ends), reference=reference, has_reference=has_reference,
                         fields=lane_fields(schemas))
