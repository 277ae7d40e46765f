"""For old imports: the error family is `engine.errors`, key redaction `engine.redact`."""

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
from engine.redact import redact, redact_error

__all__ = [
    "Cancelled",
    "ContentFiltered",
    "ExtractionError",
    "JSONStreamError",
    "ProviderError",
    "Refused",
    "SchemaError",
    "StreamInterrupted",
    "TextTooLong",
    "TimedOut",
    "Truncated",
    "ValidationFailed",
    "redact",
    "redact_error",
]
