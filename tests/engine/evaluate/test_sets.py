"""Labelled sets (#21) from worked examples: every change a new version and the old ones still
read; texts kept once; History's "Mark as correct" / "Correct it" (`from_run`), with the input
kept and not; what `check_gold` says of answers that do not fit; and one pass of create, put
and read on a real Postgres server (the texts' insert-if-missing is written per dialect)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.documents.model import DocumentInfo
from engine.evaluate.model import NewExample, text_sha256
from engine.evaluate.sets import (
    NeedsText,
    check_gold,
    create_set,
    examples,
    from_run,
    get_set,
    list_sets,
    put_example,
    remove_example,
    versions,
)
from engine.schemas.definition import SchemaDefinition
from engine.schemas.saved import save_schema
from engine.store import Store, StoredRun
from engine.store.tables import eval_examples, eval_texts

pytest_plugins = ["tests.postgres"]  # the `store` fixture: SQLite and Postgres

A_TEXT = "Invoice INV-1 from Acme to Bob, total 12.50 EUR."
B_TEXT = "Invoice INV-2 from Acme to Carol, total 99 EUR."
A_GOLD = {"invoice_number": "INV-1", "vendor": "Acme", "total": 12.5, "currency": "EUR"}
B_GOLD = {"invoice_number": "INV-2", "vendor": "Acme", "total": 99.0}


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def two(store: Store) -> None:
    create_set(store, "Invoices", "Invoice",
               [NewExample("a.txt", A_TEXT, A_GOLD), NewExample("b.txt", B_TEXT, B_GOLD)],
               who="ana")


def text_rows(store: Store) -> int:
    with store.reading() as conn:
        return conn.execute(select(func.count()).select_from(eval_texts)).scalar()


def test_create_put_and_read_on_both_databases(store: Store) -> None:
    made = create_set(store, "Invoices", "invoice", [NewExample("a.txt", A_TEXT, A_GOLD)],
                      who="ana")
    assert (made.name, made.version, made.schema_name, made.size) == ("Invoices", 1, "Invoice", 1)
    put_example(store, "Invoices", NewExample("b.txt", B_TEXT, B_GOLD))
    put_example(store, "Invoices", NewExample("b.txt", B_TEXT, {**B_GOLD, "total": "100"}))
    # Version 3 changed b.txt in place; version 2 still has the first gold; texts kept once.
    assert [(e.idx, e.name, e.gold.get("total")) for e in examples(store, "Invoices", 3)] == \
        [(0, "a.txt", 12.5), (1, "b.txt", 100.0)]
    assert examples(store, "Invoices", 2)[1].gold == B_GOLD
    assert examples(store, "Invoices", 3)[1].text == B_TEXT
    assert text_rows(store) == 2
    assert [s.version for s in versions(store, "Invoices")] == [3, 2, 1]


def test_every_change_is_a_new_version_and_the_old_ones_stay(sqlite: Store) -> None:
    two(sqlite)
    put_example(sqlite, "Invoices", NewExample("c.txt", "Invoice INV-3.", {"total": 1}),
                who="ben")
    remove_example(sqlite, "Invoices", "a.txt", who="ben")
    put_example(sqlite, "Invoices", NewExample("b.txt", B_TEXT, {**B_GOLD, "vendor": "ACME"}))

    assert [(s.version, s.size, s.note) for s in versions(sqlite, "Invoices")] == [
        (4, 2, "changed b.txt"), (3, 2, "removed a.txt"), (2, 3, "added c.txt"),
        (1, 2, "created with 2 documents")]
    assert [e.name for e in examples(sqlite, "Invoices", 1)] == ["a.txt", "b.txt"]
    assert [e.name for e in examples(sqlite, "Invoices", 2)] == ["a.txt", "b.txt", "c.txt"]
    assert [(e.idx, e.name) for e in examples(sqlite, "Invoices", 4)] == [(0, "b.txt"),
                                                                          (1, "c.txt")]
    assert examples(sqlite, "Invoices", 4)[0].gold["vendor"] == "ACME"
    assert examples(sqlite, "Invoices", 3)[0].gold["vendor"] == "Acme"
    # A by-hand example's reviewer is the one who typed it; the newest version is the default.
    added = examples(sqlite, "Invoices", 2)[2]
    assert added.reviewer == "ben" and added.reviewed_at is not None
    assert get_set(sqlite, "Invoices").version == 4  # type: ignore[union-attr]
    assert get_set(sqlite, "Invoices", 1).created_by == "ana"  # type: ignore[union-attr]
    assert get_set(sqlite, "Invoices", 9) is None and get_set(sqlite, "Nope") is None
    # Four versions, three distinct texts: each stored once.
    assert text_rows(sqlite) == 3
    with sqlite.reading() as conn:
        assert conn.execute(select(func.count()).select_from(eval_examples)).scalar() == 9


def test_texts_are_shared_between_sets(sqlite: Store) -> None:
    two(sqlite)
    create_set(sqlite, "Same texts", "Invoice", [NewExample("first", A_TEXT, {}),
                                                 NewExample("again", A_TEXT, {"tax": 2})])
    assert text_rows(sqlite) == 2
    shown = examples(sqlite, "Same texts", 1)
    assert [e.sha256 for e in shown] == [text_sha256(A_TEXT)] * 2
    assert [e.text for e in shown] == [A_TEXT, A_TEXT]
    assert [e.text for e in examples(sqlite, "Same texts", 1, with_text=False)] == ["", ""]


def test_list_sets_gives_each_newest_version_newest_first(sqlite: Store) -> None:
    two(sqlite)
    create_set(sqlite, "Tickets", "SupportTicket", [])
    put_example(sqlite, "Invoices", NewExample("c.txt", "INV-3", {}))
    assert [(s.name, s.version, s.size) for s in list_sets(sqlite)] == [
        ("Invoices", 2, 3), ("Tickets", 1, 0)]


def test_names_and_examples_are_checked(sqlite: Store) -> None:
    two(sqlite)
    with pytest.raises(ValueError, match="already a labelled set named 'Invoices'"):
        create_set(sqlite, "  invoices ", "Invoice", [])
    for bad, said in (("   ", "needs a name"), ("x" * 101, "at most 100 characters"),
                      ("a\x07b", "control or invisible")):
        with pytest.raises(ValueError, match=said):
            create_set(sqlite, bad, "Invoice", [])
    assert create_set(sqlite, "  Spaced  ", "Invoice", []).name == "Spaced"
    with pytest.raises(ValueError, match=r"more than once: a\.txt"):
        create_set(sqlite, "Twice", "Invoice", [NewExample("a.txt", "x", {}),
                                                NewExample(" a.txt", "y", {})])
    with pytest.raises(ValueError, match=r"empty\.txt: the document has no text"):
        put_example(sqlite, "Invoices", NewExample("empty.txt", "  \n", {}))
    with pytest.raises(ValueError, match=r"b\.txt: .* total: Input should be a valid number"):
        put_example(sqlite, "Invoices", NewExample("b.txt", B_TEXT, {"total": "lots"}))
    with pytest.raises(ValueError, match=r"has no document named 'z\.txt'"):
        remove_example(sqlite, "Invoices", "z.txt")
    with pytest.raises(ValueError, match="no labelled set named 'Nope'"):
        put_example(sqlite, "Nope", NewExample("a", "x", {}))
    with pytest.raises(ValueError, match="no schema 'Nothing'"):
        create_set(sqlite, "Other", "Nothing", [])
    assert get_set(sqlite, "Invoices").version == 1  # type: ignore[union-attr]  # nothing written


def test_check_gold_names_field_and_reason(sqlite: Store) -> None:
    # Missing fields and nulls are "nothing expected": they fit.
    assert check_gold(sqlite, "Invoice", None, {}) == []
    assert check_gold(sqlite, "Invoice", None, {"total": None, "line_items": [
        {"description": "Work", "amount": "3"}]}) == []
    assert check_gold(sqlite, "MeetingInfo", None, {
        "users": [{"name": 5, "email": "a@b.c"}, {"nmae": "Bo"}], "budget": "a lot",
        "date": ["2024"], "venue": "x"}) == [
        ("users[1].nmae", "User has no field 'nmae'"),
        ("venue", "MeetingInfo has no field 'venue'"),
        ("users[0].name", "Input should be a valid string"),
        ("date", "Input should be a valid string"),
        ("budget", "Input should be a valid integer, unable to parse string as an integer"),
    ]
    assert check_gold(sqlite, "SupportTicket", None, {"priority": "soon"}) == [
        ("priority", "Input should be 'low', 'medium', 'high' or 'urgent'")]
    assert check_gold(sqlite, "Invoice", None, ["not", "an", "object"]) == [
        ("", "the expected answer must be a JSON object, not a list")]


def test_check_gold_of_a_saved_schema_version_uses_its_json_keys(sqlite: Store) -> None:
    definition = SchemaDefinition.model_validate({
        "name": "Receipt", "fields": [
            {"name": "Shop name", "type": "text"},
            {"name": "Paid", "type": "number"}]})
    save_schema(sqlite, definition)
    problems = check_gold(sqlite, "Receipt", "1", {"Shop name": "Co-op", "Paid": "twelve"})
    assert [path for path, _ in problems] == ["Paid"]
    assert check_gold(sqlite, "Receipt", None, {"Shop name": "Co-op", "Paid": "12"}) == []
    made = create_set(sqlite, "Receipts", "Receipt", [
        NewExample("r1", "Co-op, paid 12", {"Shop name": "Co-op", "Paid": "12"})])
    assert made.schema_version == "1"  # the newest version pinned
    assert examples(sqlite, "Receipts", 1)[0].gold == {"Shop name": "Co-op", "Paid": 12.0}


# --- from a run ------------------------------------------------------------------------


RESULT = {**A_GOLD, "customer": "Bob"}
INFO = DocumentInfo("inv-1.pdf", "pdf", 2048, "f" * 64, 1, len(A_TEXT))


def stored(store: Store, *, text: str | None = A_TEXT, result: object = RESULT,
           document: DocumentInfo | None = INFO, status: str = "done",
           schema: str = "Invoice") -> str:
    run = StoredRun(schema_name=schema, provider="local", model="m", status=status,
                    input_text=text, result=result, document=document,
                    ended_at=datetime.now(UTC))
    store.add(run)
    return run.id


def test_mark_as_correct_with_the_input_kept(sqlite: Store) -> None:
    run_id = stored(sqlite)
    before = datetime.now(UTC)
    made = from_run(sqlite, run_id, "From runs", who="ana")
    assert (made.version, made.schema_name, made.size, made.created_by) == \
        (1, "Invoice", 1, "ana")
    assert made.note == f"marked inv-1.pdf (run {run_id[:8]})"
    [example] = examples(sqlite, "From runs", 1)
    assert (example.name, example.text, example.gold, example.document) == \
        ("inv-1.pdf", A_TEXT, RESULT, INFO)
    assert (example.reviewer, example.run_id) == ("ana", run_id)
    assert example.reviewed_at is not None and example.reviewed_at >= before

    # "Correct it" on the same run: a new version, the same document replaced.
    corrected = from_run(sqlite, run_id, "From runs", gold={**RESULT, "customer": "Bob Ltd"},
                         who="ben")
    assert (corrected.version, corrected.size) == (2, 1)
    assert corrected.note == f"corrected inv-1.pdf (run {run_id[:8]})"
    [again] = examples(sqlite, "From runs", 2)
    assert (again.gold["customer"], again.reviewer) == ("Bob Ltd", "ben")
    assert examples(sqlite, "From runs", 1)[0].gold["customer"] == "Bob"


def test_a_run_whose_input_was_not_kept_asks_for_the_text(sqlite: Store) -> None:
    run_id = stored(sqlite, text=None, document=None)
    with pytest.raises(NeedsText, match=f"Run {run_id[:8]} did not keep its input text") as err:
        from_run(sqlite, run_id, "From runs", who="ana")
    assert isinstance(err.value, ValueError) and err.value.run_id == run_id
    assert get_set(sqlite, "From runs") is None  # nothing written

    made = from_run(sqlite, run_id, "From runs", who="ana", text=B_TEXT)
    [example] = examples(sqlite, "From runs", made.version)
    assert (example.name, example.text) == (f"run-{run_id[:8]}", B_TEXT)
    named = from_run(sqlite, run_id, "From runs", text=B_TEXT, name="second.txt")
    assert [e.name for e in examples(sqlite, "From runs", named.version)] == \
        [f"run-{run_id[:8]}", "second.txt"]


def test_a_run_that_cannot_be_marked_says_why(sqlite: Store) -> None:
    failed = stored(sqlite, result=None, status="error")
    with pytest.raises(ValueError, match=r"has no answer to mark as correct .*ended error"):
        from_run(sqlite, failed, "S")
    # Corrected by hand, a failed run's document still counts.
    assert from_run(sqlite, failed, "S", gold={"total": 3}).size == 1
    with pytest.raises(ValueError, match="There is no run 'nope'"):
        from_run(sqlite, "nope", "S")
    meeting = stored(sqlite, schema="MeetingInfo", result={"budget": 1})
    with pytest.raises(ValueError, match="holds answers for the schema 'Invoice'; this run "
                                         "used 'MeetingInfo'"):
        from_run(sqlite, meeting, "S")
    invalid = stored(sqlite, result={"total": "n/a"}, status="invalid")
    with pytest.raises(ValueError, match="total: Input should be a valid number"):
        from_run(sqlite, invalid, "S")
    running = stored(sqlite, status="running", result={"total": 1})
    with pytest.raises(ValueError, match="still running"):
        from_run(sqlite, running, "S")
    assert get_set(sqlite, "S").version == 1  # type: ignore[union-attr]
