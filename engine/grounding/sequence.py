"""Normalised look-ups: the text as canonical tokens (`normalise.tokens`), each with its place
in the original text, so a match of a token sequence maps back to one original stretch."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from functools import cached_property
from itertools import accumulate

from engine.grounding.model import Span
from engine.grounding.normalise import tokens
from engine.grounding.postings import PairPostings, Postings


class TokenIndex:
    """The text's canonical tokens and where each stands (build once per text). Positions
    are packed in arrays (`postings`): 1 MB of prose is 140,000 tokens."""

    def __init__(self, text: str) -> None:
        ids: dict[str, int] = {}
        self.vocab: list[str] = []  # each distinct token, by id
        self.canon: list[str] = []  # each token (the vocabulary's string: one per distinct)
        self.starts, self.ends = array("q"), array("q")
        seq = array("q")
        for canon, start, end in tokens(text):
            token = ids.setdefault(canon, len(ids))
            if token == len(self.vocab):
                self.vocab.append(canon)
            seq.append(token)
            self.canon.append(self.vocab[token])
            self.starts.append(start)
            self.ends.append(end)
        self._ids = ids
        self._where = Postings(seq, range(len(seq)), len(ids))
        self._pairs = PairPostings(seq[:-1], seq[1:], range(len(seq) - 1), len(ids))

    def has(self, canon: str) -> bool:
        return canon in self._ids

    def positions(self, canon: str) -> Sequence[int]:
        """The indexes of the tokens that are `canon`, in text order."""
        token = self._ids.get(canon)
        return () if token is None else self._where.get(token)

    def find(self, form: tuple[str, ...], limit: int) -> list[Span]:
        """The first `limit` stretches of the text whose tokens are `form`, in text order;
        each span runs from its first token's start to its last token's end."""
        if not form:
            return []
        k, candidates = self._rarest(form)
        n, wanted = len(form), list(form)
        found = []
        for i in candidates:
            first = i - k
            if first >= 0 and self.canon[first : first + n] == wanted:
                found.append(Span(self.starts[first], self.ends[first + n - 1]))
                if len(found) == limit:
                    break
        return found

    def _rarest(self, form: tuple[str, ...]) -> tuple[int, Sequence[int]]:
        """The fewest token indexes to try, with the place in `form` they stand for: of the
        token, or of the rarest two tokens in a row (a date's day and month are each common,
        "july 19" is rare)."""
        if len(form) == 1:
            return 0, self.positions(form[0])
        best: tuple[int, Sequence[int]] | None = None
        for j in range(len(form) - 1):
            a, b = self._ids.get(form[j]), self._ids.get(form[j + 1])
            found = () if a is None or b is None else self._pairs.get(a, b)
            if not found:
                return 0, ()
            if best is None or len(found) < len(best[1]):
                best = (j, found)
        assert best is not None
        return best

    def span(self, first: int, last: int) -> Span:
        """The original stretch of tokens `first..last` (inclusive)."""
        return Span(self.starts[first], self.ends[last])

    # What fuzzy matching compares: the canonical tokens joined by spaces (built on first use).
    @cached_property
    def joined(self) -> str:
        return " ".join(self.canon)

    @cached_property
    def offsets(self) -> array[int]:
        """Where each token starts in `joined`."""
        return array("q", accumulate((len(canon) + 1 for canon in self.canon[:-1]),
                                     initial=0)) if self.canon else array("q")

    @cached_property
    def neighbours(self) -> dict[str, list[str]]:
        """The text's distinct tokens by their first two and by their last two characters
        (keys `"ab…"` and `"…yz"`): a word with one letter wrong keeps one end right."""
        out: dict[str, list[str]] = {}
        for canon in self.vocab:
            out.setdefault(canon[:2] + "…", []).append(canon)
            out.setdefault("…" + canon[-2:], []).append(canon)
        return out

    def close_candidates(self, word: str) -> list[str]:
        """Distinct tokens that share `word`'s first two or last two characters."""
        near = self.neighbours
        return [*near.get(word[:2] + "…", ()), *near.get("…" + word[-2:], ())]

    def window(self, first: int, stop: int) -> tuple[str, int]:
        """Tokens `first..stop-1` as joined text, and where that text starts in `joined`."""
        at = self.offsets[first]
        return self.joined[at : self.offsets[stop - 1] + len(self.canon[stop - 1])], at

    def token_at(self, offset: int) -> int:
        """The token of `joined` that holds character `offset` (a space counts to the left)."""
        return max(0, bisect_right(self.offsets, offset) - 1)
