"""Whole JSON documents parsed at once — a saved file, a pasted answer or schema, one line of
an export, a server's reply — with jiter (the streaming parser is for answers that arrive in
pieces). One error type says where a document is broken, for messages people can act on."""

from __future__ import annotations

import re
from typing import Any

import jiter

_WHERE = re.compile(r"^(?P<msg>.*) at line (?P<line>\d+) column (?P<col>\d+)$", re.S)


class JSONDocumentError(ValueError):
    """Malformed JSON: `msg` (what is wrong), `lineno` and `colno` (1-based; 0 when unknown)."""

    def __init__(self, msg: str, lineno: int = 0, colno: int = 0) -> None:
        super().__init__(f"{msg} at line {lineno}, column {colno}" if lineno else msg)
        self.msg, self.lineno, self.colno = msg, lineno, colno


def load(data: str | bytes) -> Any:
    """A JSON document as Python values (too deep a nesting is an error, not a crash)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        return jiter.from_json(raw)
    except ValueError as exc:
        where = _WHERE.match(str(exc))
        if where is None:
            raise JSONDocumentError(str(exc)) from None
        raise JSONDocumentError(where["msg"], int(where["line"]), int(where["col"])) from None
