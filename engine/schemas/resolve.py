"""A schema by name and version: the one rule set the CLI, the Compare page and History's
replays share.

- No version: a built-in schema by its name, in any case (built-ins win over a saved schema of
  the same name), else the newest version of the saved schema of that name (any case).
- A version: a saved schema in that version; built-ins have no versions, so a built-in's name
  with a version means a saved schema of that name.
- A version that is not a whole number is a `ValueError`; a name (or version) neither has is
  `UnknownSchema`, a `ValueError` too. Their messages can be shown as they are.

Without a store only built-ins are found. A `module:Class` name is the CLI's own business
(code is imported only from the command line, never from stored data).
"""

from __future__ import annotations

from engine.schemas.library import SCHEMAS
from engine.schemas.saved import SchemaChoice, get_schema
from engine.store import Store


class UnknownSchema(ValueError):
    """No built-in schema of that name and no saved one (in that version)."""

    def __init__(self, name: str, version: int | None = None) -> None:
        which = f"version {version} of " if version is not None else ""
        super().__init__(f"There is no {which}schema {name!r} (built-in or saved).")
        self.name, self.version = name, version


def library_name(name: str) -> str | None:
    """The built-in schema's own spelling of `name` (any case), or None."""
    wanted = name.casefold()
    return next((key for key in SCHEMAS if key.casefold() == wanted), None)


def saved_version(version: str | int | None) -> int | None:
    """A saved schema's version as asked for (None or "" for the newest)."""
    if version is None or version == "":
        return None
    text = str(version).strip()
    if not text.isdigit():
        raise ValueError(f"A saved schema's version is a whole number, not {version!r}.")
    return int(text)


def resolve_schema(store: Store | None, name: str,
                   version: str | int | None = None) -> SchemaChoice:
    """The schema `name` in `version` by the rules of the module doc."""
    wanted = saved_version(version)
    builtin = library_name(name) if wanted is None else None
    if builtin is not None:
        return SchemaChoice(builtin, SCHEMAS[builtin])
    saved = None if store is None else get_schema(store, name, wanted)
    if saved is None:
        raise UnknownSchema(name, wanted)
    return SchemaChoice.of_saved(saved)


def find_schema(store: Store | None, name: str,
                version: str | int | None = None) -> SchemaChoice | None:
    """`resolve_schema`, or None where it raises: for what was recorded (a run, a lane), whose
    schema may be gone or never saved here."""
    try:
        return resolve_schema(store, name, version)
    except ValueError:
        return None
