"""How a model is asked for JSON: the modes, in one order of preference.

- `json_schema`: `response_format` with the strict JSON Schema (the server enforces it).
- `tools`: one function tool whose parameters are the schema, forced with `tool_choice`.
- `json_object`: `response_format={"type": "json_object"}`, the schema in the system prompt.
- `md_json`: the schema in the system prompt, the answer in a ```json fence (any chat server).

The order is the preference: the more the server enforces, the better. Providers say which
modes they support (`engine.providers`); `default_mode` picks the best of those.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Mode = Literal["json_schema", "tools", "json_object", "md_json"]
#: Every mode, best first.
MODES: tuple[Mode, ...] = get_args(Mode)


def check_mode(mode: str) -> Mode:
    """`mode` if it is one; ValueError naming the modes otherwise."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]  # checked just above


def default_mode(modes: Iterable[str] = MODES) -> Mode:
    """The best of `modes` (unknown names are ignored); the best of all when none is known."""
    offered = set(modes)
    return next((mode for mode in MODES if mode in offered), MODES[0])
