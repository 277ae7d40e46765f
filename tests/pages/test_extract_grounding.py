"""The Extract page's grounding (AppTest, replay server): each field box says where its value
stands in the text, the invented value gets the warning, the summary counts it, the input text
is shown with the found values marked, and after the run a field picker marks one field."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from engine.testing.replay_server import ReplayServer, Reply
from tests.engine.runs.test_runner_grounding import ANSWER, INVENTED, NOTE
from tests.pages.test_every_page import chunks, extract_page, press_extract, server, texts  # noqa: F401

pytestmark = pytest.mark.timeout(120)

PICK = "fs_extract_pick"


def run_note(server: ReplayServer, answer: dict = ANSWER) -> AppTest:  # noqa: F811
    server.queue(Reply.content(chunks(json.dumps(answer)), pace=0.001))
    at = extract_page()
    at.text_area(key="fs_text").set_value(NOTE).run()
    return press_extract(at)


def marked_html(at: AppTest) -> str:
    return next(h.value for h in at.html if "fs-g-text" in h.value)


def test_an_invented_value_is_flagged_on_its_field_and_counted(
    server: ReplayServer,  # noqa: F811
) -> None:
    at = run_note(server)
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert any(w.startswith("Not in the text — check it: row 2 email") and INVENTED in w
               for w in warnings), warnings
    summary = next(w for w in warnings if "found in the text" in w)
    assert summary.startswith("9 values found in the text, 1 not in the text — check it: "
                              "users[1].email") and INVENTED in summary  # (an email: in code)
    shown = texts(at)
    assert ":green-badge[in text]" in shown  # a scalar field's badge
    assert ":red-badge[1 not in the text]" in shown  # the table's count
    html = marked_html(at)
    assert 'data-path="users[0].email"' in html and 'data-path="date"' in html
    assert INVENTED not in html  # nothing of it to mark: it is not in the text
    assert "<script" not in html


def test_after_the_run_a_picked_field_is_marked_in_the_text(
    server: ReplayServer,  # noqa: F811
) -> None:
    at = run_note(server)
    picker = at.selectbox(key=PICK)
    assert picker.value is None
    assert {"date · in text", "users[1].email · not in the text"} <= set(picker.options)
    assert "fs-g-selected" not in marked_html(at)
    picker.select("date").run()
    assert not at.exception, at.exception
    assert any("«March 15th, 2024»" in t.value for t in at.text)
    html = marked_html(at)
    assert 'class="fs-g fs-g-exact fs-g-selected" data-path="date"' in html
    assert any("every field arrived" in s.value for s in at.success)  # the run is still shown
    at.selectbox(key=PICK).select("users[1].email").run()
    assert "fs-g-selected" not in marked_html(at)
    assert any(w.value.replace("\\", "") == "Not in the text — check it." for w in at.warning)


def test_a_run_with_everything_in_the_text_says_so_quietly(
    server: ReplayServer,  # noqa: F811
) -> None:
    honest = {**ANSWER, "users": [ANSWER["users"][0]]}
    at = run_note(server, honest)
    assert "7 values found in the text." in [c.value.replace("\\", "") for c in at.caption]
    assert not [w for w in at.warning if "not in the text" in w.value.replace("\\", "")]
