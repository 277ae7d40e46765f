"""engine.stream.types.classify: one decision for how an annotation streams, so the form's box
(schemas/fields.py) and the engine's streaming node (stream/nodes.py) always agree."""

from __future__ import annotations

import datetime
import typing
from collections.abc import Mapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field, create_model

from engine.schemas.fields import GROUP, ITEMS, SCALAR, TABLE, field_tree
from engine.stream import types
from engine.stream.model_stream import stream_model
from engine.stream.nodes import DICT, LIST, MODEL, root_node


class Item(BaseModel):
    n: int = 0


class Other(BaseModel):
    s: str = ""


# (annotation, the JSON of a two-item-ish value, the form's box)
CASES: list[tuple[Any, str, str]] = [
    (list[int], "[1, 2]", ITEMS),
    (set[int], "[1, 2]", ITEMS),
    (frozenset[int], "[1, 2]", ITEMS),
    (Sequence[int], "[1, 2]", ITEMS),
    (MutableSequence[int], "[1, 2]", ITEMS),
    (AbstractSet[int], "[1, 2]", ITEMS),
    (tuple[int, ...], "[1, 2]", ITEMS),
    (typing.List[int], "[1, 2]", ITEMS),  # noqa: UP006
    (typing.Sequence[int], "[1, 2]", ITEMS),
    (list, "[1, 2]", ITEMS),
    (tuple, "[1, 2]", ITEMS),
    (Optional[list[int]], "[1, 2]", ITEMS),  # noqa: UP045
    (Annotated[list[int], Field(min_length=1)], "[1, 2]", ITEMS),
    (list[Annotated[str, Field(min_length=1)]], '["a", "b"]', ITEMS),
    (list[Item], '[{"n": 1}, {"n": 2}]', TABLE),
    (tuple[Item, ...], '[{"n": 1}, {"n": 2}]', TABLE),
    (Sequence[Item | None], '[{"n": 1}, {"n": 2}]', TABLE),
    (tuple[int, str], '[1, "a"]', SCALAR),
    (tuple[()], "[]", SCALAR),
    (dict[str, int], '{"a": 1, "b": 2}', SCALAR),
    (Mapping[str, int], '{"a": 1, "b": 2}', SCALAR),
    (dict, '{"a": 1, "b": 2}', SCALAR),
    (Item, '{"n": 1}', GROUP),
    (Item | None, '{"n": 1}', GROUP),
    (str, '"abc"', SCALAR),
    (str | None, '"abc"', SCALAR),
    (int, "7", SCALAR),
    (Literal["a", "b"], '"a"', SCALAR),
    (datetime.date, '"2024-01-02"', SCALAR),
    (Any, "[1, 2]", SCALAR),
    (Item | Other, '{"n": 1}', SCALAR),
    (list[int] | str, "[1, 2]", SCALAR),
]
IDS = [repr(c[0]).replace("typing.", "") for c in CASES]


def _schema(ann: Any) -> type[BaseModel]:
    return create_model("Holder", f=(ann, ...))


def _engine_box(node: Any) -> str:
    """The form box the engine's streaming node implies."""
    if node.kind == MODEL:
        return GROUP
    if node.kind == LIST:
        return TABLE if node.item.kind == MODEL else ITEMS
    return SCALAR


@pytest.mark.parametrize(("ann", "value", "box"), CASES, ids=IDS)
def test_the_form_box_matches_how_the_engine_streams(ann: Any, value: str, box: str) -> None:
    schema = _schema(ann)
    (field,) = field_tree(schema)
    node = root_node(schema).fields["f"][1]
    assert field.kind == box
    assert _engine_box(node) == box


ARRAYS = [(c, i) for c, i in zip(CASES, IDS, strict=True) if c[1].startswith("[")]
ARRAY_IDS = [i for _, i in ARRAYS]


@pytest.mark.parametrize(("ann", "value", "box"), [c for c, _ in ARRAYS], ids=ARRAY_IDS)
def test_list_likes_show_their_first_item_before_the_list_ends(ann: Any, value: str,
                                                               box: str) -> None:
    """The streaming shape, seen from outside: an item box fills item by item; a whole value
    (a fixed tuple, a union holding a list, Any) shows nothing until it is complete."""
    first = value[:value.index(",") + 1] if "," in value else value[:-1]
    snaps = stream_model(_schema(ann), ['{"f": ', first, value[len(first):], "}"])
    shown = [None if s.partial.f is None else len(s.partial.f) for s in snaps]  # as it goes
    assert shown[1] == (1 if box in (ITEMS, TABLE) else None)


@pytest.mark.parametrize(("ann", "kind", "item"), [
    (list[int], types.LIST, int), (tuple[int, ...], types.LIST, int), (list, types.LIST, Any),
    (tuple[int, str], types.WHOLE, None), (dict[str, int], types.DICT, int),
    (Optional[Item], types.MODEL, None), (str, types.TEXT, None),  # noqa: UP045
    (int | None, types.LEAF, None), (Any, types.WHOLE, None),
])
def test_classify(ann: Any, kind: int, item: Any) -> None:
    shape = types.classify(ann)
    assert (shape.kind, shape.item) == (kind, item)
    assert shape.nullable == (ann in (Optional[Item], int | None))  # noqa: UP045


def test_a_dict_streams_its_values_and_is_one_box() -> None:
    node = root_node(_schema(dict[str, Item])).fields["f"][1]
    assert node.kind == DICT and node.item.kind == MODEL
