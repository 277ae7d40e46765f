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

from engine.schemas.convert import from_json_schema
from engine.schemas.definition import MAX_FIELDS, SchemaDefinitionError


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


def fan_out(width: int, levels: int = 3) -> dict[str, Any]:
    """The issue's document: the root's `width` properties each `$ref` L0, whose `width`
    properties each `$ref` L1 ... (width ** (levels + 1) fields once expanded)."""
    defs: dict[str, Any] = {}
    for level in range(levels):
        prop = {"type": "string"} if level == levels - 1 else {"$ref": f"#/$defs/L{level + 1}"}
        defs[f"L{level}"] = {"type": "object",
                             "properties": {f"p{i}": prop for i in range(width)}}
    return {"type": "object", "$defs": defs,
            "properties": {f"p{i}": {"$ref": "#/$defs/L0"} for i in range(width)}}


def shared(target: dict[str, Any], count: int = 400) -> dict[str, Any]:
    """`count` root properties, each a `$ref` to one shared definition."""
    return {"type": "object", "$defs": {"T": target},
            "properties": {f"p{i}": {"$ref": "#/$defs/T"} for i in range(count)}}


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
