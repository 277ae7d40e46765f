"""What grounding says about one value: a status and the spans it was found at."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

EXACT, NORMALISED, FUZZY, NOT_FOUND = "exact", "normalised", "fuzzy", "not found"
#: Best first.
STATUSES = (EXACT, NORMALISED, FUZZY, NOT_FOUND)
#: Texts longer than this are not grounded (indexing 1 MB of prose takes about a second and
#: 20 MB; no model's context holds a text that long anyway).
MAX_TEXT_CHARS = 1_000_000


@dataclass(frozen=True, slots=True)
class Span:
    """Characters `start:end` of the input text (Python string indexes)."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Grounding:
    """Where one value stands: every occurrence found (text order), or none (`not found`).
    `score` is the fuzzy similarity (0-100) for `fuzzy`, else None."""

    status: str
    spans: tuple[Span, ...] = ()
    score: float | None = None

    @property
    def found(self) -> bool:
        return self.status != NOT_FOUND

    def shifted(self, by: int) -> Grounding:
        """The same grounding with every span moved `by` characters: a part's spans as
        offsets into the whole text the part was cut from (#19)."""
        if not by or not self.spans:
            return self
        spans = tuple(Span(s.start + by, s.end + by) for s in self.spans)
        return Grounding(self.status, spans, self.score)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status,
                               "spans": [[s.start, s.end] for s in self.spans]}
        if self.score is not None:
            out["score"] = round(self.score, 1)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Grounding:
        spans = tuple(Span(int(a), int(b)) for a, b in data.get("spans") or ())
        return cls(str(data["status"]), spans, data.get("score"))


def groundable(value: Any) -> bool:
    """Values worth looking for: non-empty text, numbers, dates (not booleans, nulls,
    containers: a container's leaves are grounded one by one)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int | float | dt.date | dt.time)
