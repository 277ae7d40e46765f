"""Chat-completion chunks -> small typed events (after openai-python's
`lib/streaming/chat/_events.py`), so `engine.llm.extract` never digs through chunk objects itself.

Works on the `ChatCompletionChunk` objects the `openai` client yields and on plain dicts (raw SSE
payloads), and tolerates what OpenAI-compatible servers leave out: missing ids, usage or
choices, `None` deltas, a tool call's name repeated on every delta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TextDelta:
    """`choices[choice].delta.content` grew by `text`."""

    choice: int
    text: str


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    """`choices[choice].delta.refusal` grew by `text`: the model is refusing."""

    choice: int
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """Tool call `index` of a choice: `name` (first delta only, usually) and an arguments piece."""

    choice: int
    index: int
    name: str | None
    arguments_delta: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """A choice ended: `reason` is "stop", "length", "tool_calls", "content_filter", ..."""

    choice: int
    reason: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Token usage (sent last, with empty `choices`, when `include_usage` is on)."""

    usage: dict[str, Any]


Event = TextDelta | RefusalDelta | ToolCallDelta | Finish | UsageReport


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else {}


def chunk_events(chunk: Any) -> list[Event]:
    """The events one chunk carries, in a stable order: deltas, then finishes, then usage."""
    events: list[Event] = []
    finishes: list[Event] = []
    for position, choice in enumerate(_get(chunk, "choices") or []):
        index = _get(choice, "index")
        index = position if index is None else int(index)
        events.extend(_delta_events(index, _get(choice, "delta")))
        reason = _get(choice, "finish_reason")
        if reason:
            finishes.append(Finish(index, str(reason)))
    events.extend(finishes)
    usage = _get(chunk, "usage")
    if usage:
        events.append(UsageReport(_as_dict(usage)))
    return events


def _delta_events(choice: int, delta: Any) -> list[Event]:
    events: list[Event] = []
    content = _get(delta, "content")
    if content:
        events.append(TextDelta(choice, content))
    refusal = _get(delta, "refusal")
    if refusal:
        events.append(RefusalDelta(choice, refusal))
    for position, call in enumerate(_get(delta, "tool_calls") or []):
        events.append(_tool_event(choice, position, call))
    legacy = _get(delta, "function_call")  # pre-tools servers stream `function_call`
    if legacy is not None:
        events.append(
            ToolCallDelta(choice, 0, _get(legacy, "name"), _get(legacy, "arguments") or "")
        )
    return events


def _tool_event(choice: int, position: int, call: Any) -> ToolCallDelta:
    index = _get(call, "index")
    function = _get(call, "function")
    return ToolCallDelta(
        choice=choice,
        index=position if index is None else int(index),
        name=_get(function, "name") or None,
        arguments_delta=_get(function, "arguments") or "",
        id=_get(call, "id") or None,
    )
