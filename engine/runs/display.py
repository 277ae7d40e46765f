"""How run data is shown: values as plain text in the form, field states as labels, seconds,
table rows, and results as JSON (the same JSON for the page, its download and the CLI)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from engine.stream.changes import DONE, INVALID, PENDING, STREAMING

if TYPE_CHECKING:
    from engine.runs.runner import LeafData

STATE_LABELS = {  # symbols every system font has (no emoji font needed)
    PENDING: "○ waiting",
    STREAMING: "✎ streaming",
    DONE: "✓ done",
    INVALID: "✗ invalid",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


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
