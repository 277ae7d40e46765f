"""A file's bytes to a `Document`: the format chosen by the extension, checked against the bytes.

Every failure is one `DocumentError` whose message names the file and the problem in words a
person can act on. Formats: plain text, Markdown, HTML, e-mail (`.eml`), PDF (pypdfium2) and
Word `.docx` (python-docx). Outlook `.msg` is refused with what to do instead
(docs/decisions/msg.md); so is Word 97's `.doc`.

This reads in the calling process, with no time or memory limit: the app and the CLI call
`engine.documents.read_document`, which runs it in a child process (`convert`)."""

from __future__ import annotations

from pathlib import Path

from engine.documents.decode import Undecodable, decode
from engine.documents.docx import docx_pages
from engine.documents.htmltext import declared_charset, html_to_text
from engine.documents.mail import email_to_text, looks_like_email
from engine.documents.model import Document, DocumentError, Progress, sha256
from engine.documents.pdf import pdf_pages
from engine.documents.sniff import binary_kind

MAX_BYTES = 50 * 1024 * 1024
#: Extension → document type.
TYPES = {".txt": "text", ".text": "text", ".log": "text", ".csv": "text", ".md": "markdown",
         ".markdown": "markdown", ".html": "html", ".htm": "html", ".xhtml": "html",
         ".eml": "email", ".pdf": "pdf", ".docx": "docx"}
#: Extensions we know but do not read, with what to do instead.
REFUSED = {
    ".msg": "Outlook .msg files cannot be read; save the message as .eml (File → Save as) and "
            "choose that.",
    ".doc": "Word 97–2003 .doc files cannot be read; save it as .docx in Word (File → Save "
            "as) and choose that.",
}


def read_path(path: str | Path, *, max_bytes: int = MAX_BYTES) -> Document:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(path.name, f"cannot be opened ({exc.strerror or exc}).") from exc
    check_size(path.name, size, max_bytes)
    return read_bytes(path.name, path.read_bytes(), max_bytes=max_bytes)


def read_bytes(name: str, data: bytes, *, max_bytes: int = MAX_BYTES,
               on_progress: Progress | None = None) -> Document:
    """The document in `data`, a file named `name` (its extension picks the format).
    `on_progress` hears how far a PDF's pages or a Word file's paragraphs are."""
    suffix = precheck(name, data, max_bytes)
    kind = binary_kind(data)
    if suffix == ".pdf":
        if kind != "a PDF":
            raise DocumentError(name, f"the name says .pdf but the file is {kind or 'text'}. "
                                      "Rename it to what it is, or choose another file.")
        return Document.from_pages(name, "pdf", data, pdf_pages(name, data, on_progress))
    if suffix == ".docx":
        if kind and not kind.startswith(("a ZIP", "an Office")):
            raise DocumentError(name, f"the name says .docx but the file is {kind}. Rename it "
                                      "to what it is, or choose another file.")
        if not kind:
            raise DocumentError(name, "the name says .docx but the file is text, not a Word "
                                      "document. Rename it to what it is, or choose another "
                                      "file.")
        return Document.from_pages(name, "docx", data, docx_pages(name, data, on_progress))
    if kind:
        raise DocumentError(name, f"the name says {suffix} but the file is {kind}. Rename it "
                                  "to what it is, or choose another file.")
    doc_type = TYPES[suffix]
    notes: tuple[str, ...] = ()
    try:
        if doc_type == "email":
            if not looks_like_email(data):
                raise DocumentError(name, "the name says .eml but the file has no e-mail "
                                          "headers (From, To, Date, Subject).")
            text, notes = email_to_text(data)
            encoding = ""
        elif doc_type == "html":
            markup, encoding = decode(data, declared_charset(data))
            text = html_to_text(markup)
        else:
            text, encoding = decode(data)
            text = text.replace("\r\n", "\n").replace("\r", "\n")
    except Undecodable as exc:
        raise DocumentError(name, f"cannot be read as text: {exc}.") from exc
    if not text.strip():
        raise DocumentError(name, "the file has no text to read."
                            if doc_type != "html" else "the page has no visible text.")
    return Document(name=name, type=doc_type, size=len(data), sha256=sha256(data), text=text,
                    encoding=encoding, notes=notes)


def precheck(name: str, data: bytes, max_bytes: int) -> str:
    """What can be said from the name and the size alone (no parsing): the file's extension,
    lower case, or a `DocumentError`. Run before a conversion process is started, too."""
    suffix = Path(name).suffix.lower()
    check_size(name, len(data), max_bytes)
    if suffix in REFUSED:
        raise DocumentError(name, REFUSED[suffix])
    if suffix not in TYPES:
        known = ", ".join(sorted(TYPES))
        raise DocumentError(name, f"this kind of file ({suffix or 'no extension'}) cannot be "
                                  f"read. Fieldstream reads {known}.")
    if not data.strip():
        raise DocumentError(name, "the file is empty.")
    return suffix


def check_size(name: str, size: int, max_bytes: int) -> None:
    """The size limit (FIELDSTREAM_MAX_FILE_MB), checked before anything is read."""
    if size > max_bytes:
        raise DocumentError(name, f"the file is {_amount(size, '.1f')}; the limit is "
                                  f"{_amount(max_bytes, 'g')}.")


def _amount(size: int, spec: str) -> str:
    """MB, or KB under 1 MB (a limit set small says "2 KB", not "0.0 MB")."""
    if size >= 2**20:
        return f"{round(size / 2**20, 1):{spec}} MB"
    return f"{round(size / 2**10, 1):{spec}} KB"
