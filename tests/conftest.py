"""Suite-wide settings."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from openai import OpenAI

from engine.testing.replay_server import ReplayServer
from tests.support import openai_client

# The tiers: `browser`, `local_model` and `postgres` say what a test needs; a missing need is a
# skip outside CI and a failure with CI=true (tests/tiers.py).
pytest_plugins = ["tests.tiers"]

# AppTest pages must not start the embedded model in the background (the tests that want the
# local model start it themselves); it would only compete for the two cores.
os.environ.setdefault("FIELDSTREAM_WARM_LOCAL", "0")
# No test reads or writes the user's own history, saved servers or database (tests that want
# a folder of their own still set one: `tests.support.isolate`).
os.environ["FIELDSTREAM_DATA_DIR"] = _DATA = tempfile.mkdtemp(prefix="fieldstream-tests-")
atexit.register(shutil.rmtree, _DATA, ignore_errors=True)
os.environ.pop("FIELDSTREAM_DATABASE_URL", None)


@pytest.fixture
def srv() -> Iterator[ReplayServer]:
    """A local OpenAI-compatible server on 127.0.0.1 (scripted or recorded streams)."""
    with ReplayServer() as server:
        yield server


@pytest.fixture
def servers() -> Iterator[tuple[ReplayServer, ReplayServer]]:
    """Two local servers, for lanes that must not share one."""
    with ReplayServer() as first, ReplayServer() as second:
        yield first, second


@pytest.fixture
def client(srv: ReplayServer) -> OpenAI:
    return openai_client(srv)
