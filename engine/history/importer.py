"""Import of a JSON Lines export, all or nothing.

Every line is checked and written inside one transaction: a malformed line stops the import
with its line number and nothing of it stays in the database. Runs whose id is already
there (or earlier in the same file) are skipped, so importing the same file twice is harmless.
A comparison's export (`engine.history.comparison.export_comparison`) imports too: its first
line, `{"comparison": ...}`, is the verdict as it was and is passed over; its runs are imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from engine.store import Store, StoredRun
from engine.store.tables import runs

_BATCH = 500


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped: int  # ids already in the database or repeated in the file


class ImportFormatError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def import_jsonl(store: Store, lines: Iterable[str]) -> ImportResult:
    """Import the runs of a JSON Lines export (a file opened in text mode, or its lines)."""
    imported = skipped = 0
    seen: set[str] = set()
    batch: list[StoredRun] = []
    with store.transaction() as conn:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            run = parse_line(number, line)
            if run is None:
                continue
            if run.id in seen:
                skipped += 1
                continue
            seen.add(run.id)
            batch.append(run)
            if len(batch) >= _BATCH:
                added = _insert_new(store, conn, batch)
                imported, skipped, batch = imported + added, skipped + len(batch) - added, []
        added = _insert_new(store, conn, batch)
    return ImportResult(imported + added, skipped + len(batch) - added)


def import_bytes(store: Store, data: bytes) -> ImportResult:
    """Import an uploaded JSON Lines file; a file that is not UTF-8 is an ImportFormatError
    naming the first line that is not (nothing is imported then)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFormatError(line, "not UTF-8 text") from None
    return import_jsonl(store, text.splitlines())


def parse_line(number: int, line: str) -> StoredRun | None:
    """The run on this line; None for a comparison's head line (see the module doc)."""
    try:
        # json, not jiter: an export keeps the raw chunks exactly, lone surrogate escapes
        # (`\ud800`) included, and jiter refuses those.
        data = json.loads(line)
        if isinstance(data, dict) and list(data) == ["comparison"]:
            return None
        return StoredRun.from_dict(data)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(number, f"not JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:
        raise ImportFormatError(number, str(exc)) from None


def _insert_new(store: Store, conn: Connection, batch: list[StoredRun]) -> int:
    ids = [run.id for run in batch]
    known = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(ids))).scalars())
    return store.insert_many(conn, [run for run in batch if run.id not in known])
