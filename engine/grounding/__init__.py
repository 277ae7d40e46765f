"""Grounding: where each extracted value stands in the input text.

    index = TextIndex(text)            # once per run
    g = index.ground("jason@gmail.com")  # when the field is done
    g.status, g.spans                  # "exact", (Span(118, 133),)

Statuses, best first: `exact`, `normalised` (case, whitespace, punctuation, `@handle`,
number and date spellings), `fuzzy` (close, by similarity), `not found` (the likely
invention). The stream layer never sees the input text; the run (`engine.runs`) holds the
index and grounds each value as its field completes.
"""

from engine.grounding.aligner import TextIndex
from engine.grounding.model import (
    EXACT,
    FUZZY,
    MAX_TEXT_CHARS,
    NORMALISED,
    NOT_FOUND,
    STATUSES,
    Grounding,
    Span,
    groundable,
)

__all__ = [
    "EXACT",
    "FUZZY",
    "MAX_TEXT_CHARS",
    "NORMALISED",
    "NOT_FOUND",
    "STATUSES",
    "Grounding",
    "Span",
    "TextIndex",
    "groundable",
]
