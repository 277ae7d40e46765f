"""Exact look-ups: every occurrence of a string in the text, through an index built once.

The text's words (maximal runs of `\\w`) up to `LONG_WORD` characters are indexed three ways
in one pass, packed in arrays (`postings`): each word to its start positions, each two
consecutive words to the first one's starts, and every suffix of every distinct word in one
sorted array, so a word a value only partly covers ("son" of "Jason") is found by bisection.
A look-up takes the value's word with the fewest candidate positions and verifies the value
there with `str.startswith`; only a value with no word character at all ("—") scans the text.

Longer words (a pasted base64 blob, a minified file, a log's ids) are not indexed: the
suffixes of one 1 MB word alone took 500 MB. The stretches of text they stand in are kept
instead, and a look-up also scans those with `str.find`, so a value inside or across a long
word is found just the same.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate

from engine.grounding.model import Span
from engine.grounding.postings import PairPostings, Postings

_WORD = re.compile(r"\w+")
#: Words longer than this are scanned, not indexed (ordinary words, names, emails' parts and
#: identifiers are shorter; hashes, base64 and minified code are not).
LONG_WORD = 40
_SHIFT = 6  # a suffix entry is (word id << _SHIFT) + offset: offsets stay below 64
assert LONG_WORD < 1 << _SHIFT
#: Long words closer than this are scanned as one stretch (fewer, longer `str.find` calls).
_NEAR = 256
_Plan = tuple[int, Callable[[], list[int]]]
_Pairs = tuple["array[int]", "array[int]", "array[int]"]  # first ids, second ids, starts
#: Above this many candidates a plain scan (which stops at the limit) is cheaper.
_SCAN_ABOVE = 4000


class ExactIndex:
    """Every occurrence of a string in `text`, case and all (build once per text)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._long = array("q")  # stretches holding long words: start, end, start, end...
        ids, words, starts, pairs = self._read(text)
        self._ids, self._vocab = ids, list(ids)
        self._where = Postings(words, starts, len(ids))
        self._pairs = PairPostings(*pairs, len(ids))
        self._suffixes = _suffix_array(self._vocab)
        # Each entry's first `_HEAD` characters as one int, in the same order: a look-up
        # bisects these at C speed and compares strings only among the entries they share.
        self._heads = array("q", map(_head, map(self._suffix, self._suffixes)))
        self._counts = array("q", accumulate(
            (self._where.count(entry >> _SHIFT) for entry in self._suffixes), initial=0))

    def _read(self, text: str) -> tuple[dict[str, int], array[int], array[int], _Pairs]:
        """One pass over the words: the ids of the distinct words indexed, each indexed
        word's id and start, and each two consecutive ones' ids and first start, in text
        order. Long words go to `_long` instead."""
        ids: dict[str, int] = {}
        words, starts = array("q"), array("q")
        pairs: _Pairs = (array("q"), array("q"), array("q"))
        firsts, seconds, pair_starts = pairs
        previous = at = -1
        for m in _WORD.finditer(text):
            start, end = m.span()
            if end - start > LONG_WORD:
                self._add_long(start, end)
                previous = -1  # the words either side of it are not a pair
                continue
            word = ids.setdefault(m.group(), len(ids))
            words.append(word)
            starts.append(start)
            if previous >= 0:
                firsts.append(previous)
                seconds.append(word)
                pair_starts.append(at)
            previous, at = word, start
        return ids, words, starts, pairs

    def _add_long(self, start: int, end: int) -> None:
        if self._long and start - self._long[-1] < _NEAR:
            self._long[-1] = end
        else:
            self._long.extend((start, end))

    def find(self, needle: str, limit: int) -> list[Span]:
        """The first `limit` occurrences of `needle`, in text order."""
        words = list(_WORD.finditer(needle))
        found = self._find_indexed(needle, words, limit) if words else None
        if found is None:  # no word, or a very common fragment: the scan stops at `limit`
            return self._scan(needle, limit, 0, len(self.text))
        if self._long:  # what overlaps a long word, which the index does not hold
            found = sorted({*found, *self._scan_long(needle, limit)}, key=_start)[:limit]
        return found

    def _find_indexed(self, needle: str, words: list[re.Match[str]],
                      limit: int) -> list[Span] | None:
        """The first `limit` occurrences among the indexed words; None when scanning the
        text is cheaper."""
        count, starts = _SCAN_ABOVE + 1, None
        for plan in self._plans(needle, words):
            if plan[0] == 0:  # a word of the needle is nowhere: neither is the needle
                return []
            if plan[0] < count:
                count, starts = plan
        if starts is None:
            return None
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
            positions = self._positions(word)
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
                yield _shifted(self._pair(words[j].group(), words[j + 1].group()),
                               words[j].start())

    def _positions(self, word: str) -> Sequence[int]:
        found = self._ids.get(word)
        return () if found is None else self._where.get(found)

    def _pair(self, first: str, second: str) -> Sequence[int]:
        a, b = self._ids.get(first), self._ids.get(second)
        return () if a is None or b is None else self._pairs.get(a, b)

    def _lister(self, lo: int, hi: int, offset: int) -> Callable[[], list[int]]:
        def starts() -> list[int]:
            out = [p + (entry & _MASK) - offset for entry in self._suffixes[lo:hi]
                   for p in self._where.get(entry >> _SHIFT)]
            return out if hi - lo == 1 else sorted(out)  # one word's positions are in order
        return starts

    def _range(self, word: str) -> tuple[int, int]:
        """The suffix entries that start with `word`: those whose head starts like it, then
        (a longer word) among those, by the text of the suffixes. No word holds U+10FFFF (not
        a word character), so `word + U+10FFFF` bounds the range."""
        head = _head(word)
        lo = bisect_left(self._heads, head)
        hi = bisect_left(self._heads, head + (1 << _BITS * max(0, _HEAD - len(word))), lo)
        if len(word) > _HEAD:
            lo = bisect_left(self._suffixes, word, lo, hi, key=self._suffix)
            hi = bisect_left(self._suffixes, word + "\U0010ffff", lo, hi, key=self._suffix)
        return lo, hi

    def _suffix(self, entry: int) -> str:
        return self._vocab[entry >> _SHIFT][entry & _MASK :]

    def _scan_long(self, needle: str, limit: int) -> list[Span]:
        """The first `limit` occurrences that overlap a long word's stretch: each stretch
        widened by the needle's length less one (windows that then overlap are merged, so
        the scan goes in text order)."""
        found: list[Span] = []
        reach, size = len(needle) - 1, len(self.text)
        windows: list[list[int]] = []
        for k in range(0, len(self._long), 2):
            lo, hi = max(0, self._long[k] - reach), min(size, self._long[k + 1] + reach)
            if windows and lo <= windows[-1][1]:
                windows[-1][1] = hi
            else:
                windows.append([lo, hi])
        for lo, hi in windows:
            found += self._scan(needle, limit - len(found), lo, hi)
            if len(found) >= limit:
                break
        return found

    def _scan(self, needle: str, limit: int, lo: int, hi: int) -> list[Span]:
        """The first `limit` occurrences within `text[lo:hi]`."""
        found = []
        at = self.text.find(needle, lo, hi)
        while at >= 0 and len(found) < limit:
            found.append(Span(at, at + len(needle)))
            at = self.text.find(needle, at + 1, hi)
        return found


_MASK = (1 << _SHIFT) - 1
_HEAD, _BITS = 3, 21  # 3 characters of 21 bits (U+10FFFF at most) fit in a signed 64-bit int


def _head(text: str) -> int:
    """The first `_HEAD` characters as an int ordered as the text: missing ones count 0,
    below any character of a word."""
    a, b, c = (text[:_HEAD] + "\0\0")[:_HEAD]
    return (ord(a) << 2 * _BITS) | (ord(b) << _BITS) | ord(c)


def _suffix_array(vocab: list[str]) -> array[int]:
    """Every suffix of every word, as (word id << _SHIFT) + offset, sorted by the suffix's
    text. Sorted a first character at a time, so only one bucket's suffixes exist as strings
    at once (all of them would be tens of MB for a text of many distinct words)."""
    buckets: dict[str, array[int]] = {}
    for word_id, word in enumerate(vocab):
        base = word_id << _SHIFT
        for offset, first in enumerate(word):
            bucket = buckets.get(first)
            if bucket is None:
                bucket = buckets[first] = array("q")
            bucket.append(base + offset)
    out = array("q")
    for first in sorted(buckets):
        out.extend(sorted(buckets.pop(first),
                          key=lambda e: vocab[e >> _SHIFT][e & _MASK :]))
    return out


def _start(span: Span) -> int:
    return span.start


def _shifted(positions: Sequence[int], offset: int) -> _Plan:
    return len(positions), lambda: [p - offset for p in positions]
