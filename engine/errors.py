"""Every failure the engine reports: one family, each carrying what arrived before it broke.

A bottom-layer module (standard library only) because every layer raises these; the key is
kept out of their messages by `engine.redact`. `engine.stream.errors` re-exports it all for
old imports."""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """A provider could not be used: unreachable server, rejected key, unknown model. The message
    says what to fix; it never contains the API key.

    `transient`: trying again later may work (unreachable, overloaded, rate-limited, 5xx);
    `retry_after`: the seconds the server asked to wait (its `Retry-After`), when it said."""

    transient: bool = False
    retry_after: float | None = None

    def later(self, retry_after: float | None = None) -> ProviderError:
        """This error, marked as one that may pass (see the class doc)."""
        self.transient, self.retry_after = True, retry_after
        return self


class ExtractionError(Exception):
    """An extraction that did not end in a validated model.

    `partial` keeps whatever arrived (a Partial model instance or raw value) and `errors` maps
    paths (`users[0].email`) to messages, so nothing streamed is lost.
    """

    #: Plain-language advice for people who write no code; views show it under the message.
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        partial: Any = None,
        errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.partial = partial
        self.errors: dict[str, str] = dict(errors or {})

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class JSONStreamError(ExtractionError, ValueError):
    """The text is not valid JSON (or ended inside a value). Carries the offset and nearby text."""

    hint = "The model's answer was not well-formed JSON. Try again, or pick a JSON-capable mode."

    def __init__(self, message: str, *, offset: int = -1, near: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.offset = offset
        self.near = near


class ValidationFailed(ExtractionError):
    """The JSON is complete but does not validate against the schema."""

    hint = "Some fields did not match the schema; the fields marked invalid say why."


class Truncated(ExtractionError):
    """The model stopped early (`finish_reason` `length`): the answer is cut off."""

    hint = (
        "The answer was cut off because the model hit its length limit. Raise the token limit, "
        "shorten the text, or choose a smaller schema."
    )


class Refused(ExtractionError):
    """The model refused to answer."""

    hint = "The model declined this request. Rephrase the text or try another model."

    def __init__(self, message: str, *, refusal: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.refusal = refusal


class ContentFiltered(ExtractionError):
    """The provider's content filter stopped the answer (`finish_reason` `content_filter`)."""

    hint = "The provider's safety filter stopped the answer. Try a different text or provider."


class StreamInterrupted(ExtractionError):
    """The connection dropped or the provider failed mid-stream."""

    hint = "The connection to the model was lost. Check that the server is running and retry."


class Cancelled(ExtractionError):
    """The user stopped the stream; what arrived is kept."""

    hint = "You stopped the extraction. What arrived so far is kept."


class TimedOut(ExtractionError, ProviderError):
    """The model sent nothing for the read timeout (FIELDSTREAM_READ_TIMEOUT seconds without a
    byte). A `ProviderError` too: before the first byte it is raised like any failure to get an
    answer; later it ends the stream with what arrived kept."""

    hint = (
        "Check that the model server is running and not stuck. A long text on a slow computer "
        "can take minutes before the first word: raise FIELDSTREAM_READ_TIMEOUT (seconds)."
    )

    def __init__(self, message: str, *, seconds: float = 0.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.seconds = seconds


class TextTooLong(ExtractionError, ProviderError):
    """The text (with the schema and room for the answer) does not fit the model's context.

    Raised before the request when counted (local model) or estimated (known OpenAI models),
    or translated from the server's own context-length error. `tokens` is the prompt's size
    (None if unknown), `limit` what the model takes, `exact` whether `tokens` was counted;
    `headline` is the one plain sentence a view shows first (the numbers, no server text)."""

    hint = (
        "Shorten the text, let Fieldstream split it (chunking `always`: FIELDSTREAM_CHUNKING, "
        "or --chunking always in the CLI), or pick a model with a larger context."
    )

    def __init__(
        self,
        message: str,
        *,
        tokens: int | None = None,
        limit: int | None = None,
        exact: bool = False,
        headline: str = "",
        hint: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.tokens = tokens
        self.limit = limit
        self.exact = exact
        self.headline = headline or message
        if hint:
            self.hint = hint


class PartsFailed(ExtractionError):
    """Some parts of a split document failed; what the others found is merged and kept.
    `failed` names each failed part ("chunk 3 of 7 (pages 5–6): the connection was lost")."""

    hint = ("The values shown come from the parts that were read. Run it again to read the "
            "failed parts, or check the model server.")

    def __init__(self, message: str, *, failed: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.failed = failed


class SchemaError(TypeError):
    """The schema cannot be used (not a model, unresolved annotations, invalid types)."""
