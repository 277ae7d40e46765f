"""Fixtures the browser tests share (`pytest_plugins = ["tests.e2e"]`): one headless Chromium
for the session, and per test module one replay server and one real app pointed at it with a
data folder of the module's own (`app_data`). Each test gets a page in a fresh browser context
(a new app session) and the server emptied of what earlier tests queued and saw.

A module that needs a fresh app (its own environment, its own server) overrides `app` or
`server`, as browser/test_keyleak.py and browser/test_injection.py do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.testing.replay_server import ReplayServer
from tests.ui_support import (
    SHARED_BROWSERS,
    chromium_browser,
    chromium_page,
    custom_server_env,
    streamlit_app,
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for every browser test of the session (each page has its own context)."""
    with chromium_browser() as opened:
        SHARED_BROWSERS.append(opened)
        try:
            yield opened
        finally:
            SHARED_BROWSERS.remove(opened)


@pytest.fixture(scope="module")
def module_server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


@pytest.fixture
def server(module_server: ReplayServer) -> ReplayServer:
    """The module's replay server, with nothing queued and nothing seen yet."""
    module_server.reset()
    return module_server


@pytest.fixture(scope="module")
def app_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder (history.db, saved servers) of the module's app."""
    return tmp_path_factory.mktemp("app") / "data"


@pytest.fixture(scope="module")
def app(module_server: ReplayServer, app_data: Path) -> Iterator[str]:
    env = custom_server_env(module_server.base_url, FIELDSTREAM_DATA_DIR=str(app_data))
    with streamlit_app(env) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with chromium_page() as pg:
        yield pg
