"""Self-consistency (#22): several answers to one document, each field's value the one most
answers agree on, and the agreement as that field's confidence.

    voted = vote([a1, a2, a3])        # answers as dicts (a result's `model_dump(mode="json")`)
    voted.answer["date"], voted.agreement["date"]     # "2025-04-12", 0.67 (two of three)

Values are compared as History compares them (`engine.history.diff.normalise` on every leaf:
case, spacing, number and date formats), a top-level field as a whole (a list of people agrees
when every person does). A tie goes to the earliest answer among the tied values, so with the
greedy (temperature 0) answer first a tie keeps it. A field missing from an answer counts as
null there.

Measured against the single greedy answer in `bench/self_consistency_bench.py`; off in the
product (the figures in docs/decisions/default-model.md say why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.history.diff import normalise

__all__ = ["Voted", "vote"]


@dataclass(frozen=True)
class Voted:
    answer: dict[str, Any]  # each field's most agreed value (as the first answer wrote it)
    agreement: dict[str, float]  # field -> share of the answers that gave that value (0-1]
    answers: int


def vote(answers: Sequence[Mapping[str, Any] | None]) -> Voted:
    """The field-by-field majority of `answers` (None: an answer that failed, agreeing with
    nothing but counted in the shares)."""
    given = [a for a in answers if a is not None]
    keys = list(dict.fromkeys(k for a in given for k in a))
    answer: dict[str, Any] = {}
    agreement: dict[str, float] = {}
    for key in keys:
        counts: dict[str, list[Any]] = {}  # canonical form -> the values, in answer order
        for a in given:
            counts.setdefault(_canonical(a.get(key)), []).append(a.get(key))
        best = max(counts.values(), key=len)  # max keeps the first of the tied: the earliest
        answer[key] = best[0]
        agreement[key] = len(best) / len(answers)
    return Voted(answer, agreement, len(answers))


def _canonical(value: Any) -> str:
    """A hashable form in which values History calls equal are equal."""
    return json.dumps(_normalised(value), sort_keys=True, ensure_ascii=False, default=str)


def _normalised(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _normalised(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return normalise(value)
