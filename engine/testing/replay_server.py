"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It speaks the real streaming protocol (chunked `text/event-stream`, `data: {...}` events ending
in `data: [DONE]`), so the real `openai` client can be pointed at it. Each chat completion is
answered by the next queued `Reply` (or `default`): content or tool-call chunks at a chosen pace,
a recorded `.sse` file, an HTTP error, or a stream that drops its connection half-way.

Example::

    from openai import OpenAI
    from engine.testing.replay_server import ReplayServer, Reply

    with ReplayServer(api_key="test-key") as srv:
        srv.queue(Reply.content(['{"city":"Pa', 'ris"}'], pace=0.01))
        client = OpenAI(base_url=srv.base_url, api_key="test-key", max_retries=0)
        stream = client.chat.completions.create(
            model="replay", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == '{"city":"Paris"}'
        srv.requests[0]["messages"]    # the JSON bodies received
        srv.sent                       # [(time.time(), '{"city":"Pa'), (..., 'ris"}'), ...]
        srv.outcomes                   # ["done"] | "dropped" | "client closed" | "error 500"

Scripted failures: `Reply.content(..., finish_reason="length")`, `drop_after=N` (the socket is
shut after N content chunks, without the closing chunk: the client sees a broken stream),
`refusal="I can't"`, `tool_name="GetWeather"` (chunks stream as tool-call arguments),
`Reply.error(500, "boom")`, and `api_key=` on the server for 401 answers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Chunk = dict[str, Any]

_MODEL = "replay-model"


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> Chunk:
    return {
        "id": "chatcmpl-replay",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": choices,
        **extra,
    }


def _delta_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Chunk:
    return _chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])


def _tool_delta(arguments: str, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": 0, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id="call_replay_0", type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def delta_text(chunk: Chunk) -> str:
    """All text a chunk carries: content, refusal and tool-call argument deltas, all choices."""
    parts: list[str] = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        parts.append(delta.get("content") or "")
        parts.append(delta.get("refusal") or "")
        for call in delta.get("tool_calls") or []:
            parts.append((call.get("function") or {}).get("arguments") or "")
    return "".join(parts)


@dataclass
class Reply:
    """One scripted answer: the chunks to stream and how to pace or break them.

    `events` are chunk dicts (sent as `data: <json>`); `pace` is the pause between them in
    seconds, `delay` the pause before the first; after `drop_after` events the connection is
    shut abruptly. `status` other than 200 answers with `message` in a JSON error body instead.
    """

    events: list[Chunk] = field(default_factory=list)
    pace: float | None = None
    delay: float = 0.0
    drop_after: int | None = None
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # of an error answer (Retry-After)

    @classmethod
    def content(
        cls,
        chunks: Sequence[str],
        *,
        pace: float | None = None,
        delay: float = 0.0,
        finish_reason: str | None = None,
        drop_after: int | None = None,
        refusal: str | None = None,
        tool_name: str | None = None,
        usage: bool = True,
    ) -> Reply:
        """Stream `chunks` as `delta.content` (or as tool-call arguments when `tool_name` is set).

        `finish_reason` defaults to "stop" ("tool_calls" for tools). `refusal` streams that text,
        word by word, as `delta.refusal` after the chunks. `drop_after=N` shuts the socket after
        the first N chunks (counted from the role chunk on, so N=1 sends only the role chunk).
        """
        if tool_name is not None:
            opening = {"role": "assistant", "content": None, **_tool_delta("", tool_name)}
            first = _delta_chunk(opening)
            body = [_delta_chunk(_tool_delta(text)) for text in chunks]
        else:
            first = _delta_chunk({"role": "assistant", "content": "", "refusal": None})
            body = [_delta_chunk({"content": text}) for text in chunks]
        if refusal:
            body += [_delta_chunk({"refusal": w}) for w in _words(refusal)]
        reason = finish_reason or ("tool_calls" if tool_name is not None else "stop")
        events = [first, *body, _delta_chunk({}, reason)]
        if usage:
            events.append(_usage_chunk(sum(len(c) for c in chunks)))
        return cls(events=events, pace=pace, delay=delay, drop_after=drop_after)

    @classmethod
    def from_sse_file(
        cls, path: str | Path, pace: float | None = None, drop_after: int | None = None
    ) -> Reply:
        """Replay a recorded SSE body (`data: {...}` lines), one event per chunk, in order."""
        return cls(events=read_sse(path), pace=pace, drop_after=drop_after)

    @classmethod
    def error(cls, status: int, message: str = "scripted failure", *,
              retry_after: float | None = None) -> Reply:
        """Answer with HTTP `status` and an OpenAI-style JSON error body (and a `Retry-After`
        header of that many seconds, when given)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, message=message, headers=headers)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _usage_chunk(completion_chars: int) -> Chunk:
    completion = max(1, completion_chars // 4)
    usage = {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion}
    return _chunk([], usage=usage)


def read_sse(path: str | Path) -> list[Chunk]:
    """The `data:` payloads of an SSE file as dicts (the `[DONE]` sentinel excluded)."""
    events: list[Chunk] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            events.append(json.loads(line[5:]))
    return events


class ReplayServer:
    """The server: `with ReplayServer() as srv:` or `srv.start()` / `srv.stop()`."""

    def __init__(self, api_key: str | None = None, models: Iterable[str] = (_MODEL,)) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.default: Reply | None = None
        #: Answers a request by what it asks (its JSON body) when set: parallel requests
        #: (a split document's parts) arrive in any order, so a queue cannot pair them.
        self.responder: Callable[[dict[str, Any]], Reply | None] | None = None
        self.requests: list[dict[str, Any]] = []
        self.sent: list[tuple[float, str]] = []
        self.outcomes: list[str] = []
        self.in_flight = 0  # streams being answered now
        self.peak_in_flight = 0  # the most answered at once since the start (or `reset`)
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ReplayServer is not running: use `with ReplayServer() as srv:`")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def queue(self, *replies: Reply) -> None:
        """Answer the next chat completions with these replies, in order."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget the queued replies, the default one and what was asked and sent: a server
        shared by several tests starts each one empty."""
        with self._lock:
            self._queue.clear()
            self.default = None
            self.responder = None
            self.requests.clear()
            self.sent.clear()
            self.outcomes.clear()
            self.peak_in_flight = self.in_flight

    def next_reply(self, body: dict[str, Any] | None = None) -> Reply | None:
        responder = self.responder
        if responder is not None and body is not None:
            return responder(body)
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def record(self, what: str, value: Any) -> None:
        with self._lock:
            getattr(self, what).append(value)

    def flight(self, step: int) -> None:
        """One stream more (+1) or less (-1) being answered."""
        with self._lock:
            self.in_flight += step
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def start(self) -> ReplayServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # quick shutdown between tests
            name="replay-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client dropping a kept-alive connection is normal here; anything else is shown."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: ReplayServer
    _finished = False  # the current stream's outcome is recorded

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "replay"}
                for m in self.server_state.models
            ]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, _error_body(f"Unknown path {self.path}", "not_found"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, _error_body(f"Unknown path {self.path}", "not_found"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, _error_body("Request body is not JSON", "invalid_json"))
            return
        self.server_state.record("requests", body)
        self._answer(body, self.server_state.next_reply(body))

    def _authorized(self) -> bool:
        expected = self.server_state.api_key
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if expected is None or given == expected:
            return True
        # Like some real servers, echo the presented key: clients must not repeat it.
        message = f"Incorrect API key provided: {given}."
        self._json(401, _error_body(message, "invalid_api_key"))
        return False

    def _answer(self, body: dict[str, Any], reply: Reply | None) -> None:
        if reply is None:
            self._json(500, _error_body("ReplayServer has no reply queued", "no_reply"))
            self.server_state.record("outcomes", "error 500")
        elif reply.status != 200:
            self._json(reply.status, _error_body(reply.message, f"http_{reply.status}"),
                       reply.headers)
            self.server_state.record("outcomes", f"error {reply.status}")
        elif body.get("stream"):
            self._stream(reply)
        else:
            self._json(200, _completion(reply))
            self.server_state.record("outcomes", "done")

    def _stream(self, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.server_state.flight(+1)
        try:
            self._write_events(reply)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            if not self._finished:
                self.server_state.record("outcomes", "client closed")
        finally:
            self.server_state.flight(-1)

    def _write_events(self, reply: Reply) -> None:
        self._finished = False
        time.sleep(reply.delay)
        for i, event in enumerate(reply.events):
            if reply.drop_after is not None and i >= reply.drop_after:
                self.server_state.record("outcomes", "dropped")
                self._drop()
                return
            if i and reply.pace:
                time.sleep(reply.pace)
            self._write_chunk(f"data: {json.dumps(event)}\n\n")
            self.server_state.record("sent", (time.time(), delta_text(event)))
        # recorded before [DONE]: the client cannot have finished reading yet
        self.server_state.record("outcomes", "done")
        self._finished = True
        self._write_chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, text: str) -> None:
        data = text.encode("utf-8")
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Shut the socket mid-body: no closing chunk, so the client sees a broken stream."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _json(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _completion(reply: Reply) -> dict[str, Any]:
    """A non-streamed `chat.completion` assembled from the reply's content deltas."""
    text, finish = "", "stop"
    for event in reply.events:
        for choice in event.get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
    message = {"role": "assistant", "content": text, "refusal": None}
    return {
        "id": "chatcmpl-replay",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _MODEL,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
