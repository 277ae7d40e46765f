"""Shared test data: the recorded OpenAI streams and the schemas of the requests that made them
(tests/fixtures/openai-sse/README.md), a MeetingInfo answer, and a client helper."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from openai import OpenAI
from pydantic import BaseModel

from engine.testing.replay_server import ReplayServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "openai-sse"


class Location(BaseModel):
    city: str
    temperature: float
    units: Literal["c", "f"]


class GetWeatherArgs(BaseModel):
    """Get the temperature for the given country/city combo"""

    city: str
    country: str
    units: Literal["c", "f"] = "c"


class GetStockPrice(BaseModel):
    ticker: str
    exchange: str


#: A MeetingInfo answer (the seed's meeting, two people).
MEETING = {
    "users": [
        {"name": "John Doe", "email": "johndoe@email.com", "twitter": "@TechGuru44"},
        {"name": "Jane Smith", "email": "janesmith@email.com", "twitter": "@DigitalDiva88"},
    ],
    "date": "March 15th, 2024",
    "location": "Grand Tech Arena, 4521 Innovation Drive",
    "budget": 50000,
    "deadline": "February 20th",
}


def openai_client(srv: ReplayServer, key: str = "test-key") -> OpenAI:
    """The real openai client, pointed at a local ReplayServer, no retries."""
    return OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)
