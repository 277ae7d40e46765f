"""A `SchemaDefinition` to and from JSON Schema, and as pydantic source text.

`to_json_schema` is exactly what strict structured outputs receive for `build_model(defn)`.
`from_json_schema` reads the subset strict mode accepts (object, properties, required, type,
enum/const, items, $defs/$ref, description, anyOf with null, format date) and refuses anything
else naming the keyword, so an imported schema never means less than it says. The instruction
is not part of a JSON Schema: it travels in the definition (the CLI's export holds both).

A `$ref` is read where each use of it stands, so a few KB can describe millions of fields: the
reader counts fields and text as it goes and stops at the definition's caps, and checks the
shape of every keyword's value before using it, so any document under 5 MB is accepted or
refused (`SchemaDefinitionError`) in bounded time and memory.
"""

from __future__ import annotations

import json
from collections.abc import Container
from typing import Any

from engine.llm.strict_schema import resolve_ref, strict_json_schema
from engine.schemas.definition import (
    MAX_CHOICES,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_TEXT,
    FieldDef,
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
    class_name,
    identifiers,
    shown,
    too_much_text,
    validate_definition,
)
from engine.stream import document

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_PROBLEMS = 20  # enough to act on; a hostile document could name a problem per key
MAX_REF_HOPS = 32  # more `$ref`s in a row than any real schema chains: a cycle
_EXPANDED = " once every $ref is read where it is used"
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


#: Keywords whose values map names to schemas: a field named "const" there is no keyword.
_NAME_MAPS = frozenset({"properties", "$defs", "definitions"})


def _const_to_enum(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _names(v) if k in _NAME_MAPS else _const_to_enum(v)
               for k, v in node.items() if k != "const"}
        if "const" in node:
            out["enum"] = [node["const"]]
        return out
    if isinstance(node, list):
        return [_const_to_enum(v) for v in node]
    return node


def _names(mapping: Any) -> Any:
    if not isinstance(mapping, dict):
        return _const_to_enum(mapping)
    return {name: _const_to_enum(schema) for name, schema in mapping.items()}


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
    keyword or shape outside the supported subset, and every problem of the result (the first
    20, or the cap a document goes over: the reader stops there)."""
    root = load_document(doc) if isinstance(doc, str | bytes) else doc
    problems: list[str] = []
    if not isinstance(root, dict) or root.get("type") != "object" or "properties" not in root:
        raise SchemaDefinitionError(["The root must be an object schema with properties."])
    reader = _Reader(root, problems)
    try:
        defn = reader.definition(name)
    except _Stop:
        raise SchemaDefinitionError(problems) from None
    problems.extend(validate_definition(defn) if not problems else [])
    if problems:
        raise SchemaDefinitionError(problems)
    return defn


class _Stop(Exception):
    """The reader has seen enough to refuse the document; its problems say why."""


class _Reader:
    """The supported subset -> fields. A `$ref` is read again where each use of it stands, so a
    few KB can stand for millions of fields: the reader counts fields and text as it reads and
    stops at the caps (and after `MAX_PROBLEMS` problems), so its work is bounded by the caps,
    never by what the document would expand to. Every value a keyword holds is checked for the
    shape the reader expects before it is used."""

    def __init__(self, root: dict[str, Any], problems: list[str]) -> None:
        self.root = root
        self.problems = problems
        self.fields_read = 0
        self.text = 0
        self._targets: dict[str, dict[str, Any] | None] = {}  # each $ref resolved once

    def definition(self, name: str | None) -> SchemaDefinition:
        self._keywords(self.root, "")
        title = self._text(self.root, "title", "")
        description = self._text(self.root, "description", "")
        self._add_text(len(name or title) + len(description))
        return SchemaDefinition(name=name or title or "Imported", description=description,
                                fields=self.fields(self.root, "", 1))

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'root'}: {message}")
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems.append(f"The import stopped after these {MAX_PROBLEMS} problems.")
            raise _Stop

    def _add_text(self, length: int) -> None:
        self.text += length
        if self.text > MAX_TEXT:
            self.problems.append(too_much_text(_EXPANDED))
            raise _Stop

    def fields(self, node: dict[str, Any], path: str, depth: int) -> list[FieldDef]:
        if depth > MAX_DEPTH:
            self.fail(path, f"fields nest deeper than {MAX_DEPTH} levels.")
            return []
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            self.fail(path, "an object needs properties (open objects are not supported).")
            return []
        required = self._required(node, props, path)
        return [self.field(key, sub, f"{path}.{shown(key)}" if path else shown(key),
                           key in required, depth)
                for key, sub in props.items()]

    def _required(self, node: dict[str, Any], props: dict[str, Any], path: str) -> Container[str]:
        names = node.get("required")
        if names is None:
            return props  # no list: every property is required
        # The length first: a list longer than the properties is refused without a scan.
        if not isinstance(names, list) or len(names) > len(props):
            self.fail(path, "'required' lists more names than there are properties."
                      if isinstance(names, list) else "'required' must be a list of names.")
            return ()
        if not all(isinstance(n, str) for n in names):
            self.fail(path, "'required' must be a list of names.")
            return ()
        return set(names)

    def field(self, key: str, node: Any, path: str, listed: bool, depth: int) -> FieldDef:
        self.fields_read += 1
        if self.fields_read > MAX_FIELDS:
            self.problems.append(
                f"The schema has more than {MAX_FIELDS} fields{_EXPANDED}; at most "
                f"{MAX_FIELDS} are allowed.")
            raise _Stop
        node, nullable = self._unwrap(node, path)
        description = self._text(node, "description", path)
        kind, choices, children = self._kind(node, path, depth)
        self._add_text(len(key) + len(description) + sum(len(c) for c in choices))
        return FieldDef(name=key, type=kind, description=description,  # type: ignore[arg-type]
                        required=listed and not nullable, choices=choices, children=children)

    def _text(self, node: dict[str, Any], keyword: str, path: str) -> str:
        value = node.get(keyword)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(path, f"'{keyword}' must be text.")
            return ""
        return value

    def _unwrap(self, node: Any, path: str) -> tuple[dict[str, Any], bool]:
        """Follow `$ref`s and peel `anyOf [X, null]` / `type [X, "null"]` / an enum's null:
        (X, nullable)."""
        node = self._deref(node, path)
        nullable = False
        if "anyOf" in node:
            node, nullable = self._any_of(node, path)
        if isinstance(node.get("type"), list):
            node, null_type = self._type_list(node, path)
            nullable = nullable or null_type
        enum = node.get("enum")
        # A longer enum is refused by `_choices`, without a scan here.
        if isinstance(enum, list) and len(enum) <= MAX_CHOICES + 1 and None in enum:
            node = {**node, "enum": [v for v in enum if v is not None]}
            nullable = True
        return node, nullable

    def _any_of(self, node: dict[str, Any], path: str) -> tuple[dict[str, Any], bool]:
        options = node["anyOf"]
        if isinstance(options, list) and len(options) == 2:  # the length before any reading
            resolved = [self._deref(o, path) for o in options]
            rest = [o for o in resolved if o.get("type") != "null"]
            if len(rest) == 1 and "anyOf" not in rest[0]:
                own = {k: v for k, v in node.items() if k != "anyOf"}
                return {**rest[0], **own}, True
        self.fail(path, "anyOf is supported only as one schema or null.")
        return {"type": "string"}, True

    def _type_list(self, node: dict[str, Any], path: str) -> tuple[dict[str, Any], bool]:
        """`type: [X]` or `[X, "null"]` -> (X, nullable); `["null"]` is the type "null"."""
        types = node["type"]
        if len(types) in (1, 2) and all(isinstance(t, str) for t in types):
            named = [t for t in types if t != "null"]
            if len(named) <= 1:
                return {**node, "type": named[0] if named else "null"}, len(named) < len(types)
        self.fail(path, 'type is supported only as one type name, alone or with "null".')
        return {**node, "type": "string"}, True

    def _deref(self, node: Any, path: str) -> dict[str, Any]:
        """`node` with its `$ref`s followed (a node's own keywords win over its target's), each
        node's keywords checked before anything is copied from it."""
        merged: dict[str, Any] = {}
        for _ in range(MAX_REF_HOPS + 1):
            if not isinstance(node, dict):
                self.fail(path, "expected a schema object.")
                return {"type": "string"}
            self._keywords(node, path)
            merged = {**node, **merged}
            if "$ref" not in node:
                merged.pop("$ref", None)
                return merged
            target = self._target(node["$ref"], path)
            if target is None:
                return {"type": "string"}
            node = target
        # a cycle: a recursive schema cannot become a finite form
        self.fail(path, "recursive $ref is not supported.")
        return {"type": "string"}

    def _target(self, ref: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(ref, str):
            self.fail(path, "$ref must be text (a local reference, '#/$defs/Name').")
            return None
        if ref not in self._targets:
            try:
                self._targets[ref] = resolve_ref(self.root, ref)
            except (ValueError, KeyError, TypeError):
                self._targets[ref] = None
        target = self._targets[ref]
        if target is None:
            self.fail(path, f"$ref {shown(ref)!r} does not resolve to a local definition.")
        return target

    def _keywords(self, node: dict[str, Any], path: str) -> None:
        for key in node:
            if key not in _ALLOWED:
                self.fail(path, f"the keyword '{shown(key)}' is not supported.")
        if node.get("additionalProperties", False) is not False:
            self.fail(path, "the keyword 'additionalProperties' is supported only as false.")

    def _kind(self, node: dict[str, Any], path: str, depth: int) -> _Kind:
        if "enum" in node or "const" in node:
            return "choice", self._choices(node, path), []
        kind = node.get("type")
        if kind == "string":
            return self._string(node, path), [], []
        if isinstance(kind, str) and kind in _SIMPLE:
            return _SIMPLE[kind], [], []
        if kind == "object":
            return "object", [], self.fields(node, path, depth + 1)
        if kind == "array":
            return self._array(node, path, depth)
        self.fail(path, f"type {_quote(kind)} is not supported.")
        return "text", [], []

    def _string(self, node: dict[str, Any], path: str) -> str:
        fmt = node.get("format")
        if fmt is not None and not isinstance(fmt, str):
            self.fail(path, "'format' must be text.")
        elif fmt not in (None, "date"):
            self.fail(path, f"format '{shown(fmt)}' is not supported (only 'date').")
        return "date" if fmt == "date" else "text"

    def _choices(self, node: dict[str, Any], path: str) -> list[str]:
        values = node["enum"] if "enum" in node else [node["const"]]
        if isinstance(values, list) and len(values) > MAX_CHOICES:  # before any scan
            self.fail(path, f"more than {MAX_CHOICES} allowed values.")
            return ["?"]
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


def _quote(value: Any) -> str:
    """A value a message names, short whatever the document holds there."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    if isinstance(value, str):
        return json.dumps(shown(value), ensure_ascii=False)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return "a number"  # printing a huge integer is slow (and refused past 4,300 digits)
    return json.dumps(value)


# --- pydantic source -----------------------------------------------------------------------


def to_pydantic_source(defn: SchemaDefinition) -> str:
    """Python source of the models `build_model(defn)` makes, for developers to copy. Every
    name and value is written with `repr`, so the text is valid Python whatever they hold
    (and escapes whatever a terminal would act on). Stored names keep their rules."""
    problems = validate_definition(defn, stored=True)
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
