"""Streamed extraction from any OpenAI-compatible chat-completions server, field by field.

`extract(text, Schema, client=..., model=...)` sends one streamed request and yields the
`ModelStream` snapshots as the answer arrives. Modes:

- `json_schema`: `response_format` with the strict JSON Schema (OpenAI structured outputs).
- `tools`: one function tool whose parameters are the schema, forced with `tool_choice`; the
  arguments stream in `delta.tool_calls[i].function.arguments`.
- `json_object`: `response_format={"type": "json_object"}`, schema in the system prompt.
- `md_json`: schema in the system prompt, answer asked in a ```json fence (for servers with
  neither; the parser skips the prose and the fence).

List roots (`list[Model]`) are requested as `{"items": [...]}` (strict mode and tools need an
object) and unwrapped back to the bare array before parsing, so paths stay `[0].name`; `md_json`
asks for the bare array directly.

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
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import openai

from engine.llm.budget import context_error
from engine.llm.events import (
    Event,
    Finish,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    chunk_events,
)
from engine.llm.strict_schema import (
    ItemsUnwrapper,
    is_list_root,
    plain_json_schema,
    response_format,
    schema_name,
    schema_prompt,
    tool_param,
)
from engine.stream.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    ProviderError,
    Refused,
    StreamInterrupted,
    TimedOut,
    Truncated,
    redact,
    redact_error,
)
from engine.stream.model_stream import ModelStream
from engine.stream.snapshot import Snapshot

Mode = Literal["json_schema", "tools", "json_object", "md_json"]
MODES: tuple[str, ...] = ("json_schema", "tools", "json_object", "md_json")
CallKey = tuple[int, int]  # (choice index, tool-call index); tool-call index is 0 outside tools

DEFAULT_SYSTEM = (
    "Extract the requested information from the user's text. Use only what the text states."
)
_JSON_OBJECT_RULE = "Answer with one JSON object and nothing else. It must follow this JSON Schema:"
_MD_JSON_RULE = (
    "Answer with JSON that follows this JSON Schema, inside a single ```json fenced code block:"
)


# --- requests -------------------------------------------------------------------------------


def tool_schemas(schema: Any) -> dict[str, Any]:
    """Tool name -> schema: a mapping as given, or one schema under its own name."""
    if isinstance(schema, Mapping):
        return dict(schema)
    return {schema_name(schema): schema}


def build_request(
    text: str,
    schema: Any,
    *,
    model: str,
    mode: str = "json_schema",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """The keyword arguments for `client.chat.completions.create` (streaming, usage on).

    `extra` is merged last (e.g. `n=3`, `seed=1`); a value of None removes that key, so
    `stream_options=None` serves servers that reject it.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if isinstance(schema, Mapping) and mode != "tools":
        raise TypeError("Several schemas (a name -> schema mapping) need mode='tools'")
    request: dict[str, Any] = {
        "model": model,
        "messages": _messages(text, schema, mode, system),
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": temperature,
        "max_tokens": max_tokens,
        **_mode_params(schema, mode),
        **extra,
    }
    return {k: v for k, v in request.items() if v is not None}


def _messages(text: str, schema: Any, mode: str, system: str | None) -> list[dict[str, str]]:
    instruction = system or DEFAULT_SYSTEM
    if mode == "json_object":
        instruction += f"\n\n{_JSON_OBJECT_RULE}\n{schema_prompt(schema)}"
    elif mode == "md_json":
        instruction += f"\n\n{_MD_JSON_RULE}\n{_md_schema(schema)}"
    return [{"role": "system", "content": instruction}, {"role": "user", "content": text}]


def _md_schema(schema: Any) -> str:
    """md_json asks for the bare array for list roots, so the prompt shows the array schema."""
    body = plain_json_schema(schema) if is_list_root(schema) else None
    if body is None:
        return schema_prompt(schema)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _mode_params(schema: Any, mode: str) -> dict[str, Any]:
    if mode == "json_schema":
        return {"response_format": response_format(schema)}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if mode == "tools":
        named = tool_schemas(schema)
        tools = [tool_param(s, name) for name, s in named.items()]
        if len(tools) == 1:
            choice: Any = {"type": "function", "function": {"name": next(iter(named))}}
        else:
            choice = "required"
        return {"tools": tools, "tool_choice": choice}
    return {}


# --- opening the stream ---------------------------------------------------------------------


#: Seconds without a byte from the server before a request is given up. Long, because a long
#: text on a slow CPU takes a while to read (the local server sends keep-alives meanwhile).
DEFAULT_READ_TIMEOUT = 300.0
CONNECT_TIMEOUT = 10.0


def env_read_timeout() -> float:
    """FIELDSTREAM_READ_TIMEOUT (seconds, > 0), else `DEFAULT_READ_TIMEOUT`."""
    try:
        value = float(os.environ.get("FIELDSTREAM_READ_TIMEOUT", "") or DEFAULT_READ_TIMEOUT)
    except ValueError:
        return DEFAULT_READ_TIMEOUT
    return value if value > 0 else DEFAULT_READ_TIMEOUT


def timed_out(seconds: float, *, started: bool) -> TimedOut:
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


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)
    return exc.message


_STATUS_ADVICE = {
    401: "rejected the API key. Check the key for this provider",
    403: "refused access for this key. Check the key's permissions",
    404: "does not know this model or endpoint. Check the model name and base URL",
    429: "is rate-limiting this key or its quota is used up. Wait and retry, or check billing",
}


def provider_error(
    exc: openai.OpenAIError, client: Any, model: str, timeout: float | None = None
) -> ProviderError:
    """A plain-language `ProviderError` for a failure before the stream started (key-free)."""
    where = str(getattr(client, "base_url", "") or "the server")
    key = getattr(client, "api_key", None)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = redact(_server_message(exc), key)
        if status in (400, 413):
            too_long = context_error(detail, exc.body, model or "the model")
            if too_long is not None:
                return too_long
        advice = _STATUS_ADVICE.get(status, "could not answer the request")
        return ProviderError(f"{where} {advice} (HTTP {status}, model {model!r}): {detail}")
    if isinstance(exc, openai.APITimeoutError):
        if timeout is not None:
            return timed_out(timeout, started=False)
        return ProviderError(f"{where} did not answer in time. Is the server overloaded?")
    if isinstance(exc, openai.APIConnectionError):
        cause = redact(str(exc.__cause__ or exc), key)
        return ProviderError(f"Could not reach {where} ({cause}). Is the server running?")
    return ProviderError(redact(f"{type(exc).__name__}: {exc}", key))


_RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)


def open_stream(
    client: Any,
    request: dict[str, Any],
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """`client.chat.completions.create(**request)`, failures turned into `ProviderError`.

    `timeout`: seconds without a byte before giving up (`TimedOut`, never retried: a silent
    server would only be waited for twice). Other passing failures are retried as often as
    the client's `max_retries` says, with a short pause."""
    retries = int(getattr(client, "max_retries", 0) or 0)
    if timeout is not None:
        request = {**request, "timeout": _timeout(timeout)}
        if retries and hasattr(client, "with_options"):
            client = client.with_options(max_retries=0)  # the retries are counted here
    for attempt in range(retries + 1):
        try:
            return client.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            again = attempt < retries and _retryable(exc)
            if not again or (cancel is not None and cancel.wait(0.5 * 2**attempt)):
                raise provider_error(exc, client, request.get("model", ""), timeout) from None
    raise AssertionError("unreachable")


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

    def decorate(self, key: CallKey, snap: Snapshot) -> Snapshot:
        snap.usage = self.usage
        snap.timings = self.calls[key].stream.timings
        snap.finish_reason = self.choice(key[0]).finish_reason
        return snap


def _first(schemas: dict[str, Any]) -> Any:
    return next(iter(schemas.values()))


def _feed(run: _Run, key: CallKey, text: str) -> Iterator[tuple[CallKey, Snapshot]]:
    call = run.call(key, run.names.get(key))
    timings = call.stream.timings
    if timings.first_token is None:  # ModelStream leaves this to whoever knows the request start
        timings.first_token = time.perf_counter() - timings.started
    piece = call.unwrap.feed(text) if call.unwrap else text
    if piece:
        yield key, run.decorate(key, call.stream.feed(piece))


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
    """Why reading stopped: no byte in time, the model's context, or a broken stream."""
    if isinstance(exc, openai.APITimeoutError) and run.timeout is not None:
        return timed_out(run.timeout, started=True)
    if isinstance(exc, openai.APIError):
        message = redact(str(exc.message), run.secret)
        too_long = context_error(message, exc.body, run.model or "the model")
        if too_long is not None:
            return too_long
    cause = exc.__cause__ or exc
    reason = redact(f"{type(cause).__name__}: {cause}", run.secret)
    return StreamInterrupted(
        f"The stream broke before the answer was complete ({reason}); what arrived is kept."
    )


def _ending(run: _Run, key: CallKey) -> ExtractionError | None:
    """Why this call ended badly, if it did: stream-level first, then its choice's ending."""
    if run.error is not None:
        return run.error
    choice = run.choice(key[0])
    if choice.refusal:
        return Refused(f"The model refused: {choice.refusal}", refusal=choice.refusal)
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
        error = _ending(run, key)
        snap = run.calls[key].stream.close(error=error)
        yield key, run.decorate(key, snap)


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
    request = build_request(
        text,
        schema,
        model=model,
        mode=mode,
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        **request_extra,
    )
    timeout = read_timeout if read_timeout is not None else env_read_timeout()
    secret = getattr(client, "api_key", None)
    run = _Run(  # timings count from here
        tool_schemas(schema), mode, time.perf_counter(), secret=secret, timeout=timeout,
        model=model,
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

    Yields a `Snapshot` per chunk and a final one (`is_final`, `.error`, `.final`), each with
    `.usage`, `.timings` (measured from the request start) and `.finish_reason`. Follows the
    first choice / first tool call; see `extract_calls` for all of them. Closing the generator
    closes the HTTP response. `read_timeout`: seconds without a byte before the run ends with
    `TimedOut` (default: FIELDSTREAM_READ_TIMEOUT, else 300).
    """
    calls = extract_calls(
        text,
        schema,
        client=client,
        model=model,
        mode=mode,
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        cancel=cancel,
        read_timeout=read_timeout,
        **request_extra,
    )
    followed: CallKey | None = None
    with contextlib.closing(calls):
        for key, snap in calls:
            followed = key if followed is None else followed
            if key == followed:
                yield snap
