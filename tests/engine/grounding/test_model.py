"""A grounding moved into a longer text (engine/grounding/model.py, `Grounding.shifted`)."""

from __future__ import annotations

from engine.grounding import FUZZY, NOT_FOUND, Grounding, Span


def test_a_grounding_shifts_every_span_and_keeps_the_rest() -> None:
    g = Grounding(FUZZY, (Span(0, 4), Span(10, 12)), 91.0)
    assert g.shifted(100) == Grounding(FUZZY, (Span(100, 104), Span(110, 112)), 91.0)
    assert g.shifted(0) is g
    assert g == Grounding(FUZZY, (Span(0, 4), Span(10, 12)), 91.0)  # frozen: a new one


def test_not_found_has_nothing_to_shift() -> None:
    assert Grounding(NOT_FOUND).shifted(50) == Grounding(NOT_FOUND)
