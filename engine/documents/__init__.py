"""Documents as input (#19): a file's bytes to a `Document` (metadata, text, page map).

Standard library only so far, plus charset-normalizer for encodings (see `decode`)."""

from engine.documents.model import Document, DocumentError
from engine.documents.read import read_bytes, read_path

__all__ = ["Document", "DocumentError", "read_bytes", "read_path"]
