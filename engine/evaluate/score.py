"""Scoring an answer against its gold answer, field by field (#21).

`score(answer, gold)` walks both values together and returns one `Cell` per leaf place: its
field key (the path with every list index written `[]`, so `users[0].email` and
`users[3].email` both count toward `users[].email`) and its true positives, false positives and
false negatives. The rules:

- a leaf is right (TP) when the two values are equal after `engine.history.diff.normalise`,
  the normalisation History's diff uses (case, runs of whitespace, number and date formats),
  or, for text with `fuzzy` set, when rapidfuzz's `ratio` of the normalised texts / 100 ≥ `fuzzy`;
- a value where the gold is empty (null, missing, blank text, `[]`, `{}`) is a FP; no value
  where the gold has one is a FN; a wrong value is both a FP and a FN (it is a value the gold
  does not hold *and* the gold's value is not found), as in the multiset-of-pairs definition;
  empty on both sides counts nothing (no cell);
- objects are matched member by member, recursively;
- a list whose items are all scalars is a multiset: TP is the size of the intersection of the
  normalised items (with `fuzzy`, leftovers are then paired by similarity), one cell for the
  list (`tags[]`);
- any other list (objects, lists) pairs its items by an optimal assignment
  (`scipy.optimize.linear_sum_assignment`, maximising) on the items' similarity: the mean
  over their leaves of 1 for a right leaf and 0 for a wrong or one-sided one, i.e.
  ΣTP / Σ(TP + max(FP, FN)) over the pair's cells (1.0 for two items with no values). Pairs
  under `PAIR_THRESHOLD` (0.5) are unpaired: every leaf of an unpaired gold item is a FN,
  of an unpaired answer item a FP.

With `normalised=False` leaves are equal only when of the same type and `==` (so 1 ≠ 1.0 and
"A" ≠ "a"): the scorer is then the plain multiset definition (see the tests).

Precision, recall and F1 with nothing to divide by: precision is 1.0 when nothing was
answered, recall 1.0 when the gold holds nothing, F1 = 2TP / (2TP + FP + FN) is 1.0 when all
three are 0 (the harmonic mean of those precision and recall otherwise, so the two agree).
`Tally` adds documents as they end (an evaluation scores live); `score_many` scores a list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from rapidfuzz.distance import Indel
from scipy.optimize import linear_sum_assignment

from engine.history.diff import MISSING, WHOLE, normalise
from engine.stream import paths

__all__ = ["PAIR_THRESHOLD", "Cell", "FieldScore", "Tally", "Totals", "score", "score_many"]

PAIR_THRESHOLD = 0.5  # list items less alike than this are not the same item
_CACHE_LIMIT = 100_000  # leaves' comparable forms and paths kept by one scorer, then forgotten
ITEM = "[]"  # a list's items in a field key


class Cell(NamedTuple):
    """One leaf place (or one list of scalars) of one document, scored."""

    field: str  # the path with list indices as `[]`; `(whole answer)` for a bare leaf
    tp: int
    fp: int
    fn: int
    gold: Any = None  # the values compared, None when missing (for a drill-down)
    answer: Any = None


@dataclass(frozen=True, slots=True)
class FieldScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        said = self.tp + self.fp
        return self.tp / said if said else 1.0  # nothing answered: nothing wrongly answered

    @property
    def recall(self) -> float:
        wanted = self.tp + self.fn
        return self.tp / wanted if wanted else 1.0  # nothing to find: nothing missed

    @property
    def f1(self) -> float:
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else 1.0

    def __add__(self, other: FieldScore) -> FieldScore:
        return FieldScore(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


@dataclass(frozen=True, slots=True)
class Totals:
    """One lane's figures over its documents."""

    micro: FieldScore  # every field's counts summed
    macro_f1: float  # the mean of the fields' F1 (1.0 with no field)
    documents: int
    exact: int  # documents with every field right (no FP, no FN)

    @property
    def micro_f1(self) -> float:
        return self.micro.f1

    @property
    def exact_rate(self) -> float:
        return self.exact / self.documents if self.documents else 0.0


class Tally:
    """Counts by field, added to document by document."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self.documents = 0
        self.exact = 0

    def add(self, cells: Iterable[Cell]) -> None:
        right = True
        for cell in cells:
            counts = self._counts.setdefault(cell.field, [0, 0, 0])
            counts[0] += cell.tp
            counts[1] += cell.fp
            counts[2] += cell.fn
            right = right and not (cell.fp or cell.fn)
        self.documents += 1
        self.exact += right

    def by_field(self) -> dict[str, FieldScore]:
        return {field: FieldScore(*c) for field, c in self._counts.items()}

    def totals(self) -> Totals:
        fields = self.by_field().values()
        micro = sum(fields, FieldScore())
        macro = sum(f.f1 for f in fields) / len(fields) if fields else 1.0
        return Totals(micro, macro, self.documents, self.exact)


def score(answer: Any, gold: Any, *, fuzzy: float | None = None,
          normalised: bool = True) -> list[Cell]:
    """One document's cells (see the module doc). `fuzzy`: a similarity in [0, 1] above which
    two texts count as equal, None for no fuzzy matching."""
    return _Scorer(fuzzy, normalised).score(answer, gold)


def score_many(pairs: Iterable[tuple[Any, Any]], *, fuzzy: float | None = None,
               normalised: bool = True) -> Tally:
    """(answer, gold) pairs scored and added up: `.by_field()`, `.totals()`."""
    tally, scorer = Tally(), _Scorer(fuzzy, normalised)
    for answer, gold in pairs:
        tally.add(scorer.score(answer, gold))
    return tally


def _empty(value: Any) -> bool:
    if value is None or value is MISSING:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, dict | list) and not value


def _similarity(cells: list[Cell]) -> float:
    """The mean over the cells' leaves of 1 (right) or 0 (wrong or one-sided)."""
    right = sum(c.tp for c in cells)
    places = right + sum(max(c.fp, c.fn) for c in cells)
    return right / places if places else 1.0


class _Scorer:
    """One walk's rules, and what it has worked out: pairing list items compares the same
    leaves many times, so each leaf's comparable form and each child path is made once."""

    __slots__ = ("_keys", "_paths", "fuzzy", "normalised")

    def __init__(self, fuzzy: float | None, normalised: bool) -> None:
        if fuzzy is not None and not 0.0 <= fuzzy <= 1.0:
            raise ValueError(f"fuzzy must be between 0 and 1, not {fuzzy!r}")
        self.fuzzy = fuzzy
        self.normalised = normalised
        self._keys: dict[tuple[type, Any], Any] = {}
        self._paths: dict[tuple[str, str], str] = {}

    def score(self, answer: Any, gold: Any) -> list[Cell]:
        if len(self._keys) + len(self._paths) > _CACHE_LIMIT:
            self._keys.clear()
            self._paths.clear()
        out: list[Cell] = []
        self.walk("", gold, answer, out)
        return out

    def key(self, value: Any) -> Any:
        exact = (type(value), value)  # by type too: 1, 1.0 and True are one dict key
        if not self.normalised:
            return exact
        try:
            return self._keys[exact]
        except KeyError:
            self._keys[exact] = found = normalise(value)
            return found

    def walk(self, field: str, gold: Any, answer: Any, out: list[Cell]) -> None:
        g_box, a_box = isinstance(gold, dict | list), isinstance(answer, dict | list)
        if not (g_box or a_box):  # two leaves: most calls, so first and short
            g_empty = gold is None or gold is MISSING or (isinstance(gold, str)
                                                          and not gold.strip())
            a_empty = answer is None or answer is MISSING or (isinstance(answer, str)
                                                              and not answer.strip())
            if not (g_empty and a_empty):
                self._leaf(field or WHOLE, gold, answer, g_empty, a_empty, out)
            return
        g_empty, a_empty = _empty(gold), _empty(answer)
        if g_empty and a_empty:
            return
        for kind in (dict, list):
            g_kind, a_kind = isinstance(gold, kind), isinstance(answer, kind)
            if (g_kind or a_kind) and (g_kind or g_empty) and (a_kind or a_empty):
                g, a = (gold if g_kind else kind()), (answer if a_kind else kind())
                if kind is dict:
                    self._object(field, g, a, out)
                else:
                    self._list(field, g, a, out)
                return
        # a container against a leaf: neither side is the other's value
        self.walk(field, gold, MISSING, out)
        self.walk(field, MISSING, answer, out)

    def _leaf(self, field: str, gold: Any, answer: Any, g_empty: bool, a_empty: bool,
              out: list[Cell]) -> None:
        if g_empty:
            out.append(Cell(field, 0, 1, 0, None, answer))
        elif a_empty:
            out.append(Cell(field, 0, 0, 1, gold, None))
        elif self._same(gold, answer):
            out.append(Cell(field, 1, 0, 0, gold, answer))
        else:
            out.append(Cell(field, 0, 1, 1, gold, answer))

    def _same(self, gold: Any, answer: Any) -> bool:
        g, a = self.key(gold), self.key(answer)
        if g == a:
            return True
        return self.fuzzy is not None and self._text_similarity(g, a) >= self.fuzzy

    def _text_similarity(self, g: Any, a: Any) -> float:
        if not self.normalised:
            g, a = g[1], a[1]
        if isinstance(g, str) and isinstance(a, str):  # text only: numbers are never "close"
            return Indel.normalized_similarity(g, a)
        return 0.0

    def _object(self, field: str, gold: dict, answer: dict, out: list[Cell]) -> None:
        for key in dict.fromkeys([*gold, *answer]):
            self.walk(self._child(field, key), gold.get(key, MISSING),
                      answer.get(key, MISSING), out)

    def _child(self, field: str, key: str) -> str:
        try:
            return self._paths[field, key]
        except KeyError:
            self._paths[field, key] = found = paths.child(field, key)
            return found

    def _list(self, field: str, gold: list, answer: list, out: list[Cell]) -> None:
        items = field + ITEM
        gold = [g for g in gold if not _empty(g)]
        answer = [a for a in answer if not _empty(a)]
        if not any(isinstance(v, dict | list) for v in (*gold, *answer)):
            self._multiset(items, gold, answer, out)
            return
        cells = [[self._pair(items, g, a) for a in answer] for g in gold]
        paired_g: set[int] = set()
        paired_a: set[int] = set()
        if gold and answer:
            alike = np.array([[_similarity(c) for c in row] for row in cells])
            for i, j in zip(*linear_sum_assignment(alike, maximize=True), strict=True):
                if alike[i, j] >= PAIR_THRESHOLD:
                    out.extend(cells[i][j])
                    paired_g.add(i)
                    paired_a.add(j)
        for i, g in enumerate(gold):
            if i not in paired_g:
                self.walk(items, g, MISSING, out)
        for j, a in enumerate(answer):
            if j not in paired_a:
                self.walk(items, MISSING, a, out)

    def _pair(self, field: str, gold: Any, answer: Any) -> list[Cell]:
        cells: list[Cell] = []
        self.walk(field, gold, answer, cells)
        return cells

    def _multiset(self, field: str, gold: list, answer: list, out: list[Cell]) -> None:
        g_keys = Counter(self.key(g) for g in gold)
        a_keys = Counter(self.key(a) for a in answer)
        tp = sum((g_keys & a_keys).values())
        if self.fuzzy is not None:
            tp += self._fuzzy_pairs(list((g_keys - a_keys).elements()),
                                    list((a_keys - g_keys).elements()))
        out.append(Cell(field, tp, len(answer) - tp, len(gold) - tp, gold, answer))

    def _fuzzy_pairs(self, gold: list[Any], answer: list[Any]) -> int:
        """How many of the leftover items pair up as fuzzy matches (an optimal assignment)."""
        if not gold or not answer:
            return 0
        alike = np.array([[self._text_similarity(g, a) for a in answer] for g in gold])
        rows, cols = linear_sum_assignment(alike, maximize=True)
        return int((alike[rows, cols] >= self.fuzzy).sum())
