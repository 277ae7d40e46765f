"""Suite-wide settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from openai import OpenAI

from engine.testing.replay_server import ReplayServer
from tests.support import openai_client

# AppTest pages must not start the embedded model in the background (the tests that want the
# local model start it themselves); it would only compete for the two cores.
os.environ.setdefault("FIELDSTREAM_WARM_LOCAL", "0")


@pytest.fixture
def srv() -> Iterator[ReplayServer]:
    """A local OpenAI-compatible server on 127.0.0.1 (scripted or recorded streams)."""
    with ReplayServer() as server:
        yield server


@pytest.fixture
def client(srv: ReplayServer) -> OpenAI:
    return openai_client(srv)
