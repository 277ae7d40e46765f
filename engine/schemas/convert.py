"""A `SchemaDefinition` to and from JSON Schema, and as pydantic source text.

`to_json_schema` is exactly what strict structured outputs receive for `build_model(defn)`.
`from_json_schema` reads the subset strict mode accepts (object, properties, required, type,
enum/const, items, $defs/$ref, description, anyOf with null, format date) and refuses anything
else naming the keyword, so an imported schema never means less than it says. The instruction
is not part of a JSON Schema: it travels in the definition (the CLI's export holds both).
"""

from __future__ import annotations

import json
from typing import Any

from engine.llm.strict_schema import resolve_ref, strict_json_schema
from engine.schemas.definition import (
    MAX_DEPTH,
    FieldDef,
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
    class_name,
    identifiers,
    validate_definition,
)
from engine.stream import document

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Keywords that carry no meaning the builder could lose (titles are regenerated from names).
_IGNORED = frozenset({"title", "$schema", "$id", "default", "additionalProperties", "strict"})
_ALLOWED = frozenset({
    "type", "properties", "required", "items", "$defs", "definitions", "$ref", "description",
    "anyOf", "enum", "const", "format",
}) | _IGNORED
# A field's type, its allowed values and its children.
_Kind = tuple[str, list[str], list[FieldDef]]
_SIMPLE = {"integer": "whole number", "number": "number", "boolean": "yes/no"}


def to_json_schema(defn: SchemaDefinition) -> dict[str, Any]:
    """The strict-mode JSON Schema of `build_model(defn)` (single choices as one-value enums)."""
    return _const_to_enum(strict_json_schema(build_model(defn)))


def _const_to_enum(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _const_to_enum(v) for k, v in node.items() if k != "const"}
        if "const" in node:
            out["enum"] = [node["const"]]
        return out
    if isinstance(node, list):
        return [_const_to_enum(v) for v in node]
    return node


# --- JSON Schema in ------------------------------------------------------------------------


def load_document(text: str | bytes) -> Any:
    """JSON text -> a value, refusing documents over 5 MB and malformed JSON clearly."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_DOCUMENT_BYTES:
        raise SchemaDefinitionError(
            [f"The document is {size / 1048576:.1f} MB; at most 5 MB is accepted."]
        )
    try:
        return document.load(text)
    except document.JSONDocumentError as exc:
        if exc.msg == "recursion limit exceeded":
            raise SchemaDefinitionError(["The document nests too deeply to be a schema."]) from None
        if exc.msg == "invalid unicode code point":
            raise SchemaDefinitionError(["Not valid JSON: the document is not UTF-8 text."]
                                        ) from None
        raise SchemaDefinitionError([f"Not valid JSON: {exc}."]) from None


def from_json_schema(
    doc: dict[str, Any] | str | bytes, name: str | None = None
) -> SchemaDefinition:
    """A definition from a JSON Schema (a dict or its text); `SchemaDefinitionError` names every
    keyword or shape outside the supported subset, and every problem of the result."""
    root = load_document(doc) if isinstance(doc, str | bytes) else doc
    problems: list[str] = []
    if not isinstance(root, dict) or root.get("type") != "object" or "properties" not in root:
        raise SchemaDefinitionError(["The root must be an object schema with properties."])
    reader = _Reader(root, problems)
    fields = reader.fields(root, "", 1)
    defn = SchemaDefinition(
        name=name or str(root.get("title") or "Imported"),
        description=str(root.get("description") or ""),
        fields=fields,
    )
    problems.extend(validate_definition(defn) if not problems else [])
    if problems:
        raise SchemaDefinitionError(problems)
    return defn


class _Reader:
    def __init__(self, root: dict[str, Any], problems: list[str]) -> None:
        self.root = root
        self.problems = problems

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'root'}: {message}")

    def fields(self, node: dict[str, Any], path: str, depth: int) -> list[FieldDef]:
        if depth > MAX_DEPTH:
            self.fail(path, f"fields nest deeper than {MAX_DEPTH} levels.")
            return []
        self._keywords(node, path)
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            self.fail(path, "an object needs properties (open objects are not supported).")
            return []
        required = node.get("required", list(props))
        if not isinstance(required, list):
            self.fail(path, "'required' must be a list of names.")
            required = []
        return [
            self.field(key, sub, f"{path}.{key}" if path else key, key in required, depth)
            for key, sub in props.items()
        ]

    def field(self, key: str, node: Any, path: str, listed: bool, depth: int) -> FieldDef:
        node, nullable = self._unwrap(node, path)
        description = str(node.get("description") or "")
        kind, choices, children = self._kind(node, path, depth)
        return FieldDef(name=key, type=kind, description=description,  # type: ignore[arg-type]
                        required=listed and not nullable, choices=choices, children=children)

    def _unwrap(self, node: Any, path: str) -> tuple[dict[str, Any], bool]:
        """Follow `$ref`s and peel `anyOf [X, null]` / `type [X, "null"]`: (X, nullable)."""
        node = self._deref(node, path)
        self._keywords(node, path)
        nullable = False
        if "anyOf" in node:
            options = [self._deref(o, path) for o in node["anyOf"]]
            rest = [o for o in options if o.get("type") != "null"]
            if len(rest) != 1 or len(options) != 2:
                self.fail(path, "anyOf is supported only as one schema or null.")
                return {"type": "string"}, True
            own = {k: v for k, v in node.items() if k != "anyOf"}
            node, nullable = {**self._deref(rest[0], path), **own}, True
            self._keywords(node, path)
        if isinstance(node.get("type"), list):
            types = [t for t in node["type"] if t != "null"]
            nullable = nullable or len(types) < len(node["type"])
            node = {**node, "type": types[0] if len(types) == 1 else types}
        if isinstance(node.get("enum"), list) and None in node["enum"]:
            node = {**node, "enum": [v for v in node["enum"] if v is not None]}
            nullable = True
        return node, nullable

    def _deref(self, node: Any, path: str, hops: int = 0) -> dict[str, Any]:
        if not isinstance(node, dict):
            self.fail(path, "expected a schema object.")
            return {"type": "string"}
        if "$ref" not in node:
            return node
        if hops > 32:  # a cycle: a recursive schema cannot become a finite form
            self.fail(path, "recursive $ref is not supported.")
            return {"type": "string"}
        try:
            target = resolve_ref(self.root, str(node["$ref"]))
        except (ValueError, KeyError, TypeError):
            self.fail(path, f"$ref {node['$ref']!r} does not resolve to a local definition.")
            return {"type": "string"}
        own = {k: v for k, v in node.items() if k != "$ref"}
        return self._deref({**target, **own}, path, hops + 1)

    def _keywords(self, node: dict[str, Any], path: str) -> None:
        for key in node:
            if key not in _ALLOWED:
                self.fail(path, f"the keyword '{key}' is not supported.")
        extra = node.get("additionalProperties")
        if extra not in (None, False):
            self.fail(path, "the keyword 'additionalProperties' is supported only as false.")

    def _kind(self, node: dict[str, Any], path: str, depth: int) -> _Kind:
        if "enum" in node or "const" in node:
            return "choice", self._choices(node, path), []
        kind = node.get("type")
        if kind == "string":
            return self._string(node, path), [], []
        if kind in _SIMPLE:
            return _SIMPLE[str(kind)], [], []
        if kind == "object":
            return "object", [], self.fields(node, path, depth + 1)
        if kind == "array":
            return self._array(node, path, depth)
        self.fail(path, f"type {json.dumps(kind)} is not supported.")
        return "text", [], []

    def _string(self, node: dict[str, Any], path: str) -> str:
        fmt = node.get("format")
        if fmt not in (None, "date"):
            self.fail(path, f"format {fmt!r} is not supported (only 'date').")
        return "date" if fmt == "date" else "text"

    def _choices(self, node: dict[str, Any], path: str) -> list[str]:
        values = node["enum"] if "enum" in node else [node["const"]]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self.fail(path, "enum is supported only with text values.")
            return ["?"]
        return list(values)

    def _array(self, node: dict[str, Any], path: str, depth: int) -> _Kind:
        items, nullable = self._unwrap(node.get("items"), f"{path}[]")
        if nullable:
            self.fail(f"{path}[]", "list items that may be null are not supported.")
        if items.get("type") == "string" and "enum" not in items and "format" not in items:
            return "list of text", [], []
        if items.get("type") == "object":
            return "list of objects", [], self.fields(items, f"{path}[]", depth + 1)
        self.fail(path, "lists are supported only of text or of objects.")
        return "list of text", [], []


# --- pydantic source -----------------------------------------------------------------------


def to_pydantic_source(defn: SchemaDefinition) -> str:
    """Python source of the models `build_model(defn)` makes, for developers to copy. Every
    name and value is written with `repr`, so the text is valid Python whatever they hold."""
    problems = validate_definition(defn)
    if problems:
        raise SchemaDefinitionError(problems)
    classes: list[str] = []
    _source_class(class_name(defn.name), defn.fields, defn.description, classes, set())
    head = ("import datetime\nfrom typing import Literal\n\n"
            "from pydantic import BaseModel, ConfigDict, Field\n")
    return "\n\n".join([head, *classes])


def _source_class(
    name: str, fields: list[FieldDef], doc: str, classes: list[str], taken: set[str]
) -> str:
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}{n}", n + 1
    taken.add(unique)
    lines = [f"class {unique}(BaseModel):"]
    if doc:
        lines.append(f"    {doc!r}")  # a string first in the body is the docstring
    lines.append("    model_config = ConfigDict(populate_by_name=True)")
    for ident, f in zip(identifiers([f.name for f in fields]), fields, strict=True):
        lines.append(f"    {ident}: {_source_field(f, unique, classes, taken)}")
    classes.append("\n".join(lines) + "\n")
    return unique


def _source_field(f: FieldDef, owner: str, classes: list[str], taken: set[str]) -> str:
    simple = {"text": "str", "whole number": "int", "number": "float", "yes/no": "bool",
              "date": "datetime.date", "list of text": "list[str]"}
    if f.type in simple:
        annotation = simple[f.type]
    elif f.type == "choice":
        annotation = f"Literal[{', '.join(repr(c) for c in f.choices)}]"
    else:
        nested = _source_class(owner + class_name(f.name), f.children, "", classes, taken)
        annotation = nested if f.type == "object" else f"list[{nested}]"
    args = [f"alias={f.name!r}"] + ([f"description={f.description!r}"] if f.description else [])
    if not f.required:
        return f"{annotation} | None = Field(default=None, {', '.join(args)})"
    return f"{annotation} = Field({', '.join(args)})"
