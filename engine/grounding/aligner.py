"""The aligner: an index of the input text built once per run, then one look-up per value.

First version: exact look-ups only (every occurrence). Normalised and fuzzy matching build on
the same `TextIndex.ground` signature.
"""

from __future__ import annotations

from typing import Any

from engine.grounding.model import EXACT, NOT_FOUND, Grounding, Span, groundable


class TextIndex:
    """The input text, indexed for grounding values (build once per run)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def ground(self, value: Any) -> Grounding | None:
        """Where `value` stands in the text; None for a value that is not looked for
        (see `groundable`)."""
        if not groundable(value):
            return None
        needle = value if isinstance(value, str) else str(value)
        spans = []
        at = self.text.find(needle)
        while at >= 0:
            spans.append(Span(at, at + len(needle)))
            at = self.text.find(needle, at + 1)
        return Grounding(EXACT, tuple(spans)) if spans else Grounding(NOT_FOUND)
