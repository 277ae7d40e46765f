"""Strict-mode JSON Schemas: every object closed and fully required, no rejected keywords."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from engine.llm.strict_schema import (
    ItemsUnwrapper,
    open_objects,
    response_format,
    schema_name,
    strict_json_schema,
    tool_param,
)
from tests.support import GetWeatherArgs, Location


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    zip_code: str | None = None


class Person(BaseModel):
    name: str = Field(alias="fullName", max_length=40)
    age: int | None = None
    favourite: Color = Field(Color.RED, description="Favourite colour")
    home: Address
    work: Address | None = None
    tags: set[str] = set()
    website: str = Field("", json_schema_extra={"format": "uri"})


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    bark: str


class Owner(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


def objects(node: Any) -> list[dict[str, Any]]:
    """Every object schema (one with `properties`) anywhere in the tree."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found += objects(value)
    elif isinstance(node, list):
        for value in node:
            found += objects(value)
    return found


def keys_anywhere(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | set().union(*(keys_anywhere(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(keys_anywhere(v) for v in node)) if node else set()
    return set()


def assert_strict(schema: dict[str, Any]) -> None:
    assert schema["type"] == "object"
    for obj in objects(schema):
        assert obj["additionalProperties"] is False, obj
        assert obj["required"] == list(obj["properties"]), obj
    forbidden = {"default", "oneOf", "discriminator", "maxLength", "uniqueItems"}
    assert not keys_anywhere(schema) & forbidden
    for node in _nodes(schema):
        if "$ref" in node:
            assert set(node) == {"$ref"}, f"$ref with siblings left: {node}"


def _nodes(node: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out += _nodes(value)
    elif isinstance(node, list):
        for value in node:
            out += _nodes(value)
    return out


def test_location_matches_the_recorded_request_shape() -> None:
    schema = strict_json_schema(Location)
    assert schema == {
        "properties": {
            "city": {"title": "City", "type": "string"},
            "temperature": {"title": "Temperature", "type": "number"},
            "units": {"enum": ["c", "f"], "title": "Units", "type": "string"},
        },
        "required": ["city", "temperature", "units"],
        "title": "Location",
        "type": "object",
        "additionalProperties": False,
    }


def test_defaulted_field_is_required_without_default_keyword() -> None:
    schema = strict_json_schema(GetWeatherArgs)
    units = schema["properties"]["units"]
    assert schema["required"] == ["city", "country", "units"]
    assert "default" not in units
    assert units["enum"] == ["c", "f"]
    assert '"c"' in units["description"]  # the model still learns the default
    assert schema["description"] == "Get the temperature for the given country/city combo"


def test_nested_optional_enum_alias_and_unsupported_keywords() -> None:
    schema = strict_json_schema(Person)
    assert_strict(schema)
    props = schema["properties"]
    assert list(props) == ["fullName", "age", "favourite", "home", "work", "tags", "website"]
    assert props["age"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    # $ref + description is inlined (the API rejects siblings of $ref)
    assert props["favourite"]["enum"] == ["red", "blue"]
    assert props["favourite"]["description"].startswith("Favourite colour")
    assert props["home"] == {"$ref": "#/$defs/Address"}
    assert {"$ref": "#/$defs/Address"} in props["work"]["anyOf"]
    address = schema["$defs"]["Address"]
    assert address["required"] == ["street", "zip_code"]
    assert address["additionalProperties"] is False
    assert "maxLength: 40" in props["fullName"]["description"]
    assert "format" not in props["website"]  # "uri" is not a strict-mode format
    assert "uniqueItems: true" in props["tags"]["description"]


def test_supported_format_is_kept() -> None:
    class Meeting(BaseModel):
        when: str = Field(json_schema_extra={"format": "date-time"})

    assert strict_json_schema(Meeting)["properties"]["when"]["format"] == "date-time"


def test_recursive_root_is_inlined_and_defs_kept() -> None:
    schema = strict_json_schema(Node)
    assert "$ref" not in schema
    assert schema["type"] == "object"
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert_strict(schema)


def test_discriminated_union_becomes_any_of() -> None:
    schema = strict_json_schema(Owner)
    assert_strict(schema)
    assert schema["properties"]["pet"]["anyOf"] == [
        {"$ref": "#/$defs/Cat"},
        {"$ref": "#/$defs/Dog"},
    ]


def test_list_root_is_wrapped_in_items_object() -> None:
    schema = strict_json_schema(list[Address])
    assert_strict(schema)
    assert schema["required"] == ["items"]
    assert schema["properties"]["items"] == {
        "items": {"$ref": "#/$defs/Address"},
        "type": "array",
    }
    assert schema_name(list[Address]) == "AddressList"


def test_input_model_schema_is_not_mutated() -> None:
    before = json.dumps(Person.model_json_schema(), sort_keys=True)
    strict_json_schema(Person)
    assert json.dumps(Person.model_json_schema(), sort_keys=True) == before


def test_response_format_and_tool_param() -> None:
    fmt = response_format(Location)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Location"
    assert fmt["json_schema"]["strict"] is True
    tool = tool_param(GetWeatherArgs)
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "GetWeatherArgs"
    assert tool["function"]["strict"] is True
    assert tool["function"]["description"].startswith("Get the temperature")
    assert tool_param(GetWeatherArgs, name="get_weather")["function"]["name"] == "get_weather"


def test_open_dict_fields_switch_strict_off() -> None:
    class Scores(BaseModel):
        by_name: dict[str, int]

    assert open_objects(strict_json_schema(Scores)) == ["/properties/by_name"]
    assert response_format(Scores)["json_schema"]["strict"] is False


def test_non_model_schema_is_rejected() -> None:
    with pytest.raises(TypeError, match="pydantic model"):
        strict_json_schema(dict)  # type: ignore[arg-type]


def test_unwrapper_passes_only_the_array() -> None:
    unwrap = ItemsUnwrapper()
    text = '{"items": [{"a": "x]\\"["}, [1, 2]], "z": 1}'
    assert "".join(unwrap.feed(c) for c in text) == '[{"a": "x]\\"["}, [1, 2]]'


def test_unwrapper_passes_a_bare_array_through() -> None:
    assert ItemsUnwrapper().feed('[{"a": 1}]') == '[{"a": 1}]'


@given(
    st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=3), max_size=4),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=30),
)
def test_unwrapper_is_split_independent(items: list[dict[str, str]], cuts: list[int]) -> None:
    inner = json.dumps(items)
    text = json.dumps({"items": items}, indent=1)
    unwrap, out, i = ItemsUnwrapper(), [], 0
    for size in cuts * (len(text) // sum(cuts) + 1):
        out.append(unwrap.feed(text[i : i + size]))
        i += size
    assert json.loads("".join(out)) == json.loads(inner)
