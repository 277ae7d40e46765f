"""Run endings the database could not take, kept as files until it can.

When `Store.finish` cannot reach the database (Postgres restarting, a SQLite file locked for
longer than the busy timeout), the ending goes to one small JSON file per run,
`<data dir>/pending/<database>/<run id>.json`, and is written from there by this process (on
the schedule FIELDSTREAM_PENDING_RETRY sets) or by the next one that opens the same database.
`<database>` is a digest of the URL without its password, so a file only ever goes to the
database it was meant for.

A file holds `StoredRun.to_dict()` after the store's masking: no API key, no input when inputs
are not kept. It is written whole or not at all (a temporary file in the same folder, flushed
to disk, then renamed over the final name), readable by its owner only. A file that cannot be
read back is set aside (renamed `*.bad`) with a log line: never retried, never fatal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from engine.store.records import StoredRun

log = logging.getLogger(__name__)

FOLDER = "pending"
FORMAT = 1  # the file's layout; a file of another format is set aside, not misread
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# What "the database is not answering" looks like: the server is down or restarting, the
# connection dropped, the pool timed out, the SQLite file is locked or cannot be opened.
# A refused statement (IntegrityError, DataError) is not among them: retrying cannot help.
_UNREACHABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                sa_exc.TimeoutError, OSError)


def unreachable(error: BaseException | None) -> bool:
    """True when `error` (or what it was raised from) says the database cannot be reached
    now, rather than that it refused what was sent."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, _UNREACHABLE):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def folder_for(data_dir: Path, url: str) -> Path:
    """The pending folder of one database: its URL's digest, the password left out (it may
    change, and must not be hashed where anyone could try guesses against it)."""
    masked = make_url(url).render_as_string(hide_password=True)
    return data_dir / FOLDER / hashlib.sha256(masked.encode("utf-8")).hexdigest()[:16]


class PendingEnds:
    """The pending folder of one database (see the module doc)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def park(self, run: dict[str, Any]) -> Path:
        """Keep one run's ending (`StoredRun.to_dict()`, already masked) until it is written."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.folder / f"{_file_id(str(run['id']))}.json"
        text = json.dumps({"format": FORMAT, "run": run}, ensure_ascii=True)
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())  # on disk before the rename makes it the real file
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return final

    def any(self) -> bool:
        return self.folder.is_dir() and next(self.folder.glob("*.json"), None) is not None

    def waiting(self) -> list[tuple[Path, StoredRun]]:
        """The kept endings, read back; a file that cannot be is set aside on the way."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.json")):
            run = self._read(path)
            if run is not None:
                found.append((path, run))
        return found

    def drop(self, path: Path) -> None:
        """Forget a written ending (another process may have dropped it first)."""
        path.unlink(missing_ok=True)

    def set_aside(self, path: Path, why: str) -> None:
        aside = path.with_name(path.name + ".bad")
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, aside)
            log.warning("A run's ending kept in %s is set aside as %s: %s. It is not written "
                        "to the history.", path, aside.name, why)

    def _read(self, path: Path) -> StoredRun | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"not a pending ending of format {FORMAT}")
            return StoredRun.from_dict(data.get("run"))
        except FileNotFoundError:
            return None  # written and dropped by another process meanwhile
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeError included
            self.set_aside(path, f"it cannot be read back ({exc})")
            return None


def _file_id(run_id: str) -> str:
    """The run id as a file name (a digest for an id that is not a plain word)."""
    if _SAFE_ID.fullmatch(run_id):
        return run_id
    return hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()
