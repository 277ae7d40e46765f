"""A schema as a tree of fields for views: type labels a non-developer can read, descriptions,
and the leaf list a live form needs (one placeholder per leaf, created before the stream).

Leaf kinds follow how the engine counts progress: a scalar is a leaf, a list is one leaf
(`table` when it holds objects, `items` otherwise), and a nested model is a `group` whose
fields are leaves of their own. Paths use the engine's spelling, from `engine.stream.paths`:
`address.city`, `users[0].name`, `["my tags[]"]`. Which box a field gets follows how the engine
streams it (`engine.stream.types.classify`): a model is a group, a list-like of models a table,
another list-like (set, Sequence, `tuple[U, ...]`) an item list, anything else one scalar box.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from engine.stream import paths
from engine.stream.paths import leaf_key
from engine.stream.types import DICT, LIST, MODEL, classify, is_model, strip

__all__ = [
    "GROUP", "ITEMS", "SCALAR", "TABLE", "FieldNode", "field_tree", "iter_nodes", "leaf_key",
    "leaves", "py_type", "schema_rows", "type_label",
]

SCALAR = "scalar"
GROUP = "group"
TABLE = "table"
ITEMS = "items"

_LABELS: dict[Any, str] = {
    str: "text",
    int: "whole number",
    float: "number",
    bool: "yes / no",
    Any: "any value",
}


@dataclass(frozen=True)
class FieldNode:
    """One field of a schema. `children` are a group's fields or a table's columns."""

    path: str
    name: str
    kind: str
    type_label: str
    py_type: str
    description: str
    required: bool
    children: tuple[FieldNode, ...] = ()

    @property
    def columns(self) -> list[str]:
        """A table's column names (empty for other kinds)."""
        return [c.name for c in self.children] if self.kind == TABLE else []


def type_label(tp: Any) -> str:
    """A plain-language label: `text`, `whole number`, `list of text`, `one of: low, high`."""
    inner, optional = strip(tp)
    if inner is None or inner is type(None):
        return _label(tp)
    label = _label(inner)
    return f"{label} (optional)" if optional else label


def _label(tp: Any) -> str:
    if tp in _LABELS:
        return _LABELS[tp]
    if get_origin(tp) is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of: " + ", ".join(str(m.value) for m in tp)
    if is_model(tp):
        return f"group ({tp.__name__})"
    shape = classify(tp)
    if shape.kind == LIST:
        inner, _ = strip(shape.item)
        if is_model(inner):
            return f"table of {inner.__name__}"
        return f"list of {_label(inner)}"
    if shape.kind == DICT:
        return "key / value pairs"
    return getattr(tp, "__name__", str(tp))


def py_type(tp: Any) -> str:
    """The annotation as a developer would write it: `list[User]`, `str | None`."""
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    text = repr(tp).replace("typing.", "")
    for mod in ("engine.schemas.library.", "__main__."):
        text = text.replace(mod, "")
    return text


def _node(path: str, name: str, annotation: Any, description: str, required: bool,
          seen: frozenset[type]) -> FieldNode:  # fmt: skip
    shape = classify(annotation)  # the engine's nodes ask the same classifier
    common = {
        "path": path,
        "name": name,
        "type_label": type_label(annotation),
        "py_type": py_type(annotation),
        "description": description,
        "required": required,
    }
    # A model that contains itself (a tree) is drawn once; deeper down it is one box showing
    # the whole value, so the form stays finite.
    if shape.kind == MODEL and shape.base not in seen:
        return FieldNode(kind=GROUP, children=_fields(shape.base, path, seen), **common)
    if shape.kind == LIST:
        item = classify(shape.item)
        if item.kind == MODEL and item.base not in seen:  # columns: keys relative to a row
            return FieldNode(kind=TABLE, children=_fields(item.base, "", seen), **common)
        if item.kind == MODEL:
            return FieldNode(kind=ITEMS, **common)
        return FieldNode(kind=ITEMS, **common)
    return FieldNode(kind=SCALAR, **common)


def _fields(model: type[BaseModel], parent: str,
            seen: frozenset[type] = frozenset()) -> tuple[FieldNode, ...]:  # fmt: skip
    seen = seen | {model}
    nodes = []
    for name, info in model.model_fields.items():
        key = info.alias or name  # the JSON key: what the engine's paths use
        nodes.append(_node(paths.child(parent, key), key, info.annotation,
                           info.description or "", info.is_required(), seen))
    return tuple(nodes)


def field_tree(schema: type[BaseModel]) -> tuple[FieldNode, ...]:
    """The schema's top-level fields, groups holding their own fields."""
    if not is_model(schema):
        raise TypeError(f"expected a pydantic model class, got {schema!r}")
    return _fields(schema, "")


def iter_nodes(nodes: tuple[FieldNode, ...]) -> list[FieldNode]:
    """Every node depth-first (groups before their fields; table columns not included)."""
    out: list[FieldNode] = []
    for node in nodes:
        out.append(node)
        if node.kind == GROUP:
            out.extend(iter_nodes(node.children))
    return out


def leaves(schema: type[BaseModel]) -> list[FieldNode]:
    """The fields a live form gives one placeholder each: scalars, tables and item lists."""
    return [n for n in iter_nodes(field_tree(schema)) if n.kind != GROUP]


def schema_rows(schema: type[BaseModel]) -> list[dict[str, str]]:
    """One row per field (nested fields indented by their path) for a fields table."""
    rows = []
    for node in iter_nodes(field_tree(schema)):
        rows.append(
            {
                "Field": node.path,
                "Type": node.type_label,
                "Python type": node.py_type,
                "Description": node.description or "—",
            }
        )
        for col in node.children if node.kind == TABLE else ():
            rows.append(
                {
                    "Field": paths.child(f"{node.path}[]", col.name),
                    "Type": col.type_label,
                    "Python type": col.py_type,
                    "Description": col.description or "—",
                }
            )
    return rows
