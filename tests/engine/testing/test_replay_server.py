"""The replay server, driven by the real `openai` client."""

from __future__ import annotations

import json
import threading
import time

import openai
import pytest
from openai import OpenAI

from engine.testing.replay_server import ReplayServer, Reply, read_sse
from tests.support import FIXTURES
from tests.support import openai_client as client_for

MESSAGES = [{"role": "user", "content": "hi"}]


def stream(client: OpenAI, **extra: object) -> openai.Stream:
    return client.chat.completions.create(
        model="replay-model", messages=MESSAGES, stream=True, **extra
    )


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_content_reply_streams_paced_chunks_with_usage(srv: ReplayServer) -> None:
    srv.queue(Reply.content(['{"city":"Pa', 'ris"', "}"], pace=0.05))
    start = time.monotonic()
    chunks = list(stream(client_for(srv), stream_options={"include_usage": True}))
    elapsed = time.monotonic() - start
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == '{"city":"Paris"}'
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert elapsed >= 0.05 * (len(chunks) - 1) * 0.9
    deltas = [d for _, d in srv.sent]
    assert deltas == ["", '{"city":"Pa', 'ris"', "}", "", ""]
    times = [t for t, _ in srv.sent]
    assert times == sorted(times) and times[-1] - times[0] >= 0.2
    assert srv.requests[0]["stream"] is True and srv.requests[0]["messages"] == MESSAGES
    assert srv.outcomes == ["done"]


def test_sse_file_is_replayed_event_by_event(srv: ReplayServer) -> None:
    path = FIXTURES / "structured-output-n3.sse"
    srv.queue(Reply.from_sse_file(path))
    got = [c.model_dump(exclude_unset=True) for c in stream(client_for(srv))]
    expected = read_sse(path)
    assert len(got) == len(expected) == 49
    assert [c["choices"] for c in got] == [e["choices"] for e in expected]
    assert got[-1]["usage"]["total_tokens"] == 121


def test_drop_after_breaks_the_stream(srv: ReplayServer) -> None:
    srv.queue(Reply.content(['{"a":', "1", "}"], drop_after=2))
    received: list[str] = []
    # Which exception a broken stream raises is the HTTP stack's choice (openai 3.3 on httpx2
    # raised httpx2.RemoteProtocolError, others openai.APIConnectionError); what the engine
    # makes of it (the run ends interrupted, the partial kept) is tested in test_llm_failures.
    with pytest.raises(Exception) as broken:
        for chunk in stream(client_for(srv)):
            received.append(chunk.choices[0].delta.content or "")
    assert not isinstance(broken.value, AssertionError)
    assert received == ["", '{"a":']
    assert srv.outcomes == ["dropped"]


def test_tool_call_reply(srv: ReplayServer) -> None:
    srv.queue(Reply.content(['{"city":', '"Oslo"}'], tool_name="GetWeather"))
    chunks = list(stream(client_for(srv)))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "GetWeather" and calls[0].id
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"city":"Oslo"}'
    assert chunks[-2].choices[0].finish_reason == "tool_calls"


def test_refusal_and_finish_reason_reply(srv: ReplayServer) -> None:
    srv.queue(Reply.content([], refusal="I can't help with that.", finish_reason="length"))
    chunks = [c for c in stream(client_for(srv)) if c.choices]
    refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks)
    assert refusal == "I can't help with that."
    assert chunks[-1].choices[0].finish_reason == "length"


def test_wrong_key_gets_401_and_models_need_the_key() -> None:
    with ReplayServer(api_key="right-key", models=["m1", "m2"]) as srv:
        with pytest.raises(openai.AuthenticationError):
            stream(client_for(srv, key="wrong-key"))
        with pytest.raises(openai.AuthenticationError):
            client_for(srv, key="wrong-key").models.list()
        assert [m.id for m in client_for(srv, key="right-key").models.list().data] == ["m1", "m2"]
        assert srv.requests == []  # rejected requests are not recorded


def test_error_reply_default_and_empty_queue(srv: ReplayServer) -> None:
    client = client_for(srv)
    srv.queue(Reply.error(503, "overloaded"))
    with pytest.raises(openai.InternalServerError, match="overloaded"):
        stream(client)
    with pytest.raises(openai.InternalServerError, match="no reply queued"):
        stream(client)
    srv.default = Reply.content(["ok"])
    for _ in range(2):
        assert "".join(c.choices[0].delta.content or "" for c in stream(client) if c.choices)
    assert srv.outcomes == ["error 503", "error 500", "done", "done"]


def test_non_streamed_request_gets_a_completion(srv: ReplayServer) -> None:
    srv.queue(Reply.content(['{"a"', ":1}"]))
    done = client_for(srv).chat.completions.create(model="replay-model", messages=MESSAGES)
    assert done.choices[0].message.content == '{"a":1}'


def test_two_concurrent_requests_interleave(srv: ReplayServer) -> None:
    srv.queue(
        Reply.content([f"A{i}" for i in range(8)], pace=0.03),
        Reply.content([f"B{i}" for i in range(8)], pace=0.03),
    )
    texts: dict[int, str] = {}

    def run(slot: int) -> None:
        chunks = stream(client_for(srv))
        texts[slot] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(texts.values()) == ["".join(f"{x}{i}" for i in range(8)) for x in "AB"]
    order = "".join(d[0] for _, d in srv.sent if d)
    assert "AB" in order and "BA" in order  # both streams were in flight at once


def test_client_closing_the_response_is_noticed(srv: ReplayServer) -> None:
    srv.queue(Reply.content([f"{i}," for i in range(200)], pace=0.01))
    chunks = stream(client_for(srv))
    for i, _ in enumerate(chunks):
        if i == 3:
            break
    chunks.close()
    wait_for(lambda: srv.outcomes == ["client closed"])
    assert len(srv.sent) < 50


def test_sse_wire_format() -> None:
    """Raw bytes: event-stream content type, `data:` lines, `[DONE]` at the end."""
    import http.client

    with ReplayServer() as srv:
        srv.queue(Reply.content(["x"], usage=False))
        host, port = srv.base_url.split("//")[1].split("/")[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("POST", "/v1/chat/completions", json.dumps({"stream": True}))
        response = conn.getresponse()
        assert response.getheader("Content-Type").startswith("text/event-stream")
        body = response.read().decode()
        conn.close()
    events = [line for line in body.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert [json.loads(e[6:])["choices"][0]["finish_reason"] for e in events[:-1]] == [
        None,
        None,
        "stop",
    ]


def test_a_lone_surrogate_reaches_the_client_as_sent(srv: ReplayServer) -> None:
    """A hostile server can send `"\\ud800"` inside an SSE payload; the scripted server must be
    able to (it writes JSON escapes, which are valid on the wire)."""
    srv.queue(Reply.content(['{"a": "x', "\ud800", 'y"}']))
    stream = client_for(srv).chat.completions.create(
        model="replay-model", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == '{"a": "x\ud800y"}'


def test_reset_empties_a_shared_server_for_the_next_test(srv: ReplayServer) -> None:
    srv.queue(Reply.content(['{"a": 1}']), Reply.content(['{"b": 2}']))
    srv.default = Reply.content(['{"c": 3}'])
    list(stream(client_for(srv)))
    srv.reset()
    assert (srv.requests, srv.sent, srv.outcomes, srv.default) == ([], [], [], None)
    assert srv.next_reply() is None  # the second queued reply is gone too
    srv.queue(Reply.content(['{"d": 4}']))
    text = "".join(c.choices[0].delta.content or "" for c in stream(client_for(srv)) if c.choices)
    assert text == '{"d": 4}' and len(srv.requests) == 1
