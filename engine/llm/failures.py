"""What went wrong, in plain words: every OpenAI client error the engine meets becomes one of
these messages, and none of them contains the API key in use (`redact`).

`translate` is the one translator: a chat request that failed before its stream started
(`request_failure`), a model listing (`engine.providers.health`), and `stream_failure` for a
stream that broke half-way all word the same failure the same way; `context_error` reads any
server's context-length error as `TextTooLong`. Redaction is `engine.redact`'s one policy
(`redact` and `redact_error` are re-exported here for old imports).
"""

from __future__ import annotations

import re
from typing import Any

import openai

from engine.errors import ExtractionError, ProviderError, StreamInterrupted, TextTooLong, TimedOut
from engine.redact import redact, redact_error

__all__ = [
    "context_error",
    "not_openai",
    "redact",
    "redact_error",
    "request_failure",
    "stream_failure",
    "timed_out",
    "translate",
]

#: Server text quoted in a message is cut here: enough to say what the server meant.
DETAIL_CHARS = 300
#: Below this many tokens left for the answer, the answer (not the token limit) is the problem.
MIN_ANSWER_ROOM = 256

#: HTTP status -> (what the server did, what to do about it).
_STATUS: dict[int, tuple[str, str]] = {
    401: ("rejected the API key", "Check the key for this provider."),
    403: ("refused this key access", "Check the key's permissions."),
    404: ("does not know this model or endpoint", "Check the model name and the base URL."),
    429: ("is rate-limiting this key, or its quota is used up",
          "Wait and retry, or check the billing."),
}  # fmt: skip
_OTHER_STATUS = ("answered with an error", "")


def translate(
    exc: openai.OpenAIError,
    *,
    where: str,
    key: str | None,
    model: str | None = None,
    timeout: float | None = None,
) -> ProviderError:
    """A plain `ProviderError` for a request that got no usable answer.

    `where` names the server ("Lab at http://…/v1"); `key` is the key in use (masked in the
    message); `model` the model a chat request asked for, None for the model list (GET
    /models); `timeout` the read timeout the chat request ran with, if any."""
    if isinstance(exc, openai.APIStatusError):
        return _status_failure(exc, where, key, model)
    if isinstance(exc, openai.APITimeoutError):
        if timeout is not None:
            return timed_out(timeout, started=False)
        return ProviderError(
            f"{where} did not answer in time. Is the server overloaded or stuck?").later()
    if isinstance(exc, openai.APIConnectionError):
        cause = redact(str(exc.__cause__ or exc), key)
        return ProviderError(
            f"Could not reach {where} ({cause}). Is the server running? Check its address too."
        ).later()
    if model is None:  # the model list came back in a shape no OpenAI server sends
        return ProviderError(not_openai(where))
    return ProviderError(redact(f"{where} failed: {type(exc).__name__}: {exc}", key))


def _status_failure(
    exc: openai.APIStatusError, where: str, key: str | None, model: str | None
) -> ProviderError:
    status = exc.status_code
    detail = redact(_server_message(exc), key)
    if model is not None and status in (400, 413):
        too_long = context_error(detail, exc.body, model or "the model")
        if too_long is not None:
            return too_long
    if status == 404 and model is None:
        return ProviderError(f"{where} has no model list (HTTP 404). {not_openai(where)}")
    happened, todo = _STATUS.get(status, _OTHER_STATUS)
    asked = f", model {model!r}" if model else ""
    message = f"{where} {happened} (HTTP {status}{asked}). {todo}".rstrip()
    # A 401's own text often echoes part of the key: it is left out entirely.
    if detail.strip() and status != 401:
        message += f" The server said: {detail.strip()[:DETAIL_CHARS]}"
    error = ProviderError(message)
    return error.later(retry_after(exc)) if status in _PASSING or status >= 500 else error


#: Statuses that may pass on their own (5xx too): a batch tries again after a pause.
_PASSING = (408, 409, 429)


def retry_after(exc: openai.APIStatusError) -> float | None:
    """The server's `Retry-After` in seconds (a number; an HTTP date is rare and ignored)."""
    try:
        value = float(exc.response.headers.get("retry-after", ""))
    except (AttributeError, ValueError):
        return None
    return value if 0 <= value <= 3600 else None


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)
    return str(exc.message)


def not_openai(where: str) -> str:
    return (
        f"{where} answered, but not like an OpenAI-compatible server. Check the base URL "
        "(it usually ends in /v1)."
    )


def request_failure(
    exc: openai.OpenAIError, client: Any, model: str, timeout: float | None = None
) -> ProviderError:
    """`translate` for a chat request made with `client` (its address and key)."""
    where = str(getattr(client, "base_url", "") or "the server")
    return translate(
        exc, where=where, key=getattr(client, "api_key", None), model=model, timeout=timeout
    )


def timed_out(seconds: float, *, started: bool) -> TimedOut:
    """Nothing arrived for `seconds`: before the answer began, or in the middle of it."""
    shown = f"{seconds:g} s"
    if started:
        return TimedOut(
            f"The model stopped sending in the middle of the answer: nothing for {shown} "
            "(FIELDSTREAM_READ_TIMEOUT). What arrived is kept.",
            seconds=seconds,
        )
    return TimedOut(
        f"The model did not answer: nothing arrived for {shown} (FIELDSTREAM_READ_TIMEOUT), "
        "so the request was given up.",
        seconds=seconds,
    )


# httpx's and httpx2's timeout family; some openai versions let them through unwrapped.
_TIMEOUT_CLASSES = frozenset({"TimeoutException", "ReadTimeout"})


def is_timeout(exc: BaseException) -> bool:
    """A read that ran out of time, whichever layer of the HTTP stack raised it: the answer
    (TimedOut) must not depend on the version of openai or httpx installed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, openai.APITimeoutError | TimeoutError):
            return True
        if any(cls.__name__ in _TIMEOUT_CLASSES for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def stream_failure(
    exc: Exception, *, key: str | None, model: str, timeout: float | None
) -> ExtractionError:
    """Why reading a started stream stopped: no byte in time, the model's context, or a
    broken stream."""
    if timeout is not None and is_timeout(exc):
        return timed_out(timeout, started=True)
    if isinstance(exc, openai.APIError):
        message = redact(str(exc.message), key)
        too_long = context_error(message, exc.body, model or "the model")
        if too_long is not None:
            return too_long
    cause = exc.__cause__ or exc
    reason = redact(f"{type(cause).__name__}: {cause}", key)
    return StreamInterrupted(
        f"The stream broke before the answer was complete ({reason}); what arrived is kept."
    )


# --- a context-length error, in the server's own words -------------------------------------

_CONTEXT_WORDS = re.compile(
    r"maximum context length|context[ _]length[ _]exceeded|exceeds the available context size"
    r"|context size has been exceeded|prompt is too long|input is too long",
    re.IGNORECASE,
)
_CONTEXT_CODES = ("context_length_exceeded", "exceed_context_size_error")
_LIMIT = re.compile(r"(?:maximum context length is|available context size \()\s*([\d,]+)")
_TOKENS = re.compile(
    r"([\d,]+) in the messages|resulted in ([\d,]+) tokens|has ([\d,]+) input tokens"
    r"|request \(([\d,]+) tokens\)"
)


def context_error(message: str, body: Any = None, model: str = "the model") -> TextTooLong | None:
    """A `TextTooLong` for a server's context-length error (OpenAI, vLLM, llama.cpp), else None.
    `message` must already be redacted: it is quoted."""
    fields = body if isinstance(body, dict) else {}
    codes = {str(fields.get("code")), str(fields.get("type"))}
    if not _CONTEXT_WORDS.search(message) and not codes & set(_CONTEXT_CODES):
        return None
    limit = _int(fields.get("n_ctx")) or _first_number(_LIMIT, message)
    tokens = _int(fields.get("n_prompt_tokens")) or _first_number(_TOKENS, message)
    if tokens and limit and tokens + MIN_ANSWER_ROOM <= limit:  # the answer's limit is the problem
        headline = (
            f"The text fits {model} ({tokens:,} tokens of its {limit:,}), but not together "
            "with the token limit for the answer."
        )
        hint = "Lower the token limit (or shorten the text), then try again."
    elif tokens and limit:
        headline = f"The text is too long for {model}: {tokens:,} tokens, and it takes {limit:,}."
        hint = None
    elif limit:
        headline = f"The text is too long for {model}, which takes {limit:,} tokens."
        hint = None
    else:
        headline = f"The text and the answer together are too long for {model}."
        hint = None
    return TextTooLong(
        f"{headline} The server said: {message.strip()}", tokens=tokens, limit=limit,
        exact=tokens is not None, headline=headline, hint=hint,
    )  # fmt: skip


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    digits = next(g for g in match.groups() if g)
    return int(digits.replace(",", ""))
