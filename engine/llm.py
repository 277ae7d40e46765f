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
the `cancel` event -> `Cancelled`. Failures before the stream starts (bad key, unreachable server,
unknown model) raise `ProviderError` with a message that never contains the API key.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import openai

from engine.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    ProviderError,
    Refused,
    StreamInterrupted,
    Truncated,
)
from engine.llm_events import (
    Event,
    Finish,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    chunk_events,
)
from engine.model_stream import ModelStream
from engine.snapshot import Snapshot
from engine.strict_schema import (
    ItemsUnwrapper,
    is_list_root,
    plain_json_schema,
    response_format,
    schema_name,
    schema_prompt,
    tool_param,
)

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


def redact(text: str, secret: str | None) -> str:
    """`text` with the key (and anything that looks like a key) masked."""
    if secret:
        text = text.replace(secret, "***")
    text = re.sub(r"(API key provided:\s*)\S+", r"\1***", text)
    text = re.sub(r"\b(sk-|Bearer\s+)[A-Za-z0-9_\-*.]{4,}", r"\1***", text)
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)  # user:password@ in a base URL


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


def provider_error(exc: openai.OpenAIError, client: Any, model: str) -> ProviderError:
    """A plain-language `ProviderError` for a failure before the stream started (key-free)."""
    where = str(getattr(client, "base_url", "") or "the server")
    key = getattr(client, "api_key", None)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        advice = _STATUS_ADVICE.get(status, "could not answer the request")
        detail = redact(_server_message(exc), key)
        return ProviderError(f"{where} {advice} (HTTP {status}, model {model!r}): {detail}")
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"{where} did not answer in time. Is the server overloaded?")
    if isinstance(exc, openai.APIConnectionError):
        cause = redact(str(exc.__cause__ or exc), key)
        return ProviderError(f"Could not reach {where} ({cause}). Is the server running?")
    return ProviderError(redact(f"{type(exc).__name__}: {exc}", key))


def open_stream(client: Any, request: dict[str, Any]) -> Any:
    """`client.chat.completions.create(**request)`, failures turned into `ProviderError`."""
    try:
        return client.chat.completions.create(**request)
    except openai.OpenAIError as exc:
        raise provider_error(exc, client, request.get("model", "")) from None


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
            run.error = _interrupted(exc)
            return
        yield chunk


def _interrupted(exc: Exception) -> StreamInterrupted:
    cause = exc.__cause__ or exc
    reason = redact(f"{type(cause).__name__}: {cause}", None)
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
    run = _Run(tool_schemas(schema), mode, time.perf_counter())  # timings count from here
    if cancel is not None and cancel.is_set():
        run.error = Cancelled("Stopped before the request was sent.")
        yield from _finish(run)
        return
    stream = open_stream(client, request)
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
    **request_extra: Any,
) -> Iterator[Snapshot]:
    """Stream `schema` (a pydantic model class or `list[Model]`) out of `text`, field by field.

    Yields a `Snapshot` per chunk and a final one (`is_final`, `.error`, `.final`), each with
    `.usage`, `.timings` (measured from the request start) and `.finish_reason`. Follows the
    first choice / first tool call; see `extract_calls` for all of them. Closing the generator
    closes the HTTP response.
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
        **request_extra,
    )
    followed: CallKey | None = None
    with contextlib.closing(calls):
        for key, snap in calls:
            followed = key if followed is None else followed
            if key == followed:
                yield snap
