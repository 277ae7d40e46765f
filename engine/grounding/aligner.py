"""The aligner: an index of the input text built once per run, then one look-up per value.

A look-up tries, best first, and stops at the first that finds anything:
exact (the value as written, `ExactIndex`), normalised (the same canonical tokens,
`TokenIndex`; what counts as the same is decided in `normalise`; or a value joined from
nearby parts of the text, each part found exact or normalised), fuzzy (similar enough, for
text values only, `fuzzy`), else not found. Spans are Python string indexes into the original
text (code points, so an emoji or other astral character counts 1), always covering the whole
matched stretch; at most `limit` of them (50 by default), in text order, for the status found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from engine.grounding.exact import ExactIndex
from engine.grounding.fuzzy import THRESHOLD, fuzzy_find
from engine.grounding.model import (
    EXACT,
    FUZZY,
    NORMALISED,
    NOT_FOUND,
    Grounding,
    Span,
    groundable,
)
from engine.grounding.normalise import exact_text, fuzzy_allowed, stands_alone, value_forms
from engine.grounding.sequence import TokenIndex

#: Spans kept per value (the first ones in text order).
LIMIT = 50
#: A joined value's parts (split at commas and semicolons) may stand this many characters
#: apart ("located at" between a venue and its street).
PART_GAP = 24
_PARTS = re.compile(r"[,;]")


class TextIndex:
    """The input text, indexed for grounding values (build once per run)."""

    def __init__(self, text: str, *, threshold: float = THRESHOLD, limit: int = LIMIT) -> None:
        if not isinstance(text, str):
            raise TypeError(f"TextIndex needs the input text as a str, not {type(text).__name__}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1 span, not {limit}")
        self.text = text
        self.threshold = threshold
        self.limit = limit
        self._exact = ExactIndex(text)
        self._tokens = TokenIndex(text)

    def ground(self, value: Any) -> Grounding | None:
        """Where `value` stands in the text; None for a value that is not looked for
        (see `groundable`)."""
        if not groundable(value):
            return None
        spans = self._exact_spans(value)
        if spans:
            return Grounding(EXACT, tuple(spans))
        groups = value_forms(value)
        for group in groups:
            spans = _union(s for form in group for s in self._tokens.find(form, self.limit))
            if spans:
                return Grounding(NORMALISED, tuple(spans[: self.limit]))
        spans = self._parts_spans(value) if isinstance(value, str) else []
        if spans:
            return Grounding(NORMALISED, tuple(spans))
        if fuzzy_allowed(value, groups):
            found = fuzzy_find(self._tokens, groups[0][0], self.threshold, self.limit)
            if found is not None:
                return Grounding(FUZZY, tuple(found[1]), found[0])
        return Grounding(NOT_FOUND)

    def _exact_spans(self, value: Any) -> list[Span]:
        needle = exact_text(value)
        if isinstance(value, str):
            return self._exact.find(needle, self.limit)
        # A number may stand inside a longer one (5 in 15): look further, keep those alone.
        spans = self._exact.find(needle, self.limit * 4)
        return [s for s in spans if stands_alone(self.text, s.start, s.end)][: self.limit]

    def _parts_spans(self, value: str) -> list[Span]:
        """A value the model joined from nearby pieces of the text ("Grand Tech Arena, 4521
        Innovation Drive" for "Grand Tech Arena located at 4521 Innovation Drive"): each part
        between commas or semicolons (three words or more in all) found, in order, each within
        `PART_GAP` characters of
        the one before; the first such run of spans, else none."""
        parts = [p.strip() for p in _PARTS.split(value)]
        if len(parts) < 2 or any(len(p) < 2 for p in parts) or len(value.split()) < 3:
            return []  # two single words ("Liu, Jason") are a name turned round, not parts
        found = []
        for part in parts:
            grounding = self.ground(part)
            if grounding is None or grounding.status not in (EXACT, NORMALISED):
                return []
            found.append(grounding.spans)
        for first in found[0]:
            run = [first]
            for spans in found[1:]:
                after = [s for s in spans if 0 <= s.start - run[-1].end <= PART_GAP]
                if not after:
                    break
                run.append(after[0])
            else:
                return run
        return []

    def ground_many(self, values: Iterable[Any]) -> list[Grounding | None]:
        """`ground` for each value, in order."""
        return [self.ground(value) for value in values]


def _union(spans: Iterable[Span]) -> list[Span]:
    """Spans in text order, overlapping ones (two spellings of one date) as one."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if out and span.start < out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, span.end))
        else:
            out.append(span)
    return out
