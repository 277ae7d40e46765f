"""`fieldstream schemas list | show | import | export`: saved schema definitions from the
command line (the CLI parses the arguments; this module does the work). Every stored string is
printed through `stream.terminal` (names saved before control characters were refused, and
descriptions, may hold them)."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any, TextIO

from engine.schemas.convert import from_json_schema, load_document, to_json_schema
from engine.schemas.convert import to_pydantic_source as pydantic_source
from engine.schemas.definition import SchemaDefinitionError, parse_new_definition
from engine.schemas.library import SCHEMAS
from engine.schemas.resolve import library_name
from engine.schemas.saved import SavedSchema, get_schema, list_schemas, save_schema
from engine.store import open_store
from engine.stream.terminal import escape, escape_json, escape_lines


class SchemaNotFound(LookupError):
    """No saved schema of that name (or no such version)."""


def run_schemas(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with open_store() as store:
        if args.op == "list":
            return _list(store, out)
        if args.op == "import":
            return _import(store, args, out)
        saved = _find(store, args.name, args.version)
        if args.op == "show":
            return _show(saved, out)
        return _export(saved, args.form, out)


def _find(store: Any, name: str, version: int | None) -> SavedSchema:
    saved = get_schema(store, name, version)
    if saved is None:
        which = f"{name!r} version {version}" if version else repr(name)
        raise SchemaNotFound(f"No saved schema {which}; see `fieldstream schemas list`.")
    return saved


def _list(store: Any, out: TextIO) -> int:
    for name in SCHEMAS:
        print(f"{name}\tlibrary", file=out)
    for saved in list_schemas(store):
        shadowed = " (hidden by the library schema)" if _in_library(saved.name) else ""
        print(f"{escape(saved.name)}\tv{saved.version}\t{saved.updated_at:%Y-%m-%d %H:%M}\t"
              f"{escape(saved.description)}{shadowed}", file=out)
    return 0


def _in_library(name: str) -> bool:
    return library_name(name) is not None


def _show(saved: SavedSchema, out: TextIO) -> int:
    by = f" by {saved.author}" if saved.author else ""
    print(escape(f"# {saved.name} v{saved.version}{by}, saved "
                 f"{saved.created_at:%Y-%m-%d %H:%M} UTC"), file=out)
    print(escape_json(saved.definition.model_dump_json(indent=2)), file=out)
    return 0


def _export(saved: SavedSchema, form: str, out: TextIO) -> int:
    # Escaped JSON reads back as the same values; the source already writes strings by repr.
    if form == "pydantic":
        print(escape_lines(pydantic_source(saved.definition)), file=out, end="")
    elif form == "json-schema":
        print(escape_json(json.dumps(to_json_schema(saved.definition), indent=2,
                                     ensure_ascii=False)), file=out)
    else:
        print(escape_json(saved.definition.model_dump_json(indent=2)), file=out)
    return 0


def _import(store: Any, args: argparse.Namespace, out: TextIO) -> int:
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise SchemaDefinitionError([f"Cannot read {args.file}: {exc.strerror}."]) from None
    defn = read_document(raw, args.name)
    saved = save_schema(store, defn, author=args.by or _who())
    print(escape(f"saved {saved.name} v{saved.version}"), file=out)
    return 0


def read_document(raw: bytes | str, name: str | None = None) -> Any:
    """A definition file (it has `fields`) or a JSON Schema (anything else)."""
    doc = load_document(raw)
    if isinstance(doc, dict) and "fields" in doc:
        defn = parse_new_definition(doc)
        return defn.model_copy(update={"name": name}) if name else defn
    if not isinstance(doc, dict):
        raise SchemaDefinitionError(["The file must hold a JSON object."])
    return from_json_schema(doc, name=name)


def _who() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name (a container's odd uid) is no error
        return None
