"""A Word `.docx` file's text with python-docx: paragraphs and tables in body order, a table's
rows as lines with their cells separated by tabs (as HTML tables are); headers, footers,
comments and footnotes are left out.

The zip is checked before python-docx opens it: a file that is no zip or has no
`word/document.xml` is no Word document; more than `MAX_MEMBERS` members, more than
`MAX_UNPACKED` bytes unpacked in all, or a member over 1 MB unpacked that grows more than
`MAX_RATIO` times is refused as a zip bomb (`ziplimits`, shared with a batch's ZIP). (zipfile
reads no more than a member's declared size, so the declared sizes checked bound what is
unpacked.) python-docx parses its XML
with lxml, `resolve_entities=False` and lxml's default `no_network=True`: no entity is expanded,
nothing is fetched (tests/engine/documents/test_docx.py checks it with an XXE-style document).

Pages: a `.docx` has no fixed pages; Word lays them out when it shows the document. The page
map here follows what Word last rendered (`w:lastRenderedPageBreak`, written when the file was
saved) and the explicit breaks (`w:br w:type="page"`, `w:pageBreakBefore`, a section that starts
on a new page); a rendered break right after an explicit one is the same break. A file written by
a program that never laid it out (python-docx, most converters) has only its explicit breaks."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator

from engine.documents.model import DocumentError, Progress
from engine.documents.ziplimits import OfficeKind, check_office

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
PAGE = object()  # a token: a new page starts here
RENDERED = object()  # a token: Word started a new page here when it last laid the file out
FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def docx_pages(name: str, data: bytes, on_progress: Progress | None = None) -> list[str]:
    """The document's text, one string per page (see the module's docstring on pages)."""
    check_office(name, data, WORD)
    import docx  # here, not at import: only the conversion child needs it

    try:
        body = docx.Document(io.BytesIO(data)).element.body
        pages = _Pages(_new_page_after(body))
        blocks = list(_blocks(body))
        for index, block in enumerate(blocks):
            if block.tag == f"{W}tbl":
                pages.table(block)
            else:
                pages.paragraph(block)
            if on_progress and index % 500 == 0:
                on_progress(index, len(blocks), "paragraphs")
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # python-docx's and lxml's many errors: one message for all
        raise DocumentError(name, "this Word file is damaged or incomplete and cannot be "
                                  "read.") from exc
    out = pages.done()
    if not any(page.strip() for page in out):
        raise DocumentError(name, "the Word document has no text to read.")
    return out


WORD = OfficeKind(
    part="word/document.xml", usual="a Word document has far fewer",
    locked="this Word file is protected by a password. Save a copy without the password and "
           "choose that.",
    older="this is an older Word (.doc) or other Office file, not .docx. Save it as .docx in "
          "Word and choose that.",
    not_zip="the name says .docx but the file is not a Word document. Choose the .docx file "
            "itself.",
    other_zip="the name says .docx but the file is another kind of zip archive, not a Word "
              "document.",
)


def _blocks(body: object) -> Iterator[object]:
    """The body's paragraphs and tables in order, those in content controls (`w:sdt`: a table
    of contents, a form's fields) too: python-docx's `iter_inner_content` skips those."""
    for node in body:  # type: ignore[attr-defined]
        if node.tag in (f"{W}p", f"{W}tbl"):
            yield node
        elif node.tag == f"{W}sdt":
            content = node.find(f"{W}sdtContent")
            if content is not None:
                yield from _blocks(content)


class _Pages:
    """Pages of text being built: blocks apart by a blank line, page tokens start pages."""

    def __init__(self, section_ends: set[object]) -> None:
        self.section_ends = section_ends
        self.pages: list[list[str]] = [[]]
        self.explicit = False  # an explicit break with no text after it yet

    def _page(self, token: object) -> None:
        if token is RENDERED and self.explicit:
            return  # Word's rendered break right after a hard one: the same page
        self.pages.append([])
        self.explicit = token is PAGE

    def _add(self, text: str) -> None:
        if text.strip():
            self.pages[-1].append(text)
            self.explicit = False

    def paragraph(self, p: object) -> None:
        if _on(p, "pageBreakBefore") and (len(self.pages) > 1 or self.pages[0]):
            self._page(PAGE)  # (Word starts no empty page before the document's first line)
        line: list[str] = []
        for token in _runs(p):
            if isinstance(token, str):
                line.append(token)
            else:
                self._add("".join(line).strip())
                line = []
                self._page(token)
        self._add("".join(line).strip())
        if p in self.section_ends:
            self._page(PAGE)

    def table(self, table: object) -> None:
        rows: list[str] = []
        for tr in table.iter(f"{W}tr"):  # type: ignore[attr-defined]
            if tr.getparent() is not table and tr.getparent().getparent() is not table:
                continue  # a nested table's row: read with its cell
            cells, breaks = [], False
            for tc in tr.iter(f"{W}tc"):
                if tc.getparent() is not tr:
                    continue
                words: list[str] = []
                for token in _runs(tc):
                    if isinstance(token, str):
                        words.append(token)
                    else:
                        breaks = True
                        words.append(" ")
                cells.append(" ".join("".join(words).split()))
            if breaks and rows:  # the row starts a new page: what came before ends the last
                self._add("\n".join(rows))
                rows = []
                self._page(RENDERED)
            rows.append("\t".join(cells).strip("\t"))
        self._add("\n".join(row for row in rows if row))

    def done(self) -> list[str]:
        pages = ["\n\n".join(blocks) for blocks in self.pages]
        while len(pages) > 1 and not pages[-1].strip():  # a break at the very end
            pages.pop()
        return pages


def _runs(element: object, first: bool = True) -> Iterator[object]:
    """Text pieces and page tokens of a paragraph (or a table cell: all its paragraphs, with
    a line break between them), in document order. Deleted text (`w:delText`) and field codes
    (`w:instrText`) are no `w:t`; an `mc:Fallback` repeats its `mc:Choice` (a text box's text
    twice), so it is skipped."""
    for node in element:  # type: ignore[attr-defined]
        tag = node.tag
        if not isinstance(tag, str) or tag == FALLBACK:
            continue
        if tag == f"{W}p":
            if not first:
                yield "\n"
            first = False
            if _on(node, "pageBreakBefore"):
                yield PAGE
        elif tag == f"{W}t":  # its text around any (unexpanded) entity reference in it
            yield (node.text or "") + "".join(child.tail or "" for child in node)
            continue
        elif tag == f"{W}tab" and node.getparent().tag == f"{W}r":
            yield "\t"
        elif tag in (f"{W}br", f"{W}cr"):
            yield PAGE if node.get(f"{W}type") == "page" else "\n"
        elif tag == f"{W}lastRenderedPageBreak":
            yield RENDERED
        elif tag == f"{W}noBreakHyphen":
            yield "-"
        yield from _runs(node, first=True)


def _on(p: object, flag: str) -> bool:
    """A paragraph property that is on (`<w:pageBreakBefore/>`, not `w:val="0"`)."""
    ppr = p.find(f"{W}pPr")  # type: ignore[attr-defined]
    node = ppr.find(f"{W}{flag}") if ppr is not None else None
    return node is not None and node.get(f"{W}val", "true") not in ("0", "false", "off")


def _new_page_after(body: object) -> set[object]:
    """The paragraphs that end a section whose next section starts on a new page. A
    paragraph's `w:sectPr` describes the section it ends; how the next one starts is the next
    `w:sectPr`'s `w:type` (a new page unless `continuous`); the body's own `w:sectPr` is last."""
    sects = [s for s in body.iter(f"{W}sectPr")  # type: ignore[attr-defined]
             if s.getparent().tag in (f"{W}pPr", f"{W}body")]
    out = set()
    for this, following in itertools.pairwise(sects):
        kind = following.find(f"{W}type")
        if this.getparent().tag == f"{W}pPr" and (
                kind is None or kind.get(f"{W}val") != "continuous"):
            out.add(this.getparent().getparent())
    return out
