"""`StoredRun`: what the store writes for one run, and its JSON form (exports, imports).

There is deliberately no API key field: a provider is recorded by name, base URL host and
model only, and `base_url_host` is reduced to host[:port] whatever it is given, so credentials
or `?api-key=` in a URL never reach the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import reprlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from engine.documents.model import DocumentInfo
from engine.grounding import NOT_FOUND, Grounding
from engine.grounding import STATUSES as GROUNDING_STATUSES
from engine.store.timeline import MAX_MS
from engine.stream.json_stream import MAX_DEPTH, MAX_NUMBER_CHARS

RUNNING = "running"
INTERRUPTED = "interrupted"  # derived from a stale heartbeat, never stored
ENDED = ("done", "invalid", "error", "cancelled", "truncated", "refused", "filtered")
STATUSES = (RUNNING, *ENDED)
SOURCES = ("page", "cli", "compare", "batch")
GROUP_COMPARE = "compare"  # a comparison's lanes' group kind (`engine.runs.spec.GROUP_COMPARE`)

# What a run's fields may hold: what both databases' columns take and what a live run can
# produce, so every stored run exports and imports again.
JSON_FIELDS = ("json_schema", "result", "field_errors", "usage", "grounding")
TOO_DEEP = f"nests deeper than {MAX_DEPTH} arrays/objects"  # the stream parser's own limit
MAX_COUNT = 2**31 - 1  # Postgres `integer` (not_found): the narrower of the two databases
# A day inside Python's datetime range at either end, so a database session in any time zone
# can still show the moment (Postgres hands timestamptz back in the session's zone).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_TIMINGS = ("ttft_ms", "first_field_ms", "total_ms")


@dataclass(frozen=True)
class LongNumber:
    """Where a parser met a number longer than the stream parser's MAX_NUMBER_CHARS (Python
    cannot even turn it into an int): a marker, so the check can name the field it is in."""

    chars: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def fingerprint(json_schema: Any) -> str:
    """sha256 of the canonical JSON Schema (sorted keys, no spaces), so equal schemas match."""
    canonical = json.dumps(json_schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def url_host(url: str | None) -> str | None:
    """host[:port] of a base URL (or of a bare host): no scheme, user, password, path, query."""
    if not url:
        return None
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host or None


@dataclass
class StoredRun:
    """One run as recorded. `start()` writes it, `finish()` writes its end fields."""

    schema_name: str
    provider: str
    model: str
    json_schema: Any = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    status: str = RUNNING
    started_at: datetime = field(default_factory=utcnow)
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None  # set by the store
    schema_version: str | None = None
    schema_fingerprint: str = ""  # computed from json_schema when empty
    base_url_host: str | None = None
    mode: str | None = None
    input_text: str | None = None
    result: Any = None  # the final JSON, or the partial when the run did not finish
    field_errors: dict[str, Any] | None = None  # by path, e.g. {"users.0.email": ["..."]}
    usage: dict[str, Any] | None = None
    ttft_ms: float | None = None  # time to first token
    first_field_ms: float | None = None  # time to the first done field
    total_ms: float | None = None
    source: str = "page"
    # The group the run was started in (`engine.runs.spec.RunGroup`): kind, id, member (a
    # comparison's lane, a batch's document); all None for a run in no group.
    group_kind: str | None = None
    group_id: str | None = None
    group_member: str | None = None
    ran_by: str | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)
    # Where each value stands in the text, JSON form: path -> Grounding.to_json(). None (and
    # not_found None) for a run recorded before grounding existed.
    grounding: dict[str, Any] | None = None
    not_found: int | None = None  # how many grounded values are nowhere in the text
    # The file the text was read from (its metadata, never its bytes); None for pasted text.
    document: DocumentInfo | None = None
    # A split document's chunks and extra passes, in order (the `run_parts` table, not a
    # column); empty for a run in one piece. The store writes them with the run's ending.
    parts: list[StoredPart] = field(default_factory=list)
    shown_status: str | None = None  # filled by queries: status, or "interrupted"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not self.schema_fingerprint:
            self.schema_fingerprint = fingerprint(self.json_schema)
        self.base_url_host = url_host(self.base_url_host)
        if self.grounding is not None and self.not_found is None:
            self.not_found = not_found_count(self.grounding)

    @property
    def compare_id(self) -> str | None:
        """The comparison this run was a lane of (None for other runs)."""
        return self.group_id if self.group_kind == GROUP_COMPARE else None

    @property
    def compare_lane(self) -> str | None:
        return self.group_member if self.group_kind == GROUP_COMPARE else None

    def set_grounding(self, grounding: Mapping[str, Grounding]) -> None:
        """Keep a run's grounding (`RunEnd.grounding`) and its not-found count."""
        self.grounding = {path: g.to_json() for path, g in grounding.items()}
        self.not_found = not_found_count(self.grounding)

    def groundings(self) -> dict[str, Grounding]:
        """The stored grounding as `Grounding`s, by path (empty when there is none)."""
        return {path: Grounding.from_json(g) for path, g in (self.grounding or {}).items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601, the timeline as [[ms, text], ...]. The JSON
        values are the run's own, not copies: `asdict` would copy them recursively, two
        frames a level, and fail on a value at the nesting the import accepts."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "shown_status"}
        for name in ("started_at", "ended_at", "heartbeat_at"):
            out[name] = out[name] and out[name].isoformat()
        out["timeline"] = [[ms, text] for ms, text in self.timeline]
        out["document"] = self.document.to_json() if self.document is not None else None
        out["parts"] = [part.to_dict() for part in self.parts]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> StoredRun:
        """The inverse of `to_dict`; raises ValueError naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        known = {f.name for f in fields(cls)} - {"shown_status"} | set(_BEFORE_GROUPS)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        for name in ("id", "schema_name", "provider", "model", "started_at"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"{name!r} must be a string")
        for name in ("status", "source"):  # NOT NULL columns, defaulted only when absent
            if name in data and not isinstance(data[name], str):
                raise ValueError(f"{name!r} must be a string")
        for name in JSON_FIELDS:  # first: the checks below walk these values
            problem = json_problem(data.get(name))
            if problem:
                raise ValueError(f"{name!r} {problem}")
        kwargs = _grouped(dict(data))
        for name in ("started_at", "ended_at", "heartbeat_at"):
            kwargs[name] = _datetime(name, kwargs.get(name))
        kwargs["timeline"] = _timeline(kwargs.get("timeline") or [])
        _check_grounding(kwargs.get("grounding"))
        _check_types(kwargs)
        _check_group(kwargs)
        _check_host(kwargs.get("base_url_host"))
        _check_count("not_found", kwargs.get("not_found"))
        for name in _TIMINGS:
            kwargs[name] = _milliseconds(name, kwargs.get(name))
        kwargs["document"] = document_from(kwargs.get("document"))
        kwargs["parts"] = _parts(kwargs.get("parts"))
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


PART_KINDS = ("chunk", "pass")  # a split text's chunk, or an extra pass over it
PART_JSON_FIELDS = ("usage", "answer", "grounding")
_PART_TIMINGS = ("offset_ms", "ttft_ms", "first_field_ms", "total_ms")
_PART_COUNTS = ("idx", "span_start", "span_end", "first_page", "last_page")


@dataclass
class StoredPart:
    """One part of a split document's run (`engine.runs.hooks.PartEnd`), as stored: a row of
    `run_parts`. `span_start:span_end` are characters of the run's text, on pages
    `first_page`..`last_page`; timings are milliseconds from the part's own request start,
    `offset_ms` when that request started after the run's start; `answer` its result or
    partial; `grounding` path -> Grounding.to_json(), offsets in the whole text; `timeline`
    its chunk log as [(ms, delta)], like a run's."""

    idx: int
    kind: str = "chunk"
    span_start: int = 0
    span_end: int = 0
    first_page: int = 1
    last_page: int = 1
    status: str = "done"
    error_type: str | None = None
    error_message: str | None = None
    offset_ms: float | None = None
    ttft_ms: float | None = None
    first_field_ms: float | None = None
    total_ms: float | None = None
    usage: dict[str, Any] | None = None
    tokens: int | None = None  # completion tokens, when the server said
    answer: Any = None
    grounding: dict[str, Any] | None = None
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def groundings(self) -> dict[str, Grounding]:
        return {path: Grounding.from_json(g) for path, g in (self.grounding or {}).items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as a run's `parts` hold it in an export (the timeline as pairs)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["timeline"] = [[ms, text] for ms, text in self.timeline]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> StoredPart:
        """The inverse of `to_dict`; raises ValueError naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        for name in PART_JSON_FIELDS:
            problem = json_problem(data.get(name))
            if problem:
                raise ValueError(f"{name!r} {problem}")
        kwargs = dict(data)
        if not isinstance(kwargs.get("idx"), int) or isinstance(kwargs["idx"], bool):
            raise ValueError(f"'idx' must be a whole number, got {_shown(kwargs.get('idx'))}")
        _check_part_types(kwargs)
        for name in (*_PART_COUNTS, "tokens"):
            _check_count(name, kwargs.get(name))
        if kwargs.get("kind", "chunk") not in PART_KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(PART_KINDS)}, "
                             f"got {_shown(kwargs['kind'])}")
        if kwargs.get("status", "done") not in ENDED:
            raise ValueError(f"'status' must be one of {', '.join(ENDED)}, "
                             f"got {_shown(kwargs['status'])}")
        if kwargs.get("span_start", 0) > kwargs.get("span_end", 0):
            raise ValueError("'span_start' is after 'span_end'")
        _check_grounding(kwargs.get("grounding"))
        kwargs["timeline"] = _timeline(kwargs.get("timeline") or [])
        for name in _PART_TIMINGS:
            kwargs[name] = _milliseconds(name, kwargs.get(name))
        return cls(**kwargs)


_PART_TYPES: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(_PART_COUNTS, int), "tokens": int, "kind": str, "status": str,
    "error_type": str, "error_message": str, "usage": dict, "grounding": dict,
    **dict.fromkeys(_PART_TIMINGS, (int, float)),
}


def _check_part_types(kwargs: dict[str, Any]) -> None:
    for name, kind in _PART_TYPES.items():
        value = kwargs.get(name)
        if name in kwargs and name in ("kind", "status", *_PART_COUNTS) and value is None:
            raise ValueError(f"{name!r} must not be null")  # NOT NULL columns
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"{name!r} has the wrong type: {_shown(value)}")


def _parts(value: Any) -> list[StoredPart]:
    """A run's `parts` from an export: each checked, their indexes unique (the table's key)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("'parts' must be a list of parts")
    parts, seen = [], set()
    for i, data in enumerate(value):
        try:
            part = StoredPart.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"'parts'[{i}]: {exc}") from None
        if part.idx in seen:
            raise ValueError(f"'parts'[{i}]: 'idx' {part.idx} is already a part of this run")
        seen.add(part.idx)
        parts.append(part)
    return parts


_DOCUMENT_TEXT = ("name", "type", "sha256", "encoding")
_DOCUMENT_COUNTS = ("size", "pages", "chars")


def document_from(value: Any) -> DocumentInfo | None:
    """A stored or exported `document` (`DocumentInfo.to_json()`) read back; ValueError
    naming what is wrong. Strict, not coerced: an export holds what the recorder wrote."""
    if value is None or isinstance(value, DocumentInfo):
        return value
    problem = json_problem(value) if isinstance(value, dict) else "is not a JSON object"
    if problem is None:
        problem = _document_problem(value)
    if problem:
        raise ValueError(f"'document' {problem}")
    return DocumentInfo.from_json(value)


def _document_problem(data: dict[str, Any]) -> str | None:
    unknown = sorted(set(data) - {f.name for f in fields(DocumentInfo)})
    if unknown:
        return f"has unknown field(s): {', '.join(unknown)}"
    for name in _DOCUMENT_TEXT:
        if not isinstance(data.get(name, ""), str):
            return f"{name!r} must be text, got {_shown(data[name])}"
    for name in _DOCUMENT_COUNTS:
        value = data.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{name!r} must be a count, got {_shown(value)}"
    starts = data.get("page_starts", [0])
    ok = isinstance(starts, list) and starts and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in starts)
    if not ok or starts != sorted(starts):
        return f"'page_starts' must be offsets in order, got {_shown(starts)}"
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return f"'notes' must be a list of text, got {_shown(notes)}"
    return None


# What a run exported before run groups (0007) may hold instead of group_*: `_grouped`.
_BEFORE_GROUPS = ("compare_id", "compare_lane")
_OLD_SOURCE = "compare:"

_OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": str, "schema_version": str, "schema_fingerprint": str, "base_url_host": str,
    "mode": str, "input_text": str, "source": str, "group_kind": str, "group_id": str,
    "group_member": str, **dict.fromkeys(_BEFORE_GROUPS, str),
    "ran_by": str, "field_errors": dict, "usage": dict, "grounding": dict, "not_found": int,
    "ttft_ms": (int, float), "first_field_ms": (int, float), "total_ms": (int, float),
}


def _grouped(data: dict[str, Any]) -> dict[str, Any]:
    """A run exported before run groups (0007) in today's fields: its `compare_id` and
    `compare_lane` are a "compare" group; so is a source `compare:<id>:<lane>`, as lanes were
    once spelled (its source is then "compare")."""
    _check_types({name: data.get(name) for name in (*_BEFORE_GROUPS, "source")})
    compare_id, lane = (data.pop(name, None) for name in _BEFORE_GROUPS)
    source = data.get("source")
    if isinstance(source, str) and source.startswith(_OLD_SOURCE):
        old_id, _, old_lane = source.removeprefix(_OLD_SOURCE).partition(":")
        compare_id, lane = compare_id or old_id or None, lane or old_lane or None
        data["source"] = GROUP_COMPARE
    if compare_id is not None and data.get("group_id") is None:
        data.update(group_kind=GROUP_COMPARE, group_id=compare_id, group_member=lane)
    return data


def _check_group(kwargs: dict[str, Any]) -> None:
    kind, group_id, member = (kwargs.get(f"group_{name}") for name in ("kind", "id", "member"))
    if (kind is None) != (group_id is None) or (member is not None and group_id is None):
        raise ValueError("'group_kind', 'group_id' and 'group_member': a group has a kind and "
                         f"an id, a member only in a group; got {_shown((kind, group_id, member))}")


def _check_types(kwargs: dict[str, Any]) -> None:
    for name, kind in _OPTIONAL_TYPES.items():
        value = kwargs.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"{name!r} has the wrong type: {_shown(value)}")


def json_problem(value: Any) -> str | None:
    """Why a JSON value cannot be stored and read back as it is (None when it can): nesting
    deeper than the stream parser accepts, a number that is not finite (NaN, Infinity,
    1e400) or too long (`LongNumber`). Walked with a stack of its own: no recursion."""
    if not isinstance(value, dict | list | tuple):
        return _leaf_problem(value)
    stack = [(value, 1)]  # containers only, with their depth
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return TOO_DEEP
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list | tuple):
                stack.append((child, depth + 1))
            elif isinstance(child, float | LongNumber) and (problem := _leaf_problem(child)):
                return problem
    return None


def _leaf_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"holds {value!r}, not a finite number"
    if isinstance(value, LongNumber):
        return f"holds a number of {value.chars:,} characters (at most {MAX_NUMBER_CHARS:,})"
    return None


def _check_host(value: str | None) -> None:
    try:
        url_host(value)
    except ValueError:  # urlsplit's own message ("Invalid IPv6 URL") names no field
        raise ValueError(f"'base_url_host' is not a host or URL: {_shown(value)}") from None


def _check_count(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{name!r} must be a count from 0 to {MAX_COUNT:,}, got {_shown(value)}")


def _milliseconds(name: str, value: float | None) -> float | None:
    """A timing as the float the column stores (an int too big for a float is refused)."""
    if value is None:
        return None
    ms = _finite(value)
    if ms is None:
        raise ValueError(f"{name!r} must be a finite number of milliseconds, got {_shown(value)}")
    return ms


def _finite(value: float) -> float | None:
    try:
        number = float(value)
    except OverflowError:  # an int of more than 308 digits
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> str:
    return reprlib.repr(value)  # a hostile value may be megabytes long


def not_found_count(grounding: Mapping[str, Any]) -> int:
    """How many values of a stored grounding (JSON form) are not in the text."""
    return sum(1 for g in grounding.values() if g.get("status") == NOT_FOUND)


def _check_grounding(value: Any) -> None:
    """An imported grounding must read back: {path: {"status": ..., "spans": [[a, b]]}}."""
    if value is None:
        return
    for path, g in value.items() if isinstance(value, dict) else ():
        try:
            ok = Grounding.from_json(g).status in GROUNDING_STATUSES
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise ValueError(f"'grounding' of {path!r} is not a status with spans: {g!r}")


def _datetime(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name!r} must be an ISO 8601 date-time, got {_shown(value)}") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        in_range = EARLIEST <= parsed.astimezone(UTC) <= LATEST
    except OverflowError:  # year 1 at +01:00 is in year 0 in UTC
        in_range = False
    if not in_range:
        raise ValueError(f"{name!r} must be from {EARLIEST.date()} to {LATEST.date()} in UTC, "
                         f"got {_shown(value)}")
    return parsed


def _timeline(value: Any) -> list[tuple[float, str]]:
    ok = isinstance(value, list) and all(
        isinstance(item, list) and len(item) == 2 and isinstance(item[0], int | float)
        and not isinstance(item[0], bool) and isinstance(item[1], str) for item in value
    )
    if not ok:
        raise ValueError("'timeline' must be a list of [ms, text] pairs")
    for ms, _ in value:
        if not -MAX_MS <= ms <= MAX_MS:  # NaN too; ints compare exactly, without a float
            raise ValueError(f"'timeline' offsets must be finite milliseconds within "
                             f"±{MAX_MS:.0f}, got {_shown(ms)}")
    return [(float(ms), text) for ms, text in value]
