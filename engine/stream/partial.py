"""`Partial[Model]`: the same model with every field optional (default None), recursively.

Constraints and validators are dropped from the partial class: a half-streamed string cannot
satisfy a pattern yet. They still run, per field, the moment a field is complete
(`engine.stream.nodes`), and in full on the original model at the end.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model

from engine.stream.types import DICT, LIST, UNION_ORIGINS, classify, is_model

__all__ = ["Partial", "is_model", "partial_annotation", "partial_model"]

_PARTIALS: dict[type[BaseModel], type[BaseModel]] = {}
_NAMES: dict[type[BaseModel], str] = {}
_NAMESPACE: dict[str, type[BaseModel]] = {}
#: One build at a time: a model half-built by one thread is in `_NAMES`, which another thread
#: would take for a recursive reference and get the name, not the class (batch documents run
#: in threads). Re-entrant: a recursive model builds its parts in the same thread.
_BUILDING = threading.RLock()


class Partial:
    """`Partial[MeetingInfo]` is a pydantic model class whose fields are all optional."""

    def __class_getitem__(cls, model: type[BaseModel]) -> type[BaseModel]:
        if not is_model(model):
            raise TypeError(f"Partial[...] takes a pydantic model class, not {model!r}")
        return partial_model(model)


def partial_model(model: type[BaseModel]) -> type[BaseModel]:
    """The cached partial class for `model` (recursive models refer to it by name)."""
    cached = _PARTIALS.get(model)
    if cached is not None:
        return cached
    with _BUILDING:
        return _build(model)


def _build(model: type[BaseModel]) -> type[BaseModel]:
    cached = _PARTIALS.get(model)
    if cached is not None:  # another thread built it while this one waited
        return cached
    if model in _NAMES:  # being built further up the stack: a recursive reference
        return _NAMES[model]  # type: ignore[return-value]
    _NAMES[model] = _unique_name(model)
    fields = {name: _partial_field(info) for name, info in model.model_fields.items()}
    config = ConfigDict(
        populate_by_name=True,
        arbitrary_types_allowed=bool(model.model_config.get("arbitrary_types_allowed")),
        protected_namespaces=(),
    )
    cls = create_model(  # type: ignore[call-overload]
        _NAMES[model], __config__=config, __doc__=f"Partial {model.__name__}: fields may be None.",
        __module__=model.__module__, **fields,
    )
    _NAMESPACE[_NAMES[model]] = cls
    _PARTIALS[model] = cls
    if not cls.__pydantic_complete__:
        cls.model_rebuild(_types_namespace=_NAMESPACE)
    return cls


def _unique_name(model: type[BaseModel]) -> str:
    base = f"Partial{model.__name__}"
    name, n = base, 1
    while name in _NAMESPACE or name in _NAMES.values():
        n += 1
        name = f"{base}{n}"
    return name


def _partial_field(info: Any) -> tuple[Any, Any]:
    ann = partial_annotation(info.annotation)
    extra = {"alias": info.alias} if info.alias else {}
    return (
        Optional[ann],  # noqa: UP045 - `ann` may be a forward-reference string
        Field(None, description=info.description, title=info.title, **extra),
    )


def partial_annotation(ann: Any) -> Any:
    """The streaming-friendly version of a type: models become partial, containers hold
    optional partial items, constraints (Annotated metadata) are dropped."""
    origin = get_origin(ann)
    if origin is Annotated:
        return partial_annotation(get_args(ann)[0])
    if is_model(ann):
        return partial_model(ann)
    if origin in UNION_ORIGINS:
        return Union[tuple(partial_annotation(a) for a in get_args(ann))]  # noqa: UP007
    shape = classify(ann)  # the same classifier the nodes use: one list-like, one dict-like
    if shape.kind == LIST:
        return list[Optional[partial_annotation(shape.item)]]  # noqa: UP045
    if origin is tuple:  # a fixed tuple: a whole value, any items while invalid
        return list[Any]
    if shape.kind == DICT:
        value = partial_annotation(shape.item)
        return dict[shape.key, Optional[value]]  # type: ignore[name-defined]  # noqa: UP045
    return ann
