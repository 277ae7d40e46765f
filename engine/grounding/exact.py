"""Exact look-ups: every occurrence of a string in the text, through an index built once.

The text's words (maximal runs of `\\w`) are indexed two ways in one pass: each word to its
start positions, and every suffix of every distinct word (cut at `_SUFFIX` characters) in one
sorted list, so a word a value only partly covers ("son" of "Jason") is found by bisection.
A look-up takes the value's word with the fewest candidate positions and verifies the value
there with `str.startswith`; only a value with no word character at all ("—") scans the text.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from itertools import accumulate

from engine.grounding.model import Span

_WORD = re.compile(r"\w+")
#: Suffixes longer than this are cut: a look-up bisects on its first `_SUFFIX` characters and
#: verification does the rest (keeps the list O(text) even for a 10,000-character word).
_SUFFIX = 48
_Plan = tuple[int, Callable[[], list[int]]]
#: Above this many candidates a plain scan (which stops at the limit) is cheaper.
_SCAN_ABOVE = 4000


class ExactIndex:
    """Every occurrence of a string in `text`, case and all (build once per text)."""

    def __init__(self, text: str) -> None:
        self.text = text
        where: defaultdict[str, list[int]] = defaultdict(list)
        pairs: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        previous, at = "", -1
        for m in _WORD.finditer(text):
            word, start = m.group(), m.start()
            where[word].append(start)
            if at >= 0:
                pairs[previous, word].append(at)
            previous, at = word, start
        self._where, self._pairs = dict(where), dict(pairs)
        keys, refs = [], []
        for word, positions in where.items():
            for i in range(len(word)):
                keys.append(word[i : i + _SUFFIX])
                refs.append((i, positions))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._suffixes = [keys[j] for j in order]
        self._entries = [refs[j] for j in order]
        self._counts = [0, *accumulate(len(ps) for _, ps in self._entries)]

    def find(self, needle: str, limit: int) -> list[Span]:
        """The first `limit` occurrences of `needle`, in text order."""
        words = list(_WORD.finditer(needle))
        if not words:
            return self._scan(needle, limit)
        count, starts = _SCAN_ABOVE + 1, None
        for plan in self._plans(needle, words):
            if plan[0] == 0:  # a word of the needle is nowhere: neither is the needle
                return []
            if plan[0] < count:
                count, starts = plan
        if starts is None:  # a very common fragment: the scan stops after `limit` hits
            return self._scan(needle, limit)
        found = []
        for start in starts():
            if start >= 0 and self.text.startswith(needle, start):
                found.append(Span(start, start + len(needle)))
                if len(found) == limit:
                    break
        return found

    def _plans(self, needle: str, words: list[re.Match[str]]) -> Iterator[_Plan]:
        """Ways to list candidate starts, each with its count (only the cheapest is listed):
        by one word of the needle, or by two consecutive words that can only be whole words
        of the text (the cheapest when every word of a name is common)."""
        whole = []
        for m in words:
            word, offset = m.group(), m.start()
            positions = self._where.get(word, [])
            if offset > 0 and m.end() < len(needle):  # bounded both sides: a whole text word
                yield _shifted(positions, offset)
                whole.append(True)
                continue
            lo, hi = self._range(word)
            count = self._counts[hi] - self._counts[lo]
            yield count, self._lister(lo, hi, offset)
            whole.append(count == len(positions))  # never inside a longer word
        for j in range(len(words) - 1):
            if whole[j] and whole[j + 1]:
                pair = self._pairs.get((words[j].group(), words[j + 1].group()), [])
                yield _shifted(pair, words[j].start())

    def _lister(self, lo: int, hi: int, offset: int) -> Callable[[], list[int]]:
        def starts() -> list[int]:
            out = [p + i - offset for i, ps in self._entries[lo:hi] for p in ps]
            return out if hi - lo == 1 else sorted(out)  # one word's positions are in order
        return starts

    def _range(self, word: str) -> tuple[int, int]:
        """The suffix entries that start with `word` (cut like the entries are). No word
        holds U+10FFFF (not a word character), so `key + U+10FFFF` bounds the range."""
        key = word[:_SUFFIX]
        lo = bisect_left(self._suffixes, key)
        return lo, bisect_left(self._suffixes, key + "\U0010ffff", lo=lo)

    def _scan(self, needle: str, limit: int) -> list[Span]:
        found = []
        at = self.text.find(needle)
        while at >= 0 and len(found) < limit:
            found.append(Span(at, at + len(needle)))
            at = self.text.find(needle, at + 1)
        return found


def _shifted(positions: list[int], offset: int) -> _Plan:
    return len(positions), lambda: [p - offset for p in positions]
