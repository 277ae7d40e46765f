"""Schemas without code: definitions, the models built from them, JSON Schema in and out,
pydantic source, and a clear message for every input that cannot be used."""

from __future__ import annotations

import datetime
import json
import re
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.llm.strict_schema import open_objects, strict_json_schema
from engine.schemas.convert import (
    from_json_schema,
    to_json_schema,
    to_pydantic_source,
)
from engine.schemas.definition import (
    DEFAULT_INSTRUCTION,
    MAX_DEPTH,
    FieldDef,
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
    name_problem,
    parse_definition,
    validate_definition,
)
from engine.stream.model_stream import stream_model
from tests.support import chunks

SIMPLE = ["text", "whole number", "number", "yes/no", "date", "list of text"]
AWKWARD = ["Due date", "e-mail", "№", "class", "json", "123 go", "a.b[0]", 'quote"s', "ünï"]


def every_type() -> SchemaDefinition:
    return SchemaDefinition(name="Every type", description="All of them", fields=[
        FieldDef(name="Title", description="the title"),
        FieldDef(name="Count", type="whole number"),
        FieldDef(name="Price", type="number", required=False),
        FieldDef(name="Paid?", type="yes/no"),
        FieldDef(name="Due date", type="date"),
        FieldDef(name="Priority", type="choice", choices=["low", "high \"!\"", "", "naïve\n"]),
        FieldDef(name="Tags", type="list of text"),
        FieldDef(name="Address", type="object", required=False, children=[
            FieldDef(name="City"), FieldDef(name="Geo", type="object", children=[
                FieldDef(name="lat", type="number")])]),
        FieldDef(name="Line items", type="list of objects", children=[
            FieldDef(name="What"), FieldDef(name="Qty", type="whole number")]),
    ])


def test_the_model_validates_by_the_names_a_person_wrote() -> None:
    model = build_model(every_type())
    value = model.model_validate({
        "Title": "t", "Count": 2, "Price": None, "Paid?": True, "Due date": "2024-03-15",
        "Priority": "high \"!\"", "Tags": ["a"], "Address": {"City": "Oslo", "Geo": {"lat": 1.5}},
        "Line items": [{"What": "pen", "Qty": 3}],
    })
    assert value.due_date == datetime.date(2024, 3, 15)  # type: ignore[attr-defined]
    assert value.model_dump(by_alias=True)["Address"]["Geo"] == {"lat": 1.5}
    with pytest.raises(ValidationError):
        model.model_validate({**value.model_dump(by_alias=True), "Priority": "medium"})
    assert build_model(every_type()) is model  # cached per fingerprint


def test_strict_schema_requires_every_key_and_allows_null_where_not_required() -> None:
    schema = to_json_schema(every_type())
    assert schema["required"] == [f.name for f in every_type().fields]
    assert schema["properties"]["Price"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert schema["properties"]["Due date"]["format"] == "date"
    assert schema["properties"]["Priority"]["enum"] == ["low", "high \"!\"", "", "naïve\n"]
    assert schema["title"] == "Every type" and schema["description"] == "All of them"


def test_every_type_round_trips_through_json_schema_text() -> None:
    defn = every_type()
    back = from_json_schema(json.dumps(to_json_schema(defn)))
    assert back == defn
    assert back.instruction == DEFAULT_INSTRUCTION


def test_a_plain_pydantic_schema_imports_too() -> None:
    plain = build_model(every_type()).model_json_schema()  # optional = not in `required`
    assert from_json_schema(plain) == every_type()


def test_pydantic_source_compiles_and_escapes_names_and_values() -> None:
    defn = SchemaDefinition(name="x'); import os #", description='"""doc', fields=[
        FieldDef(name=n, type="choice", choices=["'", '"""', "\\", "\x00"]) for n in AWKWARD])
    source = to_pydantic_source(defn)
    compile(source, "<generated>", "exec")  # compiled, never executed
    assert "import os" not in source.split("\n")[0]
    assert "alias='Due date'" in source and "f_class" in source
    assert "f_json" in source  # not shadowing BaseModel.json


def test_choice_order_survives_another_order_of_the_same_values() -> None:
    def optional_choice(*values: str) -> SchemaDefinition:
        return SchemaDefinition(name="S", fields=[
            FieldDef(name="x", type="choice", choices=list(values), required=False)])

    to_json_schema(optional_choice("b", "a"))  # typing caches `Literal[...] | None` by equality
    assert from_json_schema(to_json_schema(optional_choice("a", "b"))) == optional_choice("a", "b")


def test_labels_that_look_alike_get_distinct_identifiers() -> None:
    defn = SchemaDefinition(name="S", fields=[FieldDef(name=n) for n in ("a b", "a-b", "A_B!")])
    model = build_model(defn)
    assert list(model.model_fields) == ["a_b", "a_b_2", "a_b_3"]
    value = model.model_validate({"a b": "1", "a-b": "2", "A_B!": "3"})
    assert value.model_dump(by_alias=True) == {"a b": "1", "a-b": "2", "A_B!": "3"}


@pytest.mark.parametrize("name", ["None", "True", "Literal", "BaseModel", "Field", "class"])
def test_pydantic_source_never_names_a_class_after_a_keyword_or_an_import(name: str) -> None:
    defn = SchemaDefinition(name=name, fields=[FieldDef(name=name, type="object", children=[
        FieldDef(name="x", type="choice", choices=["a"])])])
    source = to_pydantic_source(defn)
    compile(source, "<generated>", "exec")
    assert f"class {name}(" not in source


def test_pydantic_source_of_every_type_compiles() -> None:
    compile(to_pydantic_source(every_type()), "<generated>", "exec")


# -- property-based round trips -------------------------------------------------------------

names = st.one_of(st.sampled_from(AWKWARD), st.text(min_size=1, max_size=20)).filter(
    lambda n: not validate_definition(SchemaDefinition(name="n", fields=[FieldDef(name=n)])))
choices = st.lists(st.text(max_size=12), min_size=1, max_size=5, unique=True)


def leaf() -> st.SearchStrategy[FieldDef]:
    plain = st.builds(FieldDef, name=names, type=st.sampled_from(SIMPLE),
                      description=st.text(max_size=20), required=st.booleans())
    choice = st.builds(FieldDef, name=names, type=st.just("choice"), choices=choices,
                       required=st.booleans())
    return st.one_of(plain, choice)


def level(children: st.SearchStrategy[list[FieldDef]]) -> st.SearchStrategy[list[FieldDef]]:
    obj = st.builds(FieldDef, name=names, type=st.sampled_from(["object", "list of objects"]),
                    children=children, required=st.booleans(), description=st.text(max_size=10))
    return unique_names(st.lists(st.one_of(leaf(), obj), min_size=1, max_size=4))


def unique_names(s: st.SearchStrategy[list[FieldDef]]) -> st.SearchStrategy[list[FieldDef]]:
    return s.filter(lambda fs: len({f.name.strip().casefold() for f in fs}) == len(fs))


definitions = st.builds(
    SchemaDefinition, name=st.text(min_size=1, max_size=30).filter(
        lambda n: n.strip() and name_problem(n) is None),
    description=st.text(max_size=20),
    fields=level(level(unique_names(st.lists(leaf(), min_size=1, max_size=3)))),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions)
def test_definition_model_json_schema_definition_is_lossless(defn: SchemaDefinition) -> None:
    assert validate_definition(defn) == []
    back = from_json_schema(json.dumps(to_json_schema(defn)), name=defn.name)
    assert back == defn
    compile(to_pydantic_source(defn), "<generated>", "exec")


# -- bad input: a clear message each ---------------------------------------------------------


def problems_of(*fields: FieldDef) -> list[str]:
    return validate_definition(SchemaDefinition(name="S", fields=list(fields)))


@pytest.mark.parametrize(("fields", "expected"), [
    ([FieldDef(name="Name"), FieldDef(name="name ")], "used twice"),
    ([FieldDef(name="o", type="object", children=[FieldDef(name="A"), FieldDef(name="a")])],
     "o.a: the name is used twice"),
    ([FieldDef(name="")], "needs a name"),
    ([FieldDef(name="x" * 65)], "longer than 64"),
    ([FieldDef(name="model_config")], "reserved by pydantic"),
    ([FieldDef(name="__x")], "may not start with '_'"),
    ([FieldDef(name="bell\x07")], "a control or invisible character (U+0007)"),
    ([FieldDef(name="a\ud800")], "a control or invisible character (U+D800)"),
    ([FieldDef(name="p", type="choice")], "at least one allowed value"),
    ([FieldDef(name="p", type="choice", choices=["a", "a"])], "listed twice"),
    ([FieldDef(name="o", type="object")], "needs at least one field"),
    ([FieldDef(name="t", children=[FieldDef(name="x")])], "only objects"),
    ([], "at least one field"),
])
def test_bad_definitions_are_named(fields: list[FieldDef], expected: str) -> None:
    problems = problems_of(*fields)
    assert any(expected in p for p in problems), problems
    with pytest.raises(SchemaDefinitionError, match=re.escape(expected.split(":")[0])):
        build_model(SchemaDefinition(name="S", fields=fields))


@pytest.mark.parametrize(("name", "code"), [("Total\u200b", "U+200B"), ("wo\u2060rd", "U+2060"),
                                            ("\u202eeman", "U+202E"), ("\ufeffBOM", "U+FEFF")])
def test_a_field_name_with_an_invisible_character_is_refused(name: str, code: str) -> None:
    """Zero-width and direction characters (category Cf) make a name look like another."""
    assert problems_of(FieldDef(name="Total"), FieldDef(name=name)) == [
        f"{name}: the name holds a control or invisible character ({code})."]


@pytest.mark.parametrize("name", ["Esc\x1b[31m", "Bell\x07", "Two\nlines",
                                  "\x1b]0;title\x07", "Zero\u200bwidth", "\u202eRTL"])
def test_a_schema_name_with_control_or_invisible_characters_is_refused(name: str) -> None:
    code = next(ch for ch in name if not ch.isprintable())
    defn = SchemaDefinition(name=name, fields=[FieldDef(name="a")])
    assert validate_definition(defn) == [
        f"The schema name holds a control or invisible character (U+{ord(code):04X}); "
        "choose another name."]


def test_names_saved_before_the_rule_still_build_and_export() -> None:
    """A stored definition is built by the rules its names were saved under: control
    characters were always refused in field names, invisible ones and the schema name's not."""
    old = SchemaDefinition(name="Old\x1b[31m", fields=[FieldDef(name="a\u200b"),
                                                        FieldDef(name="a")])
    assert len(validate_definition(old)) == 2
    assert validate_definition(old, stored=True) == []
    assert "a\u200b" in build_model(old).model_json_schema()["properties"]
    compile(to_pydantic_source(old), "<old>", "exec")
    with pytest.raises(SchemaDefinitionError, match=r"U\+200B"):  # new copies: today's rules
        from_json_schema(to_json_schema(old), name="Renamed")
    bell = old.model_copy(update={"fields": [FieldDef(name="bell\x07")]})
    assert validate_definition(bell, stored=True) == [
        "bell\x07: the name holds a control or invisible character (U+0007)."]


def test_too_deep_and_too_many_fields() -> None:
    deep = FieldDef(name="leaf")
    for i in range(MAX_DEPTH):
        deep = FieldDef(name=f"l{i}", type="object", children=[deep])
    assert any("deeper than" in p for p in problems_of(deep))
    many = [FieldDef(name=f"f{i}") for i in range(501)]
    assert any("501 fields" in p for p in problems_of(*many))


@pytest.mark.parametrize("keyword", ["patternProperties", "oneOf", "minLength", "allOf", "not"])
def test_unsupported_keywords_are_named(keyword: str) -> None:
    doc = {"type": "object", "properties": {"a": {"type": "string", keyword: 1}}}
    with pytest.raises(SchemaDefinitionError, match=f"a: the keyword '{keyword}'"):
        from_json_schema(doc)


@pytest.mark.parametrize(("prop", "expected"), [
    ({"type": "string", "format": "email"}, "format 'email'"),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "anyOf is supported only"),
    ({"type": "array", "items": {"type": "integer"}}, "lists are supported only"),
    ({"type": "object", "additionalProperties": {"type": "string"}}, "additionalProperties"),
    ({"enum": [1, 2]}, "enum is supported only with text"),
    ({"$ref": "#/$defs/missing"}, "does not resolve"),
    ({"$ref": "#/properties/a"}, "recursive"),
    ({"type": "null"}, 'type "null"'),
])
def test_shapes_outside_the_subset_are_refused(prop: dict[str, typing.Any], expected: str) -> None:
    with pytest.raises(SchemaDefinitionError, match=expected):
        from_json_schema({"type": "object", "properties": {"a": prop}})


def test_refs_and_defs_are_followed() -> None:
    doc = {"type": "object", "title": "T", "$defs": {"P": {"type": "object", "properties": {
        "n": {"type": ["integer", "null"]}}, "required": ["n"]}},
        "properties": {"p": {"$ref": "#/$defs/P", "description": "a person"}},
        "required": ["p"]}
    defn = from_json_schema(doc)
    assert defn.fields == [FieldDef(name="p", type="object", description="a person",
                                    children=[FieldDef(name="n", type="whole number",
                                                       required=False)])]


def test_malformed_json_and_huge_documents_are_refused() -> None:
    with pytest.raises(SchemaDefinitionError, match=r"Not valid JSON: .* line 1, column 2"):
        from_json_schema("{oops")
    huge = json.dumps({"type": "object", "properties": {"a": {"type": "string",
                                                              "description": "x" * 5_300_000}}})
    with pytest.raises(SchemaDefinitionError, match="at most 5 MB"):
        from_json_schema(huge)
    with pytest.raises(SchemaDefinitionError, match="root must be an object"):
        from_json_schema("[1, 2]")
    with pytest.raises(SchemaDefinitionError, match="nests too deeply"):
        from_json_schema("[" * 1_000_000)
    with pytest.raises(SchemaDefinitionError, match="not UTF-8"):
        from_json_schema(b"{\"a\": \"\xff\"}")


def test_a_draft_answer_that_is_not_a_definition_is_refused() -> None:
    with pytest.raises(SchemaDefinitionError, match=r"fields\.0\.type"):
        parse_definition('{"name": "S", "fields": [{"name": "a", "type": "colour"}]}')
    with pytest.raises(SchemaDefinitionError, match="fields: Field required"):
        parse_definition({"name": "S"})
    with pytest.raises(SchemaDefinitionError, match="Invalid JSON"):
        parse_definition('{"name": "S", "fields": [')


def test_a_definition_streams_through_the_engine_like_any_schema() -> None:
    # A model can propose a definition: the definition's own model streams and validates.
    text = every_type().model_dump_json()
    snaps = list(stream_model(SchemaDefinition, chunks(text, 7)))
    assert snaps[-1].final == every_type()
    strict = strict_json_schema(SchemaDefinition)
    assert open_objects(strict) == [] and "FieldDef" in strict["$defs"]


def test_the_form_tree_names_fields_by_their_labels() -> None:
    from engine.schemas.fields import leaves

    nodes = {node.path: node for node in leaves(build_model(every_type()))}
    assert {"Due date", "Paid?", "Address.Geo.lat", "Line items"} <= set(nodes)
    assert nodes["Due date"].type_label == "date" and not nodes["Price"].required
    assert [c.name for c in nodes["Line items"].children] == ["What", "Qty"]


@pytest.mark.parametrize("name", ["const", "enum", "properties"])
def test_a_field_named_like_a_keyword_survives_export_and_import(name: str) -> None:
    """Found by the round-trip property above: a field named "const" was rewritten as the
    keyword (`{"enum": [...]}` in `properties`) and the import refused it."""
    defn = SchemaDefinition(name="Keywords", fields=[FieldDef(name=name, required=False)])
    back = from_json_schema(json.dumps(to_json_schema(defn)), name=defn.name)
    assert [f.name for f in back.fields] == [name]
