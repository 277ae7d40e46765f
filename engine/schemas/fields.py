"""A schema as a tree of fields for views: type labels a non-developer can read, descriptions,
and the leaf list a live form needs (one placeholder per leaf, created before the stream).

Leaf kinds follow how the engine counts progress: a scalar is a leaf, a list is one leaf
(`table` when it holds objects, `items` otherwise), and a nested model is a `group` whose
fields are leaves of their own. Paths use the engine's spelling: `address.city`, `users[0].name`.
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

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


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); anything else -> (tp, False)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _list_item(tp: Any) -> Any | None:
    """The item type of list/set/tuple-like annotations, else None."""
    if get_origin(tp) in (list, set, frozenset, tuple) or tp in (list, set, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return args[0] if args else Any
    return None


def type_label(tp: Any) -> str:
    """A plain-language label: `text`, `whole number`, `list of text`, `one of: low, high`."""
    inner, optional = _unwrap_optional(tp)
    label = _label(inner)
    return f"{label} (optional)" if optional else label


def _label(tp: Any) -> str:
    if tp in _LABELS:
        return _LABELS[tp]
    if get_origin(tp) is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of: " + ", ".join(str(m.value) for m in tp)
    if _is_model(tp):
        return f"group ({tp.__name__})"
    item = _list_item(tp)
    if item is not None:
        inner, _ = _unwrap_optional(item)
        if _is_model(inner):
            return f"table of {inner.__name__}"
        return f"list of {_label(inner)}"
    if get_origin(tp) is dict or tp is dict:
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


def _node(path: str, name: str, annotation: Any, description: str, required: bool) -> FieldNode:
    inner, _ = _unwrap_optional(annotation)
    common = {
        "path": path,
        "name": name,
        "type_label": type_label(annotation),
        "py_type": py_type(annotation),
        "description": description,
        "required": required,
    }
    if _is_model(inner):
        return FieldNode(kind=GROUP, children=_fields(inner, path + "."), **common)
    item = _list_item(inner)
    if item is not None:
        item_inner, _ = _unwrap_optional(item)
        if _is_model(item_inner):
            return FieldNode(kind=TABLE, children=_fields(item_inner, ""), **common)
        return FieldNode(kind=ITEMS, **common)
    return FieldNode(kind=SCALAR, **common)


def _fields(model: type[BaseModel], prefix: str) -> tuple[FieldNode, ...]:
    nodes = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        nodes.append(
            _node(prefix + key, key, info.annotation, info.description or "", info.is_required())
        )
    return tuple(nodes)


def field_tree(schema: type[BaseModel]) -> tuple[FieldNode, ...]:
    """The schema's top-level fields, groups holding their own fields."""
    if not _is_model(schema):
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


def leaf_key(path: str) -> str:
    """The placeholder a change path belongs to: `users[3].name` -> `users`."""
    cut = path.find("[")
    return path if cut < 0 else path[:cut]


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
                    "Field": f"{node.path}[].{col.name}",
                    "Type": col.type_label,
                    "Python type": col.py_type,
                    "Description": col.description or "—",
                }
            )
    return rows
