"""A file's bytes to a `Document`: the format chosen by the extension, checked against the bytes.

Every failure is one `DocumentError` whose message names the file and the problem in words a
person can act on. Formats read so far: plain text, Markdown, HTML, e-mail (`.eml`), and PDF
where pypdfium2 is installed (`pdf`: not in uv.lock yet). Word needs a library not in uv.lock
either; it is refused with a message that says so.

Not done yet (#19), for the next session: pypdfium2 in uv.lock (`pdf.py` reads PDFs only where
it is installed), `.docx` (zip-bomb caps),
`.msg`; the child process with a time and memory limit; the size limit read from `settings`
(here a parameter, default 50 MB) and Streamlit's `server.maxUploadSize` from it; declaring
charset-normalizer in pyproject.toml (today only requests' dependency); the upload widgets, the
CLI's `--file`, History's document column."""

from __future__ import annotations

from pathlib import Path

from engine.documents.decode import Undecodable, decode
from engine.documents.htmltext import declared_charset, html_to_text
from engine.documents.mail import email_to_text, looks_like_email
from engine.documents.model import Document, DocumentError, sha256
from engine.documents.pdf import pdf_pages
from engine.documents.sniff import binary_kind

MAX_BYTES = 50 * 1024 * 1024
#: Extension → document type.
TYPES = {".txt": "text", ".text": "text", ".log": "text", ".csv": "text", ".md": "markdown",
         ".markdown": "markdown", ".html": "html", ".htm": "html", ".xhtml": "html",
         ".eml": "email", ".pdf": "pdf"}
#: Extensions we know but cannot read yet, with their names for the message.
NOT_YET = {".docx": "Word (.docx)", ".msg": "Outlook (.msg)",
           ".doc": "Word 97 (.doc)"}


def read_path(path: str | Path, *, max_bytes: int = MAX_BYTES) -> Document:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(path.name, f"cannot be opened ({exc.strerror or exc}).") from exc
    _check_size(path.name, size, max_bytes)
    return read_bytes(path.name, path.read_bytes(), max_bytes=max_bytes)


def read_bytes(name: str, data: bytes, *, max_bytes: int = MAX_BYTES) -> Document:
    """The document in `data`, a file named `name` (its extension picks the format)."""
    suffix = Path(name).suffix.lower()
    _check_size(name, len(data), max_bytes)
    if suffix in NOT_YET:
        raise DocumentError(name, f"{NOT_YET[suffix]} files cannot be read yet. Copy the text "
                                  "and paste it in the text box instead.")
    if suffix not in TYPES:
        known = ", ".join(sorted(TYPES))
        raise DocumentError(name, f"this kind of file ({suffix or 'no extension'}) cannot be "
                                  f"read. Fieldstream reads {known}.")
    if not data.strip():
        raise DocumentError(name, "the file is empty.")
    kind = binary_kind(data)
    if suffix == ".pdf":
        if kind != "a PDF":
            raise DocumentError(name, f"the name says .pdf but the file is {kind or 'text'}. "
                                      "Rename it to what it is, or choose another file.")
        return Document.from_pages(name, "pdf", data, pdf_pages(name, data))
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


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentError(name, f"the file is {size / 2**20:.1f} MB; the limit is "
                                  f"{max_bytes / 2**20:.0f} MB.")
