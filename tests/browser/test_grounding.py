"""Grounding in a real browser (`streamlit run app.py` + headless Chromium, replay server with a
paced stream): a found value is marked in the input text as its field completes, before the
run ends, and an invented email gets the warning on its field's box."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.engine.runs.test_runner_grounding import ANSWER, INVENTED, NOTE
from tests.ui_support import (
    box_selector,
    fill_text,
    open_extract,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
pytest_plugins = ["tests.e2e"]  # server, app, page

PACE = 0.04  # seconds between 3-character chunks: the answer takes about 5 s


def mark(path: str) -> str:
    return f'.fs-g-text mark[data-path="{path}"] >> nth=0'


def test_values_are_marked_as_their_fields_complete_and_an_invention_is_flagged(
    app: str, page: Any, server: ReplayServer
) -> None:
    pieces = support.chunks(json.dumps(ANSWER), 3)
    server.queue(Reply.content(pieces, pace=PACE))
    open_extract(page, app)
    fill_text(page, NOTE)
    page.get_by_role("button", name="Extract").click()

    page.locator(mark("users[0].name")).wait_for(timeout=30_000)
    assert page.locator(mark("users[0].name")).inner_text() == "John Doe"
    # the mark came while the answer was still streaming: the deadline was not sent yet
    assert len(server.sent) < len(pieces)
    assert page.get_by_text("every field arrived").count() == 0
    assert page.locator(mark("deadline")).count() == 0

    page.locator(mark("deadline")).wait_for(timeout=30_000)
    page.get_by_text("every field arrived").wait_for(timeout=30_000)
    users = page.locator(box_selector("users"))
    users.get_by_text("Not in the text — check it: row 2 email").wait_for(timeout=10_000)
    assert INVENTED in users.inner_text()
    assert "1 not in the text" in users.inner_text()
    assert "in text" in page.locator(box_selector("date")).inner_text()
    assert page.locator(mark("date")).inner_text() == "March 15th, 2024"
    assert page.locator(".fs-g-text script").count() == 0
    shot = screenshot(page, "e2e-grounding")
    assert shot.exists()

    page.get_by_role("combobox", name="Show a field in the text", exact=True).click()
    page.keyboard.type("location")  # the list is virtual: filter it down to the option
    page.get_by_role("option", name="location · in text", exact=True).click()
    page.locator(".fs-g-text mark.fs-g-selected").first.wait_for(timeout=10_000)
    assert page.locator(".fs-g-text mark.fs-g-selected").first.inner_text() == "Grand Tech Arena"
    assert page.get_by_text("every field arrived").count() == 1  # the run is still shown
    screenshot(page, "e2e-grounding-picked")
