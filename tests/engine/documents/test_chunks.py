"""Splitting a long text into overlapping chunks (engine/documents/chunks.py): the chunks
cover the text in order, stay within the size, overlap by about what was asked, and end and
start at the best boundary their window holds."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.documents.chunks import (
    LINE,
    PARAGRAPH,
    SENTENCE,
    SPACE,
    WORD,
    TextChunk,
    boundary_kind,
    split_text,
)


def texts(chunks: list[TextChunk], text: str) -> list[str]:
    return [c.text_of(text) for c in chunks]


# --- the simple cases -------------------------------------------------------------------------


def test_an_empty_text_is_no_chunk() -> None:
    assert split_text("", 100, 10) == []


@pytest.mark.parametrize("text", ["a", "short text.", "x" * 100])
def test_a_text_that_fits_is_one_chunk(text: str) -> None:
    assert split_text(text, 100, 10) == [TextChunk(0, 0, len(text))]


def test_a_chunk_gives_its_text_and_length() -> None:
    chunk = TextChunk(1, 3, 8)
    assert chunk.text_of("0123456789") == "34567"
    assert len(chunk) == 5


@pytest.mark.parametrize(("max_chars", "overlap"), [(0, 0), (-5, 0), (10, -1)])
def test_bad_sizes_are_refused(max_chars: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=r"max_chars|overlap"):
        split_text("some text", max_chars, overlap)


def test_without_a_boundary_the_text_is_cut_at_the_size() -> None:
    text = "abcdefghij" * 5
    assert texts(split_text(text, 20, 0), text) == [text[:20], text[20:40], text[40:]]


# --- where a chunk ends -----------------------------------------------------------------------


def test_a_blank_line_wins_over_a_later_sentence_end() -> None:
    text = "One two three four.\n\nFive six seven. Eight nine ten eleven twelve."
    first = split_text(text, 40, 0)[0]
    assert first.text_of(text) == "One two three four.\n\n"


def test_a_line_end_wins_over_a_later_sentence_end() -> None:
    text = "One two three four five\nsix seven. Eight nine ten eleven twelve."
    first = split_text(text, 40, 0)[0]
    assert first.text_of(text) == "One two three four five\n"


def test_a_sentence_end_wins_over_a_later_space() -> None:
    text = "One two three four. Five six seven eight nine ten eleven twelve."
    first = split_text(text, 30, 0)[0]
    assert first.text_of(text) == "One two three four. "


@pytest.mark.parametrize("end", ['."', ".'", "?”", "!)", "…"])
def test_a_sentence_may_end_behind_closing_quotes(end: str) -> None:
    text = f"He said it was fine{end} Then the rest of it went on and on."
    first = split_text(text, 30, 0)[0]
    assert first.text_of(text) == f"He said it was fine{end} "


def test_a_cjk_full_stop_ends_a_sentence_without_a_space() -> None:
    text = "契約は三月に始まる。支払いは毎月十五日に行うものとする"
    first = split_text(text, 15, 0)[0]
    assert first.text_of(text) == "契約は三月に始まる。"


def test_a_space_wins_over_the_middle_of_a_word() -> None:
    text = "alpha beta gamma delta epsilon zeta"
    first = split_text(text, 20, 0)[0]
    assert first.text_of(text) == "alpha beta gamma "


def test_windows_line_ends_count_as_lines_and_paragraphs() -> None:
    text = "One two three four.\r\n\r\nFive six seven. Eight nine ten eleven."
    assert split_text(text, 40, 0)[0].text_of(text) == "One two three four.\r\n\r\n"


def test_a_document_s_pages_are_paragraphs() -> None:
    from engine.documents.model import PAGE_BREAK

    pages = ["Page one says this. And that." * 3, "Page two. " * 8, "Page three."]
    text = PAGE_BREAK.join(pages)
    chunks = split_text(text, len(pages[0]) + 30, 0)
    assert chunks[0].text_of(text) == pages[0] + PAGE_BREAK


# --- where the next one starts ----------------------------------------------------------------


def test_chunks_overlap_and_the_overlap_starts_at_a_sentence() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(40)]
    text = " ".join(sentences)
    chunks = split_text(text, 200, 60)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        shared = before.end - after.start
        assert 30 <= shared <= 90
        assert after.text_of(text).startswith("Sentence number")
        assert boundary_kind(text, after.start) == SENTENCE


def test_an_overlap_is_capped_at_half_a_chunk() -> None:
    text = "word " * 200
    chunks = split_text(text, 40, 1000)
    for before, after in itertools.pairwise(chunks):
        assert before.end - after.start <= len(before) // 2


def test_without_overlap_chunks_touch() -> None:
    text = "Some words here. " * 50
    chunks = split_text(text, 64, 0)
    assert "".join(texts(chunks, text)) == text


# --- boundary kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pos", "kind"),
    [
        ("ab\n\ncd", 4, PARAGRAPH),
        ("ab\n \t\ncd", 6, PARAGRAPH),
        ("ab\ncd", 3, LINE),
        ("ab\n  cd", 5, LINE),
        ("ab. cd", 4, SENTENCE),
        ('ab." cd', 5, SENTENCE),
        ("ab? cd", 4, SENTENCE),
        ("ab! cd", 4, SENTENCE),
        ("ab。cd", 3, SENTENCE),
        ("ab cd", 3, SPACE),
        ("a.b cd", 4, SPACE),
        ("3.5 cd", 2, WORD),
        ("abcd", 2, WORD),
        ("ab cd", 0, WORD),
        ("ab cd", 5, WORD),
    ],
)
def test_boundary_kinds(text: str, pos: int, kind: int) -> None:
    assert boundary_kind(text, pos) == kind


# --- any text ---------------------------------------------------------------------------------

_ALPHABET = "abc xyz..?!\n\n\r\t\"'”。"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=_ALPHABET, max_size=400),
       max_chars=st.integers(1, 120), overlap=st.integers(0, 90))
def test_any_text_is_covered_in_order(text: str, max_chars: int, overlap: int) -> None:
    chunks = split_text(text, max_chars, overlap)
    if not text:
        assert chunks == []
        return
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    capped = min(overlap, max_chars // 2)
    for chunk in chunks:
        assert 0 < len(chunk) <= max_chars
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start <= before.end < after.end  # progress, no gap
        shared = before.end - after.start
        assert shared <= len(before) // 2
        assert shared <= capped + capped // 2
        if capped == 0:
            assert shared == 0
    # Every chunk brings at least half of what it could: the count stays near the least.
    assert len(chunks) <= 2 + len(text) // max(1, (max_chars - capped) // 2)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=_ALPHABET, max_size=400),
       max_chars=st.integers(1, 120), overlap=st.integers(0, 90))
def test_a_chunk_ends_at_the_latest_of_the_best_boundaries(text: str, max_chars: int,
                                                           overlap: int) -> None:
    capped = min(overlap, max_chars // 2)
    for chunk in split_text(text, max_chars, overlap)[:-1]:
        # The window the module's doc describes: the last part of the chunk's reach.
        lo = chunk.start + capped + max(1, (max_chars - capped) // 2)
        hi = chunk.start + max_chars
        assert lo <= chunk.end <= hi
        kind = boundary_kind(text, chunk.end)
        before = [boundary_kind(text, p) for p in range(lo, chunk.end)]
        after = [boundary_kind(text, p) for p in range(chunk.end + 1, hi + 1)]
        assert all(k >= kind for k in before), (chunk, kind, before)
        assert all(k > kind for k in after), (chunk, kind, after)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=6), max_size=120),
       max_chars=st.integers(60, 120), overlap=st.sampled_from([0, 14, 17, 20]))
def test_prose_is_cut_between_words(words: list[str], max_chars: int, overlap: int) -> None:
    """With words shorter than the windows (a chunk's end: 20 characters at least here; its
    start: 7), no chunk ends or starts inside a word."""
    text = " ".join(words)
    chunks = split_text(text, max_chars, overlap)
    for chunk in chunks[:-1]:
        assert text[chunk.end - 1] == " "
    for chunk in chunks[1:]:
        assert text[chunk.start - 1] == " "


# --- cost -------------------------------------------------------------------------------------


def _prose(size: int) -> str:
    rnd = random.Random(19)
    words = ["the", "contract", "party", "shall", "pay", "notice", "term", "clause", "section",
             "date"]
    parts, total = [], 0
    while total < size:
        sentences = [" ".join(rnd.choices(words, k=rnd.randint(5, 20))).capitalize() + "."
                     for _ in range(rnd.randint(1, 6))]
        paragraph = " ".join(sentences)
        parts.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(parts)[:size]


@pytest.mark.parametrize("kind", ["prose", "blob"])
def test_two_million_characters_split_fast(kind: str) -> None:
    """About 10-40 ms measured; the bound is generous for a busy CI machine."""
    text = _prose(2_000_000) if kind == "prose" else "abcdefghij" * 200_000
    started = time.perf_counter()
    chunks = split_text(text, 1000, 100)
    took = time.perf_counter() - started
    assert chunks[-1].end == len(text)
    assert took < 1.0, f"{took:.2f} s for {len(chunks)} chunks"
