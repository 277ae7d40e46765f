"""Does the text fit the model? Checked before the request is sent, in plain words.

The local model counts exactly (its llama.cpp server tokenizes, chat template included) against
the context each of its slots has; known OpenAI models are estimated (about 4 characters a
token: no tokenizer that downloads files at run time); other servers are not pre-checked, but
their own context-length errors are translated (`context_error`) into the same `TextTooLong`.
A huge text (5 MB pasted) is refused on its length alone, before anything is tokenized.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Protocol

from engine.stream.errors import ProviderError, TextTooLong

CHARS_PER_TOKEN = 4.0  # the usual estimate for prose
#: No tokenizer packs more than this many characters into a token of ordinary text, so a
#: prompt longer than this times the context cannot fit and is refused without counting.
SURE_CHARS_PER_TOKEN = 16
DEFAULT_ANSWER_ROOM = 512  # kept for the answer when no token limit is given
MIN_ANSWER_ROOM = 256  # below this the answer, not the token limit, is the problem

#: Context windows (tokens, prompt + answer) of the usual OpenAI model families, by name prefix.
OPENAI_CONTEXT: dict[str, int] = {
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4-32k": 32_768,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1-mini": 128_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
}


class TokenCounter(Protocol):
    """What the check needs from the local server (engine.local.server.LocalServer)."""

    slot_ctx: int

    def count_tokens(self, messages: list[dict[str, str]]) -> int: ...


def openai_context(model: str) -> int | None:
    """The context window of a known OpenAI model (longest matching name prefix), else None."""
    name = model.casefold().removeprefix("openai/")
    for prefix in sorted(OPENAI_CONTEXT, key=len, reverse=True):
        if name.startswith(prefix):
            return OPENAI_CONTEXT[prefix]
    return None


def prompt_chars(request: dict[str, Any]) -> int:
    """Characters the model reads: the messages, plus the schema sent beside them."""
    chars = sum(len(str(m.get("content") or "")) for m in request.get("messages", ()))
    for key in ("response_format", "tools"):
        if key in request:
            chars += len(json.dumps(request[key], ensure_ascii=False))
    return chars


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def check_fits(
    request: dict[str, Any],
    *,
    kind: str,
    model: str,
    max_tokens: int | None,
    server: TokenCounter | None = None,
) -> None:
    """Raise `TextTooLong` when the request cannot fit the model, before it is sent.

    `kind` is the provider's kind; `server` the local model's server (it counts exactly).
    Unknown servers pass: their own error is translated when they answer."""
    answer = max_tokens or DEFAULT_ANSWER_ROOM
    chars = prompt_chars(request)
    if server is not None:
        _check_local(request, server, chars, answer, max_tokens, model)
        return
    window = openai_context(model) if kind == "openai" else None
    if window is not None and chars / SURE_CHARS_PER_TOKEN > window - answer:
        raise too_long(estimate_tokens(chars), window, answer, max_tokens, model, exact=False)


def _check_local(
    request: dict[str, Any], server: TokenCounter, chars: int, answer: int,
    max_tokens: int | None, model: str,
) -> None:  # fmt: skip
    window = int(server.slot_ctx)
    if chars / SURE_CHARS_PER_TOKEN > window:  # hopeless: do not make the server tokenize it
        raise too_long(estimate_tokens(chars), window, answer, max_tokens, model, exact=False)
    try:
        tokens = server.count_tokens(request["messages"])
    except ProviderError:
        return  # the server cannot say: let it answer (its own error is translated)
    if tokens + answer > window:
        raise too_long(tokens, window, answer, max_tokens, model, exact=True)


def too_long(
    tokens: int, window: int, answer: int, max_tokens: int | None, model: str, *, exact: bool
) -> TextTooLong:
    """The plain message: how long the text is, what the model takes, and what to change."""
    count = f"{tokens:,} tokens" if exact else f"about {tokens:,} tokens"
    if max_tokens and tokens + MIN_ANSWER_ROOM <= window:  # the token limit is the problem
        most = window - tokens
        headline = (
            f"The text fits {model} ({count} of its {window:,}), but not together with the "
            f"token limit of {max_tokens:,} for the answer."
        )
        return TextTooLong(
            f"{headline} Lower the token limit to {most:,} or less, or shorten the text.",
            tokens=tokens, limit=window - answer, exact=exact, headline=headline,
            hint=f"Lower the token limit to {most:,} or less (or shorten the text), then try "
                 "again.",
        )  # fmt: skip
    takes = max(window - answer, 0)
    headline = f"The text is too long for {model}: {count}, and it takes {takes:,}."
    return TextTooLong(
        f"{headline} ({window:,} tokens in all, {answer:,} of them kept for the answer.)",
        tokens=tokens, limit=takes, exact=exact, headline=headline,
    )  # fmt: skip


# --- the server's own words ----------------------------------------------------------------

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
