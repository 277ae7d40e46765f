"""How run data is shown: values as plain text in the form, field states as labels, seconds,
table rows, results as JSON (the same JSON for the page, its download and the CLI), and the
one-line grounding summary (the pages, the history and the CLI say it the same way)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.grounding import EXACT, FUZZY, NORMALISED, NOT_FOUND, Grounding, Span
from engine.stream import paths
from engine.stream.changes import DONE, INVALID, PENDING, STREAMING

if TYPE_CHECKING:
    from engine.runs.state import LeafData

STATE_LABELS = {  # symbols every system font has (no emoji font needed)
    PENDING: "○ waiting",
    STREAMING: "✎ streaming",
    DONE: "✓ done",
    INVALID: "✗ invalid",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


#: How a value's grounding is named on its field (the page's badges, its highlights' tips).
GROUNDING_LABELS = {EXACT: "in text", NORMALISED: "normalised", FUZZY: "fuzzy",
                    NOT_FOUND: "not in the text"}
#: Said on the field of a value found nowhere in the text (the likely invention).
CHECK_IT = "not in the text — check it"


def grounding_label(grounding: Grounding) -> str:
    """A value's grounding in a word or two: "in text", "normalised", "fuzzy 87",
    "not in the text"."""
    label = GROUNDING_LABELS.get(grounding.status, grounding.status)
    if grounding.status == FUZZY and grounding.score is not None:
        return f"{label} {grounding.score:.0f}"
    return label


def display_value(value: Any) -> str:
    """A value as plain text for the form (containers as compact JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")
    return json.dumps(jsonable(value), ensure_ascii=False, default=str)


def table_rows(data: LeafData, columns: list[str]) -> list[dict[str, str]]:
    """Rows for a growing table: one dict per row, a `state` column first."""
    rows = []
    for item, cells in zip(data.items, data.cells, strict=False):
        row = {"state": state_label(item.state)}
        for col in columns:
            cell = cells.get(col)
            row[col] = display_value(cell.value) if cell is not None else ""
        rows.append(row)
    return rows


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def jsonable(value: Any) -> Any:
    """A result or partial as JSON-ready data: pydantic models dumped (strings of a partial as
    far as they got), lists item by item, anything else as it is. Keys are the JSON keys
    (aliases), as the model wrote them and the JSON Schema names them."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """JSON-ready data as the indented JSON people read and download."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def value_at(data: Any, path: str) -> Any:
    """The value at `path` in JSON-ready data (`users[1].email`), None when it is not there."""
    try:
        segs = paths.parse(path)
    except ValueError:
        return None
    for seg in segs:
        if isinstance(seg, int):
            ok = isinstance(data, list) and 0 <= seg < len(data)
        else:
            ok = isinstance(data, dict) and seg in data
        if not ok:
            return None
        data = data[seg]
    return data


def grounding_summary(grounding: Mapping[str, Grounding], values: Any = None) -> str:
    """One line on where the values stand in the text, e.g. "12 values found in the text,
    1 not in the text — check it: users[1].email (jason@acme.io)". `values` (the run's result
    or partial, JSON-ready) adds each not-found value in brackets. "" when nothing was
    grounded."""
    if not grounding:
        return ""
    missing = [p for p, g in grounding.items() if g.status == NOT_FOUND]
    found = len(grounding) - len(missing)
    line = f"{found} value{'s' if found != 1 else ''} found in the text"
    if not missing:
        return line + "."
    named = []
    for path in missing:
        value = value_at(values, path) if values is not None else None
        named.append(f"{path} ({display_value(value)})" if value is not None else path)
    check = "check it" if len(missing) == 1 else "check them"
    return f"{line}, {len(missing)} not in the text — {check}: {', '.join(named)}"


def span_context(text: str, span: Span, width: int = 40) -> str:
    """The text around a span on one line, the span itself in «»: "…held on «March 15th» at…"
    (plain text: shown as text, never as markdown or HTML)."""
    start, end = max(0, span.start - width), min(len(text), span.end + width)
    before, found, after = text[start:span.start], text[span.start:span.end], text[span.end:end]
    line = f"{'…' if start else ''}{before}«{found}»{after}{'…' if end < len(text) else ''}"
    return " ".join(line.split())
