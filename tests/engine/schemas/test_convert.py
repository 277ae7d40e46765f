"""Importing JSON Schema (`engine.schemas.convert.from_json_schema`) when the document is
hostile or odd: small documents that expand into huge forms, and values of any shape where a
keyword expects a schema, a list or a name. Each is accepted or refused with a named problem,
after bounded work: the reader counts while it reads and stops at the caps."""

from __future__ import annotations

import contextlib
import json
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.schemas.convert import _ALLOWED, from_json_schema
from engine.schemas.definition import MAX_FIELDS, SchemaDefinitionError, validate_definition
from tests.schema_docs import fan_out, shared


class TooMuchWork(Exception):
    """Raised from the profiler: the code under test made more calls than its budget."""


@contextlib.contextmanager
def bounded(calls: int, megabytes: float) -> Iterator[None]:
    """Fail (`TooMuchWork`) as soon as the block makes more than `calls` Python calls, and
    after it when its peak of traced memory is over `megabytes`. Counting calls, not seconds,
    keeps the check deterministic on a busy machine (and stops an unbounded reader early)."""
    made = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal made
        if event == "call":
            made += 1
            if made > calls:
                raise TooMuchWork(f"more than {calls:,} calls")

    tracemalloc.start()
    sys.setprofile(count)
    try:
        yield
    finally:
        sys.setprofile(None)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert peak <= megabytes, f"peak {peak:.1f} MB"


def refused(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SchemaDefinitionError) as caught:
        from_json_schema(doc)
    return caught.value.problems


@pytest.mark.parametrize(("width", "levels"), [(20, 3), (60, 3), (20, 4)])
def test_a_ref_fan_out_is_refused_at_the_field_cap(width: int, levels: int) -> None:
    doc = fan_out(width, levels)
    with bounded(calls=100_000, megabytes=20):
        problems = refused(doc)
    assert problems == [f"The schema has more than {MAX_FIELDS} fields once every $ref is "
                        f"read where it is used; at most {MAX_FIELDS} are allowed."]


@pytest.mark.parametrize(("target", "expected"), [
    ({"anyOf": [{"type": "string"}] * 200_000}, "anyOf is supported only"),
    ({"enum": [f"v{i}" for i in range(400_000)]}, "more than 500 allowed values"),
    ({"enum": [None] * 400_000}, "more than 500 allowed values"),
    ({"type": ["string"] * 400_000}, "type is supported only as"),
    ({"type": "object", "properties": {"a": {"type": "string"}},
      "required": [f"r{i}" for i in range(400_000)]}, "'required' lists more names"),
    ({"$ref": "#/$defs/" + "x/" * 500_000}, "does not resolve"),
    ({"type": "string", "description": "d" * 1_000_000}, "more than 5,000,000 characters"),
    ({"type": "object", "properties": {"n" * 1_000_000: {"type": "string"}}},
     "more than 5,000,000 characters"),
    ({"type": "string", **{f"k{i}": 0 for i in range(200_000)}}, "the keyword 'k0'"),
])
def test_a_large_shared_definition_is_refused_after_bounded_work(target: dict[str, Any],
                                                                 expected: str) -> None:
    doc = shared(target)
    with bounded(calls=100_000, megabytes=20):
        problems = refused(doc)
    assert any(expected in p for p in problems), problems
    assert len(problems) <= 21 and all(len(p) < 300 for p in problems)  # readable, not a dump


def test_a_long_ref_chain_used_by_every_field_is_read_in_bounded_work() -> None:
    defs: dict[str, Any] = {f"A{i}": {"$ref": f"#/$defs/A{i + 1}"} for i in range(30)}
    defs["A30"] = {"type": "string", "description": "at the end of the chain"}
    doc = {"type": "object", "$defs": defs,
           "properties": {f"p{i}": {"$ref": "#/$defs/A0"} for i in range(MAX_FIELDS)}}
    with bounded(calls=200_000, megabytes=20):
        defn = from_json_schema(doc)
    assert len(defn.fields) == MAX_FIELDS
    assert defn.fields[0].description == "at the end of the chain"


def test_wide_choices_at_the_caps_are_accepted() -> None:
    choices = [f"value {i}" for i in range(500)]
    doc = shared({"enum": choices}, count=MAX_FIELDS)
    defn = from_json_schema(doc)
    assert len(defn.fields) == MAX_FIELDS and defn.fields[-1].choices == choices


def test_a_definition_file_listing_too_many_fields_is_refused_before_it_is_parsed() -> None:
    from engine.schemas.commands import read_document

    nested = [{"name": "o", "type": "object", "children": [{"name": f"c{i}"}
                                                           for i in range(400)]}] * 2
    for fields in ([{"name": f"f{i}"} for i in range(250_000)], nested):
        text = json.dumps({"name": "Many", "fields": fields})
        # The parsed document itself is about 65 MB of Python objects; a model per field, 150 more.
        with bounded(calls=100_000, megabytes=100), \
                pytest.raises(SchemaDefinitionError) as caught:
            read_document(text)
        assert caught.value.problems == [f"The schema has more than {MAX_FIELDS} fields; at "
                                         f"most {MAX_FIELDS} are allowed."]


# --- any value where a keyword expects a shape ----------------------------------------------


@pytest.mark.parametrize(("prop", "expected"), [
    ({"anyOf": 5}, "a: anyOf is supported only as one schema or null."),
    ({"anyOf": [1, 2]}, "a: expected a schema object."),
    ({"anyOf": [{"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "null"}]},
     "a: anyOf is supported only as one schema or null."),
    ({"type": ["null"]}, 'a: type "null" is not supported.'),
    ({"type": ["string", "integer"]}, 'a: type is supported only as one type name, alone or '
                                      'with "null".'),
    ({"type": [{"x": 1}, "null"]}, "a: type is supported only as one type name"),
    ({"type": {"x": 1}}, "a: type an object is not supported."),
    ({"type": 5}, "a: type 5 is not supported."),
    ({"type": 10**5000}, "a: type a number is not supported."),
    ({"type": "string", "description": {"a": 1}}, "a: 'description' must be text."),
    ({"type": "string", "format": ["date"]}, "a: 'format' must be text."),
    ({"$ref": 5}, "a: $ref must be text"),
    ({"$ref": "#/$defs/D/0"}, "does not resolve"),
    ({"enum": "abc"}, "a: enum is supported only with text values."),
    ({"const": {"x": 1}}, "a: enum is supported only with text values."),
    ({"type": "array", "items": [1]}, "a[]: expected a schema object."),
    ({"type": "array"}, "a[]: expected a schema object."),
    ({"type": "object", "properties": {"b": {"type": "string"}}, "required": "b"},
     "a: 'required' must be a list of names."),
    ({"type": "object", "properties": {"b": {"type": "string"}}, "required": [1]},
     "a: 'required' must be a list of names."),
    ({"type": "object", "properties": [1]}, "a: an object needs properties"),
    ({"type": "string", "additionalProperties": 0}, "supported only as false"),
])
def test_a_keyword_of_the_wrong_shape_is_a_named_problem(prop: dict[str, Any],
                                                         expected: str) -> None:
    doc = {"type": "object", "$defs": {"D": [{"type": "string"}]}, "properties": {"a": prop}}
    assert any(expected in p for p in refused(doc)), refused(doc)


@pytest.mark.parametrize(("root", "expected"), [
    ({"title": {"x": 1}}, "root: 'title' must be text."),
    ({"description": 5}, "root: 'description' must be text."),
    ({"required": {"a": True}}, "root: 'required' must be a list of names."),
    ({"oneOf": []}, "root: the keyword 'oneOf' is not supported."),
])
def test_a_root_keyword_of_the_wrong_shape_is_a_named_problem(root: dict[str, Any],
                                                              expected: str) -> None:
    doc = {"type": "object", "properties": {"a": {"type": "string"}}, **root}
    assert expected in refused(doc)


_NAMES = ["string", "integer", "number", "boolean", "object", "array", "null", "date", "a",
          "#/$defs/D", "#/$defs/E", "#/properties/a", "#/$defs", "#", "x"]
_SCALARS = (st.none() | st.booleans() | st.integers(-2, 2) | st.floats(allow_nan=False)
            | st.sampled_from(_NAMES) | st.text(max_size=4))
# Dicts keyed mostly by the keywords the reader knows, so values land in keyword positions.
_KEYS = st.sampled_from([*sorted(_ALLOWED), "a", "b", "oneOf"])
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner,
                                                                          max_size=5),
    max_leaves=16)
_SCHEMAS = st.dictionaries(_KEYS, _VALUES, max_size=5)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(props=st.dictionaries(st.sampled_from(["a", "b", "c"]), _SCHEMAS | _VALUES,
                             min_size=1, max_size=3),
       defs=st.dictionaries(st.sampled_from(["D", "E"]), _SCHEMAS | _VALUES, max_size=2),
       extra=st.dictionaries(_KEYS, _VALUES, max_size=2))
def test_any_json_in_keyword_positions_is_accepted_or_refused_by_name(
    props: dict[str, Any], defs: dict[str, Any], extra: dict[str, Any]
) -> None:
    doc = {**extra, "type": "object", "properties": props, "$defs": defs}
    try:
        defn = from_json_schema(doc)
    except SchemaDefinitionError as exc:  # the only error a document may cause
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert validate_definition(defn) == []
