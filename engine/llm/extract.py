"""Streamed extraction from any OpenAI-compatible chat-completions server, field by field.

`extract(text, Schema, client=..., model=...)` sends one streamed request and yields the
`ModelStream` snapshots as the answer arrives. How the model is asked for JSON: `mode`, one of
`engine.llm.modes.MODES`; the request itself is built by `engine.llm.request.build_request` from
one `RequestSpec` (`stream_request(spec, client=...)` takes that spec as it is).

How the stream ends is reported on the final snapshot (`snap.error`, partial kept): refusal ->
`Refused`, `finish_reason` "length" -> `Truncated`, "content_filter" -> `ContentFiltered`, a broken
connection, a mid-stream API error or a stream without any finish_reason -> `StreamInterrupted`,
the `cancel` event -> `Cancelled`, nothing for `read_timeout` seconds -> `TimedOut`, the server's
context-length error -> `TextTooLong`. Failures before the stream starts (bad key, unreachable
server, unknown model, a text too long, no answer in time) raise `ProviderError` (or a subclass).
Every message is redacted with the client's key, whatever its shape.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from engine import settings
from engine.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    ProviderError,
    Refused,
    StreamInterrupted,
    Truncated,
)
from engine.llm.events import (
    Event,
    Finish,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    chunk_events,
)
from engine.llm.failures import request_failure, retry_after, stream_failure
from engine.llm.request import RequestSpec, build_request, tool_schemas
from engine.llm.strict_schema import ItemsUnwrapper, is_list_root
from engine.redact import redact_error
from engine.stream.model_stream import ModelStream, clean_surrogates
from engine.stream.snapshot import Snapshot

CallKey = tuple[int, int]  # (choice index, tool-call index); tool-call index is 0 outside tools


# --- opening the stream ---------------------------------------------------------------------

CONNECT_TIMEOUT = 10.0
_RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)
#: The longest `Retry-After` waited for inside a request; a longer one ends the request.
INLINE_RETRY_AFTER = 5.0


def open_stream(
    client: Any,
    request: dict[str, Any],
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """`client.chat.completions.create(**request)`, failures turned into `ProviderError`.

    `timeout`: seconds without a byte before giving up (`TimedOut`, never retried: a silent
    server would only be waited for twice). Other passing failures are retried as often as
    the client's `max_retries` says, with a short pause (or the server's `Retry-After`, when
    it asks for one of at most `INLINE_RETRY_AFTER` seconds; a longer one is the caller's to
    wait for: a batch's document waits for it and tries again)."""
    retries = int(getattr(client, "max_retries", 0) or 0)
    if timeout is not None:
        request = {**request, "timeout": _timeout(timeout)}
        if retries and hasattr(client, "with_options"):
            client = client.with_options(max_retries=0)  # the retries are counted here
    for attempt in range(retries + 1):
        try:
            return client.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            pause = max(0.5 * 2**attempt, _asked_pause(exc))
            again = attempt < retries and _retryable(exc) and pause <= INLINE_RETRY_AFTER
            if not again or _waited_in_vain(cancel, pause):
                raise request_failure(exc, client, request.get("model", ""), timeout) from None
    raise AssertionError("unreachable")


def _asked_pause(exc: openai.OpenAIError) -> float:
    """The server's `Retry-After` in seconds (0 when it did not ask)."""
    asked = retry_after(exc) if isinstance(exc, openai.APIStatusError) else None
    return asked or 0.0


def _waited_in_vain(cancel: threading.Event | None, pause: float) -> bool:
    """Pause before trying again; True when the run was stopped meanwhile."""
    if cancel is not None:
        return cancel.wait(pause)
    time.sleep(pause)
    return False


def _timeout(seconds: float) -> openai.Timeout:
    return openai.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


def _retryable(exc: openai.OpenAIError) -> bool:
    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS
    return isinstance(exc, openai.APIConnectionError)


# --- consuming the stream -------------------------------------------------------------------


@dataclass
class _Call:
    """One extraction target: a choice's content, or one tool call of a choice."""

    stream: ModelStream
    unwrap: ItemsUnwrapper | None


@dataclass
class _Choice:
    finish_reason: str | None = None
    refusal: str = ""
    has_tool_calls: bool = False


@dataclass
class _Run:
    """The state of one streamed request: calls by key, choices, usage and the stream error."""

    schemas: dict[str, Any]
    mode: str
    started: float
    secret: str | None = None  # the key in use: every message built here is redacted with it
    timeout: float | None = None
    model: str = ""
    calls: dict[CallKey, _Call] = field(default_factory=dict)
    choices: dict[int, _Choice] = field(default_factory=dict)
    names: dict[CallKey, str] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    error: ExtractionError | None = None

    def choice(self, index: int) -> _Choice:
        return self.choices.setdefault(index, _Choice())

    def call(self, key: CallKey, name: str | None = None) -> _Call:
        if key not in self.calls:
            self.calls[key] = self._new_call(self.schemas.get(name or "", _first(self.schemas)))
        return self.calls[key]

    def _new_call(self, schema: Any) -> _Call:
        stream = ModelStream(schema, track_times=True, started=self.started)
        wrapped = is_list_root(schema) and self.mode != "md_json"
        return _Call(stream, ItemsUnwrapper() if wrapped else None)


def _first(schemas: dict[str, Any]) -> Any:
    return next(iter(schemas.values()))


def _feed(run: _Run, key: CallKey, text: str) -> Iterator[tuple[CallKey, Snapshot]]:
    call = run.call(key, run.names.get(key))
    call.stream.mark_first_token()  # before unwrapping: the wrapper's text is a token too
    piece = call.unwrap.feed(text) if call.unwrap else text
    if piece:
        yield key, call.stream.feed(piece)


def _apply(run: _Run, event: Event) -> Iterator[tuple[CallKey, Snapshot]]:
    if isinstance(event, TextDelta):
        if run.mode != "tools" or not run.choice(event.choice).has_tool_calls:
            yield from _feed(run, (event.choice, 0), event.text)
    elif isinstance(event, ToolCallDelta) and run.mode == "tools":
        yield from _apply_tool(run, event)
    elif isinstance(event, RefusalDelta):
        run.choice(event.choice).refusal += event.text
    elif isinstance(event, Finish):
        run.choice(event.choice).finish_reason = event.reason
    elif isinstance(event, UsageReport):
        run.usage = event.usage


def _apply_tool(run: _Run, event: ToolCallDelta) -> Iterator[tuple[CallKey, Snapshot]]:
    key = (event.choice, event.index)
    choice = run.choice(event.choice)
    if not choice.has_tool_calls:
        choice.has_tool_calls = True
        run.calls.pop((event.choice, 0), None)  # prose sent before the call is not the answer
    if event.name and key not in run.names:
        run.names[key] = event.name
    if event.arguments_delta:
        yield from _feed(run, key, event.arguments_delta)
    else:
        run.call(key, run.names.get(key))  # the call exists (and is reported) from its name on


def _read(stream: Any, run: _Run, cancel: threading.Event | None) -> Iterator[Any]:
    """The chunks, until the end, a cancel (checked around every chunk) or a broken stream."""
    chunks = iter(stream)
    while True:
        if cancel is not None and cancel.is_set():
            run.error = Cancelled("Stopped by request; what arrived so far is kept.")
            return
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:  # anything raised while reading is a broken stream
            run.error = _interrupted(exc, run)
            return
        yield chunk


def _interrupted(exc: Exception, run: _Run) -> ExtractionError:
    """Why reading stopped (see `engine.llm.failures.stream_failure`)."""
    return stream_failure(exc, key=run.secret, model=run.model, timeout=run.timeout)


def _ending(run: _Run, key: CallKey) -> ExtractionError | None:
    """Why this call ended badly, if it did: stream-level first, then its choice's ending."""
    if run.error is not None:
        return run.error
    choice = run.choice(key[0])
    if choice.refusal:
        refusal = clean_surrogates(choice.refusal)  # shown as text: it must encode
        return Refused(f"The model refused: {refusal}", refusal=refusal)
    reason = choice.finish_reason
    if reason == "length":
        return Truncated(
            "The answer was cut off at the model's token limit (finish_reason 'length'); "
            "the fields that arrived are kept."
        )
    if reason == "content_filter":
        return ContentFiltered("The provider's content filter stopped the answer.")
    if reason is None:
        return StreamInterrupted("The stream ended without a finish reason: the answer may be cut.")
    return None


def _silent_choices(run: _Run) -> list[int]:
    """Choices with nothing parsed (refused, cancelled early, empty): they still get a final."""
    return sorted(({0} | set(run.choices)) - {key[0] for key in run.calls})


def _finish(run: _Run) -> Iterator[tuple[CallKey, Snapshot]]:
    for index in _silent_choices(run):
        run.call((index, 0))
    for key in sorted(run.calls):
        reason = run.choice(key[0]).finish_reason
        stream = run.calls[key].stream
        yield key, stream.close(_ending(run, key), usage=run.usage, finish_reason=reason)


def stream_request_calls(
    spec: RequestSpec,
    *,
    client: Any,
    cancel: threading.Event | None = None,
    read_timeout: float | None = None,
) -> Iterator[tuple[CallKey, Snapshot]]:
    """The request `spec` streamed: `(key, snapshot)` for every choice and tool call (see
    `extract_calls`)."""
    request = build_request(spec)
    timeout = read_timeout if read_timeout is not None else settings.read_timeout()
    secret = getattr(client, "api_key", None)
    run = _Run(  # timings count from here
        tool_schemas(spec.schema), spec.mode, time.perf_counter(), secret=secret,
        timeout=timeout, model=spec.model,
    )
    if cancel is not None and cancel.is_set():
        run.error = Cancelled("Stopped before the request was sent.")
        yield from _finish(run)
        return
    try:
        stream = open_stream(client, request, timeout, cancel)
    except ProviderError as exc:
        raise redact_error(exc, secret) from None
    try:
        for chunk in _read(stream, run, cancel):
            for event in chunk_events(chunk):
                yield from _apply(run, event)
        stream.close()  # before the final snapshots: a cancelled request stops at once
        yield from _finish(run)
    finally:
        stream.close()


def stream_request(
    spec: RequestSpec,
    *,
    client: Any,
    cancel: threading.Event | None = None,
    read_timeout: float | None = None,
) -> Iterator[Snapshot]:
    """The request `spec` streamed, following its first choice / first tool call (see
    `extract`)."""
    calls = stream_request_calls(spec, client=client, cancel=cancel, read_timeout=read_timeout)
    followed: CallKey | None = None
    with contextlib.closing(calls):
        for key, snap in calls:
            followed = key if followed is None else followed
            if key == followed:
                yield snap


def extract_calls(
    text: str,
    schema: Any,
    *,
    client: Any,
    model: str,
    mode: str = "json_schema",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = 0.0,
    cancel: threading.Event | None = None,
    read_timeout: float | None = None,
    **request_extra: Any,
) -> Iterator[tuple[CallKey, Snapshot]]:
    """Like `extract`, but yields `(key, snapshot)` for every choice (`n>1`) and tool call.

    `key` is `(choice index, tool-call index)`; outside tools mode the tool-call index is 0.
    In tools mode `schema` may be a mapping tool name -> schema (several tools; each call is
    parsed with the schema of the tool it names). Each key ends with one final snapshot, all
    after the stream ended (so they carry `usage`).
    """
    spec = RequestSpec(text, schema, model, mode, system, max_tokens, temperature, request_extra)
    return stream_request_calls(spec, client=client, cancel=cancel, read_timeout=read_timeout)


def extract(
    text: str,
    schema: Any,
    *,
    client: Any,
    model: str,
    mode: str = "json_schema",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = 0.0,
    cancel: threading.Event | None = None,
    read_timeout: float | None = None,
    **request_extra: Any,
) -> Iterator[Snapshot]:
    """Stream `schema` (a pydantic model class or `list[Model]`) out of `text`, field by field.

    Yields a `Snapshot` per chunk, each with `.timings` (measured from the request start), and
    a `FinalSnapshot` (`is_final`, `.error`, `.final`, `.usage`, `.finish_reason`). Follows the
    first choice / first tool call; see `extract_calls` for all of them. Closing the generator
    closes the HTTP response. `read_timeout`: seconds without a byte before the run ends with
    `TimedOut` (default: FIELDSTREAM_READ_TIMEOUT, else 300). The keywords build one
    `RequestSpec` (`stream_request` takes one as it is).
    """
    spec = RequestSpec(text, schema, model, mode, system, max_tokens, temperature, request_extra)
    return stream_request(spec, client=client, cancel=cancel, read_timeout=read_timeout)
