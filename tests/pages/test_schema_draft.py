"""A schema draft on the Schemas page (AppTest, a local ReplayServer on 127.0.0.1): a draft has
no source text, so its live form shows no grounding (no badge, no "Not in the text — check it"),
and its request asks for an answer the size of a schema (`draft.DRAFT_MAX_TOKENS`), whatever
the Extract page's token limit."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from engine.runs.display import CHECK_IT, GROUNDING_LABELS
from engine.schemas import draft
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.pages.test_schemas import SCHEMAS_PAGE, errors, ok, open_page, section, texts
from tests.pages.test_schemas import server as server  # the fixture, by its name

DESCRIPTION, SAMPLE = "Invoices from our suppliers", "ACME Ltd, invoice 42, paid"
# Values the request's text holds ("ACME Ltd", "paid") and values it does not ("Status"):
# grounded, they would be badged "in text" and "not in the text". A name given twice makes
# the proposal unusable, so the page stays on the draft and its live form.
STATUS = {"name": "Status", "type": "choice", "description": "Paid or open",
          "choices": ["paid", "open"], "children": []}
PROPOSAL = {
    "name": "Invoice", "description": "paid",
    "fields": [
        {"name": "ACME Ltd", "type": "text", "description": "paid", "choices": [],
         "children": []},
        STATUS, STATUS,
    ],
}


def draft_on_page(srv: ReplayServer, *, extract_tokens: int | None = None) -> AppTest:
    srv.queue(Reply.content(support.chunks(json.dumps(PROPOSAL), 11), pace=0.001))
    at = open_page(SCHEMAS_PAGE)
    if extract_tokens is not None:
        at.session_state["fs_max_tokens"] = extract_tokens  # the Extract page's limit
    section(at, "Draft from a description")
    at.text_area(key="fs_sch_draft_desc").input(DESCRIPTION).run()
    at.text_area(key="fs_sch_draft_sample").input(SAMPLE).run()
    at.button(key="fs_sch_draft").click().run()
    return ok(at)


def test_a_drafts_live_form_shows_no_grounding(server: ReplayServer) -> None:
    at = draft_on_page(server)
    assert at.radio(key="fs_sch_section").value == "Draft from a description"
    assert "used twice" in errors(at)
    shown = texts(at)
    assert "ACME Ltd" in shown and "Status" in shown  # the drafted fields are on the form
    assert "Not in the text" not in shown and CHECK_IT not in shown.lower()
    assert "-badge[" not in shown
    headers = "\n".join(str(m.value) for m in at.markdown).lower()
    assert not [label for label in GROUNDING_LABELS.values() if label in headers]
    body = server.requests[-1]["messages"][-1]["content"]
    assert DESCRIPTION in body and SAMPLE in body  # the text the values would be found in


def test_a_draft_asks_for_a_schemas_worth_of_tokens(server: ReplayServer) -> None:
    at = draft_on_page(server, extract_tokens=8192)
    assert at.number_input(key="fs_sch_draft_tokens").value == draft.DRAFT_MAX_TOKENS
    assert server.requests[-1]["max_tokens"] == draft.DRAFT_MAX_TOKENS == 1024
    assert at.session_state["fs_max_tokens"] == 8192  # the Extract page's own, untouched


def test_a_drafts_token_limit_can_be_changed_and_is_kept_across_sections(
    server: ReplayServer,
) -> None:
    at = draft_on_page(server)
    at.number_input(key="fs_sch_draft_tokens").set_value(1536).run()
    section(at, "Library")
    section(at, "Draft from a description")
    assert at.number_input(key="fs_sch_draft_tokens").value == 1536
    server.queue(Reply.content(support.chunks(json.dumps(PROPOSAL), 11), pace=0.001))
    at.text_area(key="fs_sch_draft_desc").input(DESCRIPTION).run()  # not kept across sections
    at.button(key="fs_sch_draft").click().run()
    ok(at)
    assert len(server.requests) == 2
    assert server.requests[-1]["max_tokens"] == 1536
