"""The schema as the streaming builder sees it: one node per field position.

A node knows how its value streams (a model, a list, a dict, a leaf that grows as a string,
or a value that appears only when complete), how to validate it alone the moment it is done
(the field's type, constraints and field validators, without its siblings), and whether it
is one of the schema's leaf fields counted by `progress`.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WrapValidator,
)
from typing_extensions import is_typeddict

from engine.stream.errors import SchemaError
from engine.stream.partial import (
    DICT_ORIGINS,
    LIST_ORIGINS,
    UNION_ORIGINS,
    is_model,
    partial_annotation,
    partial_model,
)

__all__ = ["DICT", "LEAF", "LIST", "MODEL", "WHOLE", "Node", "error_messages", "root_node"]

MODEL, LIST, DICT, LEAF, WHOLE = range(5)
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
        "fast", "grows", "item", "kind", "model", "nleaves", "nullable", "plain",
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
        self._fields: dict[str, tuple[str, Node]] | None = None
        self._optional: list[tuple[str, Any, Node]] | None = None
        self._adapter: TypeAdapter[Any] | None = None
        self._partial_adapter: TypeAdapter[Any] | None = None

    @property
    def fields(self) -> dict[str, tuple[str, Node]]:
        """JSON key (alias or name) -> (attribute name, node); built on first use so that
        recursive models cost nothing until the data recurses."""
        if self._fields is None:
            self._fields = _model_fields(self.model, counted=self.counted)  # type: ignore[arg-type]
        return self._fields

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


def root_node(schema: Any) -> Node:
    """The node tree for a model class or a list type (`list[Item]`), cached per schema."""
    node = _ROOTS.get(schema)
    if node is None:
        _check_schema(schema)
        node = _ROOTS[schema] = build_node(schema, schema, counted=True, seen=frozenset())
    return node


def _check_schema(schema: Any) -> None:
    """A schema that pydantic cannot build fails here, with pydantic's reason, not midway."""
    base, _ = _strip(schema)
    if get_origin(base) in LIST_ORIGINS:
        base = (get_args(base) or (Any,))[0]
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
    base, nullable = _strip(ann)
    if plain is None:
        plain = check is ann and get_origin(ann) is not Annotated
    origin = get_origin(base)
    if is_model(base):
        node = _model_node(base, check, counted=counted, seen=seen, plain=plain)
    elif origin in LIST_ORIGINS:
        node = Node(check, LIST, counted=counted, plain=plain and origin is list)
        item = (get_args(base) or (Any,))[0]
        node.item = build_node(item, item, counted=False, seen=seen)
    elif origin in DICT_ORIGINS:
        node = Node(check, DICT, counted=counted, plain=plain)
        args = get_args(base)
        value = args[1] if len(args) > 1 else Any
        node.item = build_node(value, value, counted=False, seen=seen)
    elif base is str:
        node = Node(check, LEAF, counted=counted, plain=plain)
        node.grows = True
    elif base is Any or _is_container(base):  # unions of models, tuples, dataclasses ...
        node = Node(check, WHOLE, counted=counted, plain=plain)
    else:
        node = Node(check, LEAF, counted=counted, plain=plain)
    node.nullable = nullable
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
        node._fields = _model_fields(model, counted=True, seen=seen | {model})
        node.nleaves = sum(child.nleaves for _, child in _unique(node._fields))
    return node


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


def _strip(ann: Any) -> tuple[Any, bool]:
    """Drop Annotated metadata and None from an Optional: (base type, nullable)."""
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    if get_origin(ann) in UNION_ORIGINS:
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) < len(get_args(ann)):
            if len(args) == 1:
                return _strip(args[0])[0], True
            return Union[tuple(args)], True  # noqa: UP007
    return ann, ann is None or ann is type(None)


def _is_container(tp: Any) -> bool:
    """Objects and arrays in JSON: models, lists, dicts, tuples, dataclasses, TypedDicts."""
    tp, _ = _strip(tp)
    origin = get_origin(tp)
    if is_model(tp) or origin in LIST_ORIGINS or origin in DICT_ORIGINS or origin is tuple:
        return True
    if origin in UNION_ORIGINS:
        return any(_is_container(a) for a in get_args(tp))
    return tp in (list, dict, tuple, set) or dataclasses.is_dataclass(tp) or is_typeddict(tp)


def error_messages(exc: ValidationError, path: str) -> dict[str, str]:
    """pydantic errors as {path: message}, with locations appended to `path`."""
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        sub = path
        for part in err.get("loc", ()):
            if isinstance(part, int):
                sub = f"{sub}[{part}]"
            elif isinstance(part, str) and not _is_schema_label(part):
                sub = f"{sub}.{part}" if sub else part
        msg = err.get("msg", "invalid value")
        out[sub] = f"{out[sub]}; {msg}" if sub in out else msg
    return out


def _is_schema_label(part: str) -> bool:
    """pydantic puts union member names (`function-after[...]`, `int`) in locations."""
    return "[" in part or part in ("int", "str", "float", "bool")

