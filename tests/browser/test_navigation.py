"""Browser test of the front door (`streamlit run app.py` + headless Debian Chromium): a deep link
is a fresh server's very first address and still opens its run inside the app's frame, with
Streamlit's page list as app.py declares it (Home, not "app"); `?compare=<id>` opens its
comparison; a sidebar link moves to another page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.compare.comparisons import new_compare_id, save_comparison
from engine.compare.lanes import LaneSpec
from engine.history import list_runs
from engine.store import Store
from tests.pages.test_history import seeded
from tests.ui_support import screenshot

pytestmark = [pytest.mark.browser]
pytest_plugins = ["tests.e2e"]  # server, app, page

PAGES = ["Home", "Extract", "History", "Schemas", "Compare", "Batch", "Evaluate"]


def page_list(page: Any) -> list[str]:
    """The names in Streamlit's page list (its icons are ligature text: left out)."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.wait_for(timeout=30_000)
    return [link.inner_text().split("\n")[-1].strip()
            for link in nav.get_by_test_id("stSidebarNavLink").all()]


def test_deep_links_open_from_a_fresh_server(app: str, app_data: Path, page: Any) -> None:
    # The module's app was started for this test alone: this is its first address.
    with Store(f"sqlite:///{app_data / 'history.db'}") as store:
        store.add(seeded(0))
        run_id = list_runs(store)[0][0].id
        compare_id = new_compare_id()
        save_comparison(store, compare_id, [
            LaneSpec(lane, lane.upper(), "MeetingInfo", None, "Custom server", "m", "md_json")
            for lane in ("a", "b")])

    page.goto(f"{app}/History?run={run_id}", wait_until="domcontentloaded")  # the first address
    page.get_by_role("button", name="Replay", exact=True).wait_for(timeout=30_000)
    assert page_list(page) == PAGES
    assert page.title() == "History · Fieldstream"
    page.get_by_role("textbox", name="Your name (for the history)").wait_for()  # the frame
    assert f"run={run_id}" in page.url
    screenshot(page, "e2e-navigation-deep-link")

    page.goto(f"{app}/History?compare={compare_id}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Close the comparison").wait_for(timeout=30_000)

    page.get_by_test_id("stSidebarNav").get_by_text("Extract", exact=True).click()
    page.get_by_role("button", name="Extract", exact=True).wait_for(timeout=30_000)
    assert page.url.rstrip("/").endswith("/Extract")
