"""History's Mark as correct and Correct it (AppTest): a run's answer, as it is or corrected in
the schema's form, saved as a labelled set's gold with its reviewer; the set asked for (one of
the run's schema, or a new one); an answer that does not fit the schema names its fields and
saves nothing; a run whose input was not kept asks for its file. Each test has its own SQLite
file (FIELDSTREAM_DATA_DIR in tmp_path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.evaluate import sets
from engine.evaluate.model import NewExample
from engine.store import Store, StoredRun, load_settings, open_store
from tests import support
from tests.pages.test_history import KEY, seeded
from tests.support import MEETING
from ui.gold_form import field_key
from ui.history_view import gold_form_key

HISTORY = "pages/2_History.py"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    with support.app_server(monkeypatch, tmp_path, KEY), open_store(load_settings()) as st:
        yield st


def opened(store: Store, run: StoredRun, who: str | None = "Ann") -> AppTest:
    """The History page with `run` selected, `who` typed in the sidebar's name box."""
    store.add(run)
    at = support.app_page(HISTORY, 30)
    if who:
        at.text_input(key="fs_who").input(who).run()
    at.session_state["fs_hist_table"] = {"selection": {"rows": [0], "columns": []}}
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return support.page_texts(at)


def save(at: AppTest) -> AppTest:
    return ok(at.button(key="fs_hist_gold_save").click().run())


def test_mark_as_correct_saves_the_answer_as_gold_in_a_new_set(store: Store) -> None:
    run = seeded(1)
    at = opened(store, run)
    ok(at.button(key="fs_hist_gold_mark").click().run())
    assert at.text_input(key="fs_hist_gold_new").value == "MeetingInfo gold"
    assert "Reviewer: Ann" in texts(at)
    save(at)
    assert "Saved as MeetingInfo gold version 1" in texts(at)
    made = sets.get_set(store, "MeetingInfo gold")
    assert made is not None and made.version == 1 and made.schema_name == "MeetingInfo"
    (example,) = sets.examples(store, "MeetingInfo gold", 1)
    assert example.gold == run.result and example.text == "note number 1"
    assert example.reviewer == "Ann" and example.reviewed_at is not None
    assert example.run_id == run.id
    assert not [b for b in at.button if b.key == "fs_hist_gold_save"]  # the panel closed


def test_correct_it_edits_the_answer_and_saves_a_new_version(store: Store) -> None:
    run = seeded(1)
    at = opened(store, run)
    ok(at.button(key="fs_hist_gold_mark").click().run())
    save(at)  # version 1: the answer as it was
    ok(at.button(key="fs_hist_gold_correct").click().run())
    assert at.selectbox(key="fs_hist_gold_set").value == "MeetingInfo gold"
    form = gold_form_key(run.id)
    at.text_input(key=field_key(form, "location")).input("Grand Tech Arena").run()
    at.number_input(key=field_key(form, "budget")).set_value(50000).run()
    at.session_state[field_key(form, "users")] = {
        "edited_rows": {}, "deleted_rows": [1],
        "added_rows": [{"name": "Emily Johnson", "email": "emily@example.org"}]}
    save(ok(at.run()))
    assert "Saved as MeetingInfo gold version 2" in texts(at)
    (example,) = sets.examples(store, "MeetingInfo gold", 2)  # the same document, corrected
    assert example.gold == {
        **MEETING, "location": "Grand Tech Arena", "budget": 50000,
        "users": [MEETING["users"][0],
                  {"name": "Emily Johnson", "email": "emily@example.org", "twitter": None}]}
    assert example.reviewer == "Ann"
    (before,) = sets.examples(store, "MeetingInfo gold", 1)
    assert before.gold == run.result  # an evaluation pinned to version 1 still sees it


def test_only_sets_of_the_runs_schema_are_offered_and_a_new_name_can_be_typed(
        store: Store) -> None:  # fmt: skip
    invoice = {"invoice_number": "1", "line_items": []}
    sets.create_set(store, "Invoices", "Invoice", [NewExample("a.txt", "text", invoice)])
    sets.create_set(store, "Meetings", "MeetingInfo", [NewExample("m.txt", "text", MEETING)])
    at = opened(store, seeded(1))
    ok(at.button(key="fs_hist_gold_mark").click().run())
    assert at.selectbox(key="fs_hist_gold_set").options == ["Meetings", "A new set…"]
    at.selectbox(key="fs_hist_gold_set").select("A new set…").run()
    at.text_input(key="fs_hist_gold_new").input("Q3 meetings").run()
    save(at)
    assert "Saved as Q3 meetings version 1" in texts(at)
    assert sets.get_set(store, "Meetings").version == 1  # untouched


def test_an_answer_that_does_not_fit_names_its_fields_and_saves_nothing(store: Store) -> None:
    run = seeded(1, status="invalid", result={**MEETING, "budget": "lots", "venue": "x"})
    at = opened(store, run)
    ok(at.button(key="fs_hist_gold_mark").click().run())
    save(at)
    assert "Nothing was saved" in texts(at)
    problems = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert {"budget", "venue"} <= set(problems["field"])
    assert sets.list_sets(store) == []
    ok(at.button(key="fs_hist_gold_correct").click().run())  # corrected, it fits
    form = gold_form_key(run.id)
    at.text_input(key=field_key(form, "budget")).input("").run()  # the form has no "venue"
    save(at)
    assert "Saved as MeetingInfo gold version 1" in texts(at)
    (example,) = sets.examples(store, "MeetingInfo gold", 1)
    assert example.gold == {**MEETING, "budget": None}


def test_no_reviewer_no_save(store: Store) -> None:
    at = opened(store, seeded(1), who=None)
    ok(at.button(key="fs_hist_gold_mark").click().run())
    assert "Type your name in the sidebar" in texts(at)
    assert at.button(key="fs_hist_gold_save").disabled
    at.text_input(key="fs_who").input("Bo").run()
    assert not at.button(key="fs_hist_gold_save").disabled
    save(at)
    (example,) = sets.examples(store, "MeetingInfo gold", 1)
    assert example.reviewer == "Bo"


def test_a_run_without_its_input_asks_for_the_file(store: Store) -> None:
    run = seeded(1, input_text=None)
    at = opened(store, run)
    ok(at.button(key="fs_hist_gold_mark").click().run())
    save(at)
    assert "input was not kept" in texts(at) and sets.list_sets(store) == []
    note = "The meeting is at the Grand Tech Arena.\n"
    at.file_uploader(key="fs_hist_gold_upload").set_value(
        ("note.txt", note.encode(), "text/plain")).run()
    save(ok(at))
    (example,) = sets.examples(store, "MeetingInfo gold", 1)
    assert example.text.strip() == note.strip() and example.gold == run.result


def test_a_run_without_an_answer_has_no_gold_buttons(store: Store) -> None:
    at = opened(store, seeded(1, status="error", result=None))
    assert "Replay" in [b.label for b in at.button]  # the detail is drawn
    assert not [b for b in at.button if b.key in ("fs_hist_gold_mark", "fs_hist_gold_correct")]
