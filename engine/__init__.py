"""Fieldstream's engine: incremental, field-aware streaming of pydantic models from LLMs.

    from engine import Partial, stream_json, stream_model, extract
"""

from engine.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    JSONStreamError,
    ProviderError,
    Refused,
    SchemaError,
    StreamInterrupted,
    TextTooLong,
    TimedOut,
    Truncated,
    ValidationFailed,
)
from engine.stream.changes import Change, Done, Grew, Invalid, Started
from engine.stream.json_stream import JsonStream, stream_json
from engine.stream.model_stream import ModelStream, stream_items, stream_model
from engine.stream.partial import Partial
from engine.stream.snapshot import Snapshot, Timings

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


def __getattr__(name: str):  # extract pulls in the openai client: load it on first use
    if name in ("extract", "extract_calls"):
        from engine.llm import extract as llm

        return getattr(llm, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
