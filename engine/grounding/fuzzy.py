"""Fuzzy look-ups, only for what exact and normalised matching miss, and only in a bounded
part of the text: windows of tokens around the value's rarest words found in the text (or,
when none of its words is there, around the text's words closest to its longest word).
Similarity is rapidfuzz's `partial_ratio` of the canonical forms (0-100)."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from engine.grounding.model import Span
from engine.grounding.sequence import TokenIndex

#: A window this similar (0-100) or more is a fuzzy match: one letter off in a 7-character
#: value passes (85.7), "jason.liu@gmail.com" for "jason.liu@acme.com" does not (81).
THRESHOLD = 85.0
_ANCHOR_WORDS = 3  # the value's rarest words that are in the text
_PER_WORD = 20  # occurrences of each of them
_CLOSE_WORDS = 3  # text words close to the value's longest word, when none of its words is in
_CLOSE_CUTOFF = 70.0


def fuzzy_find(index: TokenIndex, form: tuple[str, ...], threshold: float,
               limit: int) -> tuple[float, list[Span]] | None:
    """The best similarity and the matching stretches (text order, overlaps merged), or None
    when no window reaches `threshold`."""
    query, n = " ".join(form), len(form)
    windows = sorted({(max(0, i - k - 1), min(len(index.canon), i - k + n + 1))
                      for i, k in _anchors(index, form)})
    hits = []
    for first, stop in windows:
        text, at = index.window(first, stop)
        found = fuzz.partial_ratio_alignment(query, text, score_cutoff=threshold)
        if found is not None:
            start, end = at + found.dest_start, at + max(found.dest_start, found.dest_end - 1)
            hits.append((index.token_at(start + (index.joined[start] == " ")),
                         index.token_at(end), found.score))
    if not hits:
        return None
    merged = _merge(hits)
    return max(score for _, _, score in merged), [index.span(a, b) for a, b, _ in merged[:limit]]


def _anchors(index: TokenIndex, form: tuple[str, ...]) -> list[tuple[int, int]]:
    """(text token, the value word it stands for) pairs to centre windows on."""
    present = sorted((len(index.where[w]), k) for k, w in enumerate(form) if w in index.where)
    if present:
        return [(i, k) for _, k in present[:_ANCHOR_WORDS]
                for i in index.where[form[k]][:_PER_WORD]]
    k = max(range(len(form)), key=lambda j: len(form[j]))
    if len(form[k]) < 4:
        return []
    close = process.extract(form[k], index.vocabulary, scorer=fuzz.ratio,
                            score_cutoff=_CLOSE_CUTOFF, limit=_CLOSE_WORDS)
    return [(i, k) for word, _, _ in close for i in index.where[word][:_PER_WORD]]


def _merge(hits: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Overlapping token stretches as one, keeping the best score."""
    out: list[tuple[int, int, float]] = []
    for a, b, score in sorted(hits):
        if out and a <= out[-1][1]:
            pa, pb, ps = out[-1]
            out[-1] = (pa, max(pb, b), max(ps, score))
        else:
            out.append((a, b, score))
    return out
