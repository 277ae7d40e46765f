"""Exact look-ups: every occurrence of a string in the text, through an index built once.

The text's words (maximal runs of `\\w`) are indexed two ways in one pass: each word to its
start positions, and every suffix of every distinct word (cut at `_SUFFIX` characters) in one
sorted list, so a word a value only partly covers ("son" of "Jason") is found by bisection.
A look-up takes the value's word with the fewest candidate positions and verifies the value
there with `str.startswith`; only a value with no word character at all ("—") scans the text.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import accumulate

from engine.grounding.model import Span

_WORD = re.compile(r"\w+")
#: Suffixes longer than this are cut: a look-up bisects on its first `_SUFFIX` characters and
#: verification does the rest (keeps the list O(text) even for a 10,000-character word).
_SUFFIX = 48
#: Above this many candidates a plain scan (which stops at the limit) is cheaper.
_SCAN_ABOVE = 4000


class ExactIndex:
    """Every occurrence of a string in `text`, case and all (build once per text)."""

    def __init__(self, text: str) -> None:
        self.text = text
        where: dict[str, list[int]] = {}
        for m in _WORD.finditer(text):
            where.setdefault(m.group(), []).append(m.start())
        self._where = where
        entries = sorted((word[i : i + _SUFFIX], i, word)
                         for word in where for i in range(len(word)))
        self._suffixes = [s for s, _, _ in entries]
        self._entries = [(i, where[word]) for _, i, word in entries]
        self._counts = [0, *accumulate(len(ps) for _, ps in self._entries)]

    def find(self, needle: str, limit: int) -> list[Span]:
        """The first `limit` occurrences of `needle`, in text order."""
        words = list(_WORD.finditer(needle))
        if not words:
            return self._scan(needle, limit)
        plans = [self._plan(needle, m) for m in words]
        count, starts = min(plans, key=lambda plan: plan[0])
        if count > _SCAN_ABOVE:  # a very common fragment: the scan stops after `limit` hits
            return self._scan(needle, limit)
        found = []
        for start in sorted(set(starts())):
            if start >= 0 and self.text.startswith(needle, start):
                found.append(Span(start, start + len(needle)))
                if len(found) == limit:
                    break
        return found

    def _plan(self, needle: str, m: re.Match[str]) -> tuple[int, Callable[[], list[int]]]:
        """How many candidate starts one of the needle's words gives, and a way to list them
        (listed only for the word chosen)."""
        word, offset = m.group(), m.start()
        if offset > 0 and m.end() < len(needle):  # bounded both sides: a whole text word
            positions = self._where.get(word, [])
            return len(positions), lambda: [p - offset for p in positions]
        lo, hi = self._range(word)
        return (self._counts[hi] - self._counts[lo],
                lambda: [p + i - offset for i, ps in self._entries[lo:hi] for p in ps])

    def _range(self, word: str) -> tuple[int, int]:
        """The suffix entries that start with `word` (cut like the entries are)."""
        key = word[:_SUFFIX]
        lo = bisect_left(self._suffixes, key)
        hi = bisect_right(self._suffixes, key, lo=lo, key=lambda s: s[: len(key)])
        return lo, hi

    def _scan(self, needle: str, limit: int) -> list[Span]:
        found = []
        at = self.text.find(needle)
        while at >= 0 and len(found) < limit:
            found.append(Span(at, at + len(needle)))
            at = self.text.find(needle, at + 1)
        return found
