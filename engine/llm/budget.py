"""Does the text fit the model? Checked before the request is sent, in plain words.

The local model counts exactly (its llama.cpp server tokenizes, chat template included) against
the context each of its slots has; known OpenAI models are estimated (about 4 characters a
token: no tokenizer that downloads files at run time); other servers are not pre-checked, but
their own context-length errors are translated (`engine.llm.failures.context_error`) into the
same `TextTooLong`.
A huge text (5 MB pasted) is refused on its length alone, before anything is tokenized.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from engine.errors import ProviderError, TextTooLong
from engine.llm.failures import MIN_ANSWER_ROOM

CHARS_PER_TOKEN = 4.0  # the usual estimate for prose
#: No tokenizer packs more than this many characters into a token of ordinary text, so a
#: prompt longer than this times the context cannot fit and is refused without counting.
SURE_CHARS_PER_TOKEN = 16
DEFAULT_ANSWER_ROOM = 512  # kept for the answer when no token limit is given

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
