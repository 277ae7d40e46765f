"""Column types that store any Python text exactly, on SQLite and Postgres alike.

Postgres rejects NUL characters in text, and neither psycopg nor sqlite3 can encode a lone
surrogate (half of a UTF-16 pair, e.g. from a model that streamed broken escapes) to UTF-8.
`SafeText` escapes those code points reversibly with a private-use marker (the marker itself is
escaped too), so ordinary text is stored unchanged and still matches searches word for word.
Every text and JSON column of the store uses these types.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, Text, TypeDecorator

ESC = "\ue000"  # private use: never produced by models in practice, escaped when it is
_NEEDS_ESCAPE = re.compile("[\x00\ue000\ud800-\udfff]")
_ESCAPED = re.compile("\ue000(?:(e)|(0)|s([0-9a-f]{4}))")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char == ESC:
        return ESC + "e"
    if char == "\x00":
        return ESC + "0"
    return f"{ESC}s{ord(char):04x}"


def _unescape_one(match: re.Match[str]) -> str:
    if match.group(1):
        return ESC
    if match.group(2):
        return "\x00"
    return chr(int(match.group(3), 16))


def escape(text: str) -> str:
    """Text safe for both databases; `unescape(escape(s)) == s` for every str."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text  # the usual case: nothing to do
    return _NEEDS_ESCAPE.sub(_escape_one, text)


def unescape(text: str) -> str:
    if ESC not in text:
        return text
    return _ESCAPED.sub(_unescape_one, text)


class SafeText(TypeDecorator[str]):
    """Text column whose values round-trip exactly (NULs and lone surrogates included)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else escape(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else unescape(value)


def dumps(value: Any) -> str:
    # ensure_ascii=False keeps words searchable as written ("Müller", not "M\\u00fcller").
    # A typed value in a partial answer (a split run's merged `date`, kept when the whole does
    # not validate) is written as its JSON form ("2010-06-18"), the form a whole answer has.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      default=to_jsonable_python)


class SafeJSON(TypeDecorator[Any]):
    """JSON kept as escaped text (not jsonb: that rejects \\u0000), so search can read it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else escape(dumps(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        # json, not jiter: stored values keep lone surrogate escapes, which jiter refuses.
        return None if value is None else json.loads(unescape(value))


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no offset, so store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
