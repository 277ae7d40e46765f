"""A document read from a file: its metadata, its text and where each page starts in it."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: `on_progress(done, total, what)`: a big file's conversion saying how far it is ("page 3
#: of 120": `what` is "pages" or "paragraphs").
Progress = Callable[[int, int, str], None]

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
class DocumentInfo:
    """What a run keeps of its document besides the text (the text is the run's own): no
    bytes. `page_starts` as in `Document`, so a stored run still says which page a value
    stands on. JSON-ready through `to_json` / `from_json` (History's `runs.document`)."""

    name: str
    type: str
    size: int
    sha256: str
    pages: int
    chars: int
    page_starts: tuple[int, ...] = (0,)
    encoding: str = ""
    notes: tuple[str, ...] = ()

    def page_at(self, offset: int) -> int:
        """The page (1-based) of the character at `offset` (clamped to the document)."""
        return max(1, bisect.bisect_right(self.page_starts, max(offset, 0)))

    def pages_of(self, start: int, end: int) -> tuple[int, int]:
        """The first and last page characters `start:end` stand on."""
        return self.page_at(start), self.page_at(max(start, end - 1))

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "size": self.size,
                "sha256": self.sha256, "pages": self.pages, "chars": self.chars,
                "page_starts": list(self.page_starts), "encoding": self.encoding,
                "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DocumentInfo:
        def ints(key: str) -> tuple[int, ...]:
            return tuple(int(x) for x in data.get(key) or (0,))  # type: ignore[union-attr]

        return cls(name=str(data.get("name") or ""), type=str(data.get("type") or ""),
                   size=int(data.get("size") or 0),  # type: ignore[call-overload]
                   sha256=str(data.get("sha256") or ""),
                   pages=int(data.get("pages") or 1),  # type: ignore[call-overload]
                   chars=int(data.get("chars") or 0),  # type: ignore[call-overload]
                   page_starts=ints("page_starts"), encoding=str(data.get("encoding") or ""),
                   notes=tuple(str(n) for n in data.get("notes") or ()))  # type: ignore[union-attr]


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

    @property
    def info(self) -> DocumentInfo:
        """What a run and History keep of the document besides its text: no bytes, no text."""
        return DocumentInfo(name=self.name, type=self.type, size=self.size, sha256=self.sha256,
                            pages=self.pages, chars=len(self.text),
                            page_starts=self.page_starts, encoding=self.encoding,
                            notes=self.notes)

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
