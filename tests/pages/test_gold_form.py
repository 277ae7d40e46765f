"""The gold answer's form (ui/gold_form.py) driven in AppTest: a tiny page renders it for a
schema and a value and keeps what it returns; the tests edit a scalar, add and remove a list
item (the table's rows through `st.data_editor`'s edit state, which AppTest applies when it is
assigned before a run), and check the returned dict."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.schemas.library import Invoice, MeetingInfo
from tests.support import MEETING
from ui.gold_form import Column, columns_of, field_key, table_frame, table_rows

KEY = "fs_gold"

INVOICE: dict[str, Any] = {
    "invoice_number": "INV-2024-0117", "issue_date": "4 March 2024", "due_date": "3 April 2024",
    "vendor": "Northwind Design Studio GmbH", "customer": "Bluefin Logistics B.V.",
    "line_items": [
        {"description": "Brand workshop (half day)", "quantity": 1.0, "unit_price": 1200.0,
         "amount": 1200.0},
        {"description": "Icon set, 24 icons", "quantity": 24.0, "unit_price": 35.0,
         "amount": 840.0},
    ],
    "subtotal": 2040.0, "tax": 387.6, "total": 2427.6, "currency": "EUR",
}  # fmt: skip


def _page(schema_name: str) -> None:
    """The page under test: the form of a schema (a built-in, or one defined here), its
    result kept in the session for the test to read."""
    from typing import Any, Literal  # noqa: F401 (the script runs without postponed annotations)

    import streamlit as st
    from pydantic import BaseModel

    from engine.schemas.library import SCHEMAS
    from ui.gold_form import gold_form

    class Note(BaseModel):
        text: str
        tags: list[str]

    class Deep(BaseModel):  # a list of nested models, a dict, a choice, numbers, a list
        title: str
        priority: Literal["low", "high"] | None
        done: bool | None
        scores: list[int]
        notes: list[Note]
        extra: dict[str, Any]

    schema = {**SCHEMAS, "Deep": Deep}[schema_name]
    st.session_state["out"] = gold_form(schema, st.session_state.get("seed"), key="fs_gold")


def form(schema_name: str, value: dict[str, Any] | None) -> AppTest:
    at = AppTest.from_function(_page, args=(schema_name,))
    at.session_state["seed"] = copy.deepcopy(value)
    at.run()
    assert not at.exception, at.exception
    return at


def out(at: AppTest) -> Any:
    assert not at.exception, at.exception
    return at.session_state["out"]


def edit_table(at: AppTest, path: str, **edits: Any) -> AppTest:
    """Edits of a table as the browser sends them: edited_rows, added_rows, deleted_rows."""
    state = {"edited_rows": {}, "added_rows": [], "deleted_rows": [], **edits}
    at.session_state[field_key(KEY, path)] = state
    return at.run()


# --- MeetingInfo: scalars, a table of users ---------------------------------------------------


def test_untouched_the_form_returns_the_value_it_was_given() -> None:
    assert out(form("MeetingInfo", MEETING)) == MEETING
    assert out(form("Invoice", INVOICE)) == INVOICE


def test_a_scalar_edited_and_one_emptied() -> None:
    at = form("MeetingInfo", MEETING)
    at.text_input(key=field_key(KEY, "location")).input("Grand Tech Arena").run()
    at.number_input(key=field_key(KEY, "budget")).set_value(45000).run()
    at.text_input(key=field_key(KEY, "deadline")).input("   ").run()
    assert out(at) == {**MEETING, "location": "Grand Tech Arena", "budget": 45000,
                       "deadline": None}
    assert type(out(at)["budget"]) is int
    MeetingInfo.model_validate({**out(at), "deadline": "x"})  # the form keeps the schema's types


def test_a_user_added_edited_and_removed() -> None:
    at = form("MeetingInfo", MEETING)
    table = at.data_editor(key=field_key(KEY, "users"))
    assert table.editing_mode == "dynamic"
    assert list(table.value.columns) == ["name", "email", "twitter"]
    assert table.value["name"].tolist() == [u["name"] for u in MEETING["users"]]
    new = {"name": "Emily Johnson", "email": "emily@example.org", "twitter": None}
    edit_table(at, "users", edited_rows={"0": {"email": "john@example.org"}},
               added_rows=[new], deleted_rows=[1])
    first = MEETING["users"][0]
    assert out(at)["users"] == [{**first, "email": "john@example.org"}, new]


def test_a_row_added_and_left_empty_is_no_item_and_all_rows_removed_is_an_empty_list() -> None:
    at = edit_table(form("MeetingInfo", MEETING), "users", added_rows=[{}])
    assert out(at)["users"] == MEETING["users"]
    at = edit_table(at, "users", deleted_rows=[0, 1])
    assert out(at)["users"] == []


# --- Invoice: numbers in a table, descriptions as help ------------------------------------------


def test_an_invoice_line_added_and_one_removed_keeps_numbers_as_numbers() -> None:
    at = form("Invoice", INVOICE)
    edit_table(at, "line_items", deleted_rows=[0], added_rows=[
        {"description": "Logo redesign", "quantity": 1, "unit_price": 2400.5, "amount": 2400.5}])
    assert out(at)["line_items"] == [
        INVOICE["line_items"][1],
        {"description": "Logo redesign", "quantity": 1.0, "unit_price": 2400.5,
         "amount": 2400.5},
    ]
    at.number_input(key=field_key(KEY, "total")).set_value(3240.5).run()
    assert out(at)["total"] == 3240.5
    Invoice.model_validate(out(at))
    assert at.text_input(key=field_key(KEY, "currency")).help == (
        "Three-letter ISO currency code, e.g. EUR or USD.")


def test_no_value_gives_an_empty_form_of_nulls() -> None:
    at = form("Invoice", None)
    assert out(at) == {name: None for name in Invoice.model_fields}
    at.text_input(key=field_key(KEY, "vendor")).input("Northwind").run()
    edit_table(at, "line_items", added_rows=[{"description": "Workshop", "amount": 90}])
    assert out(at)["vendor"] == "Northwind"
    assert out(at)["line_items"] == [{"description": "Workshop", "quantity": None,
                                      "unit_price": None, "amount": 90.0}]


# --- the other inputs: a nested group, lists of text, choices, JSON -----------------------------


def test_a_nested_group_and_a_list_of_text_edited() -> None:
    card = {"full_name": "Ann Lee", "job_title": "CTO", "organization": "Acme",
            "email": "ann@acme.test", "phone": "+1 555", "website": "acme.test",
            "address": {"street": "1 Main St", "city": "Springfield", "postal_code": "12345",
                        "country": "USA"}}  # fmt: skip
    at = form("ContactCard", card)
    at.text_input(key=field_key(KEY, "address.city")).input("Shelbyville").run()
    assert out(at)["address"] == {**card["address"], "city": "Shelbyville"}
    recipe = {"title": "Soup", "servings": 2, "prep_minutes": 5, "cook_minutes": 20,
              "ingredients": [], "steps": ["Chop.", "Boil."]}
    at = form("Recipe", recipe)
    at.text_area(key=field_key(KEY, "steps")).input("Chop.\n\n Boil. \nServe.").run()
    assert out(at)["steps"] == ["Chop.", "Boil.", "Serve."]
    assert out(at)["ingredients"] == []


def test_choices_numbers_per_line_and_json_for_what_a_form_cannot_hold() -> None:
    deep = {"title": "T", "priority": "low", "done": None, "scores": [1, 2],
            "notes": [{"text": "a", "tags": ["x"]}], "extra": {"k": 1}}
    at = form("Deep", deep)
    assert out(at) == deep
    at.selectbox(key=field_key(KEY, "priority")).set_value("high").run()
    at.selectbox(key=field_key(KEY, "done")).set_value(True).run()
    at.text_area(key=field_key(KEY, "scores")).input("3\n4").run()
    at.text_area(key=field_key(KEY, "notes")).input('[{"text": "b", "tags": []}]').run()
    assert out(at) == {**deep, "priority": "high", "done": True, "scores": [3, 4],
                       "notes": [{"text": "b", "tags": []}]}


def test_invalid_json_or_a_line_that_is_no_number_is_said_and_returns_nothing() -> None:
    deep = {"title": "T", "priority": None, "done": None, "scores": [], "notes": [], "extra": {}}
    at = form("Deep", deep)
    at.text_area(key=field_key(KEY, "extra")).input('{"k": 1,').run()
    assert out(at) is None
    assert any(e.value.startswith("extra") and "not valid JSON" in e.value and "line 1" in e.value
               for e in at.error)
    at.text_area(key=field_key(KEY, "extra")).input('{"k": 2}').run()
    assert out(at)["extra"] == {"k": 2} and not at.error
    at.text_area(key=field_key(KEY, "scores")).input("3\nthree").run()
    assert out(at) is None
    assert any("line 2" in e.value and "not a number" in e.value for e in at.error)


def test_a_value_outside_the_choices_stays_visible_for_the_check_to_name() -> None:
    ticket = {"subject": "s", "customer_name": "c", "customer_email": "e", "priority": "asap",
              "category": "billing", "summary": "x", "steps_to_reproduce": []}
    at = form("SupportTicket", ticket)
    box = at.selectbox(key=field_key(KEY, "priority"))
    assert box.options == ["low", "medium", "high", "urgent", "asap"] and box.value == "asap"
    assert out(at) == ticket


def test_a_number_an_input_cannot_hold_is_edited_as_text() -> None:
    at = form("MeetingInfo", {**MEETING, "budget": 10**20})
    assert at.text_input(key=field_key(KEY, "budget")).value == str(10**20)
    assert out(at)["budget"] == 10**20
    at.text_input(key=field_key(KEY, "budget")).input("lots").run()
    assert out(at)["budget"] == "lots"  # kept as typed: the schema check names it


def test_text_is_shown_in_inputs_not_as_markdown_or_html() -> None:
    sly = {**MEETING, "location": "<b>x</b> **bold** [l](http://e.test)"}
    at = form("MeetingInfo", sly)
    assert at.text_input(key=field_key(KEY, "location")).value == sly["location"]
    assert out(at) == sly
    assert not at.markdown or all("<b>" not in m.value for m in at.markdown)


# --- the table's conversion, directly ------------------------------------------------------------


def test_table_conversion_round_trips_and_reads_nulls() -> None:
    cols = columns_of(Invoice.model_fields["line_items"].annotation.__args__[0])
    assert [c.kind for c in cols] == ["text", "float", "float", "float"]
    frame = table_frame(cols, INVOICE["line_items"])
    assert table_rows(cols, frame) == INVOICE["line_items"]
    frame.loc[0, "amount"] = pd.NA
    frame.loc[1, "description"] = "  "
    assert table_rows(cols, frame)[0]["amount"] is None
    assert table_rows(cols, frame)[1]["description"] is None


@pytest.mark.parametrize(("column", "given", "back"), [
    (Column("n", "int"), [{"n": 3}, {"n": None}], [{"n": 3}]),
    (Column("n", "int"), [{"n": "three"}], [{"n": "three"}]),  # a slip: shown as text, kept
    (Column("n", "float"), [{"n": "2.5"}], [{"n": 2.5}]),
    (Column("b", "bool"), [{"b": True}, {"b": False}], [{"b": True}, {"b": False}]),
    (Column("c", "choice", ("a", "b")), [{"c": "b"}, {"c": "z"}], [{"c": "b"}, {"c": "z"}]),
])  # fmt: skip
def test_table_cells_keep_their_types(column: Column, given: list[dict[str, Any]],
                                      back: list[dict[str, Any]]) -> None:
    rows = table_rows([column], table_frame([column], given))
    assert rows == back
    assert [type(r[column.name]) for r in rows] == [type(r[column.name]) for r in back]
