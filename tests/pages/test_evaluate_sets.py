"""The Evaluate page's labelled sets (AppTest): Import (documents and answers uploaded, read
and checked, every problem in the table, the documents that fit imported into a new set or as a
new version), Add by hand (a document's text and its gold in the schema's form, into a new set
or this one), Correct its gold and Take out (each a new version), and Export (a ZIP that imports
back equal). What each action leaves is read from the store: the set's versions and their
documents. Each test has its own SQLite file (FIELDSTREAM_DATA_DIR in tmp_path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.evaluate import importer, sets
from engine.evaluate.model import LabelSet
from engine.store import Store, load_settings, open_store
from tests import support
from tests.batch_support import note
from tests.engine.evaluate.eval_support import add_set, gold
from tests.pages.test_evaluate_page import frame
from ui import eval_sets
from ui.gold_form import field_key

pytestmark = pytest.mark.timeout(120)

PAGE = "pages/6_Evaluate.py"
TXT = "text/plain"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    with support.app_server(monkeypatch, tmp_path, "test-key"), \
            open_store(load_settings()) as opened:
        yield opened


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def page(who: str | None = "Ann") -> AppTest:
    at = support.app_page(PAGE)
    if who:
        at.text_input(key="fs_who").input(who)
    return ok(at.run())


def click(at: AppTest, key: str) -> AppTest:
    return ok(at.button(key=key).click().run())


def texts(at: AppTest) -> str:
    return support.page_texts(at)


def versions(store: Store, name: str) -> list[tuple[int, int, str | None, str | None]]:
    """(version, documents, by, note) of each version of the set, newest first."""
    return [(s.version, s.size, s.created_by, s.note) for s in sets.versions(store, name)]


def documents(store: Store, label_set: LabelSet | None) -> dict[str, dict[str, Any]]:
    """{document name: gold} of a set version."""
    assert label_set is not None
    return {e.name: e.gold for e in sets.examples(store, label_set.name, label_set.version)}


def notes(*rooms: int) -> list[tuple[str, bytes, str]]:
    return [(f"note-{n}.txt", note(n).encode(), TXT) for n in rooms]


def jsonl(*lines: dict[str, Any]) -> tuple[str, bytes, str]:
    return ("answers.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode(),
            "application/jsonl")


# --- import -------------------------------------------------------------------------------------


def upload(at: AppTest, docs: list[tuple[str, bytes, str]],
           answers: tuple[str, bytes, str] | None) -> AppTest:
    at.file_uploader(key=eval_sets.DOCS_UPLOAD).set_value(docs)
    at.file_uploader(key=eval_sets.ANSWERS_UPLOAD).set_value(answers)
    return ok(at.run())


def test_an_import_names_every_problem_then_imports_what_fits(store: Store) -> None:
    at = page()
    assert "No labelled set yet" in texts(at)
    upload(at, notes(0, 1, 2, 3), jsonl(
        {"file": "note-0.txt", "answer": gold(0)},
        {"file": "note-1.txt", "answer": {**gold(1), "budget": "lots"}},  # does not fit
        {"file": "note-3.txt", "answer": gold(3)},
        {"file": "ghost.txt", "answer": gold(5)},  # an answer without a document
    ))  # note-2.txt: a document without an answer
    at.text_input(key="fs_eval_import_name").input("Meetings")
    ok(at.selectbox(key="fs_eval_import_schema").set_value("MeetingInfo").run())
    click(at, "fs_eval_import_read")
    problems = frame(at, "fs_eval_import_problems")
    rows = sorted(map(tuple, problems[["document", "field"]].values.tolist()))
    assert rows == [("ghost.txt", ""), ("note-1.txt", "budget"), ("note-2.txt", "")]
    reasons = dict(zip(problems["document"], problems["problem"], strict=True))
    assert reasons["note-2.txt"] == importer.NO_ANSWER
    assert reasons["ghost.txt"].startswith(importer.NO_DOCUMENT)
    assert "3 problems" in texts(at)
    assert sets.list_sets(store) == []  # nothing saved before Import
    go = at.button(key="fs_eval_import_go")
    assert go.label == "Import 2 documents"
    click(at, "fs_eval_import_go")
    assert versions(store, "Meetings") == [(1, 2, "Ann", "imported 2 documents")]
    assert documents(store, sets.get_set(store, "Meetings")) == {
        "note-0.txt": gold(0), "note-3.txt": gold(3)}
    assert "Imported 2 documents: Meetings version 1." in texts(at)
    assert at.selectbox(key=eval_sets.SET_KEY).value == "Meetings"

    # the files fixed and read again, into this set: a new version with every document
    upload(at, notes(0, 1, 2, 3), jsonl(*({"file": f"note-{n}.txt", "answer": gold(n)}
                                          for n in range(4))))
    assert at.radio(key="fs_eval_import_into").value == "Meetings"
    click(at, "fs_eval_import_read")
    assert "Every document has an answer that fits the schema: 4 documents." in texts(at)
    click(at, "fs_eval_import_go")
    assert [v[:3] for v in versions(store, "Meetings")] == [(2, 4, "Ann"), (1, 2, "Ann")]
    assert documents(store, sets.get_set(store, "Meetings")) == {
        f"note-{n}.txt": gold(n) for n in range(4)}
    assert documents(store, sets.get_set(store, "Meetings", 1)) == {
        "note-0.txt": gold(0), "note-3.txt": gold(3)}  # the first version as it was

    # "a new set" named as one there is (in any case) is refused, not made a version of it
    ok(at.radio(key="fs_eval_import_into").set_value(eval_sets.NEW_SET).run())
    ok(at.text_input(key="fs_eval_import_name").input("meetings").run())
    assert any("There is a set named Meetings already" in e.value for e in at.error)
    assert at.button(key="fs_eval_import_read").disabled


def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str | None, Any]]:
    """{file name: (mime type, the data's callable)} of each deferred download the page
    offers: AppTest's runtime lives only while a script runs, so a click cannot be sent; the
    callable registered is the one a click runs."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    found: dict[str, tuple[str | None, Any]] = {}
    add = MediaFileManager.add_deferred

    def record(self: Any, data: Any, mimetype: str | None, coordinates: str,
               file_name: str | None = None, **kw: Any) -> str:
        found[file_name or ""] = (mimetype, data)
        return add(self, data, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return found


def test_export_gives_a_zip_that_imports_back_equal(store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    add_set(store, "Notes", [gold(n) for n in range(3)])
    offered = downloads(monkeypatch)
    at = page()
    button = at.get("download_button")[0]
    assert button.proto.label == "Export version 1 (ZIP)"
    assert set(offered) == {"Notes-v1.zip"}
    mime, data = offered["Notes-v1.zip"]
    assert mime == "application/zip"
    exported = data()
    stored = sets.examples(store, "Notes", 1)
    plan = importer.read_import([("Notes-v1.zip", exported)], None,
                                check=lambda g: sets.check_gold(store, "MeetingInfo", None, g))
    assert plan.problems == []
    assert [(e.name, e.text, e.gold) for e in plan.examples] == [
        (e.name, e.text, e.gold) for e in stored]

    # the ZIP uploaded on the page (its answers inside) makes a new set equal to the first
    upload(at, [("Notes-v1.zip", exported, "application/zip")], None)
    ok(at.radio(key="fs_eval_import_into").set_value(eval_sets.NEW_SET).run())
    at.text_input(key="fs_eval_import_name").input("Notes again")
    ok(at.selectbox(key="fs_eval_import_schema").set_value("MeetingInfo").run())
    click(at, "fs_eval_import_read")
    assert "Every document has an answer that fits the schema: 3 documents." in texts(at)
    click(at, "fs_eval_import_go")
    copy = sets.examples(store, "Notes again", 1)
    assert [(e.name, e.sha256, e.gold) for e in copy] == [
        (e.name, e.sha256, e.gold) for e in stored]
    assert "Export version 1 (ZIP)" in [b.proto.label for b in at.get("download_button")]
    assert "Notes again-v1.zip" not in offered and "Notes-again-v1.zip" in offered


# --- a set's documents: correct one's gold, take one out ---------------------------------------


def pick_row(at: AppTest, name: str, version: int, row: int) -> AppTest:
    """Click a row of the set version's documents table (its selection state, as the browser
    sends it)."""
    at.session_state[f"fs_eval_docs_{name}_{version}"] = {
        "selection": {"rows": [row], "columns": []}}
    return ok(at.run())


def test_a_documents_gold_corrected_then_the_document_taken_out(store: Store) -> None:
    add_set(store, "Notes", [gold(n) for n in range(3)])
    at = pick_row(page(), "Notes", 1, 1)
    assert [c.value for c in at.code if c.language == "json"] == [
        json.dumps(gold(1), ensure_ascii=False, indent=2)]
    fix = "fs_eval_fix_Notes_1_1"
    assert at.text_input(key=field_key(fix, "location")).value == gold(1)["location"]
    at.text_input(key=field_key(fix, "location")).input("Room 101")
    ok(at.number_input(key=field_key(fix, "budget")).set_value(1234).run())
    click(at, "fs_eval_fix_save")
    assert versions(store, "Notes")[0] == (2, 3, "Ann", "corrected note-1.txt")
    now = sets.examples(store, "Notes", 2)
    assert [e.gold for e in now] == [gold(0), {**gold(1), "location": "Room 101",
                                               "budget": 1234}, gold(2)]
    assert (now[1].reviewer, now[1].reviewed_at is not None) == ("Ann", True)
    assert documents(store, sets.get_set(store, "Notes", 1))["note-1.txt"] == gold(1)
    assert "Saved note-1.txt: Notes version 2." in texts(at)
    assert at.selectbox(key="fs_eval_set_version_Notes").value == 2  # the new version shown

    # taken out of the version on show: a new version without it, shown
    pick_row(at, "Notes", 2, 0)
    click(at, "fs_eval_remove")
    assert [v[:3] for v in versions(store, "Notes")] == [(3, 2, "Ann"), (2, 3, "Ann"),
                                                         (1, 3, None)]
    assert list(documents(store, sets.get_set(store, "Notes"))) == ["note-1.txt", "note-2.txt"]
    assert "note-0.txt taken out: version 3." in texts(at)
    assert at.selectbox(key="fs_eval_set_version_Notes").value == 3
    assert list(frame(at, "fs_eval_docs_Notes_3")["document"]) == ["note-1.txt", "note-2.txt"]


def test_a_correction_that_does_not_fit_the_schema_is_named_and_saves_nothing(
        store: Store) -> None:
    add_set(store, "Notes", [{**gold(0), "budget": 10**20}])  # too big for a number input
    at = pick_row(page(), "Notes", 1, 0)
    budget = at.text_input(key=field_key("fs_eval_fix_Notes_1_0", "budget"))
    ok(budget.input("lots").run())
    click(at, "fs_eval_fix_save")
    said = [e.value.replace("\\", "") for e in at.error]
    assert said == ["The answer does not fit the schema: budget: Input should be a valid "
                    "integer, unable to parse string as an integer"]
    assert [v[0] for v in versions(store, "Notes")] == [1]


# --- by hand ------------------------------------------------------------------------------------


def by_hand(at: AppTest, doc: str, text: str, location: str) -> AppTest:
    """A document's name, text and gold (its location; the rest left empty) typed in."""
    at.text_input(key="fs_eval_hand_doc").input(doc)
    at.text_area(key="fs_eval_hand_text").input(text)
    ok(at.run())
    at.text_input(key=field_key("fs_eval_hand_gold_MeetingInfo", "location")).input(location)
    return ok(at.run())


def test_documents_added_by_hand_into_a_new_set_then_into_it(store: Store) -> None:
    at = page()
    at.text_input(key="fs_eval_hand_name").input("Typed")
    ok(at.selectbox(key="fs_eval_hand_schema").set_value("MeetingInfo").run())
    by_hand(at, "first.txt", note(0), "Hall A")
    click(at, "fs_eval_hand_add")
    assert versions(store, "Typed") == [(1, 1, "Ann", "added first.txt")]
    [first] = sets.examples(store, "Typed", 1)
    assert (first.name, first.text, first.reviewer) == ("first.txt", note(0), "Ann")
    assert first.gold["location"] == "Hall A"
    assert all(v is None for k, v in first.gold.items() if k != "location")
    assert "Made the set Typed with first.txt." in texts(at)

    # the form is empty again and adds into the set on show: a new version
    assert at.radio(key="fs_eval_hand_into").value == "Typed"
    assert at.text_input(key="fs_eval_hand_doc").value == ""
    assert at.button(key="fs_eval_hand_add").disabled
    by_hand(at, "second.txt", note(1), "Hall B")
    click(at, "fs_eval_hand_add")
    assert [v[:2] for v in versions(store, "Typed")] == [(2, 2), (1, 1)]
    assert {n: g["location"] for n, g in documents(store, sets.get_set(store, "Typed")).items()
            } == {"first.txt": "Hall A", "second.txt": "Hall B"}
    assert at.selectbox(key="fs_eval_set_version_Typed").value == 2
