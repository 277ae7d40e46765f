"""Fixtures the browser tests share (`pytest_plugins = ["tests.e2e"]`): a replay server, the
real app pointed at it with a data folder of the test's own, and a headless Chromium page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.testing.replay_server import ReplayServer
from tests.ui_support import chromium_page, custom_server_env, streamlit_app


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


@pytest.fixture
def app(server: ReplayServer, tmp_path: Path) -> Iterator[str]:
    env = custom_server_env(server.base_url, FIELDSTREAM_DATA_DIR=str(tmp_path / "data"))
    with streamlit_app(env) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_page() as pg:
        yield pg
