"""A text too long for the model, split into chunks that overlap (#19): pure, no I/O.

    chunks = split_text(text, max_chars=8000, overlap=400)
    [c.text_of(text) for c in chunks]      # each at most 8,000 characters, in order

The chunks cover the whole text in order: the first starts at 0, the last ends at
`len(text)`, each starts after the one before it and no later than where that one ends.
A text of at most `max_chars` is one chunk; an empty text is no chunk at all (there is nothing
to read, and a caller must not send an empty request for it).

Where a chunk ends. It may end anywhere in the last part of its reach, `[lo, start +
max_chars]` where `lo` leaves at least half of the new text a chunk could bring (`_reach`);
inside that window it ends at the best boundary there is, the latest of its kind: after a
blank line (a paragraph; a document's pages are joined by one), else after a line end, else
after a sentence end (`.`, `?`, `!`, `…` then whitespace, closing quotes and brackets allowed
between, or a CJK full stop), else after whitespace, and only when the window holds none of
those, in the middle of a word. A boundary's position is just after its whitespace, so the
next chunk begins with a word.

Where the next one starts. About `overlap` characters before that end (half of `overlap`
more or less), at the best boundary there, the one nearest `overlap` of its kind, so an
overlap too starts at a paragraph, line, sentence or word where one is near. The overlap is
capped to half of `max_chars` and never exceeds half of the chunk before it, so every chunk
brings at least half of what it could bring that is new: the count stays near
`len(text) / (max_chars - overlap)` and the loop always ends.

Cost: linear, every character is looked at by a few regular-expression scans at most. On
2,000,000 characters of prose (paragraphs, lines, sentences), `max_chars=8000, overlap=400`
takes about 2 ms (272 chunks) and `max_chars=1000, overlap=100` about 23 ms (2,823 chunks);
2,000,000 characters without a space or line (every cut the last resort) about 23 ms and
41 ms (measured on the dev container, 2 cores; `tests/engine/documents/test_chunks.py` holds a
generous bound).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "LINE",
    "PARAGRAPH",
    "SENTENCE",
    "SPACE",
    "WORD",
    "TextChunk",
    "boundary_kind",
    "split_text",
]

#: Kinds of boundary, best first (`boundary_kind`); `WORD` is no boundary (mid-word).
PARAGRAPH, LINE, SENTENCE, SPACE, WORD = 0, 1, 2, 3, 4

_LINE_CHARS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_CLOSERS = "\"'”’»)\\]」』）"
#: Each matches a separator ending at its boundary, trailing whitespace included.
_PATTERNS = (
    re.compile(r"\n[^\S\n]*\n\s*"),  # a blank line (`\r\n\r\n` too)
    re.compile(rf"[{_LINE_CHARS}]\s*"),
    re.compile(rf"[.?!…][{_CLOSERS}]*\s+|[。！？][{_CLOSERS}]*\s*"),
    re.compile(r"\s+"),
)
#: How far before a window a separator may begin and still end inside it.
_LOOKBACK = 64


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Characters `start:end` of the whole text; `index` is the chunk's place (0-based)."""

    index: int
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def text_of(self, full: str) -> str:
        """This chunk's characters of `full`, the text it was cut from."""
        return full[self.start : self.end]


def split_text(text: str, max_chars: int, overlap: int = 0) -> list[TextChunk]:
    """`text` as chunks of at most `max_chars` characters overlapping by about `overlap`
    (see the module's doc for where they are cut); `[]` for an empty text."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    if overlap < 0:
        raise ValueError(f"overlap must be 0 or more, not {overlap}")
    overlap = min(overlap, max_chars // 2)
    size = len(text)
    chunks: list[TextChunk] = []
    start = 0
    while start < size:
        if size - start <= max_chars:
            chunks.append(TextChunk(len(chunks), start, size))
            break
        lo, hi = _reach(start, max_chars, overlap)
        end = _cut(text, lo, hi)
        chunks.append(TextChunk(len(chunks), start, end))
        start = _next_start(text, start, end, overlap)
    return chunks


def _reach(start: int, max_chars: int, overlap: int) -> tuple[int, int]:
    """Where a chunk starting at `start` may end: late enough that it brings at least half
    of the new text it could (so the count of chunks stays near the least)."""
    return start + overlap + max(1, (max_chars - overlap) // 2), start + max_chars


def _cut(text: str, lo: int, hi: int) -> int:
    """The latest boundary of the best kind in `[lo, hi]`; `hi` when there is none."""
    for pattern in _PATTERNS:
        best = -1
        for m in pattern.finditer(text, max(0, lo - _LOOKBACK), hi):
            if m.end() >= lo:
                best = m.end()
        if best >= 0:
            return best
    return hi


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """Where the chunk after `start:end` starts: about `overlap` before `end`, at the best
    boundary near there (nearest of its kind), never more than half the chunk back."""
    if overlap == 0:
        return end
    most = min(overlap + overlap // 2, (end - start) // 2)
    least = min(overlap - overlap // 2, most)
    target = end - min(overlap, most)
    lo, hi = end - most, end - least
    for pattern in _PATTERNS:
        found = [m.end() for m in pattern.finditer(text, max(0, lo - _LOOKBACK), hi)
                 if m.end() >= lo]
        if found:
            return min(found, key=lambda p: (abs(p - target), p))
    return target


def boundary_kind(text: str, pos: int) -> int:
    """What kind of boundary position `pos` of `text` is, for a chunk to end (or start) at:
    `PARAGRAPH`, `LINE`, `SENTENCE`, `SPACE`, or `WORD` (none: the middle of a word, or the
    text's very start or end). A boundary is just after a separator's whitespace (or inside
    it)."""
    if pos <= 0 or pos >= len(text):
        return WORD
    for kind, pattern in enumerate(_PATTERNS):
        for m in pattern.finditer(text, max(0, pos - _LOOKBACK), pos):
            if m.end() == pos:
                return kind
    return WORD
