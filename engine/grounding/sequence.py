"""Normalised look-ups: the text as canonical tokens (`normalise.tokens`), each with its place
in the original text, so a match of a token sequence maps back to one original stretch."""

from __future__ import annotations

from bisect import bisect_right
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
        self.where: dict[str, list[int]] = {}
        for i, canon in enumerate(self.canon):
            self.where.setdefault(canon, []).append(i)

    def find(self, form: tuple[str, ...], limit: int) -> list[Span]:
        """The first `limit` stretches of the text whose tokens are `form`, in text order;
        each span runs from its first token's start to its last token's end."""
        if not form:
            return []
        k = min(range(len(form)), key=lambda j: len(self.where.get(form[j], ())))
        n, wanted = len(form), list(form)
        found = []
        for i in self.where.get(form[k], ()):
            first = i - k
            if first >= 0 and self.canon[first : first + n] == wanted:
                found.append(Span(self.starts[first], self.ends[first + n - 1]))
                if len(found) == limit:
                    break
        return found

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
    def vocabulary(self) -> list[str]:
        return list(self.where)

    def window(self, first: int, stop: int) -> tuple[str, int]:
        """Tokens `first..stop-1` as joined text, and where that text starts in `joined`."""
        at = self.offsets[first]
        return self.joined[at : self.offsets[stop - 1] + len(self.canon[stop - 1])], at

    def token_at(self, offset: int) -> int:
        """The token of `joined` that holds character `offset` (a space counts to the left)."""
        return max(0, bisect_right(self.offsets, offset) - 1)
