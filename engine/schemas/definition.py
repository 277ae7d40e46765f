"""Schemas defined as data, without code: a `SchemaDefinition` (name, instruction, fields) that
a page or the CLI edits, saves (`schemas.saved`) and turns into a pydantic model to stream.

    defn = SchemaDefinition(name="Invoice", fields=[FieldDef(name="Due date", type="date")])
    problems = validate_definition(defn)     # [] when it can be built
    Model = build_model(defn)                # a pydantic model, cached per fingerprint

Field names are labels a person writes ("Due date", "№", "e-mail"): each becomes the JSON key
(the field's alias) and a sanitised Python identifier. The definition is itself a pydantic
model, so a model can stream a proposed definition through the same engine.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import keyword
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

FieldType = Literal[
    "text", "whole number", "number", "yes/no", "date", "choice", "list of text", "object",
    "list of objects",
]
OBJECT_TYPES = ("object", "list of objects")
DEFAULT_INSTRUCTION = (
    "Extract the requested fields from the user's text. Use only what the text says; when a "
    "field is not mentioned, give null if it may be null, otherwise your best literal reading."
)
# OpenAI's structured outputs allow 10 levels of nesting and 5,000 properties; a form a person
# edits stays far below both, and the caps keep a pasted schema from building a huge model.
MAX_DEPTH = 5
MAX_FIELDS = 500
MAX_NAME = 64
MAX_CHOICES = 500
# Names, descriptions, allowed values and the instruction together: every saved version is a
# row holding all of it, so a JSON Schema whose `$ref`s repeat a long text stays bounded too.
MAX_TEXT = 5_000_000
# Names refuse control (Cc), format (Cf: zero-width, direction overrides) and surrogate (Cs)
# characters: they drive a terminal, or make a name look like another. Before Cf was refused
# (and any of them in a schema's name), field names refused only Cc and Cs.
_HIDDEN = frozenset({"Cc", "Cf", "Cs"})
_HIDDEN_BEFORE = frozenset({"Cc", "Cs"})
_BASE_ATTRS = frozenset(dir(BaseModel))
_SOURCE_NAMES = frozenset({"BaseModel", "ConfigDict", "Field", "Literal"})  # to_pydantic_source


@dataclass(frozen=True)
class ChoiceOrder:
    """The allowed values in order (metadata on a choice's `Literal`; pydantic ignores it)."""

    values: tuple[str, ...]


class FieldDef(BaseModel):
    name: str = Field(description="The field's label, also its JSON key, e.g. 'Due date'.")
    type: FieldType = Field(default="text", description="What kind of value the field holds.")
    description: str = Field(default="", description="What the model should put here.")
    required: bool = Field(
        default=True, description="False: the value may be null when the text does not say."
    )
    choices: list[str] = Field(default_factory=list, description="Allowed values (choice).")
    children: list[FieldDef] = Field(
        default_factory=list, description="The fields of an object or of each listed object."
    )


class SchemaDefinition(BaseModel):
    name: str = Field(description="The schema's name, e.g. 'Invoice'.")
    description: str = Field(default="", description="What the schema describes.")
    instruction: str = Field(
        default=DEFAULT_INSTRUCTION, description="The system prompt sent with every run."
    )
    fields: list[FieldDef] = Field(description="The top-level fields, in order.")


class SchemaDefinitionError(ValueError):
    """A definition (or a document meant to become one) that cannot be used; `problems` lists
    every reason, each a sentence a person can act on."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def fingerprint(defn: SchemaDefinition) -> str:
    """sha256 of the definition's canonical JSON: equal definitions, equal fingerprints."""
    return hashlib.sha256(canonical_json(defn).encode("utf-8", "surrogatepass")).hexdigest()


def canonical_json(defn: SchemaDefinition) -> str:
    return defn.model_dump_json()


def parse_definition(data: Any) -> SchemaDefinition:
    """A definition from JSON text or a dict (a saved row, a model's proposal), or
    `SchemaDefinitionError` saying what is wrong with it."""
    from pydantic import ValidationError

    try:
        if isinstance(data, str | bytes):
            return SchemaDefinition.model_validate_json(data)
        return SchemaDefinition.model_validate(data)
    except ValidationError as exc:
        raise SchemaDefinitionError([_say(err) for err in exc.errors()]) from None


def parse_new_definition(data: dict[str, Any]) -> SchemaDefinition:
    """`parse_definition` for a document from outside (a file to import): one that lists more
    than `MAX_FIELDS` fields is refused before a model is built for each of them (250,000 would
    take seconds and hundreds of MB)."""
    if _listed_fields(data) > MAX_FIELDS:
        raise SchemaDefinitionError([
            f"The schema has more than {MAX_FIELDS} fields; at most {MAX_FIELDS} are allowed."])
    return parse_definition(data)


def _listed_fields(data: dict[str, Any]) -> int:
    """The field objects a raw definition lists at every level, counted up to one over the cap."""
    count, lists = 0, [data.get("fields")]
    while lists and count <= MAX_FIELDS:
        listed = lists.pop()
        for item in listed[:MAX_FIELDS + 1] if isinstance(listed, list) else ():
            if isinstance(item, dict):
                count += 1
                lists.append(item.get("children"))
    return count


def _say(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "definition"
    return f"{where}: {err['msg']}"


# --- validation ---------------------------------------------------------------------------


def validate_definition(defn: SchemaDefinition, *, stored: bool = False) -> list[str]:
    """Every reason `defn` cannot be saved, built or sent (empty when it can).

    `stored=True` checks a saved version for building, running and exporting: its names keep
    the rules they were saved under (field names never held control characters; invisible
    characters, and any in the schema's name, were let through), so such a schema still works;
    saving it again asks for new names."""
    problems: list[str] = []
    if not defn.name.strip():
        problems.append("The schema needs a name.")
    elif len(defn.name) > MAX_NAME:
        problems.append(f"The schema name is longer than {MAX_NAME} characters.")
    elif not stored and (hidden := hidden_character(defn.name, _HIDDEN)):
        problems.append(f"The schema name holds a control or invisible character ({hidden}); "
                        "choose another name.")
    if not defn.fields:
        problems.append("The schema needs at least one field.")
    _check_level(defn.fields, "", 1, problems, _HIDDEN_BEFORE if stored else _HIDDEN)
    total = count_fields(defn.fields)
    if total > MAX_FIELDS:
        problems.append(f"The schema has {total} fields; at most {MAX_FIELDS} are allowed.")
    text = len(defn.name) + len(defn.description) + len(defn.instruction) \
        + text_length(defn.fields)
    if text > MAX_TEXT:
        problems.append(too_much_text())
    return problems


def count_fields(fields: list[FieldDef]) -> int:
    return sum(1 + count_fields(f.children) for f in fields)


def text_length(fields: list[FieldDef]) -> int:
    """The characters of the fields' names, descriptions and allowed values, all levels."""
    return sum(field_text_length(f) + text_length(f.children) for f in fields)


def field_text_length(f: FieldDef) -> int:
    return len(f.name) + len(f.description) + sum(len(c) for c in f.choices)


def too_much_text(where: str = "") -> str:
    return (f"The schema holds more than {MAX_TEXT:,} characters of names, descriptions, "
            f"allowed values and instruction{where}.")


def shown(text: str) -> str:
    """A name as a message quotes it: whole up to the longest valid name, cut beyond."""
    return text if len(text) <= MAX_NAME else text[:MAX_NAME] + "…"


def _check_level(fields: list[FieldDef], where: str, depth: int, problems: list[str],
                 hidden: frozenset[str]) -> None:
    if depth > MAX_DEPTH:
        problems.append(f"{where}: fields nest deeper than {MAX_DEPTH} levels.")
        return
    seen: set[str] = set()
    for f in fields:
        path = f"{where}.{shown(f.name)}" if where else shown(f.name)
        problem = name_problem(f.name, hidden)
        if problem:
            problems.append(f"{path or repr(f.name)}: {problem}")
        key = f.name.strip().casefold() if not problem else ""  # a refused name is no twin
        if key and key in seen:
            problems.append(f"{path}: the name is used twice at this level (names ignore case).")
        seen.add(key)
        _check_field(f, path, depth, problems, hidden)


def name_problem(name: str, hidden: frozenset[str] = _HIDDEN) -> str | None:
    """Why a field name cannot be a JSON key and a pydantic field, or be told apart from the
    others on a page or a terminal, or None."""
    if not name.strip():
        return "a field needs a name."
    if len(name) > MAX_NAME:
        return f"the name is longer than {MAX_NAME} characters."
    if code := hidden_character(name, hidden):
        return f"the name holds a control or invisible character ({code})."
    if name.startswith("_"):
        return "a name may not start with '_' (pydantic treats such fields as private)."
    if name.startswith("model_") and name in _BASE_ATTRS:
        return f"'{name}' is reserved by pydantic."
    return None


def hidden_character(name: str, categories: frozenset[str] = _HIDDEN) -> str | None:
    """The first character of `name` in `categories` as `U+XXXX`, or None."""
    found = next((ch for ch in name if unicodedata.category(ch) in categories), None)
    return None if found is None else f"U+{ord(found):04X}"


def _check_field(f: FieldDef, path: str, depth: int, problems: list[str],
                 hidden: frozenset[str]) -> None:
    if f.type == "choice":
        if not f.choices:
            problems.append(f"{path}: a choice needs at least one allowed value.")
        elif len(set(f.choices)) != len(f.choices):
            problems.append(f"{path}: an allowed value is listed twice.")
        elif len(f.choices) > MAX_CHOICES:
            problems.append(f"{path}: more than {MAX_CHOICES} allowed values.")
    if f.type in OBJECT_TYPES:
        if not f.children:
            problems.append(f"{path}: an object needs at least one field.")
        _check_level(f.children, path, depth + 1, problems, hidden)
    elif f.children:
        problems.append(f"{path}: only objects and lists of objects have fields.")


# --- identifiers -------------------------------------------------------------------------


def identifiers(names: list[str]) -> list[str]:
    """A distinct Python identifier for each name of one level, in order."""
    taken: set[str] = set()
    out: list[str] = []
    for name in names:
        base = to_identifier(name)
        ident, n = base, 2
        while ident in taken:
            ident, n = f"{base}_{n}", n + 1
        taken.add(ident)
        out.append(ident)
    return out


def to_identifier(name: str) -> str:
    """`Due date` -> `due_date`; never a keyword, a dunder or a BaseModel attribute."""
    ident = re.sub(r"\W+", "_", name.strip()).strip("_").lower() or "field"
    if not ident.isidentifier() or not ident.isascii():
        ident = "f_" + re.sub(r"[^0-9a-z_]", "_", ident.encode("ascii", "ignore").decode().lower())
        ident = ident if ident != "f_" else "field"
    if ident[0].isdigit():
        ident = "f_" + ident
    if keyword.iskeyword(ident) or ident in _BASE_ATTRS or ident.startswith("model_"):
        ident = "f_" + ident  # `json`, `copy`, `model_x`: pydantic would warn or refuse
    return ident


def class_name(name: str) -> str:
    """`line items` -> `LineItems` (for nested models and generated source)."""
    parts = re.findall(r"[A-Za-z0-9]+", name.encode("ascii", "ignore").decode())
    ident = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if keyword.iskeyword(ident) or ident in _SOURCE_NAMES:  # `None`, or shadowing an import
        return ident + "Model"
    return "M" + ident if ident[0].isdigit() else ident


# --- the model ---------------------------------------------------------------------------


def build_model(defn: SchemaDefinition) -> type[BaseModel]:
    """The pydantic model of a valid definition (`SchemaDefinitionError` otherwise); the same
    class for equal definitions, so a run's model and its schema fingerprint stay stable.
    Names are checked by the rules they were saved under (a stored version still runs); every
    new definition is checked by today's before it is saved or imported."""
    problems = validate_definition(defn, stored=True)
    if problems:
        raise SchemaDefinitionError(problems)
    return _build_cached(canonical_json(defn))


@functools.lru_cache(maxsize=128)
def _build_cached(canonical: str) -> type[BaseModel]:
    defn = SchemaDefinition.model_validate_json(canonical)
    return _model(defn.name, defn.fields, set(), defn.name, defn.description or None)


def _model(
    title: str, fields: list[FieldDef], names: set[str], label: str, doc: str | None = None
) -> type[BaseModel]:
    own = class_name(label)
    unique, n = own, 2
    while unique in names:  # distinct class names keep distinct `$defs` entries
        unique, n = f"{own}{n}", n + 1
    names.add(unique)
    spec = {
        ident: _field(f, names, f"{unique} {f.name}")
        for ident, f in zip(identifiers([f.name for f in fields]), fields, strict=True)
    }
    config = ConfigDict(populate_by_name=True, title=title)
    if doc:  # not the docstring: pydantic would trim its whitespace
        config["json_schema_extra"] = {"description": doc}
    return create_model(unique, __config__=config, **spec)  # type: ignore[call-overload]


def _field(f: FieldDef, names: set[str], label: str) -> tuple[Any, Any]:
    annotation = _annotation(f, names, label)
    extra: dict[str, Any] = {"alias": f.name}
    if f.description:
        extra["description"] = f.description
    if not f.required:
        return annotation | None, Field(default=None, **extra)
    return annotation, Field(**extra)


def _annotation(f: FieldDef, names: set[str], label: str) -> Any:
    simple: dict[str, Any] = {
        "text": str, "whole number": int, "number": float, "yes/no": bool,
        "date": datetime.date, "list of text": list[str],
    }
    if f.type in simple:
        return simple[f.type]
    if f.type == "choice":
        # `Literal["a", "b"] == Literal["b", "a"]`, so typing's cache hands `X | None` the
        # union made first for any order; order-aware metadata keeps each order's own union.
        literal = Literal[tuple(f.choices)]  # type: ignore[valid-type]
        return Annotated[literal, ChoiceOrder(tuple(f.choices))]
    nested = _model(class_name(f.name) or "Item", f.children, names, label)
    return nested if f.type == "object" else list[nested]  # type: ignore[valid-type]
