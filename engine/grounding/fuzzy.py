"""Fuzzy look-ups, only for what exact and normalised matching miss, and only in a bounded
part of the text: the few windows of tokens that most of the value's words point to.
Similarity is rapidfuzz's `partial_ratio` of the canonical forms (0-100)."""

from __future__ import annotations

from collections import Counter

from rapidfuzz import fuzz, process

from engine.grounding.model import Span
from engine.grounding.sequence import TokenIndex

#: A window this similar (0-100) or more is a fuzzy match: one letter off in a 7-character
#: value passes (85.7), "jason.liu@gmail.com" for "jason.liu@acme.com" does not (81).
THRESHOLD = 85.0
_PER_WORD = 200  # occurrences of each word that vote for a window
_WINDOWS = 12  # windows compared, the most voted for
_CLOSE_WORDS = 3  # text words close to the value's longest word that is not in the text
_CLOSE_CUTOFF = 70.0


def fuzzy_find(index: TokenIndex, form: tuple[str, ...], threshold: float,
               limit: int) -> tuple[float, list[Span]] | None:
    """The best similarity and the matching stretches (text order, overlaps merged), or None
    when no window reaches `threshold`."""
    query, n = " ".join(form), len(form)
    hits = []
    for first in _window_starts(index, form):
        text, at = index.window(max(0, first - 1), min(len(index.canon), first + n + 1))
        found = fuzz.partial_ratio_alignment(query, text, score_cutoff=threshold)
        if found is not None:
            start, end = at + found.dest_start, at + max(found.dest_start, found.dest_end - 1)
            hits.append((index.token_at(start + (index.joined[start] == " ")),
                         index.token_at(end), found.score))
    if not hits:
        return None
    merged = _merge(hits)
    return max(score for _, _, score in merged), [index.span(a, b) for a, b, _ in merged[:limit]]


def _window_starts(index: TokenIndex, form: tuple[str, ...]) -> list[int]:
    """Where the value would start (a text token index), for the `_WINDOWS` places that most
    of its words (or words close to them) point to. Each occurrence of the value's words that
    are in the text, and of the text words closest to its longest word that is not (where a
    typo usually is; only words sharing its first or last two letters are compared, which
    keeps the pass small and still finds one wrong letter in a word of 5 or more), votes for
    the start it implies."""
    votes: Counter[int] = Counter()
    for k, word in enumerate(form):
        for i in index.positions(word)[:_PER_WORD]:
            votes[max(0, i - k)] += 1
    absent = [k for k, w in enumerate(form) if not index.has(w) and len(w) >= 4]
    if absent:
        k = max(absent, key=lambda j: len(form[j]))
        close = process.extract(form[k], index.close_candidates(form[k]), scorer=fuzz.ratio,
                                score_cutoff=_CLOSE_CUTOFF, limit=_CLOSE_WORDS)
        for word, _, _ in close:
            for i in index.positions(word)[:_PER_WORD]:
                votes[max(0, i - k)] += 1
    return sorted(start for start, _ in votes.most_common(_WINDOWS))


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
