"""What the Schemas page needs beyond the definition itself: the builder's table rows, nested
fields by path, a made-up sample answer, and drafting a definition from a description.

    rows = field_rows(defn.fields)                 # what `st.data_editor` shows
    fields = rows_to_fields(edited, defn.fields)   # back, keeping each object's children
    chunks = sample_chunks(defn)                   # a made-up answer, to stream into the form
    text = draft_request("invoices from our suppliers", sample="...")
    defn = proposal(final_result)                  # the model's proposal, checked

A draft streams `SchemaDefinition` itself (it is a pydantic model) through the usual engine, so
the proposal's fields appear one by one in the live form; `proposal()` says clearly when the
answer is not a usable definition.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any, get_args

from pydantic import BaseModel, Field

from engine.schemas.definition import (
    DEFAULT_INSTRUCTION,
    OBJECT_TYPES,
    FieldDef,
    FieldType,
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
    parse_definition,
    validate_definition,
)
from engine.stream.model_stream import ModelStream
from engine.stream.snapshot import Snapshot

#: The builder's columns, in order, and the field types it offers.
COLUMNS = ("name", "type", "description", "required", "choices")
TYPES: tuple[str, ...] = get_args(FieldType)
#: Allowed values of a choice are written in one cell, separated by commas.
CHOICE_SEPARATOR = ","
#: The path of a nested field: the names from the top level down.
Path = tuple[str, ...]

DRAFT_INSTRUCTION = (
    "You design extraction schemas. From the user's description (and sample text, when given) "
    "propose a schema: a short name, a one-line description, an instruction for the extracting "
    "model, and the fields in a useful order. Each field has a short human label as its name, "
    "one of the allowed types, a description telling the model what to put there, whether it "
    "is required, the allowed values for a choice, and the fields of an object or of each "
    "listed object. Keep names unique at each level."
)


# --- the builder's table --------------------------------------------------------------------


def field_rows(fields: Sequence[FieldDef]) -> list[dict[str, Any]]:
    """One row per field for the builder's table (choices joined by commas)."""
    return [
        {"name": f.name, "type": f.type, "description": f.description, "required": f.required,
         "choices": f"{CHOICE_SEPARATOR} ".join(f.choices)}
        for f in fields
    ]  # fmt: skip


def split_choices(cell: Any) -> list[str]:
    """`"low, high"` -> `["low", "high"]` (blanks dropped)."""
    if isinstance(cell, list | tuple):
        return [str(c).strip() for c in cell if str(c).strip()]
    return [c.strip() for c in str(cell or "").split(CHOICE_SEPARATOR) if c.strip()]


def rows_to_fields(rows: Sequence[dict[str, Any]], old: Sequence[FieldDef] = ()) -> list[FieldDef]:
    """The fields of the builder's rows. An object keeps the children it had (found by name,
    else at the same position) so editing a parent's row never loses its nested fields;
    a field that is no longer an object drops them. Empty new rows are skipped."""
    by_name = {f.name: f for f in old}
    out: list[FieldDef] = []
    for i, row in enumerate(rows):
        name = str(row.get("name") or "")
        kind = str(row.get("type") or "text")
        if not name.strip() and not str(row.get("description") or "").strip() and (
            not split_choices(row.get("choices"))
        ):
            continue  # an added row not filled in yet
        kind = kind if kind in TYPES else "text"
        before = by_name.get(name) or (old[i] if i < len(old) else None)
        children = list(before.children) if before is not None and kind in OBJECT_TYPES else []
        required = row.get("required")
        out.append(FieldDef(
            name=name, type=kind, description=str(row.get("description") or ""),  # type: ignore[arg-type]
            required=True if required is None else bool(required),
            choices=split_choices(row.get("choices")) if kind == "choice" else [],
            children=children,
        ))  # fmt: skip
    return out


def object_paths(fields: Sequence[FieldDef], parent: Path = ()) -> list[Path]:
    """The path of every object (or list of objects) field, parents before their children."""
    out: list[Path] = []
    for f in fields:
        if f.type in OBJECT_TYPES:
            path = (*parent, f.name)
            out.append(path)
            out.extend(object_paths(f.children, path))
    return out


def path_label(path: Path) -> str:
    return " › ".join(path)


def children_at(fields: Sequence[FieldDef], path: Path) -> list[FieldDef]:
    """The children of the object at `path` (empty when there is none)."""
    level = list(fields)
    for name in path:
        found = next((f for f in level if f.name == name), None)
        if found is None:
            return []
        level = list(found.children)
    return level


def with_children(
    fields: Sequence[FieldDef], path: Path, children: list[FieldDef]
) -> list[FieldDef]:
    """`fields` with the children of the object at `path` replaced."""
    if not path:
        return list(children)
    out = []
    for f in fields:
        if f.name == path[0]:
            f = f.model_copy(update={"children": with_children(f.children, path[1:], children)})
        out.append(f)
    return out


# --- a sample answer ------------------------------------------------------------------------


def sample_value(f: FieldDef) -> Any:
    """A made-up value of the field's type (the preview's answer; never sent anywhere)."""
    samples: dict[str, Any] = {
        "text": f"Sample {f.name}", "whole number": 42, "number": 3.5, "yes/no": True,
        "date": datetime.date(2025, 3, 14).isoformat(), "list of text": ["first", "second"],
    }
    if f.type == "choice":
        return f.choices[0] if f.choices else None
    if f.type == "object":
        return sample_answer(f.children)
    if f.type == "list of objects":
        return [sample_answer(f.children), sample_answer(f.children)]
    return samples[f.type]


def sample_answer(fields: Sequence[FieldDef]) -> dict[str, Any]:
    """A made-up answer for every field, keyed by the fields' names (their JSON keys)."""
    return {f.name: sample_value(f) for f in fields}


def sample_chunks(defn: SchemaDefinition, size: int = 6) -> list[str]:
    """The sample answer as JSON text in small pieces, the way a model streams it."""
    text = json.dumps(sample_answer(defn.fields), ensure_ascii=False)
    return [text[i : i + size] for i in range(0, len(text), size)]


def sample_factory(defn: SchemaDefinition, pace: float = 0.02) -> Any:
    """A Runner stream factory feeding the sample answer through a `ModelStream` of
    `build_model(defn)`, one piece every `pace` seconds (Stop ends it at once)."""
    schema = build_model(defn)
    pieces = sample_chunks(defn)

    def factory(cancel: threading.Event) -> Iterator[Snapshot]:
        stream = ModelStream(schema, track_times=True)
        for piece in pieces:
            if cancel.wait(pace):
                return
            stream.mark_first_token()
            yield stream.feed(piece)
        yield stream.close()

    return factory


# --- drafting from a description ------------------------------------------------------------
# `SchemaDefinition` is recursive (a field's children are fields), which the live form cannot
# lay out ahead of the stream and strict mode handles poorly; a draft streams this three-level
# copy of it instead, which `proposal()` turns into a `SchemaDefinition`.


class DraftLeaf(BaseModel):
    name: str = Field(description="The field's label, also its JSON key, e.g. 'Due date'.")
    type: FieldType = Field(description="What kind of value the field holds.")
    description: str = Field(description="What the extracting model should put here.")
    required: bool = Field(description="False: the value may be null when the text is silent.")
    choices: list[str] = Field(description="Allowed values (only for type 'choice').")


class DraftInner(DraftLeaf):
    children: list[DraftLeaf] = Field(
        description="The fields of an object or of each listed object (else empty)."
    )


class DraftField(DraftLeaf):
    children: list[DraftInner] = Field(
        description="The fields of an object or of each listed object (else empty)."
    )


class DraftDefinition(BaseModel):
    name: str = Field(description="The schema's name, e.g. 'Invoice'.")
    description: str = Field(description="What the schema describes, in one line.")
    instruction: str = Field(description="The system prompt sent with every extraction.")
    fields: list[DraftField] = Field(description="The top-level fields, in order.")


def draft_request(description: str, sample: str = "") -> str:
    """The user message of a draft: what the teammate wants, and their sample text if any."""
    parts = [f"What the schema should capture:\n{description.strip()}"]
    if sample.strip():
        parts.append(f"A sample of the texts it will be used on:\n{sample.strip()}")
    return "\n\n".join(parts)


def proposal(result: Any) -> SchemaDefinition:
    """The model's finished answer as a usable definition, or `SchemaDefinitionError` listing
    what is wrong with it (not a definition at all, or one that cannot be built)."""
    if isinstance(result, SchemaDefinition):
        defn = result
    else:
        data = result.model_dump() if isinstance(result, BaseModel) else result
        if not isinstance(data, dict):
            raise SchemaDefinitionError(["The answer is not a schema definition (an object "
                                         "with a name and fields)."])
        defn = parse_definition(data)
        if not defn.instruction.strip():
            defn = defn.model_copy(update={"instruction": DEFAULT_INSTRUCTION})
    problems = validate_definition(defn)
    if problems:
        raise SchemaDefinitionError(problems)
    return defn


#: A draft's token limit: an answer the size of a schema, not of a document's extraction. A
#: seven-field invoice with three nested fields is ~2,400 characters of indented JSON, about
#: 600 tokens; 1,024 leaves room for a dozen fields, and stops a small model that rambles (the
#: default model, ~10 tokens/s on 2 cores, once wrote for over 200 s) after ~100 s.
DRAFT_MAX_TOKENS = 1024
