"""The index's build (engine/grounding/exact.py, sequence.py, postings.py): long words are
scanned rather than indexed, positions are packed, and nothing a look-up answers changes."""

from __future__ import annotations

import json
import random
import tracemalloc
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.grounding import EXACT, TextIndex, exact
from tests.grounding_corpus import FIXTURE, corpus, results


def test_the_corpus_grounds_as_before() -> None:
    """Every status, span and score of the corpus (the bench's 1,000 values, values inside
    and across long words) as recorded with the index of eeb6dfc."""
    want, got = json.loads(FIXTURE.read_text()), results(TextIndex)
    values = {name: pair[1] for name, pair in corpus().items()}
    assert got.keys() == want.keys()
    for name, recorded in want.items():
        assert got[name]["digest"] == recorded["digest"], f"the corpus {name!r} changed"
        changed = [(values[name][i], old, new) for i, (old, new) in
                   enumerate(zip(recorded["groundings"], got[name]["groundings"], strict=True))
                   if old != new]
        assert not changed, f"{name}: {len(changed)} changed, e.g. {changed[:3]}"


def test_a_megabyte_without_spaces_is_indexed_in_little_memory() -> None:
    """Regression (Hardening II #12): every suffix of a 1M-character word was an entry, about
    500 MB for the index of 1 MB without spaces (a pasted blob, a minified file). What is in
    it is still found, inside and across its ends."""
    rnd = random.Random(12)
    blob = "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=1_000_000))
    text = f"Key: {blob} (end)"
    tracemalloc.start()
    try:
        index = TextIndex(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80e6, f"{peak / 1e6:.0f} MB"
    for value in (blob[500_000:500_020], f"Key: {blob[:12]}", f"{blob[-9:]} (end)", blob[-1:]):
        g = index.ground(value)
        assert g is not None and g.status == EXACT, value
        assert all(text[s.start : s.end] == value for s in g.spans)
        assert [s.start for s in g.spans][:3] == _starts(text, value)


def _starts(text: str, value: str) -> list[int]:
    found, at = [], text.find(value)
    while at >= 0 and len(found) < 3:
        found.append(at)
        at = text.find(value, at + 1)
    return found


_ALPHABET = st.sampled_from(list("abAB  \n.,-@'1209é\u0301🎉東"))


@settings(max_examples=300, deadline=None)
@given(text=st.text(_ALPHABET, min_size=1, max_size=120), data=st.data())
def test_scanning_long_words_answers_as_indexing_them(text: str, data: st.DataObject) -> None:
    """With words over 3 characters scanned (most words of these texts), any value, a piece
    of the text or changed, grounds exactly as with every word indexed."""
    start = data.draw(st.integers(0, len(text) - 1))
    value = text[start : data.draw(st.integers(start + 1, len(text)))]
    changed = data.draw(st.sampled_from([value, value.upper(), value[::-1], value + "b"]))
    full = TextIndex(text, limit=len(text))
    with mock.patch.object(exact, "LONG_WORD", 3):
        scanned = TextIndex(text, limit=len(text))
    for v in (value, changed):
        assert scanned.ground(v) == full.ground(v), v
    limited = TextIndex(text, limit=2)
    with mock.patch.object(exact, "LONG_WORD", 3):
        assert TextIndex(text, limit=2).ground(value) == limited.ground(value)
