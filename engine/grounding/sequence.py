"""Normalised look-ups: the text as canonical tokens (`normalise.tokens`), each with its place
in the original text, so a match of a token sequence maps back to one original stretch."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from functools import cached_property

from engine.grounding.model import Span
from engine.grounding.normalise import tokens


class TokenIndex:
    """The text's canonical tokens and where each stands (build once per text)."""

    def __init__(self, text: str) -> None:
        self.canon: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        for canon, start, end in tokens(text):
            self.canon.append(canon)
            self.starts.append(start)
            self.ends.append(end)
        where: defaultdict[str, list[int]] = defaultdict(list)
        for i, canon in enumerate(self.canon):
            where[canon].append(i)
        pairs: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        for i, pair in enumerate(zip(self.canon, self.canon[1:], strict=False)):
            pairs[pair].append(i)
        self.where, self.pairs = dict(where), dict(pairs)

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

    def _rarest(self, form: tuple[str, ...]) -> tuple[int, list[int]]:
        """The fewest token indexes to try, with the place in `form` they stand for: of the
        token, or of the rarest two tokens in a row (a date's day and month are each common,
        "july 19" is rare)."""
        if len(form) == 1:
            return 0, self.where.get(form[0], [])
        best: tuple[int, list[int]] | None = None
        for j in range(len(form) - 1):
            found = self.pairs.get((form[j], form[j + 1]))
            if found is None:
                return 0, []
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
    def offsets(self) -> list[int]:
        """Where each token starts in `joined`."""
        out, at = [], 0
        for canon in self.canon:
            out.append(at)
            at += len(canon) + 1
        return out

    @cached_property
    def neighbours(self) -> dict[str, list[str]]:
        """The text's distinct tokens by their first two and by their last two characters
        (keys `"ab…"` and `"…yz"`): a word with one letter wrong keeps one end right."""
        out: dict[str, list[str]] = {}
        for canon in self.where:
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
