"""extract / extract_calls with the real openai client against recorded OpenAI streams."""

from __future__ import annotations

import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from engine.errors import JSONStreamError, Refused, Truncated
from engine.llm.extract import extract, extract_calls
from engine.stream.changes import Done
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import FIXTURES, GetStockPrice, GetWeatherArgs, Location


class CityState(BaseModel):
    city: str
    state: str


class CityOnly(BaseModel):
    city: str


class Current(BaseModel):
    temperature: str
    condition: str
    humidity: str
    wind_speed: str = Field(alias="windSpeed")
    wind_direction: str = Field(alias="windDirection")


class Day(BaseModel):
    day: str
    high: str
    low: str
    condition: str


class Weather(BaseModel):
    location: str
    weather: Current
    forecast: list[Day]


def replay(srv: ReplayServer, name: str) -> None:
    srv.queue(Reply.from_sse_file(FIXTURES / name))


def test_location_fields_done_one_by_one(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "structured-output-location.sse")
    snaps, states = [], []
    for snap in extract("SF weather", Location, client=client, model="gpt-4o-2024-08-06"):
        snaps.append(snap)
        states.append(snap.state("city"))  # state() reads the live stream: ask right away
    final = snaps[-1]
    assert final.is_final and final.error is None
    assert final.final == Location(city="San Francisco", temperature=61, units="f")
    leaf_done = [[c.path for c in s.changes if isinstance(c, Done) and c.path] for s in snaps[:-1]]
    assert [paths for paths in leaf_done if paths] == [["city"], ["temperature"], ["units"]]
    assert states[:6] == ["pending", "pending", "streaming", "streaming", "streaming", "done"]
    assert all(not s.is_final for s in snaps[:-1])
    assert final.finish_reason == "stop"
    assert final.usage == {
        "prompt_tokens": 79,
        "completion_tokens": 14,
        "total_tokens": 93,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    timings = final.timings
    assert 0 < timings.first_token <= timings.first_done <= timings.elapsed
    assert set(timings.fields) >= {"city", "temperature", "units"}
    body = srv.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"]["required"] == [
        "city",
        "temperature",
        "units",
    ]
    assert body["messages"][-1] == {"role": "user", "content": "SF weather"}


def test_n3_three_choices(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "structured-output-n3.sse")
    finals = {
        key: snap.final
        for key, snap in extract_calls("x", Location, client=client, model="m", n=3)
        if snap.is_final
    }
    assert {k: v.temperature for k, v in finals.items()} == {(0, 0): 65, (1, 0): 61, (2, 0): 59}
    assert srv.requests[0]["n"] == 3
    replay(srv, "structured-output-n3.sse")
    snaps = list(extract("x", Location, client=client, model="m", n=3))
    assert snaps[-1].final.temperature == 65  # extract follows the first choice only
    assert snaps[-1].text == '{"city":"San Francisco","temperature":65,"units":"f"}'


def test_max_tokens_1_truncated_partial_kept(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "structured-output-max-tokens-1.sse")
    final = list(extract("x", Location, client=client, model="m", max_tokens=1))[-1]
    assert isinstance(final.error, Truncated)
    assert "token limit" in str(final.error)
    assert final.finish_reason == "length"
    assert final.text == '{"'
    assert final.error.partial is final.partial
    assert final.usage["completion_tokens"] == 1
    with pytest.raises(Truncated):
        _ = final.final
    assert srv.requests[0]["max_tokens"] == 1


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("structured-output-refusal.sse", "I'm sorry, I can't assist with that request."),
        ("structured-output-refusal-logprobs.sse", "I'm very sorry, but I can't assist with that."),
    ],
)
def test_refusal(srv: ReplayServer, client: OpenAI, name: str, text: str) -> None:
    replay(srv, name)
    snaps = list(extract("x", Location, client=client, model="m"))
    assert len(snaps) == 1  # no content: only the final snapshot
    error = snaps[-1].error
    assert isinstance(error, Refused)
    assert error.refusal == text and text in str(error)
    assert snaps[-1].finish_reason == "stop"


def test_json_object_mode_pretty_json_with_degrees(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "json-object-mode.sse")
    snaps = list(extract("x", Weather, client=client, model="m", mode="json_object"))
    weather = snaps[-1].final
    assert weather.weather.temperature == "18°C"
    assert [d.low for d in weather.forecast] == ["14°C", "15°C", "14°C"]
    assert weather.weather.wind_speed == "15 km/h"
    assert "forecast[2].condition" in snaps[-1].done
    assert len(snaps) > 100  # streamed, not buffered
    body = srv.requests[0]
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert "JSON" in system and '"windSpeed"' in system  # schema (by alias) in the prompt


def test_tool_call_pydantic(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "tool-call-pydantic.sse")
    snaps = list(extract("x", GetWeatherArgs, client=client, model="m", mode="tools"))
    assert snaps[-1].final == GetWeatherArgs(city="Edinburgh", country="UK", units="c")
    assert snaps[-1].finish_reason == "tool_calls"
    assert sum(1 for s in snaps for c in s.changes if isinstance(c, Done)) == 4  # 3 fields + root
    body = srv.requests[0]
    assert [t["function"]["name"] for t in body["tools"]] == ["GetWeatherArgs"]
    assert body["tools"][0]["function"]["strict"] is True
    assert body["tool_choice"] == {"type": "function", "function": {"name": "GetWeatherArgs"}}
    assert "response_format" not in body


@pytest.mark.parametrize(
    ("name", "schema", "expected"),
    [
        ("tool-call-weather.sse", CityState, CityState(city="San Francisco", state="CA")),
        ("tool-call-non-strict.sse", CityOnly, CityOnly(city="New York City")),
    ],
)
def test_single_tool_call_named_tool(
    srv: ReplayServer, client: OpenAI, name: str, schema: type[BaseModel], expected: BaseModel
) -> None:
    replay(srv, name)
    tools = {"get_weather": schema}
    final = list(extract("x", tools, client=client, model="m", mode="tools"))[-1]
    assert final.final == expected
    assert srv.requests[0]["tool_choice"]["function"]["name"] == "get_weather"


def test_parallel_tool_calls_both_extracted(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "tool-calls-parallel-two-tools.sse")
    tools = {"GetWeatherArgs": GetWeatherArgs, "get_stock_price": GetStockPrice}
    seen: list[tuple[int, int]] = []
    finals = {}
    for key, snap in extract_calls("x", tools, client=client, model="m", mode="tools"):
        seen.append(key)
        if snap.is_final:
            finals[key] = snap.final
    assert finals == {
        (0, 0): GetWeatherArgs(city="Edinburgh", country="GB", units="c"),
        (0, 1): GetStockPrice(ticker="AAPL", exchange="NASDAQ"),
    }
    assert seen.index((0, 1)) > seen.index((0, 0))
    body = srv.requests[0]
    assert [t["function"]["name"] for t in body["tools"]] == list(tools)
    assert body["tool_choice"] == "required"


def test_parallel_tool_calls_extract_follows_first(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "tool-calls-parallel-two-tools.sse")
    final = list(extract("x", GetWeatherArgs, client=client, model="m", mode="tools"))[-1]
    assert final.final == GetWeatherArgs(city="Edinburgh", country="GB", units="c")


def test_plain_text_is_a_clear_json_error_nothing_lost(srv: ReplayServer, client: OpenAI) -> None:
    replay(srv, "plain-text.sse")
    final = list(extract("x", Location, client=client, model="m"))[-1]
    assert isinstance(final.error, JSONStreamError)
    assert str(final.error)
    assert final.text == (
        "I'm unable to provide real-time weather updates. To get the current weather in San "
        "Francisco, I recommend checking a reliable weather website or a weather app."
    )
    assert final.finish_reason == "stop"
