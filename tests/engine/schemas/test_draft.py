"""Drafting a schema from a description, and the builder's helpers (engine/schemas/draft.py):
a local ReplayServer (127.0.0.1) streams a proposed definition through the real engine; the
proposal loads into the Schemas page's builder; an answer that is not a usable definition gives
a clear message. Plus the table rows, nested paths and the made-up sample answer."""

from __future__ import annotations

import json
import threading
from typing import Any, get_args

import pytest

from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.runs.status import RunStatus
from engine.schemas import draft
from engine.schemas.definition import (
    DEFAULT_INSTRUCTION,
    FieldDef,
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
)
from engine.schemas.draft import TYPES
from engine.schemas.fields import leaves
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.pages.test_schemas import SCHEMAS_PAGE, errors, ok, open_page, section, texts
from tests.pages.test_schemas import server as server  # the fixture, by its name

PROPOSAL: dict[str, Any] = {  # a draft as the model answers it (`DraftDefinition`)
    "name": "Invoice",
    "description": "A supplier's invoice",
    "fields": [
        {"name": "Supplier", "type": "text", "description": "Who sent it", "choices": [],
         "children": []},
        {"name": "Status", "type": "choice", "description": "", "choices": ["paid", "open"],
         "children": []},
        {"name": "Lines", "type": "list of objects", "description": "Each line", "choices": [],
         "children": [{"name": "Item", "type": "text", "description": "", "choices": []},
                      {"name": "Amount", "type": "number", "description": "", "choices": []}]},
    ],
}


def defn() -> SchemaDefinition:
    """The proposal as it opens in the builder: the default instruction, every field optional
    (a draft cannot know what every text says)."""
    def optional(f: dict[str, Any]) -> dict[str, Any]:
        return {**f, "required": False, "children": [optional(c) for c in f.get("children", [])]}

    return SchemaDefinition.model_validate(
        {**PROPOSAL, "fields": [optional(f) for f in PROPOSAL["fields"]]})


# --- helpers ----------------------------------------------------------------------------


def test_rows_round_trip_and_keep_children() -> None:
    fields = defn().fields
    rows = draft.field_rows(fields)
    assert rows[1] == {"name": "Status", "type": "choice", "description": "", "required": False,
                       "choices": "paid, open"}
    assert draft.rows_to_fields(rows, fields) == fields
    rows[2]["name"] = "Line items"  # renamed in place: its children stay (same position)
    again = draft.rows_to_fields(rows, fields)
    assert again[2].name == "Line items" and again[2].children == fields[2].children
    rows[2]["type"] = "text"  # no longer an object: no children
    assert draft.rows_to_fields(rows, fields)[2].children == []
    blank = {"name": None, "type": None, "description": None, "required": None, "choices": None}
    assert draft.rows_to_fields([*draft.field_rows(fields), blank], fields) == fields
    assert draft.split_choices(" a ,, b,") == ["a", "b"]


def test_nested_paths() -> None:
    fields = defn().fields
    assert draft.object_paths(fields) == [("Lines",)]
    assert [f.name for f in draft.children_at(fields, ("Lines",))] == ["Item", "Amount"]
    new = draft.with_children(fields, ("Lines",), [FieldDef(name="Only")])
    assert [f.name for f in draft.children_at(new, ("Lines",))] == ["Only"]
    assert draft.children_at(fields, ("Missing",)) == []
    assert draft.path_label(("Lines", "Product")) == "Lines › Product"


def test_the_sample_answer_is_valid_for_the_schema() -> None:
    d = defn()
    text = "".join(draft.sample_chunks(d))
    model = build_model(d)
    result = model.model_validate_json(text)
    assert result.model_dump(by_alias=True)["Status"] == "paid"
    snaps = list(draft.sample_factory(d, pace=0.0)(threading.Event()))
    assert snaps[-1].final == result
    cancel = threading.Event()
    cancel.set()
    assert list(draft.sample_factory(d, pace=0.0)(cancel)) == []  # Stop ends it at once


def test_proposal_checks_the_answer() -> None:
    assert draft.proposal(draft.DraftDefinition.model_validate(PROPOSAL)) == defn()
    assert draft.proposal(PROPOSAL).instruction == DEFAULT_INSTRUCTION
    kept = {**PROPOSAL, "instruction": "Read it.", "fields": [
        {**PROPOSAL["fields"][0], "required": True}]}  # a full definition keeps what it says
    assert draft.proposal(kept).instruction == "Read it."
    assert draft.proposal(kept).fields[0].required
    with pytest.raises(SchemaDefinitionError) as bad:
        draft.proposal({**PROPOSAL, "fields": [PROPOSAL["fields"][1]] * 2})
    assert "used twice" in str(bad.value)
    with pytest.raises(SchemaDefinitionError, match="not a schema definition"):
        draft.proposal(["Supplier"])
    with pytest.raises(SchemaDefinitionError, match="fields"):
        draft.proposal({"name": "X"})


def test_proposal_repairs_what_a_small_model_half_gets_right() -> None:
    def one(**field: Any) -> FieldDef:
        base = {"name": "F", "type": "text", "description": "", "choices": [], "children": []}
        return draft.proposal({"name": "S", "description": "", "fields": [{**base, **field}]}
                              ).fields[0]

    assert one(choices=["Supplier A", "Supplier B"]).choices == []  # choices on a text field
    assert one(type="choice", choices=[" low", "high ", "low", ""]).choices == ["low", "high"]
    assert one(type="choice").type == "text"  # a choice with nothing to choose from
    assert one(type="list of objects").type == "list of text"  # a list of nothing
    assert one(type="object").type == "text"
    item = {"name": "Item", "type": "text", "description": "", "choices": []}
    assert one(children=[item]).children == []  # children on a text field
    nested = one(type="object", children=[{**item, "type": "choice", "choices": []}])
    assert nested.children[0].type == "text" and not nested.children[0].required


def test_the_prompts_worked_examples_are_drafts_the_grammar_allows() -> None:
    for request, answer in draft._EXAMPLES:
        drafted = draft.DraftDefinition.model_validate(answer)
        assert draft.proposal(drafted).fields, request
        assert json.dumps(answer, ensure_ascii=False) in draft.DRAFT_INSTRUCTION
    for kind in TYPES:
        assert f'"{kind}"' in draft.DRAFT_INSTRUCTION  # every type is explained


def test_the_draft_model_is_flat_enough_for_the_live_form() -> None:
    paths = [n.path for n in leaves(draft.DraftDefinition)]
    assert paths == ["name", "description", "fields"]
    child_types = set(get_args(draft.ChildType))
    assert child_types == set(draft.TYPES) - {"object", "list of objects"}  # one level deep
    assert draft.draft_request(" invoices ", "  ") == "What the schema should capture:\ninvoices"
    assert draft.draft_request("invoices", "ACME, 3 lines").endswith("ACME, 3 lines")


# --- through the engine and the page ----------------------------------------------------


def test_a_draft_streams_through_the_engine(server: ReplayServer) -> None:
    from engine.providers.registry import available_providers

    server.queue(Reply.content(support.chunks(json.dumps(PROPOSAL), 9), pace=0.001))
    provider = next(p for p in available_providers() if p.name == "Custom server")
    spec = RunSpec.for_provider(draft.draft_request("invoices"), "Schema draft",
                                draft.DraftDefinition, provider, "replay-model", "json_schema",
                                system=draft.DRAFT_INSTRUCTION)
    runner = start_run(spec, provider)
    assert runner.wait(20)
    assert runner.status is RunStatus.DONE, runner.error
    assert draft.proposal(runner.result) == defn()
    request = server.requests[-1]
    assert request["messages"][0]["content"] == draft.DRAFT_INSTRUCTION
    assert request["response_format"]["type"] == "json_schema"


def draft_on_page(srv: ReplayServer, answer: str) -> Any:
    srv.queue(Reply.content(support.chunks(answer, 11), pace=0.001))
    at = open_page(SCHEMAS_PAGE)
    section(at, "Draft from a description")
    at.text_area(key="fs_sch_draft_desc").input("Invoices from our suppliers").run()
    at.text_area(key="fs_sch_draft_sample").input("ACME Ltd, invoice 42, paid").run()
    at.button(key="fs_sch_draft").click().run()
    return ok(at)


def test_the_proposal_loads_into_the_builder(server: ReplayServer) -> None:
    at = draft_on_page(server, json.dumps(PROPOSAL))
    assert at.radio(key="fs_sch_section").value == "Builder"
    assert "The proposed schema Invoice is in the builder" in texts(at)
    assert at.text_input(key="fs_sch_name").value == "Invoice"
    assert at.text_area(key="fs_sch_instruction").value == DEFAULT_INSTRUCTION
    top = next(d for d in at.dataframe if d.key and d.key.startswith("fs_sch_fields_"))
    assert top.value["name"].tolist() == ["Supplier", "Status", "Lines"]
    nested = next(d for d in at.dataframe if d.key and d.key.startswith("fs_sch_children_"))
    assert nested.value["name"].tolist() == ["Item", "Amount"]
    assert not at.button(key="fs_sch_save").disabled
    body = server.requests[-1]["messages"][-1]["content"]
    assert "Invoices from our suppliers" in body and "ACME Ltd, invoice 42, paid" in body


def test_an_unusable_proposal_gives_a_clear_message(server: ReplayServer) -> None:
    bad = {**PROPOSAL, "fields": [PROPOSAL["fields"][1]] * 2}  # one name twice
    at = draft_on_page(server, json.dumps(bad))
    assert at.radio(key="fs_sch_section").value == "Draft from a description"
    assert "The proposal is not a usable schema" in errors(at)
    assert "used twice" in errors(at)
    assert "fs_sch_name" not in at.session_state or not at.session_state["fs_sch_name"]


def test_an_answer_that_is_not_a_definition_says_so(server: ReplayServer) -> None:
    at = draft_on_page(server, json.dumps({"name": "Invoice"}))  # no fields at all
    assert at.radio(key="fs_sch_section").value == "Draft from a description"
    shown = texts(at)
    assert "fields" in shown and at.error  # the run's outcome names what is missing
