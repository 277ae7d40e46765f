"""Browser test of the History page: a run recorded through the Extract page, then the History
page opened on it (the table's link, `?run=<id>`), Replay pressed, and the fields seen filling
in one after another in the replay's live form (lane `replay`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.history import list_runs
from engine.schemas.library import MEETING_NOTE
from engine.store import Store
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING
from tests.ui_support import (
    field_events,
    fill_text,
    first_seen,
    install_watch,
    open_extract,
    screenshot,
    wait_idle,
)
from ui.history_view import REPLAY_KEYS

pytestmark = [
    pytest.mark.browser,
]
pytest_plugins = ["tests.e2e"]  # server, app, page

ORDER = ["users", "date", "location", "budget", "deadline"]


def chunks(text: str, size: int = 3) -> list[str]:
    return support.chunks(text, size)


def test_replay_fills_the_fields_one_after_another(
    app: str, page: Any, server: ReplayServer, app_data: Path
) -> None:
    server.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.03))
    open_extract(page, app)
    fill_text(page, MEETING_NOTE)
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("every field arrived").wait_for(timeout=60_000)
    with Store(f"sqlite:///{app_data / 'history.db'}") as store:
        rows, total = list_runs(store)
    assert total == 1 and rows[0].status == "done"

    page.goto(f"{app}/History?run={rows[0].id}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Replay", exact=True).wait_for(timeout=30_000)
    wait_idle(page)
    install_watch(page)
    page.get_by_role("button", name="Replay", exact=True).click()
    page.get_by_text("5 of 5 fields done").wait_for(timeout=60_000)
    screenshot(page, "e2e-history-replay")

    events = field_events(page, REPLAY_KEYS.lane)
    done = first_seen(events, "done")
    assert set(ORDER) <= set(done), done
    times = [done[k] for k in ORDER]
    assert times == sorted(times), f"replayed fields finished out of order: {done}"
    assert len(set(times)) > 1, "the replay drew every field at once"
    # The form started empty: no field's first state shown was done. (The first field may
    # skip "pending" in the browser: a busy page can fold its first two redraws into one.)
    first = {slug: st for _, slug, st in reversed(events)}
    assert all(first[k] in ("pending", "streaming") for k in ORDER), first
    with Store(f"sqlite:///{app_data / 'history.db'}") as store:
        assert list_runs(store).total == 1  # the replay left no row
