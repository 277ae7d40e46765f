"""JSON Schemas for OpenAI structured outputs (strict mode) from pydantic v2 models.

Follows openai-python's `lib/_pydantic.py` `to_strict_json_schema` (every object closed, every
property required, `$ref` with sibling keys inlined) and goes a little further where the API is
stricter than that function: every `default` is dropped (the API rejects non-null defaults),
`oneOf` becomes `anyOf`, and keywords strict mode does not accept (`maxLength`, `uniqueItems`,
unsupported `format`s ...) move into the description so the model still reads them.

Optional fields (`x: str | None = None`) are already a union with null. Fields with a non-null
default stay required with their own type: the model must write a value (the default is named in
the description), because a `null` would fail validation against the original model.

List roots: strict mode needs an object at the root, so `list[Model]` is sent as
`{"items": [Model, ...]}`. `ItemsUnwrapper` turns that streamed text back into the bare array
(`[Model, ...]`) that a list-root `ModelStream` parses.
"""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter

WRAP_KEY = "items"

# Formats the API accepts in strict mode; any other is moved into the description.
SUPPORTED_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
# Keywords strict mode rejects: moved into the description (validation still happens locally).
UNSUPPORTED_KEYWORDS = (
    "minLength",
    "maxLength",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
)
_NAME_RE = re.compile(r"[^a-zA-Z0-9_-]+")


def is_list_root(schema: Any) -> bool:
    """True for `list[Model]` (a typing alias whose origin is `list`)."""
    return typing.get_origin(schema) is list


def item_model(schema: Any) -> Any:
    """`Model` for `list[Model]`, else the schema itself."""
    return typing.get_args(schema)[0] if is_list_root(schema) else schema


def schema_name(schema: Any) -> str:
    """A name the API accepts (`^[a-zA-Z0-9_-]{1,64}$`): `Model`, or `ModelList` for lists."""
    inner = item_model(schema)
    base = getattr(inner, "__name__", None) or str(inner)
    name = _NAME_RE.sub("_", base + ("List" if is_list_root(schema) else ""))
    return name.strip("_")[:64] or "Output"


def plain_json_schema(schema: Any) -> dict[str, Any]:
    """pydantic's own JSON Schema (by alias, validation mode) for a model or `list[Model]`."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if is_list_root(schema) and not isinstance(schema, types.UnionType):
        return TypeAdapter(schema).json_schema()
    raise TypeError(f"Expected a pydantic model class or list[Model], got {schema!r}")


def wrap_list(list_schema: dict[str, Any], name: str) -> dict[str, Any]:
    """`{"type": "array", ...}` -> `{"type": "object", "properties": {"items": <array>}}`."""
    array = {k: v for k, v in list_schema.items() if k != "$defs"}
    wrapped: dict[str, Any] = {
        "type": "object",
        "title": name,
        "properties": {WRAP_KEY: array},
        "required": [WRAP_KEY],
    }
    if "$defs" in list_schema:
        wrapped["$defs"] = list_schema["$defs"]
    return wrapped


def object_json_schema(schema: Any) -> dict[str, Any]:
    """The plain schema with an object root (list roots wrapped), not yet strict."""
    plain = plain_json_schema(schema)
    return wrap_list(plain, schema_name(schema)) if is_list_root(schema) else plain


def strict_json_schema(schema: Any) -> dict[str, Any]:
    """A strict-mode JSON Schema for a pydantic model class or `list[Model]` (wrapped)."""
    root = copy.deepcopy(object_json_schema(schema))
    return _strict(root, path=(), root=root)


def open_objects(schema: dict[str, Any]) -> list[str]:
    """Paths of objects strict mode cannot express (`dict[str, X]` fields: open key sets)."""
    found: list[str] = []
    _walk_open(schema, "", found)
    return found


def _walk_open(node: Any, path: str, found: list[str]) -> None:
    if isinstance(node, dict):
        if (
            isinstance(node.get("additionalProperties"), dict)
            or node.get("additionalProperties") is True
        ):
            found.append(path or "$")
        for key, value in node.items():
            _walk_open(value, f"{path}/{key}", found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk_open(value, f"{path}/{i}", found)


def response_format(schema: Any, name: str | None = None) -> dict[str, Any]:
    """The `response_format` request parameter for json_schema mode.

    `strict` is switched off (schema still sent) when the schema has open objects such as
    `dict[str, int]` fields, which strict mode cannot express.
    """
    return {"type": "json_schema", "json_schema": _definition(schema, name, "schema")}


def tool_param(schema: Any, name: str | None = None) -> dict[str, Any]:
    """One function tool (`tools=[...]` entry) whose arguments are the schema."""
    return {"type": "function", "function": _definition(schema, name, "parameters")}


def _definition(schema: Any, name: str | None, body_key: str) -> dict[str, Any]:
    """Name, strict JSON Schema (under `body_key`), strictness and description: the part a
    response format and a function tool share."""
    body = strict_json_schema(schema)
    out: dict[str, Any] = {
        "name": name or schema_name(schema),
        body_key: body,
        "strict": not open_objects(body),
    }
    if body.get("description"):
        out["description"] = body["description"]
    return out


def schema_prompt(schema: Any) -> str:
    """Compact JSON of the object-root schema, for prompts (json_object / md_json modes)."""
    return json.dumps(strict_json_schema(schema), ensure_ascii=False, separators=(",", ":"))


# --- strict conversion (mutates the deep copy made by strict_json_schema) ---


def _strict(node: Any, *, path: tuple[str, ...], root: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise TypeError(f"Expected a JSON Schema object at {'/'.join(path) or '#'}, got {node!r}")
    for key in ("$defs", "definitions"):
        for name, sub in (node.get(key) or {}).items():
            _strict(sub, path=(*path, key, name), root=root)
    _close_object(node, path, root)
    _strict_children(node, path, root)
    if "$ref" in node and len(node) > 1:
        return _inline_ref(node, path, root)
    _move_unsupported(node)
    return node


def _close_object(node: dict[str, Any], path: tuple[str, ...], root: dict[str, Any]) -> None:
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    props = node.get("properties")
    if isinstance(props, dict):
        node["required"] = list(props)
        node["properties"] = {
            key: _strict(sub, path=(*path, "properties", key), root=root)
            for key, sub in props.items()
        }


def _strict_children(node: dict[str, Any], path: tuple[str, ...], root: dict[str, Any]) -> None:
    if isinstance(node.get("items"), dict):
        node["items"] = _strict(node["items"], path=(*path, "items"), root=root)
    if isinstance(node.get("additionalProperties"), dict):
        sub = node["additionalProperties"]
        node["additionalProperties"] = _strict(sub, path=(*path, "additionalProperties"), root=root)
    if isinstance(node.get("oneOf"), list):  # discriminated unions: strict mode has no oneOf
        node["anyOf"] = node.pop("oneOf") + node.get("anyOf", [])
        node.pop("discriminator", None)
    if isinstance(node.get("anyOf"), list):
        node["anyOf"] = [
            _strict(v, path=(*path, "anyOf", str(i)), root=root)
            for i, v in enumerate(node["anyOf"])
        ]
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        node.pop("allOf")
        node.update(_strict(all_of[0], path=(*path, "allOf", "0"), root=root))
    elif isinstance(all_of, list):
        node["allOf"] = [
            _strict(v, path=(*path, "allOf", str(i)), root=root) for i, v in enumerate(all_of)
        ]


def _inline_ref(
    node: dict[str, Any], path: tuple[str, ...], root: dict[str, Any]
) -> dict[str, Any]:
    """`{"$ref": r, "description": d}` is rejected: inline the target, own keys winning."""
    ref = node.pop("$ref")
    target = resolve_ref(root, ref)
    merged = {**copy.deepcopy(target), **node}
    node.clear()
    node.update(merged)
    return _strict(node, path=path, root=root)


def resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    """The schema a local `#/...` reference points at."""
    if not ref.startswith("#/"):
        raise ValueError(f"Unexpected $ref {ref!r}: only local '#/' references are supported")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, dict):
        raise ValueError(f"$ref {ref!r} does not point at a schema object")
    return node


def _move_unsupported(node: dict[str, Any]) -> None:
    """Drop `default` and rejected keywords; keep their meaning as words in the description."""
    notes: list[str] = []
    if "default" in node:
        default = node.pop("default")
        if default is not None:
            notes.append(f"default: {json.dumps(default, ensure_ascii=False)}")
    if "format" in node and node["format"] not in SUPPORTED_FORMATS:
        notes.append(f"format: {node.pop('format')}")
    for key in UNSUPPORTED_KEYWORDS:
        if key in node and not isinstance(node[key], dict | list):
            notes.append(f"{key}: {json.dumps(node.pop(key))}")
        elif key in node:
            node.pop(key)
    if notes:
        text = "; ".join(notes)
        desc = node.get("description")
        node["description"] = f"{desc} ({text})" if desc else f"({text})"


class ItemsUnwrapper:
    """Streams `{"items": [ ... ]}` text as just `[ ... ]` (also passes a bare array through).

    Everything before the first `[` outside a string is dropped, everything after its matching
    `]` too; in between the text passes unchanged, chunk by chunk, so field timings survive.
    """

    def __init__(self) -> None:
        self._depth = 0  # bracket depth inside the array (0: not entered yet / finished)
        self._state = "seek"  # seek -> array -> after
        self._in_string = False
        self._escape = False

    def feed(self, text: str) -> str:
        out: list[str] = []
        for ch in text:
            inside = self._state == "array"
            self._step(ch)
            if inside or self._state == "array":  # also the opening `[` and the closing `]`
                out.append(ch)
        return "".join(out)

    def _step(self, ch: str) -> None:
        if self._in_string:
            if self._escape:
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_string = False
            return
        if ch == '"':
            self._in_string = True
        elif ch == "[" and self._state == "seek":
            self._state, self._depth = "array", 1
        elif ch in "[{" and self._state == "array":
            self._depth += 1
        elif ch in "]}" and self._state == "array":
            self._depth -= 1
            if self._depth == 0:
                self._state = "after"


# --- the fields as a list for a prompt (a small model reads this better than JSON Schema) ---

_KIND = {"string": "text", "integer": "whole number", "boolean": "true or false",
         "number": "number"}
_FORMATS = {"date": "a date, YYYY-MM-DD", "date-time": "a date and time, ISO 8601",
            "email": "an e-mail address"}


def field_guide(schema: Any) -> str:
    """The fields to fill, one line each, with their type in the form the schema parses and
    their description: `- invoice_number (text): The invoice's identifier…`. Given to a model
    that never sees the schema's descriptions otherwise (a local server puts the schema into
    its grammar only). Lists of objects give their members as `line_items[].amount`."""
    root = strict_json_schema(schema)
    lines: list[str] = []
    _guide(root, root, "", lines)
    return "Fill these fields:\n" + "\n".join(lines)


def _guide(node: dict[str, Any], root: dict[str, Any], path: str, lines: list[str]) -> None:
    for name, prop in (node.get("properties") or {}).items():
        prop = _resolved(prop, root)
        where = f"{path}.{name}" if path else name
        items = _resolved(prop.get("items") or {}, root) if _types(prop) == {"array"} else None
        if items is not None and "properties" in items:
            lines.append(_line(where, "a list; each item has the fields below", prop))
            _guide(items, root, f"{where}[]", lines)
        elif "properties" in prop:
            lines.append(_line(where, "an object with the fields below", prop))
            _guide(prop, root, where, lines)
        else:
            lines.append(_line(where, _kind(prop, root, items), prop))


def _line(path: str, kind: str, prop: dict[str, Any]) -> str:
    said = str(prop.get("description") or "").strip()
    return f"- {path} ({kind})" + (f": {said}" if said else "")


def _kind(prop: dict[str, Any], root: dict[str, Any], items: dict[str, Any] | None) -> str:
    if items is not None:
        return f"a list of {_kind(items, root, None)}"
    choices = prop.get("enum")
    if choices:
        return "one of " + ", ".join(json.dumps(c, ensure_ascii=False) for c in choices)
    variants = [_resolved(v, root) for v in prop.get("anyOf") or []]
    named = [v for v in variants if _types(v) != {"null"}]
    if named:
        return _kind(named[0], root, None) + ", or null when the text does not say"
    kind = _FORMATS.get(str(prop.get("format")), "")
    types = sorted(_types(prop) - {"null"})
    kind = kind or " or ".join(_KIND.get(t, t) for t in types) or "any value"
    return kind + (", or null when the text does not say" if "null" in _types(prop) else "")


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()


def _resolved(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, dict) else {}
