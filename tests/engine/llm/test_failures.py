"""How extract reports streams that end badly, and failures before the stream starts."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openai import OpenAI
from pydantic import BaseModel

from engine.errors import (
    Cancelled,
    ContentFiltered,
    ProviderError,
    Refused,
    StreamInterrupted,
    Truncated,
)
from engine.llm.extract import extract, extract_calls
from engine.llm.failures import redact
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import openai_client as client_for


class Person(BaseModel):
    name: str
    city: str
    bio: str


PERSON = ['{"name": "Ada",', ' "city": "London",', ' "bio": "Wrote', " the first", ' program"}']
MANY = ['{"name": "Ada", "city": "London", "bio": "'] + [f"word{i} " for i in range(300)] + ['"}']


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def run(srv: ReplayServer, reply: Reply, **kw: object) -> list:
    srv.queue(reply)
    return list(extract("text", Person, client=client_for(srv), model="m", **kw))


def test_usage_reported_and_tolerated_when_missing(srv: ReplayServer) -> None:
    final = run(srv, Reply.content(PERSON))[-1]
    assert final.final.name == "Ada"
    assert final.usage["total_tokens"] > 0
    final = run(srv, Reply.content(PERSON, usage=False))[-1]
    assert final.final.city == "London" and final.usage is None


def test_dropped_connection_interrupted_partial_kept(srv: ReplayServer) -> None:
    snaps = run(srv, Reply.content(PERSON, drop_after=3))  # role chunk + two content chunks
    final = snaps[-1]
    assert isinstance(final.error, StreamInterrupted)
    assert "broke" in str(final.error)
    assert {"name", "city"} <= set(final.done)
    assert final.error.partial.name == "Ada" and final.error.partial.city == "London"
    assert final.text == PERSON[0] + PERSON[1]
    assert srv.outcomes == ["dropped"]


def test_mid_stream_error_event_is_interrupted(srv: ReplayServer) -> None:
    reply = Reply.content(PERSON)
    reply.events.insert(2, {"error": {"message": "The server had an error", "type": "server"}})
    final = run(srv, reply)[-1]
    assert isinstance(final.error, StreamInterrupted)
    assert "server had an error" in str(final.error)
    assert final.partial.name == "Ada"


def test_length_and_content_filter(srv: ReplayServer) -> None:
    final = run(srv, Reply.content(PERSON[:3], finish_reason="length"))[-1]
    assert isinstance(final.error, Truncated) and final.partial.city == "London"
    final = run(srv, Reply.content(PERSON[:2], finish_reason="content_filter"))[-1]
    assert isinstance(final.error, ContentFiltered) and final.finish_reason == "content_filter"
    assert final.partial.name == "Ada"


def test_no_finish_reason(srv: ReplayServer) -> None:
    cut = Reply.content(PERSON[:2])
    cut.events = [e for e in cut.events if not e["choices"] or not e["choices"][0]["finish_reason"]]
    assert isinstance(run(srv, cut)[-1].error, StreamInterrupted)
    whole = Reply.content(PERSON)
    whole.events = [
        e for e in whole.events if not e["choices"] or not e["choices"][0]["finish_reason"]
    ]
    assert run(srv, whole)[-1].final.bio == "Wrote the first program"  # complete: tolerated


def test_sparse_server_chunks(srv: ReplayServer) -> None:
    """Servers that omit ids, send empty choices and no usage still work."""
    reply = Reply.content(PERSON, usage=False)
    for event in reply.events:
        for key in ("id", "created", "model", "object"):
            event.pop(key)
    reply.events.insert(0, {"choices": []})
    assert run(srv, reply)[-1].final.name == "Ada"


def test_cancel_stops_within_one_chunk(srv: ReplayServer) -> None:
    cancel = threading.Event()
    srv.queue(Reply.content(MANY, pace=0.005))
    snaps = []
    for snap in extract("t", Person, client=client_for(srv), model="m", cancel=cancel):
        snaps.append(snap)
        if len(snaps) == 5:
            cancel.set()
    assert len(snaps) == 6  # the five, then straight to the final one
    final = snaps[-1]
    assert isinstance(final.error, Cancelled)
    assert final.partial.name == "Ada" and final.partial.bio.startswith("word0 word1 word2")
    wait_for(lambda: srv.outcomes == ["client closed"])
    assert len(srv.sent) < 100


def test_cancel_from_another_thread(srv: ReplayServer) -> None:
    cancel, arrived = threading.Event(), threading.Event()
    srv.queue(Reply.content(MANY, pace=0.02))
    # the other thread cancels once text has arrived (a fixed timer fired before the first
    # chunk on a loaded machine, leaving nothing to keep)
    threading.Thread(target=lambda: arrived.wait(30) and cancel.set(), daemon=True).start()
    final = None
    for final in extract("t", Person, client=client_for(srv), model="m", cancel=cancel):
        if final.text:
            arrived.set()
    assert isinstance(final.error, Cancelled)
    # Cancelled mid-stream (6 s of answer at this pace), not at its end: what arrived is kept,
    # and the server saw the client go. A wall-clock bound flaked on a loaded machine.
    assert final.text.startswith('{"name": "Ada"') and "word299" not in final.text
    wait_for(lambda: srv.outcomes == ["client closed"])


def test_cancel_before_start_sends_nothing(srv: ReplayServer) -> None:
    cancel = threading.Event()
    cancel.set()
    snaps = list(extract("t", Person, client=client_for(srv), model="m", cancel=cancel))
    assert len(snaps) == 1 and isinstance(snaps[0].error, Cancelled)
    assert srv.requests == []


def test_generator_close_closes_the_response(srv: ReplayServer) -> None:
    srv.queue(Reply.content(MANY, pace=0.005))
    gen = extract("t", Person, client=client_for(srv), model="m")
    for _ in range(3):
        next(gen)
    gen.close()
    wait_for(lambda: srv.outcomes == ["client closed"])
    assert len(srv.sent) < 100


def test_breaking_out_of_the_loop_closes_the_response(srv: ReplayServer) -> None:
    srv.queue(Reply.content(MANY, pace=0.005))

    def first_three() -> None:
        for i, _ in enumerate(extract("t", Person, client=client_for(srv), model="m")):
            if i == 2:
                break

    first_three()
    wait_for(lambda: srv.outcomes == ["client closed"])


def test_401_provider_error_without_the_key() -> None:
    secret = "sk-proj-VerySecret0123456789"
    with ReplayServer(api_key="the-right-key") as srv:
        gen = extract("t", Person, client=client_for(srv, key=secret), model="gpt-x")
        with pytest.raises(ProviderError) as info:
            next(gen)
    message = str(info.value)
    assert "401" in message and "API key" in message
    assert secret not in message and "VerySecret" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_server_provider_error() -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with pytest.raises(ProviderError, match=r"Could not reach .*127\.0\.0\.1.*running"):
        next(extract("t", Person, client=client, model="m"))


@pytest.mark.parametrize(("status", "words"), [(404, "model"), (429, "rate"), (500, "HTTP 500")])
def test_http_errors_before_the_stream(srv: ReplayServer, status: int, words: str) -> None:
    srv.queue(Reply.error(status, "scripted"))
    with pytest.raises(ProviderError, match=words) as info:
        next(extract("t", Person, client=client_for(srv), model="m"))
    assert "scripted" in str(info.value)


def test_redact() -> None:
    assert redact("Incorrect API key provided: abc123.", None) == "Incorrect API key provided: ***"
    assert redact("key sk-abc***wxyz leaked", None) == "key sk-*** leaked"
    assert redact("token my-key-1 here", "my-key-1") == "token *** here"
    assert redact("at http://bob:pw@host/v1", None) == "at http://***@host/v1"


def test_each_choice_ends_on_its_own(srv: ReplayServer) -> None:
    """n=2: choice 0 answers, choice 1 refuses; both get a final snapshot."""
    reply = Reply.content(PERSON)
    for event in reply.events[1:3]:
        event["choices"].append({"index": 1, "delta": {"refusal": "No."}, "finish_reason": None})
    reply.events[-2]["choices"].append({"index": 1, "delta": {}, "finish_reason": "stop"})
    srv.queue(reply)
    calls = extract_calls("t", Person, client=client_for(srv), model="m", n=2)
    finals = {key: snap for key, snap in calls if snap.is_final}
    assert finals[(0, 0)].final.bio == "Wrote the first program"
    error = finals[(1, 0)].error
    assert isinstance(error, Refused) and error.refusal == "No.No."


# --- one translator: a model listing and an extraction word a failure alike ------------------

KEY = "sk-translate-0123456789"


class ErrorServer:
    """Answers every request (GET /v1/models, POST /v1/chat/completions) with `status` and an
    OpenAI-style error body whose message echoes the key."""

    def __init__(self, status: int) -> None:
        body = json.dumps({"error": {"message": f"scripted {status} for key {KEY}"}}).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ErrorServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def both_failures(base_url: str) -> tuple[str, str]:
    """(what a model listing says, what an extraction says) against `base_url`."""
    from engine import providers as pv

    with pytest.raises(ProviderError) as listing:
        pv.list_models(pv.Provider("Lab", "compatible", base_url, (), api_key=KEY))
    client = OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    with pytest.raises(ProviderError) as request:
        next(extract("t", Person, client=client, model="m"))
    return str(listing.value), str(request.value)


@pytest.mark.parametrize(
    ("status", "happened"),
    [(401, "rejected the API key"), (403, "refused this key access"),
     (429, "is rate-limiting this key, or its quota is used up"),
     (500, "answered with an error")],
)  # fmt: skip
def test_listing_and_extraction_say_the_same(status: int, happened: str) -> None:
    with ErrorServer(status) as srv:
        listing, request = both_failures(srv.base_url)
    assert listing.startswith(f"Lab at {srv.base_url} {happened} (HTTP {status}).")
    assert f"{happened} (HTTP {status}, model 'm')." in request
    for message in (listing, request):
        assert KEY not in message
        # a 401's own text often echoes the key: it is never quoted
        assert ("The server said: scripted" in message) is (status != 401)


def test_a_missing_model_list_is_not_a_missing_model() -> None:
    with ErrorServer(404) as srv:
        listing, request = both_failures(srv.base_url)
    assert "has no model list (HTTP 404)" in listing and "OpenAI-compatible" in listing
    assert "does not know this model or endpoint (HTTP 404, model 'm')" in request


def test_an_unreachable_server_is_worded_alike() -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    for message in both_failures(url):
        assert message.startswith("Could not reach ") and "127.0.0.1" in message
        assert "Is the server running?" in message


def test_a_read_timeout_is_timed_out_whichever_http_stack_raised_it() -> None:
    """openai 1.60 lets httpx's ReadTimeout through unwrapped where openai 3.x raises
    APITimeoutError: both must end as TimedOut, not as a broken stream."""
    import importlib

    import openai

    from engine.errors import TimedOut
    from engine.llm.failures import stream_failure

    raised: list[BaseException] = [openai.APITimeoutError(request=None), TimeoutError("slow")]  # type: ignore[arg-type]
    for name in ("httpx", "httpx2"):
        try:
            raised.append(importlib.import_module(name).ReadTimeout("timed out"))
        except ImportError:
            continue
    assert len(raised) >= 3, "neither httpx nor httpx2 is installed beside openai"
    for exc in raised:
        assert isinstance(stream_failure(exc, key=None, model="m", timeout=5), TimedOut), exc
    assert isinstance(stream_failure(ConnectionResetError("reset"), key=None, model="m",
                                     timeout=5), StreamInterrupted)


def test_failures_that_may_pass_are_marked_with_their_retry_after() -> None:
    import httpx2 as httpx
    import openai

    from engine.llm.failures import translate

    def status(code: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
        request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
        response = httpx.Response(code, headers=headers or {}, request=request, json={})
        return openai.APIStatusError("no", response=response, body={})

    limited = translate(status(429, {"Retry-After": "7"}), where="Lab", key=None, model="m")
    assert limited.transient and limited.retry_after == 7.0
    assert translate(status(503), where="Lab", key=None, model="m").transient
    for final in (401, 404, 400):
        assert not translate(status(final), where="Lab", key=None, model="m").transient
    gone = openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:1/v1"))
    assert translate(gone, where="Lab", key=None, model="m").transient
    odd = translate(status(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
                    where="Lab", key=None, model="m")
    assert odd.transient and odd.retry_after is None
