"""Documents as input (#19): a file's bytes to a `Document` (metadata, text, page map).

`read_document` is what the app and the CLI call: the size limit from settings, then the
conversion in a child process with a time and a memory limit (`engine.documents.convert`).
`read_bytes` / `read_path` read in the calling process with no such limits (tests, benches).

`python -m engine.documents upload-mb` prints the upload limit in whole MB for Streamlit's
`server.maxUploadSize` (the Makefile's `run` passes it), from the same setting."""

from __future__ import annotations

from pathlib import Path

from engine.documents.model import Document, DocumentError, DocumentInfo, Progress
from engine.documents.read import read_bytes, read_path

__all__ = ["Document", "DocumentError", "DocumentInfo", "Progress", "read_bytes",
           "read_document", "read_path", "read_path_document"]


def read_document(name: str, data: bytes, *, env: dict[str, str] | None = None,
                  on_progress: Progress | None = None) -> Document:
    """The document in `data` (a file named `name`), or one `DocumentError` saying plainly
    what is wrong. Limits come from `engine.settings` (`max_file_bytes`, `convert_timeout`,
    `convert_memory_bytes`; `env` instead of `os.environ`). PDFs and Word files say how far
    they are through `on_progress(done, total, what)`, called in the caller's thread."""
    from engine.documents.convert import convert  # not at import: `-m ...convert` runs it

    return convert(name, data, env=env, on_progress=on_progress).document


def read_path_document(path: str | Path, *, env: dict[str, str] | None = None,
                       on_progress: Progress | None = None) -> Document:
    """`read_document` of a file on disk (the CLI's `--file`): its size checked before its
    bytes are read, so a 10 GB file is refused without being loaded."""
    from engine import settings
    from engine.documents.read import check_size

    path = Path(path)
    try:
        check_size(path.name, path.stat().st_size, settings.max_file_bytes(env))
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path.name, f"cannot be opened ({exc.strerror or exc}).") from exc
    return read_document(path.name, data, env=env, on_progress=on_progress)
