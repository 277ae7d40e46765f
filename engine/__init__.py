"""Fieldstream's engine: incremental, field-aware streaming of pydantic models from LLMs.

    from engine import Partial, stream_json, stream_model, extract
"""

from typing import Any

#: Where each public name lives. Loaded on first use (PEP 562), so `import engine.settings` or
#: the document converter's child process (`python -m engine.documents.convert`) does not pay
#: for pydantic, the stream parser and the openai client (~150 ms) it never uses.
_HOMES = {
    **dict.fromkeys(("Cancelled", "ContentFiltered", "ExtractionError", "JSONStreamError",
                     "ProviderError", "Refused", "SchemaError", "StreamInterrupted",
                     "TextTooLong", "TimedOut", "Truncated", "ValidationFailed"),
                    "engine.errors"),
    **dict.fromkeys(("Change", "Done", "Grew", "Invalid", "Started"), "engine.stream.changes"),
    **dict.fromkeys(("JsonStream", "stream_json"), "engine.stream.json_stream"),
    **dict.fromkeys(("ModelStream", "stream_items", "stream_model"),
                    "engine.stream.model_stream"),
    "Partial": "engine.stream.partial",
    **dict.fromkeys(("Snapshot", "Timings"), "engine.stream.snapshot"),
    **dict.fromkeys(("extract", "extract_calls"), "engine.llm.extract"),
}

__all__ = [
    "Cancelled",
    "Change",
    "ContentFiltered",
    "Done",
    "ExtractionError",
    "Grew",
    "Invalid",
    "JSONStreamError",
    "JsonStream",
    "ModelStream",
    "Partial",
    "ProviderError",
    "Refused",
    "SchemaError",
    "Snapshot",
    "Started",
    "StreamInterrupted",
    "TextTooLong",
    "TimedOut",
    "Timings",
    "Truncated",
    "ValidationFailed",
    "extract",
    "extract_calls",
    "stream_items",
    "stream_json",
    "stream_model",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
