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


# --- a text too long for one request: split it ---------------------------------------------

#: Characters per token assumed when deciding, without a tokenizer, whether a text must be
#: split: fewer than prose's ~4, so a text near the limit is split rather than refused.
SPLIT_CHARS_PER_TOKEN = 3.0
#: The window assumed for a server that does not say its own (chunking forced on it).
UNKNOWN_WINDOW = 8192
#: Part of the room a part's text is given, the rest kept for the estimate's error.
SPLIT_SAFETY = 0.9
#: Fewest characters a part is given, however tight the window: below this, refuse.
MIN_PART_CHARS = 400


def check_length(text: str, limit: int) -> None:
    """Refuse a text longer than `limit` characters (FIELDSTREAM_MAX_TEXT_CHARS), naming its
    size, before anything is tokenized or split."""
    if len(text) > limit:
        headline = (f"The text is {len(text):,} characters long; Fieldstream extracts from "
                    f"texts of up to {limit:,} characters.")
        raise TextTooLong(headline, tokens=None, limit=None, exact=True, headline=headline,
                          hint="Split the document into smaller files, or raise "
                               "FIELDSTREAM_MAX_TEXT_CHARS.")


def context_window(kind: str, model: str, local_ctx: int | None = None) -> int | None:
    """The tokens one request may hold: the local model's slot context (`local_ctx`), a known
    OpenAI model's window; None when the server does not say."""
    if kind == "local":
        return local_ctx
    return openai_context(model) if kind == "openai" else None


def needs_split(request: dict[str, Any], window: int | None, max_tokens: int | None) -> bool:
    """Whether a request's text must be split to fit `window` tokens, judged on its length
    alone (no tokenizer: the app asks before the local model has started). Conservative: a
    text near the limit is split, since a split text still extracts and a refused one not."""
    if window is None:
        return False
    answer = max_tokens or DEFAULT_ANSWER_ROOM
    return prompt_chars(request) / SPLIT_CHARS_PER_TOKEN + answer > window


def part_chars(
    overhead_tokens: int, window: int, max_tokens: int | None, chars_per_token: float
) -> int:
    """Characters of text a part may have: the window minus the instruction and schema
    (`overhead_tokens`) and the answer's room, in the text's own characters per token, less
    a margin. Raises `TextTooLong` when not even `MIN_PART_CHARS` fit (a schema larger than
    the context)."""
    answer = max_tokens or DEFAULT_ANSWER_ROOM
    room = window - overhead_tokens - answer
    chars = int(room * chars_per_token * SPLIT_SAFETY)
    if chars < MIN_PART_CHARS:
        headline = (f"The schema and the answer's room ({overhead_tokens + answer:,} tokens) "
                    f"leave no room for text in the model's {window:,}-token context.")
        raise TextTooLong(headline, tokens=overhead_tokens, limit=window, exact=True,
                          headline=headline,
                          hint="Lower the token limit, choose a smaller schema, or a model "
                               "with a larger context.")
    return chars
