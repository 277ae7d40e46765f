"""Positions grouped by word, packed in arrays: 8 bytes an occurrence, where a dict of lists
costs a list per word and an int object (32 bytes) per occurrence, and a tuple per pair of
words (1 MB of prose is 140,000 words and 60,000 distinct pairs). Both indexes (`exact`,
`sequence`) keep their words' and word pairs' positions so.

Words are ids (0 up to the number of distinct words); each word's (or pair's) positions come
back in the order they were added: text order.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate


class Postings:
    """Each word's positions."""

    def __init__(self, words: Sequence[int], positions: Sequence[int], size: int) -> None:
        self._offsets, self._positions = _group(words, positions, size)

    def get(self, word: int) -> array[int]:
        return self._positions[self._offsets[word] : self._offsets[word + 1]]

    def count(self, word: int) -> int:
        return self._offsets[word + 1] - self._offsets[word]


class PairPostings:
    """Each pair of consecutive words' positions: grouped by the first word, then by the
    second (found by bisection within the first word's group)."""

    def __init__(self, firsts: Sequence[int], seconds: Sequence[int], positions: Sequence[int],
                 size: int) -> None:
        # Two stable counting sorts, by the second word then by the first: every pair's
        # positions end up together, still in text order.
        _, order = _group(seconds, range(len(positions)), size)
        self._offsets, order = _group(array("q", map(firsts.__getitem__, order)), order, size)
        self._seconds = array("q", map(seconds.__getitem__, order))
        self._positions = array("q", map(positions.__getitem__, order))

    def get(self, first: int, second: int) -> array[int]:
        lo, hi = self._offsets[first], self._offsets[first + 1]
        lo = bisect_left(self._seconds, second, lo, hi)
        return self._positions[lo : bisect_right(self._seconds, second, lo, hi)]


def _group(keys: Sequence[int], values: Sequence[int], size: int) -> tuple[array[int],
                                                                            array[int]]:
    """A counting sort: `values` grouped by their key (ids below `size`), each group in its
    original order. Key k's values are `grouped[offsets[k]:offsets[k + 1]]`."""
    counted = Counter(keys)
    offsets = array("q", accumulate((counted[key] for key in range(size)), initial=0))
    free = array("q", offsets)  # each key's next free slot
    grouped = _zeros(len(values))
    for key, value in zip(keys, values, strict=True):
        grouped[free[key]] = value
        free[key] += 1
    return offsets, grouped


def _zeros(n: int) -> array[int]:
    return array("q", bytes(8 * n))
