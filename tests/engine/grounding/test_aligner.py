"""The aligner (engine/grounding): every status, unicode, repeated values, values split across
lines, numbers and dates written differently, spans that slice the original text exactly."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.grounding import (
    EXACT,
    FUZZY,
    NORMALISED,
    NOT_FOUND,
    Grounding,
    Span,
    TextIndex,
)

NOTE = (
    "Kick-off with Jason  Liu\n(jason.liu@acme.com, @jliu) and José O'Brien.\n"
    "Date: Friday, March 15th, 2024 at 2:30 pm. Budget: $18,500.00 (about 18.5k).\n"
    "Jason Liu will book the room; Jason Liu pays.\n"
)


def matched(text: str, g: Grounding | None) -> list[str]:
    assert g is not None
    return [text[s.start : s.end] for s in g.spans]


def ground(value: object, text: str = NOTE) -> Grounding | None:
    return TextIndex(text).ground(value)


# --- statuses ---------------------------------------------------------------------------


def test_exact_finds_every_occurrence_in_text_order() -> None:
    g = ground("Jason Liu")
    assert g is not None and g.status == EXACT and g.score is None
    assert matched(NOTE, g) == ["Jason Liu", "Jason Liu"]
    assert [s.start for s in g.spans] == sorted(s.start for s in g.spans)


def test_exact_inside_a_word_and_around_punctuation() -> None:
    assert matched(NOTE, ground("son")) == ["son", "son", "son", "son"]
    at = NOTE.index("@jliu")
    assert ground("@jliu") == Grounding(EXACT, (Span(at, at + 5),))
    assert matched(NOTE, ground("liu@acme.c")) == ["liu@acme.c"]
    assert matched(NOTE, ground("$18,500.00")) == ["$18,500.00"]


def test_normalised_case_whitespace_and_line_breaks() -> None:
    g = ground("JASON LIU")
    assert g is not None and g.status == NORMALISED
    # The double space and the line-split email count, each as its whole original stretch.
    assert matched(NOTE, g) == ["Jason  Liu", "jason.liu", "Jason Liu", "Jason Liu"]
    split = "Call Maria\n   Gonzalez tomorrow."
    assert matched(split, ground("Maria Gonzalez", split)) == ["Maria\n   Gonzalez"]


def test_normalised_handles_apostrophes_and_accents() -> None:
    for value in ("jliu", "Jose OBrien", "jose o'brien", "JOSÉ O’BRIEN"):
        g = ground(value)
        assert g is not None and g.status in (EXACT, NORMALISED), value
    assert matched(NOTE, ground("Jose OBrien")) == ["José O'Brien"]


def test_word_order_matters() -> None:
    text = "Jason Liu and Jason  Liu."
    assert ground("Liu, Jason", text) == Grounding(NOT_FOUND)


def test_fuzzy_gets_the_similarity_and_the_stretch() -> None:
    g = ground("Jasn Liu")
    assert g is not None and g.status == FUZZY
    assert g.score is not None and 85 <= g.score < 100
    assert "Jason  Liu" in matched(NOTE, g)


def test_fuzzy_without_any_word_of_the_value_in_the_text() -> None:
    text = "The contract was signed by Bartholomew on Monday."
    g = ground("Bartholomeu", text)
    assert g is not None and g.status == FUZZY
    assert matched(text, g) == ["Bartholomew"]


def test_fuzzy_finds_the_right_place_among_many_of_a_common_word() -> None:
    text = "Sofia Murphy called. " * 300 + "Later Sofia Schneider signed."
    g = ground("Sofia Schneixer", text)
    assert g is not None and g.status == FUZZY
    assert matched(text, g) == ["Sofia Schneider"]


def test_not_found_the_likely_invention() -> None:
    for value in ("jason.liu@gmail.com", "Priya Raman", "Zanzibar"):
        assert ground(value) == Grounding(NOT_FOUND), value


def test_short_values_numbers_and_dates_never_fuzzy() -> None:
    assert ground("Jsn", "Jason was here") == Grounding(NOT_FOUND)
    assert ground(18600) == Grounding(NOT_FOUND)  # a digit off is another amount
    assert ground("555-1299", "call 555-1234") == Grounding(NOT_FOUND)
    assert ground(dt.date(2024, 3, 16)) == Grounding(NOT_FOUND)


def test_values_not_looked_for_give_none() -> None:
    index = TextIndex(NOTE)
    for value in (None, True, False, "", "   ", [], {}, ["Jason"], {"a": 1}):
        assert index.ground(value) is None, value


# --- numbers and dates written differently -----------------------------------------------


@pytest.mark.parametrize(("value", "written"), [
    (18500, "$18,500"), (18500, "18,500.00"), (18500, "18500"), (18500, "18.5k"),
    (18500.0, "18,500"), ("$18,500", "18500 dollars"), (1234.5, "1,234.50"),
    (1234.5, "1.234,5"), (7, "007"), (-5, "-5 degrees"),
])
def test_numbers_written_differently(value: object, written: str) -> None:
    text = f"Noted: {written}."
    g = ground(value, text)
    assert g is not None and g.status in (EXACT, NORMALISED), (value, written, g)
    assert any(written.startswith(m) or m in written for m in matched(text, g))


def test_ambiguous_and_signed_numbers_are_not_stretched() -> None:
    assert ground(1234, "about 1.234 of it") == Grounding(NOT_FOUND)  # 1.234 is a decimal
    assert ground(-5, "pages 3-5") == Grounding(NOT_FOUND)  # a range, not minus five
    assert ground(5, "-5 degrees") == Grounding(NOT_FOUND)
    assert ground(5_000_000, "5m away") == Grounding(NOT_FOUND)
    for text in ("15 people", "1.5 hours", "50 items", "-5 C", "v5.1"):
        assert ground(5, text) == Grounding(NOT_FOUND), text
    assert matched("pages 3-5", ground(5, "pages 3-5")) == ["5"]
    assert ground("5", "15 people").status == EXACT  # type: ignore[union-attr]  # a string


@pytest.mark.parametrize("written", [
    "March 15, 2024", "15 March 2024", "Mar 15 2024", "3/15/2024", "15.03.2024",
    "2024/03/15", "March 15th, 2024", "15th of March, 2024", "03-15-24",
])
def test_dates_written_differently(written: str) -> None:
    text = f"Due {written}; thanks."
    for value in (dt.date(2024, 3, 15), "2024-03-15"):
        g = ground(value, text)
        assert g is not None and g.status == NORMALISED, (value, written)
        assert matched(text, g) == [written]


def test_a_date_without_its_year_is_normalised_only_when_no_full_date_is_there() -> None:
    text = "See you March 15. The report is dated 15 March 2024."
    g = ground(dt.date(2024, 3, 15), text)
    assert matched(text, g) == ["15 March 2024"]
    yearless = "See you March 15."
    assert matched(yearless, ground(dt.date(2024, 3, 15), yearless)) == ["March 15"]
    assert ground(dt.date(2024, 3, 15), "In 3/15 units") == Grounding(NOT_FOUND)


def test_dates_and_times_exact_as_iso() -> None:
    text = "Stamp 2024-03-15T09:00:00, due 2024-03-15, at 14:30:00."
    assert ground(dt.date(2024, 3, 15), text).status == EXACT  # type: ignore[union-attr]
    assert ground(dt.datetime(2024, 3, 15, 9), text).status == EXACT  # type: ignore[union-attr]
    assert ground(dt.time(14, 30), text).status == EXACT  # type: ignore[union-attr]


@pytest.mark.parametrize(("value", "written"), [
    (dt.time(14, 30), "14:30"), (dt.time(14, 30), "2:30 pm"), (dt.time(14, 0), "2pm"),
    ("14:30", "2:30 p.m"), (dt.datetime(2024, 3, 15, 9, 0), "March 15, 2024 9:00 am"),
])
def test_times_written_differently(value: object, written: str) -> None:
    text = f"Meet at {written} sharp."
    g = ground(value, text)
    assert g is not None and g.status == NORMALISED, (value, written)
    assert matched(text, g) == [written]


# --- unicode -----------------------------------------------------------------------------


def test_accents_composed_or_combining() -> None:
    composed, combining = "Café Müller", "Cafe\u0301 Mu\u0308ller"
    for text in (f"at {composed} now", f"at {combining} now"):
        g = ground("cafe muller", text)
        assert g is not None and g.status == NORMALISED
        assert matched(text, g) == [text[3:-4]]


def test_offsets_count_astral_characters_as_one() -> None:
    text = "🎉🎉 party at 𝒳 with Ana Lee 👩‍💻 and ana lee"
    g = ground("Ana Lee", text)
    assert g is not None and g.status == EXACT
    assert matched(text, g) == ["Ana Lee"]
    assert g.spans[0].start == text.index("Ana Lee")
    assert matched(text, ground("ANA LEE", text)) == ["Ana Lee", "ana lee"]
    assert matched(text, ground("👩‍💻", text)) == ["👩‍💻"]


def test_cjk_values() -> None:
    text = "会议在東京都港区举行，负责人：山田太郎。"
    assert matched(text, ground("東京都", text)) == ["東京都"]
    g = ground("東京 都", text)  # one character one token: the space does not matter
    assert g is not None and g.status == NORMALISED and matched(text, g) == ["東京都"]
    assert ground("大阪", text) == Grounding(NOT_FOUND)


# --- edges -------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_message() -> None:
    with pytest.raises(TypeError, match="input text as a str, not bytes"):
        TextIndex(b"Jason")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be at least 1"):
        TextIndex("Jason", limit=0)


def test_empty_text() -> None:
    index = TextIndex("")
    assert index.ground("Jason") == Grounding(NOT_FOUND)
    assert index.ground(5) == Grounding(NOT_FOUND)
    assert index.ground(None) is None


def test_spans_are_capped_in_text_order() -> None:
    text = "ab " * 200
    g = TextIndex(text, limit=50).ground("ab")
    assert g is not None and len(g.spans) == 50
    assert g.spans[0] == Span(0, 2) and g.spans[-1] == Span(147, 149)


def test_huge_text_finds_values_at_both_ends() -> None:
    rnd = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"]
    filler = " ".join(rnd.choice(words) for _ in range(60_000))
    text = "Start: Maria Gonzalez, $1,250.\n" + filler + "\nEnd: Ivo Petrov on 2024-03-15."
    assert len(text) > 300_000
    index = TextIndex(text)
    assert matched(text, index.ground("Maria Gonzalez")) == ["Maria Gonzalez"]
    assert matched(text, index.ground(1250)) == ["1,250"]
    assert index.ground("ivo petrov").status == NORMALISED  # type: ignore[union-attr]
    assert index.ground("Ivo Petrova").status == FUZZY  # type: ignore[union-attr]
    assert index.ground("Yusuf Demir") == Grounding(NOT_FOUND)
    assert len(index.ground("gamma").spans) == 50  # type: ignore[union-attr]


def test_a_long_word_and_a_value_longer_than_the_suffix_cut() -> None:
    blob = "x" * 5000 + "TOKEN" + "y" * 5000
    text = f"key={blob} end"
    assert matched(text, ground("x" * 60 + "TOKEN" + "y" * 60, text)) == ["x" * 60 + "TOKEN"
                                                                         + "y" * 60]
    assert matched(text, ground(f"key={blob} end", text)) == [text]


def test_ground_many_keeps_order() -> None:
    out = TextIndex(NOTE).ground_many(["Jason Liu", None, "Zanzibar"])
    assert [g.status if g else None for g in out] == [EXACT, None, NOT_FOUND]


def test_json_round_trip() -> None:
    g = ground("Jasn Liu")
    assert g is not None and Grounding.from_json(g.to_json()).spans == g.spans


# --- property ----------------------------------------------------------------------------

_ALPHABET = st.sampled_from(list("abAB  \n.,-@'1209éé\u0301🎉東"))


@settings(max_examples=300, deadline=None)
@given(text=st.text(_ALPHABET, min_size=1, max_size=80), data=st.data())
def test_any_substring_is_found_exact(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    value = text[start:end]
    g = TextIndex(text, limit=len(text)).ground(value)
    if not value.strip():
        assert g is None
        return
    assert g is not None and g.status == EXACT
    assert all(text[s.start : s.end] == value for s in g.spans)
    assert any(s.start <= start and end <= s.end for s in g.spans)
    assert [s.start for s in g.spans] == [m for m in range(len(text))
                                          if text.startswith(value, m)]


def test_a_value_joined_from_nearby_parts_of_the_text_is_normalised() -> None:
    text = "The venue is Grand Tech Arena located at 4521 Innovation Drive, Berlin. Paris later."
    index = TextIndex(text)
    joined = index.ground("Grand Tech Arena, 4521 Innovation Drive")
    assert joined is not None and joined.status == NORMALISED
    assert [text[s.start:s.end] for s in joined.spans] == ["Grand Tech Arena",
                                                           "4521 Innovation Drive"]
    far = index.ground("Grand Tech Arena; Paris")  # both there, but far apart
    assert far is not None and far.status == NOT_FOUND
    invented = index.ground("Grand Tech Arena, 99 Main Street")
    assert invented is not None and invented.status == NOT_FOUND
    out_of_order = index.ground("4521 Innovation Drive, Grand Tech Arena")
    assert out_of_order is not None and out_of_order.status == NOT_FOUND
