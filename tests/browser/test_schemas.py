"""Browser test of the Schemas page: a draft streamed by a local ReplayServer (127.0.0.1) fills
in the draft's live form (lane `draft`), loads into the builder, is saved as version 1, and is
then picked and used on the Extract page; the run records the version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.history import list_runs
from engine.history.queries import get_run
from engine.schemas.definition import DEFAULT_INSTRUCTION
from engine.schemas.saved import get_schema
from engine.store import Store
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.ui_support import (
    after_rerun,
    field_events,
    fill_text,
    first_seen,
    install_watch,
    open_extract,
    screenshot,
    select_option,
)
from ui.schemas_view import DRAFT_KEYS

pytestmark = [pytest.mark.browser]
pytest_plugins = ["tests.e2e"]  # server, app, page

PROPOSAL: dict[str, Any] = {  # a draft as the model answers it (`DraftDefinition`)
    "name": "Purchase",
    "description": "A purchase request",
    "fields": [
        {"name": "Buyer", "type": "text", "description": "Who asks", "choices": [],
         "children": []},
        {"name": "Urgency", "type": "choice", "description": "", "choices": ["low", "high"],
         "children": []},
    ],
}
ANSWER = {"Buyer": "Grace Hopper", "Urgency": "high"}
NOTE = "Grace Hopper needs a new compiler licence, urgently."


def test_a_draft_streams_into_the_builder_is_saved_and_used(
    app: str, page: Any, server: ReplayServer, app_data: Path
) -> None:
    server.queue(Reply.content(support.chunks(json.dumps(PROPOSAL), 4), pace=0.03))
    page.goto(f"{app}/Schemas", wait_until="domcontentloaded")
    page.get_by_text("Draft from a description", exact=True).click()
    area = page.get_by_role("textbox", name="What should the schema capture?", exact=True)
    area.wait_for(timeout=30_000)
    area.fill("Purchase requests: who asks and how urgent it is")
    after_rerun(page, lambda: area.press("Tab"))
    install_watch(page)
    page.get_by_role("button", name="Draft a schema").click()
    page.get_by_text("The proposed schema Purchase is in the builder").wait_for(timeout=60_000)
    screenshot(page, "e2e-schemas-draft")

    done = first_seen(field_events(page, DRAFT_KEYS.lane), "done")
    assert {"name", "description", "fields"} <= set(done), done
    assert done["name"] <= done["fields"]  # the proposal filled in field by field
    assert page.get_by_role("textbox", name="Schema name", exact=True).input_value() == "Purchase"

    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Saved Purchase version 1.").wait_for(timeout=30_000)
    with Store(f"sqlite:///{app_data / 'history.db'}") as store:
        saved = get_schema(store, "Purchase")
    assert saved is not None and [f.name for f in saved.definition.fields] == ["Buyer", "Urgency"]

    server.queue(Reply.content(support.chunks(json.dumps(ANSWER), 3), pace=0.02))
    open_extract(page, app)
    select_option(page, "Schema", "Purchase (saved)")
    fill_text(page, NOTE)
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("every field arrived").wait_for(timeout=60_000)
    screenshot(page, "e2e-schemas-extract")
    with Store(f"sqlite:///{app_data / 'history.db'}") as store:
        rows, _ = list_runs(store)
        runs = [get_run(store, r.id) for r in rows]
    used = [r for r in runs if r is not None and r.schema_name == "Purchase"]
    assert len(used) == 1 and used[0].schema_version == "1" and used[0].result == ANSWER
    # a draft leaves the instruction to the default (the builder shows it, the run sends it)
    assert server.requests[-1]["messages"][0]["content"] == DEFAULT_INSTRUCTION
