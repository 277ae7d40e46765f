"""A document read from a file: its metadata, its text and where each page starts in it."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Between two pages' texts when a paginated document is joined (`Document.from_pages`).
PAGE_BREAK = "\n\n"


class DocumentError(ValueError):
    """A file that cannot be read as a document. The message is for the person who chose the
    file: it names the file and says what is wrong and what to do; never a traceback."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class Document:
    """What the engine knows of an input file. `text` is what extraction and grounding read;
    `page_starts[i]` is the offset in `text` where page `i + 1` starts (one page: `(0,)`)."""

    name: str
    type: str  # "text", "markdown", "html", "email" (then "pdf", "docx")
    size: int  # bytes of the file
    sha256: str  # of the file's bytes
    text: str
    page_starts: tuple[int, ...] = (0,)
    #: How the bytes were decoded ("utf-8", "cp1252", ...), when the format left it open.
    encoding: str = ""
    #: Things worth saying about the file that are not its text: an e-mail's attachments.
    notes: tuple[str, ...] = field(default=())

    @property
    def pages(self) -> int:
        return len(self.page_starts)

    def page_at(self, offset: int) -> int:
        """The page (1-based) the character at `offset` stands on."""
        if not 0 <= offset <= len(self.text):
            raise IndexError(f"offset {offset} is outside the text (0..{len(self.text)})")
        return bisect.bisect_right(self.page_starts, offset)

    def metadata(self) -> dict[str, object]:
        """What History keeps of the document besides its text: no bytes, no text."""
        return {"name": self.name, "type": self.type, "size": self.size, "sha256": self.sha256,
                "pages": self.pages, "chars": len(self.text), "encoding": self.encoding}

    @classmethod
    def from_pages(cls, name: str, type: str, data: bytes, pages: Sequence[str],
                   **kw: object) -> Document:
        """A paginated document: the pages joined by `PAGE_BREAK`, each one's start kept."""
        starts, offset = [], 0
        for text in pages:
            starts.append(offset)
            offset += len(text) + len(PAGE_BREAK)
        return cls(name=name, type=type, size=len(data), sha256=sha256(data),
                   text=PAGE_BREAK.join(pages), page_starts=tuple(starts) or (0,),
                   **kw)  # type: ignore[arg-type]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
