"""Chunks -> events, on the recorded streams (as dicts and as the openai client's objects)."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletionChunk

from engine.llm.events import (
    Finish,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    chunk_events,
)
from engine.testing.replay_server import read_sse
from tests.support import FIXTURES


def events(name: str, *, typed: bool) -> list[object]:
    chunks = read_sse(FIXTURES / name)
    if typed:
        chunks = [ChatCompletionChunk.model_validate(c) for c in chunks]
    return [e for c in chunks for e in chunk_events(c)]


@pytest.mark.parametrize("typed", [False, True])
def test_location_text_finish_and_usage(typed: bool) -> None:
    evs = events("structured-output-location.sse", typed=typed)
    text = "".join(e.text for e in evs if isinstance(e, TextDelta))
    assert text == '{"city":"San Francisco","temperature":61,"units":"f"}'
    assert [e for e in evs if isinstance(e, Finish)] == [Finish(0, "stop")]
    usage = [e for e in evs if isinstance(e, UsageReport)]
    assert len(usage) == 1 and usage[0].usage["total_tokens"] == 93
    assert isinstance(evs[-1], UsageReport)


@pytest.mark.parametrize("typed", [False, True])
def test_n3_keeps_choices_apart(typed: bool) -> None:
    evs = events("structured-output-n3.sse", typed=typed)
    texts = {
        i: "".join(e.text for e in evs if isinstance(e, TextDelta) and e.choice == i)
        for i in range(3)
    }
    assert [texts[i][-25:] for i in range(3)] == [
        'co","temperature":65,"units":"f"}'[-25:],
        'co","temperature":61,"units":"f"}'[-25:],
        'co","temperature":59,"units":"f"}'[-25:],
    ]
    assert sorted(e.choice for e in evs if isinstance(e, Finish)) == [0, 1, 2]


def test_refusal_events() -> None:
    evs = events("structured-output-refusal.sse", typed=True)
    assert not [e for e in evs if isinstance(e, TextDelta)]
    refusal = "".join(e.text for e in evs if isinstance(e, RefusalDelta))
    assert refusal == "I'm sorry, I can't assist with that request."


@pytest.mark.parametrize("typed", [False, True])
def test_parallel_tool_calls(typed: bool) -> None:
    evs = [
        e
        for e in events("tool-calls-parallel-two-tools.sse", typed=typed)
        if isinstance(e, ToolCallDelta)
    ]
    names = {e.index: e.name for e in evs if e.name}
    assert names == {0: "GetWeatherArgs", 1: "get_stock_price"}
    args = {i: "".join(e.arguments_delta for e in evs if e.index == i) for i in (0, 1)}
    assert args == {
        0: '{"city": "Edinburgh", "country": "GB", "units": "c"}',
        1: '{"ticker": "AAPL", "exchange": "NASDAQ"}',
    }
    assert evs[0].id == "call_JMW1whyEaYG438VE1OIflxA2"


def test_tolerates_sparse_chunks_from_compatible_servers() -> None:
    assert chunk_events({}) == []
    assert chunk_events({"choices": None, "usage": None}) == []
    assert chunk_events({"choices": [{"delta": None}]}) == []
    sparse = {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]}
    assert chunk_events(sparse) == [TextDelta(0, "x"), Finish(0, "stop")]
    no_index = {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "{"}}]}}]}
    assert chunk_events(no_index) == [ToolCallDelta(0, 0, None, "{")]
    legacy = {"choices": [{"index": 0, "delta": {"function_call": {"name": "f", "arguments": ""}}}]}
    assert chunk_events(legacy) == [ToolCallDelta(0, 0, "f", "")]
