"""`fieldstream schemas ...` and `extract --schema` with a saved schema: imports from a
definition or a JSON Schema, versions, exports that read back, clear refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engine import cli
from engine.schemas.convert import from_json_schema
from engine.schemas.definition import (
    DEFAULT_INSTRUCTION,
    FieldDef,
    SchemaDefinition,
    parse_definition,
)
from engine.schemas.library import SCHEMAS
from engine.schemas.saved import list_schemas
from engine.store import open_store
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import (
    OLD_FIELD_NAMES,
    OLD_SCHEMA_NAME,
    isolate,
    old_definition,
    save_unchecked,
)

#: What a terminal acts on, or what makes one name look like another: never printed raw.
RAW = ("\x1b", "\x07", "\u200b", "\u202e", "\x9b")

TICKET = SchemaDefinition(name="Ticket", description="A support ticket",
                          instruction="Read the support e-mail; fill in the ticket.", fields=[
    FieldDef(name="Subject"),
    FieldDef(name="Priority", type="choice", choices=["low", "high"]),
    FieldDef(name="Due date", type="date", required=False),
])


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path, home=True)


def run(*argv: str, text: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdin=io.StringIO(text), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_import_list_show_and_export(tmp_path: Path) -> None:
    defn_file = write(tmp_path, "ticket.json", TICKET.model_dump_json())
    assert run("schemas", "import", defn_file, "--by", "ada") == (0, "saved Ticket v1\n", "")
    assert run("schemas", "import", defn_file)[1] == "saved Ticket v1\n"  # unchanged
    changed = TICKET.model_copy(update={"description": "Changed"})
    assert run("schemas", "import", write(tmp_path, "t2.json", changed.model_dump_json()))[1] \
        == "saved Ticket v2\n"
    code, out, _ = run("schemas", "list")
    assert code == 0 and "Invoice\tlibrary" in out and "Ticket\tv2\t" in out
    code, out, _ = run("schemas", "show", "ticket", "--version", "1")
    assert out.startswith("# Ticket v1 by ada")
    assert parse_definition(out.split("\n", 1)[1]) == TICKET
    code, out, _ = run("schemas", "export", "Ticket", "--as", "json-schema")
    # A JSON Schema has no place for the instruction: it comes back as the default.
    default = {"instruction": DEFAULT_INSTRUCTION}
    assert from_json_schema(out) == changed.model_copy(update=default)
    code, out, _ = run("schemas", "export", "Ticket", "--as", "pydantic")
    compile(out, "<exported>", "exec")  # compiled, never run
    assert parse_definition(run("schemas", "export", "Ticket")[1]) == changed


def test_a_json_schema_file_imports_under_a_given_name(tmp_path: Path) -> None:
    doc = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert run("schemas", "import", write(tmp_path, "s.json", json.dumps(doc)),
               "--name", "Counter")[1] == "saved Counter v1\n"


@pytest.mark.parametrize(("content", "expected"), [
    ("{nope", "Not valid JSON"),
    ('{"type": "object", "properties": {"a": {"oneOf": []}}}', "the keyword 'oneOf'"),
    ('{"name": "S", "fields": [{"name": "a"}, {"name": "A"}]}', "used twice"),
    ('{"name": "S", "fields": [{"name": "a", "type": "colour"}]}', "fields.0.type"),
    ('{"type": "object", "properties": {"a": {"anyOf": 5}}}', "a: anyOf is supported only"),
    ('{"type": "object", "properties": {"a": {"type": ["null"]}}}', 'a: type "null" is not'),
    ('{"type": "object", "properties": {"a": {"type": {"x": 1}}}}', "a: type an object is not"),
])
def test_bad_files_are_refused_and_nothing_is_saved(tmp_path: Path, content: str,
                                                    expected: str) -> None:
    code, out, err = run("schemas", "import", write(tmp_path, "bad.json", content))
    assert (code, out) == (2, "") and expected in err and err.startswith("error: ")
    with open_store() as store:
        assert list_schemas(store) == []


def test_unknown_names_and_versions_are_usage_errors() -> None:
    code, _, err = run("schemas", "show", "Nothing")
    assert code == 2 and "No saved schema 'Nothing'" in err
    code, _, err = run("extract", "--schema", "Nothing", text="hello")
    assert code == 2 and "Unknown schema 'Nothing'" in err


def test_extract_runs_a_saved_schema_and_says_which_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("schemas", "import", write(tmp_path, "t.json", TICKET.model_dump_json()))
    answer = '{"Subject": "Locked out", "Priority": "high", "Due date": "2024-03-15"}'
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content([answer[:20], answer[20:]]))
        code, out, err = run("extract", "--schema", "ticket", "--provider", "custom",
                             text="We are locked out, urgent, by March 15th 2024.")
    assert code == 0, err
    assert "# schema Ticket v1 (saved)" in err
    assert json.loads(out) == json.loads(answer)  # keyed by the labels, as the model wrote
    assert srv.requests[0]["messages"][0]["content"].startswith(TICKET.instruction)
    from engine.history import list_runs
    from engine.store import load_settings, open_store

    with open_store(load_settings()) as store:
        rows, total = list_runs(store)
    assert total == 1 and rows[0].schema_name == "Ticket" and rows[0].schema_version == "1"


def test_library_names_win_over_saved_ones(tmp_path: Path) -> None:
    shadow = SchemaDefinition(name="invoice", fields=[FieldDef(name="only")])
    run("schemas", "import", write(tmp_path, "i.json", shadow.model_dump_json()))
    assert "(hidden by the library schema)" in run("schemas", "list")[1]
    resolved = cli.resolve_schema("invoice")
    assert resolved.name == "Invoice" and "line_items" in resolved.schema.model_fields


def test_names_saved_before_the_rule_are_listed_shown_and_exported_escaped() -> None:
    with open_store() as store:
        save_unchecked(store, old_definition(), author="mallory\x1b[2J")
    code, out, err = run("schemas", "list")
    assert code == 0 and not any(ch in out + err for ch in RAW)
    lines = out.splitlines()
    assert len(lines) == len(SCHEMAS) + 1  # no forged line
    assert lines[-1].startswith("Evil\\x1b]0;owned\\x07\\x1b[31m\\nInvoice\\tlibrary\tv1\t")
    assert lines[-1].endswith("\tLine one\\nline two \\x1b[2J")
    code, out, err = run("schemas", "show", OLD_SCHEMA_NAME)
    assert code == 0 and not any(ch in out + err for ch in RAW)
    head, body = out.split("\n", 1)
    assert head.startswith("# Evil\\x1b]0;owned\\x07") and " by mallory\\x1b[2J, " in head
    assert parse_definition(body) == old_definition()  # escaped JSON reads back the same
    exports = {}
    for form in ("definition", "json-schema", "pydantic"):
        code, exports[form], err = run("schemas", "export", OLD_SCHEMA_NAME, "--as", form)
        assert code == 0 and not any(ch in exports[form] + err for ch in RAW), form
    assert parse_definition(exports["definition"]) == old_definition()
    assert list(json.loads(exports["json-schema"])["properties"]) == list(OLD_FIELD_NAMES)
    compile(exports["pydantic"], "<old>", "exec")


def test_a_schema_saved_before_the_rule_still_runs_and_is_named_escaped(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store() as store:
        save_unchecked(store, old_definition())
    answer = {"Total": "1", "Total\u200b": "2", "\u202eeman": "x\x1b[31m"}
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content([json.dumps(answer, ensure_ascii=False)]))
        code, out, err = run("extract", "--schema", OLD_SCHEMA_NAME, "--provider", "custom",
                             "--no-history", text="Total 1, or 2, and x.")
    assert code == 0, err
    assert json.loads(out) == answer and not any(ch in out + err for ch in RAW)
    assert "# schema Evil\\x1b]0;owned" in err
    assert '✓ Total\\u200b = "2"' in err and '✓ \\u202eeman = "x\\u001b[31m"' in err


@pytest.mark.parametrize(("name", "code"), [("Bad\x1b[31m", "U+001B"), ("Two\nlines", "U+000A"),
                                            ("\x1b]0;title\x07", "U+001B")])
def test_a_name_with_control_characters_is_refused_on_import(tmp_path: Path, name: str,
                                                             code: str) -> None:
    defn_file = write(tmp_path, "ticket.json", TICKET.model_dump_json())
    exit_code, out, err = run("schemas", "import", defn_file, "--name", name)
    assert (exit_code, out) == (2, "") and not any(ch in err for ch in RAW)
    assert f"The schema name holds a control or invisible character ({code})" in err
    bad_field = TICKET.model_copy(update={"fields": [FieldDef(name="Total\u200b")]})
    exit_code, _, err = run("schemas", "import", write(tmp_path, "f.json",
                                                       bad_field.model_dump_json()))
    assert exit_code == 2 and "Total\\u200b: the name holds a control or invisible" in err
    with open_store() as store:
        assert list_schemas(store) == []
