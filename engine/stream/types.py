"""How an annotation streams: the one classifier both the engine's nodes and the form ask.

`classify(ann)` says whether a value of that type is a model (its fields stream one by one),
list-like (items stream one by one: list, set, frozenset, Sequence, MutableSequence, AbstractSet,
homogeneous `tuple[U, ...]`, and the bare `list`/`tuple`/... meaning items of any type),
dict-like (values stream one by one), a growing string (`str`: shown while it grows), a whole
value (shown only when complete: `Any`, fixed tuples such as `tuple[int, str]`, dataclasses,
TypedDicts, unions with a container member), or another leaf (int, bool, Literal, date, ...).

A fixed tuple is a whole value: its positions have different types, so there is no one item
type to stream or to draw as a column. `nodes.build_node` turns the kind into a streaming node
and `schemas.fields` into a form box (model -> group, list of models -> table, other list ->
items, anything else -> one scalar box), so the two always agree.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, MutableSequence, Sequence
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel
from typing_extensions import is_typeddict

__all__ = [
    "DICT", "DICT_ORIGINS", "LEAF", "LIST", "LIST_ORIGINS", "MODEL", "TEXT", "UNION_ORIGINS",
    "WHOLE", "Shape", "classify", "is_model", "strip",
]

MODEL, LIST, DICT, LEAF, WHOLE, TEXT = range(6)

LIST_ORIGINS = (list, set, frozenset, Sequence, MutableSequence, AbstractSet)
DICT_ORIGINS = (dict, Mapping)
UNION_ORIGINS = (Union, types.UnionType)


class Shape(NamedTuple):
    """`kind`; `base`: the annotation without Annotated metadata and None; `item`: the item
    (list-like) or value (dict-like) type, else None; `key`: a dict-like's key type."""

    kind: int
    base: Any
    nullable: bool
    item: Any = None
    key: Any = None


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def classify(ann: Any) -> Shape:
    """How a value of `ann` streams (see the module docstring)."""
    base, nullable = strip(ann)
    if is_model(base):
        return Shape(MODEL, base, nullable)
    origin = get_origin(base)
    args = get_args(base)
    if origin in LIST_ORIGINS or base in LIST_ORIGINS:
        return Shape(LIST, base, nullable, args[0] if args else Any)
    if base is tuple:  # bare: any number of items of any type
        return Shape(LIST, base, nullable, Any)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return Shape(LIST, base, nullable, args[0])
        return Shape(WHOLE, base, nullable)  # fixed (`tuple[int, str]`, `tuple[()]`)
    if origin in DICT_ORIGINS or base in DICT_ORIGINS:
        return Shape(DICT, base, nullable, args[1] if len(args) > 1 else Any,
                     args[0] if args else str)
    if base is str:
        return Shape(TEXT, base, nullable)
    if base is Any or _is_container(base):
        return Shape(WHOLE, base, nullable)
    return Shape(LEAF, base, nullable)


def strip(ann: Any) -> tuple[Any, bool]:
    """Drop Annotated metadata and None from an Optional: (base type, nullable)."""
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    if get_origin(ann) in UNION_ORIGINS:
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) < len(get_args(ann)):
            if len(args) == 1:
                return strip(args[0])[0], True
            return Union[tuple(args)], True  # noqa: UP007
    return ann, ann is None or ann is type(None)


def _is_container(tp: Any) -> bool:
    """Objects and arrays in JSON: models, lists, dicts, tuples, dataclasses, TypedDicts (a
    union holding one is shown whole: which member it is shows only once it is complete)."""
    tp, _ = strip(tp)
    origin = get_origin(tp)
    if is_model(tp) or origin in LIST_ORIGINS or origin in DICT_ORIGINS or origin is tuple:
        return True
    if origin in UNION_ORIGINS:
        return any(_is_container(a) for a in get_args(tp))
    return (tp in LIST_ORIGINS or tp in DICT_ORIGINS or tp is tuple
            or dataclasses.is_dataclass(tp) or is_typeddict(tp))
