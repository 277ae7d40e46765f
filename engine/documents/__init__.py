"""Documents as input (#19): a file's bytes to a `Document` (metadata, text, page map).

`read_document` is what the app and the CLI call: the size limit from settings, the
conversion kept away from the caller (see `engine.documents.convert` once it lands)."""

from __future__ import annotations

from collections.abc import Callable

from engine.documents.model import Document, DocumentError, DocumentInfo
from engine.documents.read import read_bytes, read_path

__all__ = ["Document", "DocumentError", "DocumentInfo", "read_bytes", "read_document",
           "read_path"]

#: `on_progress(done, total, what)`: a big file's conversion saying how far it is.
Progress = Callable[[int, int, str], None]


def read_document(name: str, data: bytes, *, env: dict[str, str] | None = None,
                  on_progress: Progress | None = None) -> Document:
    """The document in `data` (a file named `name`), or one `DocumentError` saying plainly
    what is wrong. Limits come from `engine.settings` (`max_file_bytes`, ...)."""
    from engine import settings

    return read_bytes(name, data, max_bytes=settings.max_file_bytes(env))
