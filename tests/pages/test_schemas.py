"""The Schemas page (AppTest): build a schema in the table editor, see why it cannot be saved
yet, save it, pick it on the Extract page and extract with it against a local ReplayServer
(127.0.0.1), edit it into version 2 while History keeps version 1 for the old run; drafts,
imports and exports. Each test has its own SQLite file (FIELDSTREAM_DATA_DIR in tmp_path)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.history import list_runs
from engine.history.queries import get_run
from engine.runs.status import RunStatus
from engine.schemas.saved import get_schema, schema_versions
from engine.store import Store, load_settings, open_store
from engine.testing.replay_server import ReplayServer, Reply
from tests import support

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
EXTRACT, SCHEMAS_PAGE = "pages/1_Extract.py", "pages/3_Schemas.py"
KEY = "sk-fieldstream-RECOGNISABLE-5c1d"
NOTE = "Ada Lovelace wrote on 10 Dec 2025: please move me to the gold plan."
ANSWER = {"Full name": "Ada Lovelace", "Plan": "gold"}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, KEY) as srv:
        yield srv


@pytest.fixture
def store(server: ReplayServer) -> Iterator[Store]:
    with open_store(load_settings()) as st:
        yield st


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page(name).run()
    ok(at)
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.code]
    parts += [e.value for kind in (at.success, at.error, at.warning, at.info) for e in kind]
    return "\n".join(str(p) for p in parts).replace("\\", "")


def errors(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.error).replace("\\", "")


def section(at: AppTest, name: str) -> AppTest:
    at.radio(key="fs_sch_section").set_value(name).run()
    return ok(at)


def editor_key(at: AppTest, prefix: str = "fs_sch_fields_") -> str:
    keys = [d.key for d in at.dataframe if d.key and d.key.startswith(prefix)]
    assert len(keys) == 1, keys
    return keys[0]


def edit(at: AppTest, key: str, *, edited: dict[int, dict[str, Any]] | None = None,
         added: list[dict[str, Any]] | None = None, deleted: list[int] | None = None) -> AppTest:
    """What the browser sends when cells of the keyed table editor change."""
    at.session_state[key] = {"edited_rows": edited or {}, "added_rows": added or [],
                             "deleted_rows": deleted or []}
    at.run()
    return ok(at)


def build_contact(at: AppTest) -> AppTest:
    section(at, "Builder")
    at.text_input(key="fs_sch_name").input("Contact").run()
    at.text_input(key="fs_sch_author").input("Grace").run()
    return edit(at, editor_key(at), edited={0: {"name": "Full name",
                                                "description": "The person's full name"}},
                added=[{"name": "Plan", "type": "choice", "choices": "gold, silver",
                        "required": True, "description": "Their plan"}])


def save_button(at: AppTest) -> Any:
    return at.button(key="fs_sch_save")


# --- the page ---------------------------------------------------------------------------


def test_the_page_is_in_the_sidebar(server: ReplayServer) -> None:
    from tests.pages.test_navigation import declared_pages

    assert {"file": "pages/3_Schemas.py", "title": "Schemas", "icon": ":material/schema:",
            "url_path": "Schemas"} in declared_pages()
    at = open_page(SCHEMAS_PAGE)
    assert at.title[0].value == "Schemas"
    assert "MeetingInfo" in at.dataframe[0].value["name"].tolist()  # the built-ins are listed


def test_build_save_extract_edit_and_history_keeps_version_1(server: ReplayServer,
                                                             store: Store) -> None:
    at = open_page(SCHEMAS_PAGE)
    build_contact(at)
    assert not at.error, errors(at)
    assert not save_button(at).disabled
    preview = texts(at)
    assert '"Full name"' in preview and '"enum"' in preview  # the JSON Schema preview
    assert "class Contact(BaseModel)" in preview  # the pydantic source, as text
    save_button(at).click().run()
    ok(at)
    assert "Saved Contact version 1." in texts(at)
    saved = get_schema(store, "Contact")
    assert saved is not None and saved.version == 1 and saved.author == "Grace"
    assert [f.name for f in saved.definition.fields] == ["Full name", "Plan"]
    assert saved.definition.fields[1].choices == ["gold", "silver"]

    # Saved schemas appear at once in the Extract picker; extracting uses them.
    server.queue(Reply.content(support.chunks(json.dumps(ANSWER)), pace=0.002))
    at.switch_page(EXTRACT).run()
    ok(at)
    assert "Contact (saved)" in at.selectbox(key="fs_schema").options
    at.selectbox(key="fs_schema").set_value("Contact (saved)").run()
    at.text_area(key="fs_text").input(NOTE).run()
    ok(at)
    assert "Fields of Contact · version 1" in [e.label.replace("\\", "") for e in at.expander]
    at.button(key="fs_extract").click().run()
    ok(at)
    assert json.dumps(ANSWER, indent=2) in texts(at)
    assert "Contact v1" in texts(at)
    body = server.requests[-1]
    assert body["messages"][0]["content"] == saved.definition.instruction  # its system prompt
    rows, total = list_runs(store)
    assert total == 1
    run = get_run(store, rows[0].id)
    assert run is not None and run.schema_name == "Contact" and run.schema_version == "1"
    assert run.result == ANSWER

    # Edit it: open version 1 in the builder, add a field, save -> version 2.
    at.switch_page(SCHEMAS_PAGE).run()
    section(at, "Library")
    at.selectbox(key="fs_sch_open").set_value("Contact").run()
    at.button(key="fs_sch_edit").click().run()
    ok(at)
    assert at.radio(key="fs_sch_section").value == "Builder"
    assert at.text_input(key="fs_sch_name").value == "Contact"
    edit(at, editor_key(at), added=[{"name": "Since", "type": "date", "required": False}])
    save_button(at).click().run()
    ok(at)
    assert "Saved Contact version 2." in texts(at)
    assert [v.version for v in schema_versions(store, "Contact")] == [1, 2]
    old = get_schema(store, "Contact", version=1)
    assert old is not None and [f.name for f in old.definition.fields] == ["Full name", "Plan"]
    run = get_run(store, rows[0].id)
    assert run is not None and run.schema_version == "1"  # the old run still points at v1

    # History names the version the run used, and replays it with that version's schema.
    at.switch_page("pages/2_History.py").run()
    at.session_state["fs_hist_table"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    ok(at)
    assert "Contact v1 · Custom server · replay-model" in [h.value.replace("\\", "")
                                                          for h in at.subheader]
    at.button(key="fs_hist_replay4").click().run()
    ok(at)
    _, replayed, _ = at.session_state["fs_replay_run"]
    assert replayed.status is RunStatus.DONE and replayed.result is not None

    # The picker now offers version 2; the older version stays readable in the library.
    at.switch_page(EXTRACT).run()
    ok(at)
    assert "Fields of Contact · version 2" in [e.label.replace("\\", "") for e in at.expander]
    at.switch_page(SCHEMAS_PAGE).run()
    section(at, "Library")
    at.selectbox(key="fs_sch_open").set_value("Contact").run()
    versions = at.selectbox(key="fs_sch_version_Contact")
    assert [o.split(" · ")[0] for o in versions.options] == ["version 2", "version 1"]
    versions.set_value(versions.options[1]).run()
    ok(at)
    assert '"Since"' not in texts(at) and '"Full name"' in texts(at)


def test_problems_are_named_and_nothing_is_saved(server: ReplayServer, store: Store) -> None:
    at = open_page(SCHEMAS_PAGE)
    section(at, "Builder")
    assert "The schema needs a name." in errors(at) and save_button(at).disabled
    at.text_input(key="fs_sch_name").input("Broken").run()
    edit(at, editor_key(at), added=[{"name": "name", "type": "text"},
                                    {"name": "Level", "type": "choice", "choices": ""},
                                    {"name": "_secret", "type": "text"},
                                    {"name": "Items", "type": "list of objects"}])
    problems = errors(at)
    assert "name: the name is used twice at this level" in problems
    assert "Level: a choice needs at least one allowed value." in problems
    assert "a name may not start with '_'" in problems
    assert "Items: an object needs at least one field." in problems
    assert save_button(at).disabled
    assert schema_versions(store, "Broken") == []


def test_nested_fields_are_edited_in_a_second_editor_two_levels_deep(server: ReplayServer,
                                                                    store: Store) -> None:
    at = open_page(SCHEMAS_PAGE)
    section(at, "Builder")
    at.text_input(key="fs_sch_name").input("Order").run()
    edit(at, editor_key(at), added=[{"name": "Lines", "type": "list of objects"}])
    assert at.selectbox(key="fs_sch_nested").options == ["Lines"]
    edit(at, editor_key(at, "fs_sch_children_"),
         added=[{"name": "Product", "type": "object"}, {"name": "Quantity",
                                                        "type": "whole number"}])
    assert at.selectbox(key="fs_sch_nested").options == ["Lines", "Lines › Product"]
    at.selectbox(key="fs_sch_nested").set_value("Lines › Product").run()
    edit(at, editor_key(at, "fs_sch_children_"), added=[{"name": "SKU", "type": "text"}])
    assert not at.error, errors(at)
    save_button(at).click().run()
    ok(at)
    saved = get_schema(store, "Order")
    assert saved is not None
    lines = saved.definition.fields[1]
    assert lines.name == "Lines" and [c.name for c in lines.children] == ["Product", "Quantity"]
    assert [c.name for c in lines.children[0].children] == ["SKU"]
    # Editing the parent's row keeps its nested fields.
    edit(at, editor_key(at), edited={1: {"description": "Each line of the order"}})
    from ui.schemas_view import DEFN

    fields = at.session_state[DEFN]["fields"]
    assert fields[1]["description"] == "Each line of the order"
    assert fields[1]["children"][0]["children"][0]["name"] == "SKU"


def test_the_sample_answer_streams_into_the_preview_form(server: ReplayServer) -> None:
    at = open_page(SCHEMAS_PAGE)
    build_contact(at)
    at.button(key="fs_sch_sample").click().run()
    ok(at)
    shown = texts(at)
    assert "Sample Full name" in shown and "gold" in shown  # the made-up answer, drawn


def test_import_a_json_schema_and_refusals_name_the_keyword(server: ReplayServer) -> None:
    at = open_page(SCHEMAS_PAGE)
    section(at, "Import / export")
    bad = {"type": "object", "properties": {"n": {"type": "string", "pattern": "^a"}}}
    at.text_area(key="fs_sch_import_text").input(json.dumps(bad)).run()
    at.button(key="fs_sch_import").click().run()
    ok(at)
    assert "pattern" in errors(at)
    good = {"title": "Ticket", "type": "object", "required": ["Subject"],
            "properties": {"Subject": {"type": "string", "description": "What it is about"},
                           "Urgent": {"type": "boolean"}}}
    at.text_area(key="fs_sch_import_text").input(json.dumps(good)).run()
    at.button(key="fs_sch_import").click().run()
    ok(at)
    assert at.radio(key="fs_sch_section").value == "Builder"
    assert at.text_input(key="fs_sch_name").value == "Ticket"
    assert "Imported Ticket" in texts(at)
    table = at.dataframe[0].value if at.dataframe[0].key else None
    assert table is not None and table["name"].tolist() == ["Subject", "Urgent"]
    section(at, "Import / export")
    assert "class Ticket(BaseModel)" in texts(at)


def test_model_text_in_a_name_is_shown_as_text(server: ReplayServer) -> None:
    at = open_page(SCHEMAS_PAGE)
    section(at, "Builder")
    at.text_input(key="fs_sch_name").input("[click](http://evil.example) **bold**").run()
    edit(at, editor_key(at), edited={0: {"name": "_<b>x</b>"}})
    raw = "\n".join(str(e.value) for e in at.error)
    assert "<b>" not in raw and "\\_" in raw  # escaped Markdown, never HTML


def test_a_saved_schema_named_by_a_run_is_picked_on_the_extract_page(server: ReplayServer,
                                                                    store: Store) -> None:
    from engine.schemas.definition import FieldDef, SchemaDefinition
    from engine.schemas.saved import save_schema

    save_schema(store, SchemaDefinition(name="Contact", fields=[FieldDef(name="Full name")]))
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.session_state["fs_schema"] = "Contact"  # what "Open in Extract" sets: the run's name
    at.switch_page(EXTRACT).run()
    ok(at)
    assert at.selectbox(key="fs_schema").value == "Contact (saved)"
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.session_state["fs_schema"] = "Gone"  # no such schema any more: the first built-in
    at.switch_page(EXTRACT).run()
    ok(at)
    assert at.selectbox(key="fs_schema").value == "MeetingInfo"


def test_a_name_saved_before_the_rule_opens_and_saving_asks_for_a_new_one(
    server: ReplayServer, store: Store
) -> None:
    from engine.schemas.definition import FieldDef, SchemaDefinition

    old = SchemaDefinition(name="Old\x1b[31m", fields=[FieldDef(name="Total"),
                                                       FieldDef(name="Total\u200b")])
    support.save_unchecked(store, old)
    at = open_page(SCHEMAS_PAGE)
    assert "Old\\x1b[31m" in at.dataframe[0].value["name"].tolist()  # shown escaped
    at.selectbox(key="fs_sch_open").set_value(old.name).run()
    assert "Old\\x1b[31m" in at.selectbox(key="fs_sch_open").options
    at.button(key="fs_sch_edit").click().run()
    ok(at)
    assert at.radio(key="fs_sch_section").value == "Builder"
    assert at.text_input(key="fs_sch_name").value == old.name  # loaded as it is stored
    problems = errors(at)  # backslashes dropped: `Total\u200b` reads `Totalu200b` here
    assert "The schema name holds a control or invisible character (U+001B); choose another " \
           "name." in problems
    assert "Totalu200b: the name holds a control or invisible character (U+200B)." in problems
    assert "\u200b" not in problems and "\x1b" not in problems  # shown escaped
    assert save_button(at).disabled
    at.text_input(key="fs_sch_name").input("Old").run()
    edit(at, editor_key(at), edited={1: {"name": "Total (net)"}})
    assert not at.error, errors(at)
    save_button(at).click().run()
    ok(at)
    saved = get_schema(store, "Old")
    assert saved is not None and saved.version == 1
    assert [f.name for f in saved.definition.fields] == ["Total", "Total (net)"]
    assert [v.version for v in schema_versions(store, old.name)] == [1]  # the old one stays
