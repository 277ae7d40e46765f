"""The schema as the streaming builder sees it: one node per field position.

A node knows how its value streams (a model, a list, a dict, a leaf that grows as a string,
or a value that appears only when complete), how to validate it alone the moment it is done
(the field's type, constraints and field validators, without its siblings), and whether it
is one of the schema's leaf fields counted by `progress`.
"""

from __future__ import annotations

import re
import threading
from typing import Annotated, Any, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WrapValidator,
)

from engine.errors import SchemaError
from engine.stream import paths
from engine.stream.partial import partial_annotation, partial_model
from engine.stream.types import DICT, LEAF, LIST, MODEL, TEXT, WHOLE, classify, is_model

__all__ = [
    "DICT", "LEAF", "LIST", "MODEL", "WHOLE", "Node", "error_messages", "new_partial", "root_node",
]

_set = object.__setattr__
_FAST_TYPES = (str, int, float, bool)
_VALIDATOR_KINDS = {
    "before": BeforeValidator,
    "after": AfterValidator,
    "plain": PlainValidator,
    "wrap": WrapValidator,
}


class Node:
    """How one field position streams and validates."""

    __slots__ = (
        "_adapter", "_fields", "_optional", "_partial_adapter", "ann", "blank", "cls", "counted",
        "fast", "fields", "grows", "item", "kind", "model", "nleaves", "nullable", "plain",
    )

    def __init__(self, ann: Any, kind: int, *, counted: bool, plain: bool) -> None:
        self.ann = ann  # the annotation validated when the value is done
        self.kind = kind
        self.counted = counted  # a leaf field of the schema (counted by progress)
        self.plain = plain  # no constraints or validators beyond the bare type
        self.grows = False
        self.nullable = False
        self.fast: type | None = None
        self.model: type[BaseModel] | None = None
        self.cls: type[BaseModel] | None = None
        self.blank: dict[str, Any] = {}
        self.item: Node | None = None
        self.nleaves = 0
        # A model's field table, JSON key (alias or name) -> (attribute name, node): a plain
        # attribute, read once per value on the hot path. `_fields` is the same dict under
        # its old name, for code written before it was public.
        self.fields: dict[str, tuple[str, Node]] = _NO_FIELDS
        self._fields: dict[str, tuple[str, Node]] = _NO_FIELDS
        self._optional: list[tuple[str, Any, Node]] | None = None
        self._adapter: TypeAdapter[Any] | None = None
        self._partial_adapter: TypeAdapter[Any] | None = None

    @property
    def optional_fields(self) -> list[tuple[str, Any, Node]]:
        """(name, FieldInfo, node) of the model's fields that may be left out."""
        if self._optional is None:
            nodes = {attr: child for attr, child in self.fields.values()}
            self._optional = [(name, info, nodes[name])
                              for name, info in self.model.model_fields.items()  # type: ignore[union-attr]
                              if not info.is_required()]
        return self._optional

    def validate(self, value: Any) -> Any:
        """Validate this value alone; raises pydantic's ValidationError."""
        fast = self.fast
        if fast is not None and (type(value) is fast or (value is None and self.nullable)):
            return value
        if self._adapter is None:
            self._adapter = TypeAdapter(self.ann)
        return self._adapter.validate_python(value)

    def fits_partial(self, value: Any) -> bool:
        """Whether an invalid value can still be shown in the partial model (an email that
        fails its pattern is still a string; "fifty" in an int field is not)."""
        if self._partial_adapter is None:
            self._partial_adapter = TypeAdapter(partial_annotation(self.ann))
        try:
            self._partial_adapter.validate_python(value, strict=True)
        except ValidationError:
            return False
        return True

    def as_partial(self, value: Any) -> Any:
        """A complete value of a union of models, converted to its partial class."""
        if self._partial_adapter is None:
            self._partial_adapter = TypeAdapter(partial_annotation(self.ann))
        return self._partial_adapter.validate_python(value)


_NO_FIELDS: dict[str, tuple[str, Node]] = {}  # not a model: no fields (shared, never written)


def new_partial(node: Node) -> Any:
    """A blank partial instance of a model node, without running validation (like
    model_construct, cheaper): every field None, none set."""
    inst = node.cls.__new__(node.cls)  # type: ignore[union-attr]
    _set(inst, "__dict__", node.blank.copy())
    _set(inst, "__pydantic_fields_set__", set())
    _set(inst, "__pydantic_extra__", None)
    _set(inst, "__pydantic_private__", None)
    return inst


def root_node(schema: Any) -> Node:
    """The node tree for a model class or a list type (`list[Item]`), cached per schema."""
    node = _ROOTS.get(schema)
    if node is None:
        _check_schema(schema)
        node = _ROOTS[schema] = build_node(schema, schema, counted=True, seen=frozenset())
    return node


def _check_schema(schema: Any) -> None:
    """A schema that pydantic cannot build fails here, with pydantic's reason, not midway."""
    shape = classify(schema)
    base = shape.base
    if shape.kind == LIST:
        base = classify(shape.item).base
    if not (is_model(base) or base is Any or get_origin(base) is not None):
        raise SchemaError(f"{schema!r} is not a pydantic model class or a list of one")
    try:
        if is_model(base) and not base.__pydantic_complete__:
            base.model_rebuild()  # raises pydantic's own explanation
        TypeAdapter(schema)
    except Exception as exc:  # pydantic raises several kinds for broken schemas
        raise SchemaError(f"the schema {getattr(schema, '__name__', schema)!r} cannot be "
                          f"used: {exc}") from exc


_ROOTS: dict[Any, Node] = {}


def build_node(ann: Any, check: Any, *, counted: bool, seen: frozenset[type],
               plain: bool | None = None) -> Node:
    """`ann` decides the streaming shape; `check` (usually `ann` plus the field's constraints
    and validators) is what validates the complete value."""
    shape = classify(ann)  # the form asks the same classifier (schemas/fields.py)
    base, kind = shape.base, shape.kind
    if plain is None:
        plain = check is ann and get_origin(ann) is not Annotated
    if kind == MODEL:
        node = _model_node(base, check, counted=counted, seen=seen, plain=plain)
    elif kind == LIST or kind == DICT:
        # Only a real list (or dict) is stored as is; a set, tuple... is validated at the end.
        exact = (base is list or get_origin(base) is list) if kind == LIST else True
        node = Node(check, kind, counted=counted, plain=plain and exact)
        node.item = build_node(shape.item, shape.item, counted=False, seen=seen)
    elif kind == TEXT:
        node = Node(check, LEAF, counted=counted, plain=plain)
        node.grows = True
    else:  # WHOLE: unions of models, fixed tuples, dataclasses ...; LEAF: int, date ...
        node = Node(check, kind, counted=counted, plain=plain)
    node.nullable = shape.nullable
    if plain and base in _FAST_TYPES:
        node.fast = base
    if counted and node.kind != MODEL:
        node.nleaves = 1
    return node


def _model_node(model: type[BaseModel], check: Any, *, counted: bool, seen: frozenset[type],
                plain: bool) -> Node:
    if counted and model in seen:  # a model inside itself: count the recursion as one leaf
        counted = False
    node = Node(check, MODEL, counted=counted, plain=plain)
    node.model = model
    node.cls = partial_model(model)
    node.blank = dict.fromkeys(node.cls.model_fields)
    if counted:
        table = _model_fields(model, counted=True, seen=seen | {model})
        node.nleaves = sum(child.nleaves for _, child in _unique(table))
    else:
        table = _shared_table(model)
    node.fields = node._fields = table
    return node


_TABLES: dict[type[BaseModel], dict[str, tuple[str, Node]]] = {}
#: A table is registered empty before it is filled (see below): another thread must not take
#: it half-filled. Re-entrant: a recursive model fills its tables in the same thread.
_FILLING = threading.RLock()


def _shared_table(model: type[BaseModel]) -> dict[str, tuple[str, Node]]:
    """The field table of a model below a list, a dict or itself (not counted by progress):
    one per model, registered before it is filled, so a recursive model refers to its own
    table instead of building it again."""
    with _FILLING:
        return _table(model)


def _table(model: type[BaseModel]) -> dict[str, tuple[str, Node]]:
    table = _TABLES.get(model)
    if table is None:
        table = _TABLES[model] = {}
        try:
            table.update(_model_fields(model, counted=False))
        except BaseException:
            del _TABLES[model]  # never leave a half-filled table behind
            raise
    return table


def _unique(fields: dict[str, tuple[str, Node]]) -> list[tuple[str, Node]]:
    return list({attr: (attr, child) for attr, child in fields.values()}.values())


def _model_fields(model: type[BaseModel], *, counted: bool,
                  seen: frozenset[type] = frozenset()) -> dict[str, tuple[str, Node]]:
    out: dict[str, tuple[str, Node]] = {}
    by_field = _field_validators(model)
    for name, info in model.model_fields.items():
        validators = by_field.get(name, []) + by_field.get("*", [])
        metadata = list(info.metadata)
        check = info.annotation
        if metadata or validators:
            check = Annotated[(info.annotation, *metadata, *validators)]  # type: ignore[valid-type]
        child = build_node(info.annotation, check, counted=counted, seen=seen,
                           plain=not (metadata or validators))
        for key in _json_keys(name, info):
            out.setdefault(key, (name, child))
    return out


def _json_keys(name: str, info: Any) -> list[str]:
    keys = [k for k in (info.alias, info.validation_alias) if isinstance(k, str)]
    return [*keys, name]


def _field_validators(model: type[BaseModel]) -> dict[str, list[Any]]:
    """The model's `@field_validator`s, as Annotated validators per field, so that a field
    can be checked alone the moment it is complete."""
    out: dict[str, list[Any]] = {}
    for dec in model.__pydantic_decorators__.field_validators.values():
        kind = _VALIDATOR_KINDS[dec.info.mode]
        for field in dec.info.fields:
            out.setdefault(field, []).append(kind(dec.func))
    return out


def error_messages(exc: ValidationError, path: str, node: Node | None = None) -> dict[str, str]:
    """pydantic errors as {path: message}, each location appended to `path` with the paths
    module, so an error has the same path as the change that carries it (`["meta.data"].x`).
    With the node that validated, a location is walked through the schema: a model's field key
    is a key even when it looks like one of pydantic's union labels (`"my tags[]"`)."""
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        sub = _error_path(err.get("loc", ()), path, node)
        msg = err.get("msg", "invalid value")
        out[sub] = f"{out[sub]}; {msg}" if sub in out else msg
    return out


def _error_path(loc: tuple[Any, ...], path: str, node: Node | None) -> str:
    for part in loc:
        if node is not None and node.kind == MODEL and part in node.fields:
            path = paths.child(path, part)
            node = node.fields[part][1]
        elif isinstance(part, int):
            path = paths.child(path, part)
            node = node.item if node is not None and node.kind == LIST else None
        elif isinstance(part, str) and not _is_schema_label(part):
            path = paths.child(path, part)
            node = node.item if node is not None and node.kind == DICT else None
    return path


# pydantic's own spelling of a union member (`function-after[small(), int]`, `list[int]`) or
# of a dict key's place (`[key]`): a lowercase core-schema name and brackets.
_LABEL = re.compile(r"(?:[a-z][a-z0-9_-]*)?\[.*\]", re.DOTALL)


def _is_schema_label(part: str) -> bool:
    """Outside a model's fields (or without the node), pydantic's labels are told from keys by
    their spelling; a key spelled like one (`"items[0]"`) is only known as a key through the
    node, so a key with a space, a dot or a capital (`"my tags[]"`) is kept even without it."""
    return part in ("int", "str", "float", "bool") or _LABEL.fullmatch(part) is not None

