"""Real-browser test of the Compare page (`streamlit run app.py` + headless Debian Chromium): two
lanes on the embedded local model stream at the same time, sharing its two slots.

A screenshot of the finished page lands in test-artifacts/ (git-ignored)."""

from __future__ import annotations

import pytest

from tests.ui_support import (
    chromium_page,
    field_events,
    first_seen,
    install_watch,
    screenshot,
    streamlit_app,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.local_model, pytest.mark.timeout(600)]

LANES = ("a", "b")


def _finished(events: list[tuple[float, str, str]]) -> dict[str, float]:
    """When each field first turned done or invalid."""
    out = first_seen(events, "invalid")
    for slug, t in first_seen(events, "done").items():
        out[slug] = min(t, out.get(slug, t))
    return out


def test_two_local_lanes_show_progress_at_the_same_time() -> None:
    """Both lanes have a done field before either has its last one: they stream side by side,
    neither waits for the other (the seed note into MeetingInfo: five fields, several seconds
    per lane on two cores)."""
    from engine.providers import LOCAL_NAME

    env = {"FIELDSTREAM_DEFAULT_PROVIDER": LOCAL_NAME, "FIELDSTREAM_BASE_URL": ""}
    with streamlit_app(env) as url, chromium_page(width=1800) as page:
        page.goto(url + "/Compare", wait_until="domcontentloaded")
        button = page.get_by_role("button", name="Run all")
        button.wait_for(timeout=60_000)
        wait_idle(page)
        install_watch(page)
        button.click()
        outcomes = page.locator('[data-testid="stAlert"]')  # each lane's ending, in plain words
        outcomes.nth(len(LANES) - 1).wait_for(timeout=420_000)
        wait_idle(page)  # both lanes have ended and the page is drawn
        screenshot(page, "e2e-compare-local")
        finished = {lane: _finished(field_events(page, lane)) for lane in LANES}
    for lane in LANES:
        assert len(finished[lane]) >= 3, finished  # the lane really filled in its form
    first = {lane: min(times.values()) for lane, times in finished.items()}
    last = {lane: max(times.values()) for lane, times in finished.items()}
    assert max(first.values()) < min(last.values()), (
        f"one lane finished before the other showed a done field: first {first}, last {last}")
