"""Comparing results field by field: the one walk by path that History's two-run diff and the
Compare page's N-way verdict (`engine.compare.verdict`) both take.

Every value is walked by path (`a.b[0].c`, built by `engine.stream.paths`, as the stream and
the field errors spell them): object members matched by name, list items by position. Leaves
are normalised before comparing: text ignores case, runs of whitespace and curly quotes
("O’Toole" is "O'Toole"), numbers ignore their
format ("18,500", "18500.0" and 18500 are equal), a text that is wholly a date in an unambiguous
common format is that date ("March 3, 2025", "3rd Mar. 2025", "Monday, 3 March 2025" and
"2025-03-03" are equal; "03/04/2025", day or month first, stays text), and a missing value
equals null.

`compare_results(a, b)` is History's comparison of two runs (one `FieldDiff` per path);
`walk` lists the paths, `normalise` a leaf's comparable form, for both.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from engine.stream import paths

SAME, DIFFERENT, ONLY_A, ONLY_B = "same", "different", "only in A", "only in B"
VERDICTS = (SAME, DIFFERENT, ONLY_A, ONLY_B)
WHOLE = "(whole answer)"  # the path shown for a value that is a bare leaf
MISSING = object()  # a side without a value at a path (unlike null, which is a value)

_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")

# Dates, matched on the case-folded text with single spaces. Month names in English only, the
# weekday (when written) must be the date's own. A regex, not strptime: %B depends on the
# locale, and one pattern is tried instead of a list of formats (normalise runs per leaf).
_MONTHS = {name: i for i, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}
_WEEKDAYS = {name: i for i, names in enumerate((
    ("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "wednesday"),
    ("thu", "thur", "thurs", "thursday"), ("fri", "friday"), ("sat", "saturday"),
    ("sun", "sunday"))) for name in names}
_MONTH = "(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<{}>\d{{1,2}})(?:st|nd|rd|th)?"
_DATE = re.compile(
    r"(?:(?P<weekday>" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\.?,? )?"
    r"(?:" + _DAY.format("d1") + r"(?: of)?[ -]" + _MONTH.format("m1") + r",?[ -]"
    r"|" + _MONTH.format("m2") + " " + _DAY.format("d2") + r",? )(?P<y>\d{4})"
    # year first (ISO and its kin): never ambiguous
    r"|(?P<iy>\d{4})(?P<sep>[-/.])(?P<im>\d{1,2})(?P=sep)(?P<id>\d{1,2})"
)


@dataclass(frozen=True)
class FieldDiff:
    path: str
    a: Any
    b: Any
    verdict: str

    @property
    def same(self) -> bool:
        return self.verdict == SAME


#: Typographic quotes as the straight ones a model (or a person) types.
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"',
                         "„": '"', "‟": '"'})


def normalise(value: Any) -> Any:
    """The comparable form of a leaf (see the module doc)."""
    if isinstance(value, bool):
        return ("bool", value)  # True must not equal 1
    if value is None:
        return None
    if isinstance(value, int | float):
        return _number(float(value))
    if isinstance(value, str):
        text = " ".join(value.split()).casefold().translate(_QUOTES)
        if _NUMBER.fullmatch(text):
            return _number(float(text.replace(",", "")))
        return _date(text) or text
    return value


def _date(text: str) -> str | None:
    """The ISO form of a text that is wholly a date (see the module doc), else None."""
    if len(text) > 40 or not text[-1:].isdigit():  # every form ends with a digit: most texts
        return None  # are turned away here, before the regex
    found = _DATE.fullmatch(text)
    if found is None:
        return None
    g = found.groupdict()
    try:
        if g["iy"]:
            date = dt.date(int(g["iy"]), int(g["im"]), int(g["id"]))
        else:
            date = dt.date(int(g["y"]), _MONTHS[g["m1"] or g["m2"]], int(g["d1"] or g["d2"]))
    except ValueError:  # 31 February: not a date
        return None
    if g["weekday"] and _WEEKDAYS[g["weekday"]] != date.weekday():
        return None  # "Friday, March 3, 2025" (a Monday): which part is wrong is not ours to say
    return date.isoformat()


def _number(value: float) -> Any:
    if math.isfinite(value) and value == int(value):
        return int(value)
    return value


def absent(value: Any) -> bool:
    """No value here: missing, or null."""
    return value is MISSING or value is None


def walk(path: str, values: list[Any], out: list[tuple[str, list[Any]]], split: bool) -> None:
    """Append (path, the values there) for every leaf path of any of `values`, in the order
    first seen (the first value's paths, then the next one's new ones...). A missing side is
    `MISSING`. Where containers meet a leaf (a group in one schema, plain text in another),
    `split` lists the leaf row and then each container's own paths; without it the place is
    one leaf row (History compares one schema's runs: a list is not its text)."""
    template = next((v for v in values if isinstance(v, dict | list) and v), None)
    if template is not None:  # a missing side walks as an empty container: the others' leaves
        empty = _kind(template)  # are listed one by one
        values = [empty() if absent(v) else v for v in values]
    kinds = list(dict.fromkeys(_kind(v) for v in values))
    if kinds == [dict]:
        keys = dict.fromkeys(k for v in values for k in v)
        for key in keys:
            walk(paths.child(path, key), [v.get(key, MISSING) for v in values], out, split)
    elif kinds == [list]:
        for i in range(max(len(v) for v in values)):
            walk(paths.child(path, i), [v[i] if i < len(v) else MISSING for v in values],
                  out, split)
    elif not split or kinds == [None]:
        out.append((path or WHOLE, values))
    else:
        for kind in kinds:
            if kind is None:
                out.append((path or WHOLE, [MISSING if _kind(v) else v for v in values]))
            else:  # the other lanes walk as empty containers of this kind
                walk(path, [v if _kind(v) is kind else kind() for v in values], out, split)


def _kind(value: Any) -> type | None:
    return dict if isinstance(value, dict) else list if isinstance(value, list) else None


def compare_results(a: Any, b: Any) -> list[FieldDiff]:
    """One row per leaf path found in either value, in the order first seen (A's, then B's)."""
    found: list[tuple[str, list[Any]]] = []
    walk("", [a, b], found, split=False)
    return [_leaf(path, a_at, b_at) for path, (a_at, b_at) in found]


def _leaf(path: str, a: Any, b: Any) -> FieldDiff:
    shown_a, shown_b = (None if a is MISSING else a), (None if b is MISSING else b)
    if absent(a) and absent(b):
        return FieldDiff(path, shown_a, shown_b, SAME)
    if absent(b):
        return FieldDiff(path, shown_a, shown_b, ONLY_A)
    if absent(a):
        return FieldDiff(path, shown_a, shown_b, ONLY_B)
    verdict = SAME if normalise(a) == normalise(b) else DIFFERENT
    return FieldDiff(path, shown_a, shown_b, verdict)


def summary(diffs: list[FieldDiff]) -> dict[str, int]:
    """How many paths got each verdict."""
    return {verdict: sum(1 for d in diffs if d.verdict == verdict) for verdict in VERDICTS}
