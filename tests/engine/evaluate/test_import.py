"""Importing a labelled set (#21) from worked examples: documents (files, a ZIP with a PDF)
matched to JSON Lines and CSV answers by name, exactly, in any case, by stem; every mismatch
named (no answer, no document, an answer that does not fit: field and reason, an unreadable
document, a name twice); a set exported and imported back unchanged."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.evaluate.importer import (
    NO_ANSWER,
    ImportPlan,
    Problem,
    export_set,
    import_set,
    read_import,
)
from engine.evaluate.model import NewExample
from engine.evaluate.sets import check_gold, create_set, examples, get_set, versions
from engine.store import Store
from tests.documents_support import TEXT as PDF_TEXT
from tests.documents_support import meeting_pdf, zip_of
from tests.support import MEETING


def check(gold: dict[str, Any]) -> list[tuple[str, str]]:
    return check_gold(None, "MeetingInfo", None, gold)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def jsonl(*lines: Any) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                   for line in lines).encode()


def by_name(plan: ImportPlan) -> dict[str, tuple[str, dict[str, Any]]]:
    return {e.name: (e.text, e.gold) for e in plan.examples}


def test_jsonl_answers_matched_and_every_mismatch_named() -> None:
    upload = zip_of({
        "docs/meeting.pdf": meeting_pdf(),          # answered by its stem, "meeting"
        "docs/notes.txt": b"Budget 10, in Room 1.",  # answered as NOTES.TXT, fields inline
        "docs/orphan.txt": b"Nobody answered me.",
        "docs/broken.pdf": b"just text, not a PDF",
        "docs/bad.txt": b"Budget: a lot.",
    })
    answers = jsonl(
        {"file": "meeting", "answer": MEETING},
        {"file": "NOTES.TXT", "budget": 10, "location": "Room 1"},
        {"file": "ghost.pdf", "gold": {}},
        {"file": "broken.pdf", "answer": {}},
        {"name": "bad.txt", "answer": {"budget": "a lot", "users": [{"email": 3}]}},
        "{not json",
        "[1, 2]",
        {"answer": {}},
    )
    plan = read_import([("upload.zip", upload)], ("answers.jsonl", answers), check=check)

    assert by_name(plan) == {
        "meeting.pdf": (PDF_TEXT, MEETING),
        "notes.txt": ("Budget 10, in Room 1.", {"budget": 10, "location": "Room 1"}),
    }
    assert plan.examples[0].document is not None
    assert (plan.examples[0].document.type, plan.examples[0].document.pages) == ("pdf", 3)
    problems = {(p.name, p.field): p.reason for p in plan.problems}
    assert problems.pop(("orphan.txt", None)) == NO_ANSWER
    assert problems.pop(("ghost.pdf", None)) == \
        "no document has this name (answers.jsonl line 3)."
    assert problems.pop(("broken.pdf", None)) == (  # the reader's own reason
        "the name says .pdf but the file is text. Rename it to what it is, or choose another "
        "file.")
    assert problems.pop(("bad.txt", "budget")).startswith("Input should be a valid integer")
    assert problems.pop(("bad.txt", "users[0].email")) == "Input should be a valid string"
    assert problems.pop(("answers.jsonl line 6", None)).startswith("is not valid JSON")
    assert problems.pop(("answers.jsonl line 7", None)).startswith("each line must be a JSON")
    assert problems.pop(("answers.jsonl line 8", None)).startswith("names no document")
    assert problems == {}
    assert Problem("bad.txt", "budget", "wrong").message == "bad.txt: budget: wrong"
    assert Problem("orphan.txt", None, NO_ANSWER).message == f"orphan.txt: {NO_ANSWER}"


def test_csv_answers_with_json_cells_and_empty_cells(store: Store) -> None:
    documents = [("a.txt", b"Budget 50000 on 2024-03-15."), ("b.txt", b"Nothing decided."),
                 ("c.txt", b"Users listed badly.")]
    answers = (
        b'file;budget;date;users\n'
        b'a;50000;2024-03-15;"[{""name"": ""Ana"", ""email"": ""ana@x.org""}]"\n'
        b'B.TXT;;;\n'
        b'c.txt;1;;"[{""name"": ""Bo"""\n'
    )
    plan = read_import(documents, ("gold.csv", answers), check=check)
    assert by_name(plan) == {
        "a.txt": ("Budget 50000 on 2024-03-15.",
                  {"budget": "50000", "date": "2024-03-15",
                   "users": [{"name": "Ana", "email": "ana@x.org"}]}),
        "b.txt": ("Nothing decided.", {"budget": None, "date": None, "users": None}),
    }
    [problem] = plan.problems
    assert (problem.name, problem.field) == ("c.txt", "users")
    assert problem.reason.startswith("the cell starts as JSON but is not valid JSON")

    # Stored, the number cell is read as the schema types it.
    made = import_set(store, "Meetings", "MeetingInfo", plan, who="ana")
    assert (made.version, made.size, made.note) == (1, 2, "imported 2 documents")
    assert examples(store, "Meetings", 1)[0].gold["budget"] == 50000


def test_csv_and_files_that_cannot_be_answers() -> None:
    plan = read_import([("a.txt", b"x")], ("gold.csv", b"name,budget\na.txt,1\n"), check=check)
    assert plan.examples == []
    assert plan.problems[0].message.startswith(
        'gold.csv: the CSV needs a "file" column')
    plan = read_import([("a.txt", b"x")], ("gold.xlsx", b"PK"), check=check)
    assert plan.problems[0].message.startswith("gold.xlsx: expected answers are read from")
    plan = read_import([("a.txt", b"x")], None, check=check)
    assert plan.problems[0].message.startswith("answers: no file of expected answers")


def test_names_given_twice_are_named_once_and_left_out() -> None:
    upload = zip_of({"one/x.txt": b"first x", "two/x.txt": b"second x", "y.txt": b"y",
                     "z.txt": b"z", "w.pdf": meeting_pdf(), "w.txt": b"w as text"})
    answers = jsonl({"file": "x.txt", "answer": {}},
                    {"file": "y.txt", "answer": {"budget": 1}},
                    {"file": "y.txt", "answer": {"budget": 2}},
                    {"file": "z.txt", "answer": {"budget": 3}},
                    {"file": "w.pdf", "name": "w", "answer": {}},
                    {"file": "w.txt", "name": "w", "answer": {}})
    plan = read_import([("up.zip", upload)], ("answers.jsonl", answers), check=check)
    assert by_name(plan) == {"z.txt": ("z", {"budget": 3})}
    assert [p.message for p in plan.problems] == [
        "x.txt: 2 documents have this name (in different folders or uploads): rename all "
        "but one.",
        "y.txt: more than one answer names it (answers.jsonl line 2, answers.jsonl line 3): "
        "keep one.",
        "w: 2 documents would have this name in the set: give each its own.",
    ]


def test_the_same_bytes_under_two_names_are_two_documents() -> None:
    plan = read_import([("a.txt", b"same"), ("b.txt", b"same")],
                       ("answers.jsonl", jsonl({"file": "a.txt", "budget": 1},
                                               {"file": "b.txt", "budget": 2})), check=check)
    assert by_name(plan) == {"a.txt": ("same", {"budget": 1}), "b.txt": ("same", {"budget": 2})}
    assert [e.document.name for e in plan.examples if e.document] == ["a.txt", "b.txt"]


def test_import_into_an_existing_set_makes_a_new_version(store: Store) -> None:
    create_set(store, "Meetings", "MeetingInfo",
               [NewExample("a.txt", "old a", {"budget": 1}), NewExample("k.txt", "k", {})])
    plan = read_import([("a.txt", b"new a"), ("n.txt", b"n")],
                       ("answers.jsonl", jsonl({"file": "a.txt", "budget": 2},
                                               {"file": "n.txt", "budget": 3})), check=check)
    made = import_set(store, "Meetings", "MeetingInfo", plan, who="ben")
    assert (made.version, made.note) == (2, "imported 2 documents (1 new, 1 replaced)")
    assert [(e.name, e.text, e.gold) for e in examples(store, "Meetings", 2)] == [
        ("a.txt", "new a", {"budget": 2}), ("k.txt", "k", {}), ("n.txt", "n", {"budget": 3})]
    with pytest.raises(ValueError, match="holds answers for the schema 'MeetingInfo', not "
                                         "'Invoice'"):
        import_set(store, "Meetings", "Invoice", plan)
    with pytest.raises(ValueError, match=r"Nothing to import: .* the first: x: no answer"):
        import_set(store, "Meetings", "MeetingInfo",
                   ImportPlan([], [Problem("x", None, "no answer names this document")]))
    assert len(versions(store, "Meetings")) == 2


def test_export_then_import_gives_the_same_set(store: Store) -> None:
    create_set(store, "Meetings", "MeetingInfo", [
        NewExample("meeting.pdf", PDF_TEXT, MEETING),
        NewExample("notes/2024.txt", "Budget 10.\nÜber alles.", {"budget": 10}),
        NewExample("answers.jsonl", "a document with an awkward name", {}),
        NewExample("plain.txt", "plain", {"location": None}),
    ])
    out = io.BytesIO()
    assert export_set(store, "Meetings", None, out) == 4
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        assert sorted(archive.namelist()) == [
            "answers.jsonl", "documents/answers.jsonl.txt", "documents/meeting.pdf.txt",
            "documents/notes_2024.txt", "documents/plain.txt"]

    plan = read_import([("Meetings.zip", out.getvalue())], None, check=check)
    assert plan.problems == []
    made = import_set(store, "Meetings again", "MeetingInfo", plan)
    before = examples(store, "Meetings", 1)
    after = examples(store, made.name, made.version)
    assert [(e.name, e.text, e.gold, e.sha256) for e in after] == \
        [(e.name, e.text, e.gold, e.sha256) for e in before]
    assert get_set(store, "Meetings again").size == 4  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no labelled set named 'Meetings' in version 7"):
        export_set(store, "Meetings", 7, io.BytesIO())
