"""A document as a run's input, on the Extract and Compare pages: a file uploader beside the
text box. Each file is read once (by the sha256 of its bytes, kept in the session), with a
progress line while it converts, then said in one line (name · type · pages · size ·
characters); its text is the run's text. A file that cannot be read gets its one message and
nothing else on the page changes; removing the file gives the text box's text back.

Reading goes through `engine.documents.read_document` only (the size limit, the child
process and its limits are its business)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from engine.documents import Document, DocumentError, Progress, read_document
from engine.documents.read import REFUSED, TYPES
from engine.settings import SettingError
from ui.keys import DOCUMENTS_KEY
from ui.text import escape_md

#: What the uploader takes: every extension the reader knows, those it cannot read yet too
#: (they get the reader's own message rather than the uploader's silent refusal).
EXTENSIONS = sorted({*TYPES, *REFUSED})
#: Documents kept per session (the latest read first to go): a few, as each holds its text.
KEPT = 4
#: A document type as a person names it.
TYPE_NAMES = {"pdf": "PDF", "docx": "Word", "html": "HTML", "email": "e-mail", "text": "text",
              "markdown": "Markdown", "msg": "Outlook e-mail"}
LABEL = "Or a file: PDF, Word, HTML, e-mail, Markdown or text"
HELP = ("Drop a file here or browse. Its text is what the model reads, and each value found "
        "in it says its page. The text box is kept: remove the file to use it again.")


def render_document_input(key: str) -> Document | None:
    """The uploader (widget key `key`, a page's own: `ui.keys.UPLOAD_KEYS`) and what it
    holds: the document read from the file, or None (no file, or one that cannot be read,
    whose message is then shown)."""
    upload = st.file_uploader(LABEL, type=EXTENSIONS, key=key, help=HELP)
    if upload is None:
        return None
    data = upload.getvalue()
    read = _read_once(upload.name, data)
    if isinstance(read, str):
        st.error(escape_md(read))
        return None
    st.caption(escape_md(summary(read)))
    for note in read.notes:
        st.caption(escape_md(note))
    st.caption("The model reads this file's text; remove the file to extract from the text "
               "box again.")
    return read


def _read_once(name: str, data: bytes) -> Document | str:
    """The document in `data`, or the message that says why it cannot be read: read on the
    first upload of these bytes, then taken from the session."""
    digest = hashlib.sha256(data).hexdigest()
    cache: OrderedDict[str, Document | str] = st.session_state.setdefault(DOCUMENTS_KEY,
                                                                         OrderedDict())
    if digest in cache:
        cache.move_to_end(digest)
        found = cache[digest]
        # the same bytes under another name: the message names the file chosen now
        if isinstance(found, str) or found.name == name:
            return found
    line = st.empty()
    try:
        read: Document | str = read_document(name, data, on_progress=_progress(line, name))
    except DocumentError as exc:
        read = str(exc)
    except SettingError as exc:  # a limit set wrongly: said, not kept (it may be fixed)
        line.empty()
        return str(exc)
    line.empty()
    cache[digest] = read
    while len(cache) > KEPT:
        cache.popitem(last=False)
    return read


def _progress(line: DeltaGenerator, name: str) -> Progress:
    """The progress line of a conversion: drawn at once, moved on as the reader reports."""
    line.progress(0.0, text=f"Reading {name}…")

    def on_progress(done: int, total: int, what: str) -> None:
        share = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        line.progress(share, text=f"Reading {name}: {what}" if what else f"Reading {name}…")

    return on_progress


def summary(doc: Document) -> str:
    """`contract.pdf · PDF · 12 pages · 1.2 MB · 45,120 characters`."""
    pages = f"{doc.pages} page{'s' if doc.pages != 1 else ''}"
    kind = TYPE_NAMES.get(doc.type, doc.type)
    return f"{doc.name} · {kind} · {pages} · {size_label(doc.size)} · {len(doc.text):,} characters"


def size_label(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 2**20:.1f} MB"
