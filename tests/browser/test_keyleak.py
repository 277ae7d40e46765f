"""Real browser: a server error that echoes the caller's key (of an unusual shape) never puts
the key into the page, not even under "Technical detail" (issue #7, item 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING
from tests.ui_support import custom_server_env, open_extract, streamlit_app

pytestmark = [
    pytest.mark.browser,
]
pytest_plugins = ["tests.e2e"]  # page (server and app are its own, below)

KEY = "5e1f0a9b7c3d4e2f8a6b1c0d9e7f3a2b"  # 32 hex characters: nothing key-like to match on


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer(api_key=KEY) as srv:  # it only answers requests that carry the key
        yield srv


@pytest.fixture
def app(server: ReplayServer) -> Iterator[str]:
    env = custom_server_env(server.base_url, key=KEY)
    with streamlit_app(env) as url:
        yield url


def test_the_key_is_nowhere_in_the_page(app: str, page: Any, server: ReplayServer) -> None:
    answer = json.dumps(MEETING)
    reply = Reply.content([answer[:40], answer[40:80]], pace=0.01)
    reply.events.insert(2, {"error": {"message": f"upstream failed for key {KEY}"}})
    server.queue(reply)
    open_extract(page, app)
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("The connection to the model was lost").wait_for(timeout=30_000)
    page.get_by_text("Technical detail").click()
    page.get_by_text("upstream failed for key ***").wait_for(timeout=10_000)
    assert server.requests, "the request went out (with the key, which the server checks)"
    html = page.content()
    assert KEY not in html
    assert KEY[:16] not in html and KEY[16:] not in html  # nor half of it
