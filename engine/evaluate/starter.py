"""The starter sets shipped with Fieldstream (#21): labelled documents for two built-in schemas,
so a new user can press one button and see an evaluation.

- `invoices`: 12 invoices for the `Invoice` schema (plain text, Markdown, HTML and e-mail;
  US, British and European number and date formats; 1–5 line items);
- `meetings`: 12 meeting notes for `MeetingInfo` (1–4 people, a person with no Twitter handle,
  a meeting with no budget, dates that are not the meeting's).

Each set is a folder under `starter/`: its documents and `answers.jsonl`, one line per document
(`{"file": ..., "answer": {...}}`) in the set's order, the first three short (a small model's
test subset). The gold was written by hand (see `starter/PROVENANCE.md`). A document's text is
what a run of that file gets: it is read by `engine.documents` (an .html file's visible text,
an .eml file's headers and body).
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.abc import Traversable
from typing import TYPE_CHECKING

from engine.documents import read_bytes
from engine.evaluate.model import LabelSet, NewExample

if TYPE_CHECKING:
    from engine.store.store import Store

__all__ = ["SCHEMAS", "STARTER_SETS", "install_starter", "starter_examples", "starter_set_name"]

STARTER_SETS: tuple[str, ...] = ("invoices", "meetings")
#: The library schema each starter set's gold fits (`engine.schemas.library.SCHEMAS`).
SCHEMAS: dict[str, str] = {"invoices": "Invoice", "meetings": "MeetingInfo"}
ANSWERS = "answers.jsonl"


def starter_set_name(name: str, limit: int | None = None) -> str:
    """The name a starter set is installed under: `starter-invoices`, or with a limit
    `starter-invoices-3` (its first three documents)."""
    _check(name, limit)
    return f"starter-{name}" if limit is None else f"starter-{name}-{limit}"


def starter_examples(name: str, limit: int | None = None) -> tuple[str, list[NewExample]]:
    """(schema name, the set's examples in order), the first `limit` of them when given."""
    _check(name, limit)
    folder = _folder(name)
    lines = folder.joinpath(ANSWERS).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    examples = []
    for row in rows[:limit]:
        file = row["file"]
        document = read_bytes(file, folder.joinpath(file).read_bytes())
        examples.append(NewExample(name=file, text=document.text, gold=row["answer"],
                                   document=document.info))
    return SCHEMAS[name], examples


def install_starter(store: Store, name: str, *, limit: int | None = None,
                    who: str | None = None) -> LabelSet:
    """The starter set `name` as a labelled set in `store` (`starter_set_name`). Installing it
    again gives the set already there (its latest version, with whatever was changed in it)
    rather than an error or a copy."""
    from engine.evaluate.sets import create_set, get_set  # written alongside (#21)

    set_name = starter_set_name(name, limit)
    existing = get_set(store, set_name)
    if existing is not None:
        return existing
    schema_name, examples = starter_examples(name, limit)
    note = f"the starter set {name!r}: {len(examples)} documents shipped with Fieldstream"
    return create_set(store, set_name, schema_name, examples, who=who, note=note)


def _check(name: str, limit: int | None) -> None:
    if name not in STARTER_SETS:
        raise ValueError(f"There is no starter set called {name!r}; the starter sets are "
                         f"{', '.join(STARTER_SETS)}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise ValueError(f"The number of documents must be a whole number of 1 or more, "
                         f"not {limit!r}.")


def _folder(name: str) -> Traversable:
    # importlib.resources, not __file__: the data travels as package data (pyproject.toml)
    return resources.files("engine.evaluate").joinpath("starter", name)
