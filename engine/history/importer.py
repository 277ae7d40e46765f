"""Import of a JSON Lines export, all or nothing.

Every line is checked and written inside one transaction: a malformed line stops the import
with its line number and nothing of it stays in the database. Every field is checked at this
boundary (`StoredRun.from_dict`) against what both databases take and a live run can produce;
nesting is measured before the line is parsed, so no value makes the parser recurse. Runs
whose id is already there (or earlier in the same file) are skipped, so importing the same
file twice is harmless.
A comparison's export (`engine.compare.comparisons.export_comparison`) imports too: its first
line, `{"comparison": ...}`, is the verdict as it was and is passed over; its runs are imported.
An export made before run groups (migration 0007) imports as well: its lanes' `compare_id` and
`compare_lane` are read as a "compare" group (`StoredRun.from_dict`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from engine.store import Store, StoredRun
from engine.store.records import TOO_DEEP, LongNumber
from engine.store.tables import runs
from engine.stream.json_stream import MAX_DEPTH, MAX_NUMBER_CHARS

_BATCH = 500
# A JSON string (escapes included) or a bracket: enough to measure nesting without parsing.
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_TOKENS = re.compile(rf"{_STRING}|[\[\]{{}}]")
_STRINGS = re.compile(_STRING)
_INNERMOST = re.compile(r"\[[^\[\]{}]*+\]|\{[^\[\]{}]*+\}")  # a container with none inside


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
    too_deep = _too_deep(line)
    if too_deep is not None:
        raise ImportFormatError(number, f"{too_deep} {TOO_DEEP}".lstrip())
    try:
        # json, not jiter: an export keeps the raw chunks exactly, lone surrogate escapes
        # (`\ud800`) included, and jiter refuses those.
        data = json.loads(line, parse_int=_parse_int)
        if isinstance(data, dict) and list(data) == ["comparison"]:
            return None
        return StoredRun.from_dict(data)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(number, f"not JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:
        raise ImportFormatError(number, str(exc)) from None


def _parse_int(text: str) -> int | LongNumber:
    # int() refuses over 4,300 digits with advice for programmers; the check names the field.
    return LongNumber(len(text)) if len(text) > MAX_NUMBER_CHARS else int(text)


def _too_deep(line: str) -> str | None:
    """The field (quoted; "" when there is none) holding a value nested deeper than a stored
    value may be, None when nothing is: found before json.loads, which would recurse into
    it. The line's own object is one level; each field's value may have MAX_DEPTH more."""
    if not _deeper_than(line, MAX_DEPTH + 1):
        return None  # the usual case, without a scan token by token
    depth, key = 0, ""
    for match in _TOKENS.finditer(line):
        token = match.group()
        if token[0] == '"':
            if depth == 1:  # a member name or a string value of the line's object: the
                key = token  # last one before a field's opening bracket is its name
        elif token in "[{":
            depth += 1
            if depth > MAX_DEPTH + 1:
                return _name(key)
        else:
            depth -= 1
    return None


def _deeper_than(line: str, limit: int) -> bool:
    """Whether the line may nest deeper than `limit` (malformed brackets say yes too): the
    line without its strings, innermost containers removed a level per pass, all in C."""
    if line.count("[") + line.count("{") <= limit:
        return False
    rest = _STRINGS.sub("", line)
    for _ in range(limit):
        if "[" not in rest and "{" not in rest:
            return False
        rest = _INNERMOST.sub("", rest)
    return "[" in rest or "{" in rest


def _name(token: str) -> str:
    """A member name as written in JSON, quoted for a message ("" when it is not valid)."""
    try:
        return repr(json.loads(token)) if token else ""
    except ValueError:  # a bad escape: the line is not JSON, and no field can be named
        return ""


def _insert_new(store: Store, conn: Connection, batch: list[StoredRun]) -> int:
    ids = [run.id for run in batch]
    known = set(conn.execute(select(runs.c.id).where(runs.c.id.in_(ids))).scalars())
    return store.insert_many(conn, [run for run in batch if run.id not in known])
