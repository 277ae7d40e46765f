"""A PDF's text layer, page by page, with pypdfium2 (docs/decisions/pdf-reader.md).

It runs in the conversion child process (`engine.documents.convert`): PDFium is not
thread-safe, and its memory is C memory that only a process limit bounds."""

from __future__ import annotations

from engine.documents.model import DocumentError, Progress

#: Progress is said every this many pages (and after the last).
PROGRESS_EVERY = 10

#: Fewer visible characters than this per page, on average: no text layer, a scan.
SCAN_CHARS_PER_PAGE = 5
SCAN = ("This PDF has no text layer — it is a scan. Fieldstream reads text, not images.")


def pdf_pages(name: str, data: bytes, on_progress: Progress | None = None) -> list[str]:
    """Each page's text: lines ending in `\\n`, PDFium's line-end hyphen mark (`\\x02`, the
    word already joined) removed."""
    import pypdfium2 as pdfium  # here, not at import: only the conversion child needs it
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentError(name, "this PDF is protected by a password. Save a copy "
                                      "without the password and choose that.") from exc
        raise DocumentError(name, "this PDF is damaged or incomplete and cannot be read.") from exc
    pages: list[str] = []
    total = len(pdf)
    try:
        for index in range(total):
            if on_progress and index % PROGRESS_EVERY == 0:
                on_progress(index, total, "pages")
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_bounded()
            finally:
                textpage.close()
                page.close()
            pages.append(text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", ""))
        if on_progress:
            on_progress(total, total, "pages")
    finally:
        pdf.close()
    visible = sum(len("".join(text.split())) for text in pages)
    if visible < SCAN_CHARS_PER_PAGE * max(len(pages), 1):
        raise DocumentError(name, SCAN)
    return pages
