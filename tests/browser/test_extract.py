"""Real-browser tests: `streamlit run app.py` + headless Debian Chromium (Playwright), against a
local ReplayServer paced at a known rate, and one run of the embedded local model.

Screenshots of the finished pages land in test-artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from engine.schemas.library import MEETING_NOTE
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING
from tests.ui_support import (
    box_selector,
    field_events,
    fill_text,
    first_seen,
    install_watch,
    open_extract,
    screenshot,
    select_option,
    streamlit_app,
    wait_idle,
)

pytestmark = [
    pytest.mark.browser,
]
pytest_plugins = ["tests.e2e"]  # server, app, page

ORDER = ["users", "date", "location", "budget", "deadline"]
PACE = 0.04  # seconds between chunks: 25 chunks/s
CHUNK = 3


def chunks(text: str, size: int = CHUNK) -> list[str]:
    return support.chunks(text, size)


def closing_offsets(text: str) -> dict[str, int]:
    """Where in the answer each top-level field's value is complete (exclusive end)."""
    out = {}
    for key in ORDER:
        start = text.index(f'"{key}": ') + len(f'"{key}": ')
        end = start + len(json.dumps(MEETING[key]))
        out[key] = end + (1 if isinstance(MEETING[key], int) else 0)  # a number ends at , or }
    return out


def sent_time_of_offset(sent: list[tuple[float, str]], offset: int) -> float:
    total = 0
    for t, delta in sent:
        total += len(delta)
        if total >= offset:
            return t
    raise AssertionError(f"offset {offset} was never sent")


def wait_for_text(page: Any, field: str, text: str) -> None:
    js = "([sel, t]) => (document.querySelector(sel) || {}).innerText?.includes(t)"
    page.wait_for_function(js, arg=[box_selector(field), text], timeout=30_000)


def wait_outcome(page: Any, timeout_ms: float = 60_000) -> None:
    page.locator('[data-testid="stAlert"]').last.wait_for(timeout=timeout_ms)


def test_fields_turn_done_one_after_another(app: str, page: Any, server: ReplayServer) -> None:
    answer = json.dumps(MEETING)
    server.queue(Reply.content(chunks(answer), pace=PACE))
    open_extract(page, app)
    fill_text(page, MEETING_NOTE)
    install_watch(page)
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("every field arrived").wait_for(timeout=60_000)
    shot = screenshot(page, "e2e-extract-done")

    assert "Grand Tech Arena located at 4521" in server.requests[0]["messages"][-1]["content"]
    done = first_seen(field_events(page), "done")
    assert set(ORDER) <= set(done), done
    times = [done[k] for k in ORDER]
    assert times == sorted(times), f"fields finished out of order: {done}"
    offsets = closing_offsets(answer)
    sent = list(server.sent)
    for key in ORDER:
        lag = done[key] - sent_time_of_offset(sent, offsets[key])
        assert -0.05 < lag < 1.0, f"{key} shown {lag:.3f}s after its chunk was sent"
    expected_spread = sent_time_of_offset(sent, offsets["deadline"]) - sent_time_of_offset(
        sent, offsets["users"]
    )
    assert expected_spread > 1.5  # the pacing really spreads the fields out
    assert times[-1] - times[0] > expected_spread - 0.5, "fields did not arrive one by one"
    assert page.get_by_text("5 of 5 fields done").is_visible()
    assert shot.exists()
    page.get_by_role("tab", name="Timeline").click()
    page.locator('[data-testid="stVegaLiteChart"]').last.wait_for(timeout=10_000)
    screenshot(page, "e2e-extract-timeline")


def test_stop_keeps_the_partial(app: str, page: Any, server: ReplayServer) -> None:
    summary = " ".join(f"word{i}" for i in range(600))
    answer = json.dumps({"title": "A long report", "summary": summary, "conclusion": "end"})
    server.queue(Reply.content(chunks(answer, 6), pace=0.02))
    open_extract(page, app)
    select_option(page, "Schema", "Report")
    install_watch(page)
    page.get_by_role("button", name="Extract").click()
    wait_for_text(page, "summary", "word40")
    clicked = time.time()
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped.").wait_for(timeout=5_000)
    deadline = clicked + 3
    while "client closed" not in server.outcomes and time.time() < deadline:
        time.sleep(0.05)
    assert "client closed" in server.outcomes, server.outcomes
    last_sent = server.sent[-1][0]
    assert last_sent - clicked < 1.0, "the server kept streaming more than a second after Stop"
    kept = page.locator(box_selector("summary")).inner_text()
    assert "word40" in kept and "word599" not in kept
    assert "done" in page.locator(box_selector("title")).inner_text()
    screenshot(page, "e2e-extract-stopped")


def test_other_click_while_streaming_closes_the_request(
    app: str, page: Any, server: ReplayServer
) -> None:
    summary = " ".join(f"word{i}" for i in range(600))
    answer = json.dumps({"title": "A long report", "summary": summary, "conclusion": "end"})
    server.queue(Reply.content(chunks(answer, 6), pace=0.02))
    open_extract(page, app)
    select_option(page, "Schema", "Report")
    page.get_by_role("button", name="Extract").click()
    wait_for_text(page, "summary", "word20")
    clicked = time.time()
    select_option(page, "Sample text", "Recipe")  # any widget: the script reruns
    deadline = clicked + 3
    while "client closed" not in server.outcomes and time.time() < deadline:
        time.sleep(0.05)
    assert "client closed" in server.outcomes, server.outcomes
    assert server.sent[-1][0] - clicked < 1.5
    page.get_by_text("Stopped.").wait_for(timeout=5_000)


@pytest.mark.local_model
def test_local_model_on_the_seed_note(page: Any) -> None:
    from engine.providers import LOCAL_NAME

    env = {"FIELDSTREAM_DEFAULT_PROVIDER": LOCAL_NAME, "FIELDSTREAM_BASE_URL": ""}
    with streamlit_app(env) as url:
        page.goto(url, wait_until="domcontentloaded")
        button = page.get_by_role("button", name="Try it on the sample meeting note")
        button.wait_for(timeout=30_000)
        wait_idle(page)
        install_watch(page)
        button.click()
        page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
        install_watch(page)
        wait_outcome(page, timeout_ms=300_000)
        wait_idle(page)  # the run has ended and the page is drawn
        screenshot(page, "e2e-local-model")
        done = first_seen(field_events(page), "done")
        text = page.locator(box_selector("date")).inner_text()
        assert "done" in text or "invalid" in text, text
        assert len(done) >= 3, done
        assert "March" in text or "2024" in text, text


def test_home_page_in_the_browser(app: str, page: Any, server: ReplayServer) -> None:
    server.queue(Reply.content(chunks(json.dumps(MEETING), 12), pace=0.01))
    page.goto(app, wait_until="domcontentloaded")
    page.get_by_text("Reachable: the model server answers.").wait_for(timeout=30_000)
    assert page.get_by_text("Custom server", exact=False).first.is_visible()
    screenshot(page, "e2e-home")
    page.get_by_role("button", name="Try it on the sample meeting note").click()
    page.get_by_text("every field arrived").wait_for(timeout=60_000)
    assert "/Extract" in page.url
    assert "Grand Tech Arena" in server.requests[0]["messages"][-1]["content"]


def test_the_view_says_when_a_run_is_waiting_for_the_model(
    app: str, page: Any, server: ReplayServer
) -> None:
    answer = json.dumps({"title": "T", "summary": "S", "conclusion": "C"})
    server.queue(Reply.content(chunks(answer, 4), delay=3.0, pace=0.01))  # a busy model
    open_extract(page, app)
    select_option(page, "Schema", "Report")
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("Waiting for the model to start answering").wait_for(timeout=3_000)
    assert not server.sent  # still nothing from the model: the page said so
    page.get_by_text("3 of 3 fields done").wait_for(timeout=15_000)
    assert page.get_by_text("Waiting for the model to start answering").count() == 0
