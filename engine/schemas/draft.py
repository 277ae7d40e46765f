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
from typing import Any, Literal, get_args

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
# A request a small model can fill (#22): a name, a line of description and a flat list of
# fields with one level of nesting, no instruction and no "required" to decide (a draft's
# fields may all be null: a text need not say everything), worked examples in the prompt.
# `proposal()` turns the answer into a `SchemaDefinition` and repairs what a small model gets
# half right (choices on a field that is not a choice, an object without fields).

#: Every field type, and which one fits what: the prompt's list and the grammar's enum.
TYPE_GUIDE = (
    '"text" names, addresses, ids and other words; "whole number" counts and quantities; '
    '"number" amounts, prices, rates; "yes/no" a true/false fact; "date" a day; "choice" one of '
    'a few fixed values, listed in choices; "list of text" several short values; "object" a '
    'group of values (its fields in children); "list of objects" a repeated group, e.g. the '
    'lines of an order (the fields of each in children).'
)

_EXAMPLES = (
    ("recipes: the dish, how many people it serves, total time in minutes, whether it is "
     "vegetarian, difficulty (easy, medium or hard), the ingredients with their amounts, "
     "calories",
     {"name": "Recipe", "description": "A recipe from a cookbook or a web page", "fields": [
         {"name": "Dish", "type": "text", "description": "The dish's name", "choices": [],
          "children": []},
         {"name": "Servings", "type": "whole number", "description": "How many people it "
          "serves", "choices": [], "children": []},
         {"name": "Total minutes", "type": "whole number", "description": "Preparation and "
          "cooking time in minutes", "choices": [], "children": []},
         {"name": "Vegetarian", "type": "yes/no", "description": "Whether the dish has no meat "
          "or fish", "choices": [], "children": []},
         {"name": "Difficulty", "type": "choice", "description": "How hard it is to make",
          "choices": ["easy", "medium", "hard"], "children": []},
         {"name": "Ingredients", "type": "list of objects", "description": "Each ingredient",
          "choices": [], "children": [
              {"name": "Ingredient", "type": "text", "description": "What it is",
               "choices": []},
              {"name": "Amount", "type": "text", "description": "How much, with its unit",
               "choices": []}]},
         {"name": "Calories", "type": "whole number", "description": "Calories per serving",
          "choices": [], "children": []}]}),
    ("conference talks: title, the speakers with their name and company, the day, the room, "
     "the track (data, web or security), the ticket price range (minimum and maximum)",
     {"name": "Talk", "description": "A talk in a conference programme", "fields": [
         {"name": "Title", "type": "text", "description": "The talk's title", "choices": [],
          "children": []},
         {"name": "Speakers", "type": "list of objects", "description": "Each speaker",
          "choices": [], "children": [
              {"name": "Name", "type": "text", "description": "The speaker's full name",
               "choices": []},
              {"name": "Company", "type": "text", "description": "Where the speaker works",
               "choices": []}]},
         {"name": "Day", "type": "date", "description": "The day of the talk, YYYY-MM-DD",
          "choices": [], "children": []},
         {"name": "Room", "type": "text", "description": "The room or hall", "choices": [],
          "children": []},
         {"name": "Track", "type": "choice", "description": "The conference track",
          "choices": ["data", "web", "security"], "children": []},
         {"name": "Minimum price", "type": "number", "description": "The cheapest ticket's "
          "price, without the currency sign", "choices": [], "children": []},
         {"name": "Maximum price", "type": "number", "description": "The dearest ticket's "
          "price, without the currency sign", "choices": [], "children": []}]}),
)


def _draft_instruction() -> str:
    examples = "\n\n".join(
        f"Example. The user writes: {request}\nYour answer: "
        f"{json.dumps(answer, ensure_ascii=False)}"
        for request, answer in _EXAMPLES
    )
    return (
        "You design extraction schemas: the fields a model will fill in from texts of one "
        "kind. Answer with the schema's name (a word or two), a one-line description of the "
        "texts, and one field for each thing the user asks for, in the user's order and no "
        "others. A field's name is a short label (\"Invoice number\", \"Due date\"); its "
        f"description says what goes there and in what form. Types: {TYPE_GUIDE} Things "
        "asked for each of several items (\"the people with their name and email\") are one "
        "list of objects whose children are those things; a range (minimum and maximum, "
        "lowest and highest) is two fields. Only a choice has choices (else []); only an "
        "object or a list of objects has children (else []), and children are never objects "
        "themselves. Every thing the user names is a field, the last one too.\n\n" + examples
    )


#: The system prompt of a draft (the same for every draft: the server's prompt cache keeps it).
DRAFT_INSTRUCTION = _draft_instruction()


#: A child's types: one level of nesting, so no objects below an object.
ChildType = Literal[
    "text", "whole number", "number", "yes/no", "date", "choice", "list of text",
]


class DraftChild(BaseModel):
    name: str = Field(description="The field's label, also its JSON key, e.g. 'Due date'.")
    type: ChildType = Field(description="What kind of value the field holds.")
    description: str = Field(description="What goes here, and in what form.")
    choices: list[str] = Field(description="Allowed values (only for type 'choice').")


class DraftField(DraftChild):
    type: FieldType = Field(description="What kind of value the field holds.")  # type: ignore[assignment]
    children: list[DraftChild] = Field(
        description="The fields of an object or of each listed object (else empty)."
    )


class DraftDefinition(BaseModel):
    name: str = Field(description="The schema's name, e.g. 'Invoice'.")
    description: str = Field(description="What the texts are, in one line.")
    fields: list[DraftField] = Field(description="The fields, in the user's order.")


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
        defn = parse_definition({**data, "fields": _repaired(data.get("fields"))})
        if not defn.instruction.strip():
            defn = defn.model_copy(update={"instruction": DEFAULT_INSTRUCTION})
    problems = validate_definition(defn)
    if problems:
        raise SchemaDefinitionError(problems)
    return defn


#: What a field that needs more becomes when the model gave none (choices or children).
_PLAINER = {"choice": "text", "object": "text", "list of objects": "list of text"}


def _repaired(fields: Any) -> Any:
    """A proposal's fields as a person would keep them: choices only on a choice, children
    only on an object, a choice without choices or an object without fields made plainer
    (not refused: the rest of the draft is good), optional unless the answer says otherwise."""
    if not isinstance(fields, list):
        return fields  # parse_definition says what is wrong
    out = []
    for f in fields:
        if not isinstance(f, dict):
            out.append(f)
            continue
        f = {"required": False, **f}
        choices = [str(c).strip() for c in f.get("choices") or [] if str(c).strip()]
        children = _repaired(f.get("children") or [])
        kind = f.get("type")
        if (kind == "choice" and not choices) or (kind in OBJECT_TYPES and not children):
            kind = _PLAINER[kind]
        f.update(type=kind, choices=list(dict.fromkeys(choices)) if kind == "choice" else [],
                 children=children if kind in OBJECT_TYPES else [])
        out.append(f)
    return out


#: A draft's token limit: an answer the size of a schema, not of a document's extraction. A
#: seven-field invoice with three nested fields is ~2,400 characters of indented JSON, about
#: 600 tokens; 1,024 leaves room for a dozen fields, and stops a small model that rambles (the
#: default model, ~10 tokens/s on 2 cores, once wrote for over 200 s) after ~100 s.
DRAFT_MAX_TOKENS = 1024
