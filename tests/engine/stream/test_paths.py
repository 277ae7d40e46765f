"""engine.stream.paths: the one place paths are built, quoted and parsed; and every module
that names a place (parser, typed builder, validation errors, form, runner) agrees with it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError, field_validator

from engine.schemas.fields import leaves
from engine.stream import paths
from engine.stream.json_stream import stream_json
from engine.stream.model_stream import stream_model
from engine.stream.nodes import error_messages, root_node

AWKWARD = ["", ".", "[", "]", '"', "\\", "a.b", "my tags[]", '["x"]', "[0]", "0", "é ü 🙂",
           "\n", "a\\\"b", " "]

keys = st.one_of(st.sampled_from(AWKWARD), st.text())
segments = st.lists(st.one_of(keys, st.integers(min_value=0, max_value=10**6)), max_size=6)


@given(segments)
def test_join_then_parse_gives_the_segments_back(segs: list[str | int]) -> None:
    path = paths.join(segs)
    assert paths.parse(path) == tuple(segs)
    assert paths.join(paths.parse(path)) == path  # the spelling is canonical


@given(segments, keys)
def test_child_extends_a_path_by_one_segment(segs: list[str | int], key: str) -> None:
    parent = paths.join(segs)
    assert paths.parse(paths.child(parent, key)) == (*segs, key)


@pytest.mark.parametrize(("segs", "path"), [
    ((), ""),
    (("users", 0, "email"), "users[0].email"),
    ((0, "name"), "[0].name"),
    (("meta.data", "x"), '["meta.data"].x'),
    (("my tags[]", 0), '["my tags[]"][0]'),
    (("a", ""), 'a[""]'),
    (("q", 'say "hi"'), r'q["say \"hi\""]'),
    (("back\\slash",), "back\\slash"),
])
def test_spelling(segs: tuple[str | int, ...], path: str) -> None:
    assert paths.join(segs) == path
    assert paths.parse(path) == segs


@pytest.mark.parametrize("bad", [".a", "a.", "a..b", "a[", "a[x]", "a[01]", "a[-1]", 'a["b"',
                                 'a["b"]', "a]b", "a[0]b", 'a"b'])
def test_parse_rejects_what_no_path_looks_like(bad: str) -> None:
    with pytest.raises(ValueError):
        paths.parse(bad)


@pytest.mark.parametrize(("path", "key"), [
    ("users[3].name", "users"), ("address.city", "address.city"), ("interests[0]", "interests"),
    ('["my tags[]"][0]', '["my tags[]"]'), ('["my tags[]"]', '["my tags[]"]'),
    ('["meta.data"].x', '["meta.data"].x'), ('a["[0]"][1].b', 'a["[0]"]'), ("[2].x", ""), ("", ""),
])
def test_leaf_key_is_the_names_before_the_first_index(path: str, key: str) -> None:
    assert paths.leaf_key(path) == key


@given(st.dictionaries(keys, st.lists(st.integers(), max_size=2), max_size=4))
def test_the_parser_names_every_value_by_paths_join(doc: dict[str, list[int]]) -> None:
    parser = stream_json()
    changes = parser.feed(json.dumps(doc)) + parser.close()
    want = {""} | {paths.join((k,)) for k in doc}
    want |= {paths.join((k, i)) for k, v in doc.items() for i in range(len(v))}
    assert {c.path for c in changes} == want


class Meta(BaseModel):
    x: int

    @field_validator("x")
    @classmethod
    def small(cls, v: int) -> int:
        if v > 10:
            raise ValueError("x too big")
        return v


class Awkward(BaseModel):
    tags: list[str] = Field(alias="my tags[]")
    meta: Meta = Field(alias="meta.data")


def test_form_placeholders_and_engine_paths_agree_for_awkward_aliases() -> None:
    placeholders = {n.path for n in leaves(Awkward)}
    assert placeholders == {'["my tags[]"]', '["meta.data"].x'}
    doc = json.dumps({"my tags[]": ["a", "b"], "meta.data": {"x": 5}})
    changed = {c.path for s in stream_model(Awkward, list(doc)) for c in s.changes}
    assert {paths.leaf_key(p) for p in changed} >= placeholders


def test_an_error_under_a_dotted_alias_is_reported_once_on_its_path() -> None:
    doc = json.dumps({"my tags[]": ["a"], "meta.data": {"x": 50}})
    errors = dict(list(stream_model(Awkward, list(doc)))[-1].errors)
    leaf_errors = {p for p in errors if p not in ("", '["meta.data"]')}  # not the summaries
    assert leaf_errors == {'["meta.data"].x'}
    assert "x too big" in errors['["meta.data"].x']
    assert errors[""].startswith('["meta.data"].x: ')


class Numbers(BaseModel):
    nums: list[int] = Field(alias="my nums[]")


def test_a_bad_item_under_a_bracketed_alias_keeps_the_alias_in_its_path() -> None:
    doc = json.dumps({"my nums[]": [1, "two"]})
    errors = dict(list(stream_model(Numbers, list(doc)))[-1].errors)
    assert set(errors) == {'["my nums[]"][1]', '["my nums[]"]', ""}


class Bracketed(BaseModel):
    items: list[int] = Field(alias="items[0]")


def test_with_its_node_a_key_spelled_like_a_union_label_is_still_a_key() -> None:
    with pytest.raises(ValidationError) as info:
        Bracketed.model_validate({"items[0]": [1, "two"]})
    assert error_messages(info.value, "", root_node(Bracketed)).keys() == {'["items[0]"][1]'}
    assert error_messages(info.value, "").keys() == {"[1]"}  # without it: taken for a label


class Pick(BaseModel):
    value: int | list[int]


def test_union_labels_stay_out_of_paths() -> None:
    with pytest.raises(ValidationError) as info:
        Pick.model_validate({"value": "x"})
    assert error_messages(info.value, "", root_node(Pick)).keys() == {"value"}
    assert error_messages(info.value, "").keys() == {"value"}
