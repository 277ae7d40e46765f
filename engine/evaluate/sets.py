"""Labelled sets in the history database (`eval_sets`, `eval_texts`, `eval_examples`, 0011):
made, changed (every change a new version), read, and filled from History's runs.

- A version is a full copy of its example rows (a few hundred small rows at most), so any
  version reads alone and an evaluation pins one; the texts are not copied: `eval_texts` holds
  each text once by its sha256, inserted only when missing (`ON CONFLICT DO NOTHING`, in each
  database's dialect), whatever the keep-input setting says.
- Every write checks the gold answers against the set's schema (`fit_gold`): a value of the
  wrong type is refused, naming the document, the field and why; a field left out or null
  means "nothing expected" and is allowed. The gold is stored as the schema reads it
  (`"12.5"` from a CSV cell becomes `12.5`).
- A set's name is stripped, 1 to 100 characters, no control characters, and unique in any
  case; a document's name is unique within a version (a later one with the same name
  replaces it: `put_example`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, func, insert, select

from engine.documents.model import DocumentInfo
from engine.evaluate.model import Example, LabelSet, NewExample, text_sha256
from engine.history.queries import get_run
from engine.schemas.resolve import resolve_schema
from engine.schemas.saved import save_versioned
from engine.store import Store
from engine.store.records import RUNNING, utcnow
from engine.store.tables import eval_examples, eval_sets, eval_texts
from engine.stream import paths
from engine.stream.partial import partial_model
from engine.stream.types import LIST, MODEL, classify, is_model

__all__ = [
    "MAX_NAME",
    "NeedsText",
    "check_gold",
    "create_set",
    "examples",
    "fit_gold",
    "from_run",
    "get_set",
    "list_sets",
    "put_example",
    "remove_example",
    "versions",
]

MAX_NAME = 100  # characters of a set's name
_INSERT_ROWS = 500  # rows per INSERT (SQLite's bound parameters)


class NeedsText(ValueError):
    """The run kept no input text (keep-input was off) and none was given: ask for the file."""

    def __init__(self, run_id: str, document: str | None = None) -> None:
        which = f"the file {document!r}" if document else "the document's file or text"
        super().__init__(f"Run {run_id[:8]} did not keep its input text (keep-input was off): "
                         f"give {which} to add it to the set.")
        self.run_id, self.document = run_id, document


# --- reading ----------------------------------------------------------------------------


def get_set(store: Store, name: str, version: int | None = None) -> LabelSet | None:
    """The set's `version`, its newest when None; None when there is no such set (version)."""
    query = select(eval_sets).where(eval_sets.c.name == name.strip())
    query = (query.order_by(eval_sets.c.version.desc()) if version is None
             else query.where(eval_sets.c.version == version))
    with store.reading() as conn:
        row = conn.execute(query.limit(1)).mappings().first()
        return _label_set(row, _size(conn, row["name"], row["version"])) if row else None


def versions(store: Store, name: str) -> list[LabelSet]:
    """Every version of the set, newest first (empty for an unknown set)."""
    sizes = _sizes().where(eval_examples.c.set_name == name.strip()).subquery()
    query = (select(eval_sets, func.coalesce(sizes.c.size, 0).label("size"))
             .outerjoin(sizes, (sizes.c.set_name == eval_sets.c.name)
                        & (sizes.c.version == eval_sets.c.version))
             .where(eval_sets.c.name == name.strip())
             .order_by(eval_sets.c.version.desc()))
    with store.reading() as conn:
        return [_label_set(row, row["size"]) for row in conn.execute(query).mappings()]


def list_sets(store: Store) -> list[LabelSet]:
    """The newest version of each set, the most recently changed set first."""
    newest = (select(eval_sets.c.name, func.max(eval_sets.c.version).label("version"))
              .group_by(eval_sets.c.name).subquery())
    sizes = _sizes().subquery()
    query = (select(eval_sets, func.coalesce(sizes.c.size, 0).label("size"))
             .join(newest, (newest.c.name == eval_sets.c.name)
                   & (newest.c.version == eval_sets.c.version))
             .outerjoin(sizes, (sizes.c.set_name == eval_sets.c.name)
                        & (sizes.c.version == eval_sets.c.version))
             .order_by(eval_sets.c.created_at.desc(), eval_sets.c.seq.desc()))
    with store.reading() as conn:
        return [_label_set(row, row["size"]) for row in conn.execute(query).mappings()]


def examples(store: Store, name: str, version: int, *, with_text: bool = True) -> list[Example]:
    """The documents of one set version in order (idx 0, 1, ...), texts included unless
    `with_text` is False (a list of names and golds needs no text)."""
    columns = [eval_examples, eval_texts.c.document]
    if with_text:
        columns.append(eval_texts.c.text)
    query = (select(*columns)
             .outerjoin(eval_texts, eval_texts.c.sha256 == eval_examples.c.sha256)
             .where(eval_examples.c.set_name == name.strip(), eval_examples.c.version == version)
             .order_by(eval_examples.c.idx))
    with store.reading() as conn:
        return [_example(row, with_text) for row in conn.execute(query).mappings()]


def _sizes() -> Any:
    return (select(eval_examples.c.set_name, eval_examples.c.version,
                   func.count().label("size"))
            .group_by(eval_examples.c.set_name, eval_examples.c.version))


def _size(conn: Connection, name: str, version: int) -> int:
    return conn.execute(select(func.count()).where(eval_examples.c.set_name == name,
                                                   eval_examples.c.version == version)).scalar()


def _label_set(row: Any, size: int) -> LabelSet:
    return LabelSet(row["name"], row["version"], row["schema_name"], row["schema_version"],
                    row["created_at"], row["created_by"], row["note"], int(size or 0))


def _example(row: Any, with_text: bool) -> Example:
    document = row["document"]
    return Example(
        idx=row["idx"], name=row["name"], sha256=row["sha256"], gold=json.loads(row["gold"]),
        text=(row["text"] or "") if with_text else "",
        document=DocumentInfo.from_json(json.loads(document)) if document else None,
        reviewer=row["reviewer"], reviewed_at=row["reviewed_at"], run_id=row["run_id"],
    )  # fmt: skip


# --- writing ----------------------------------------------------------------------------


def create_set(store: Store, name: str, schema_name: str, examples: Sequence[NewExample], *,
               schema_version: str | int | None = None, who: str | None = None,
               note: str | None = None) -> LabelSet:
    """Version 1 of a new set for the schema (a saved schema's version pinned: the one asked
    for, else its newest). ValueError when a set of that name (in any case) exists, or an
    example is unfit (no name, no text, a gold that does not fit the schema, a name twice)."""
    name = check_name(name)
    choice = resolve_schema(store, schema_name, schema_version)
    rows = [_fitted(choice.schema, new) for new in examples]
    _check_unique(rows)

    def save(conn: Connection) -> LabelSet:
        taken = _stored_name(conn, name)
        if taken is not None:
            raise ValueError(f"There is already a labelled set named {taken!r}.")
        return _write(conn, store, name, 1, choice.name, choice.version, rows, who,
                      note or f"created with {_documents(len(rows))}")

    return save_versioned(store, save)


def put_example(store: Store, name: str, new: NewExample, *, who: str | None = None,
                note: str | None = None) -> LabelSet:
    """A new version with `new` in it: it replaces the document of the same name (in its
    place), else comes last. `who` is its reviewer when it names none (the form's user)."""
    if new.reviewer is None and who is not None:
        new = _reviewed(new, who)
    changed: list[str] = []

    def edit(rows: list[_Row], schema: type[BaseModel]) -> list[_Row]:
        row = _fitted(schema, new)
        for i, old in enumerate(rows):
            if old.name == row.name:
                changed.append(f"changed {row.name}")
                return [*rows[:i], row, *rows[i + 1:]]
        changed.append(f"added {row.name}")
        return [*rows, row]

    return _change(store, name, edit, who, lambda: note or changed[-1])


def remove_example(store: Store, name: str, example_name: str, *,
                   who: str | None = None) -> LabelSet:
    """A new version without the document `example_name` (ValueError when it has none)."""

    def edit(rows: list[_Row], _schema: type[BaseModel]) -> list[_Row]:
        kept = [row for row in rows if row.name != example_name.strip()]
        if len(kept) == len(rows):
            raise ValueError(f"The set {name!r} has no document named {example_name!r}.")
        return kept

    return _change(store, name, edit, who, lambda: f"removed {example_name.strip()}")


def merge_examples(store: Store, name: str, new: Sequence[NewExample], *,
                   schema_version: str | int | None = None, who: str | None = None,
                   note: str | None = None) -> LabelSet:
    """A new version with all of `new` in it (each replacing the document of its name, else
    appended): an import into an existing set. A `schema_version` other than the set's moves
    the set to it, every gold checked again."""
    counts = {"new": 0, "replaced": 0}

    def edit(rows: list[_Row], schema: type[BaseModel]) -> list[_Row]:
        fitted = [_fitted(schema, example) for example in new]
        _check_unique(fitted)
        places = {row.name: i for i, row in enumerate(rows)}
        rows = list(rows)
        for row in fitted:
            if row.name in places:
                rows[places[row.name]] = row
                counts["replaced"] += 1
            else:
                rows.append(row)
                counts["new"] += 1
        return rows

    def said() -> str:
        return note or (f"imported {_documents(len(new))} "
                        f"({counts['new']} new, {counts['replaced']} replaced)")

    return _change(store, name, edit, who, said, schema_version=schema_version)


def _change(store: Store, name: str,
            edit: Callable[[list[_Row], type[BaseModel]], list[_Row]], who: str | None,
            note: Callable[[], str], *, schema_version: str | int | None = None) -> LabelSet:
    """The next version of the set: its newest version's rows through `edit` (read again in
    the same transaction, so two changes at once both land, one after the other)."""
    name = name.strip()

    def save(conn: Connection) -> LabelSet:
        row = conn.execute(select(eval_sets).where(eval_sets.c.name == name)
                           .order_by(eval_sets.c.version.desc()).limit(1)).mappings().first()
        if row is None:
            raise ValueError(f"There is no labelled set named {name!r}.")
        version = row["schema_version"] if schema_version in (None, "") else schema_version
        choice = resolve_schema(store, row["schema_name"], version)
        rows = edit(_rows(conn, name, row["version"]), choice.schema)
        if choice.version != row["schema_version"]:  # moved to another schema version
            rows = [_refitted(choice.schema, old) for old in rows]
        return _write(conn, store, name, row["version"] + 1, row["schema_name"], choice.version,
                      rows, who, note())

    return save_versioned(store, save)


def check_name(name: str) -> str:
    """A set's name as kept (stripped); ValueError saying what is wrong with it."""
    stripped = (name or "").strip()
    if not stripped:
        raise ValueError("A labelled set needs a name.")
    if len(stripped) > MAX_NAME:
        raise ValueError(f"A labelled set's name has at most {MAX_NAME} characters "
                         f"({len(stripped)} given).")
    if not stripped.isprintable():
        raise ValueError("A labelled set's name cannot hold control or invisible characters.")
    return stripped


def _stored_name(conn: Connection, name: str) -> str | None:
    """The stored spelling of a set named `name` in any case, or None."""
    names = conn.execute(select(eval_sets.c.name).distinct()).scalars()
    return next((n for n in names if n.casefold() == name.casefold()), None)


# --- rows -------------------------------------------------------------------------------


class _Row:
    """One document of a version on its way to `eval_examples` (its text in `eval_texts`)."""

    __slots__ = ("document", "gold", "name", "reviewed_at", "reviewer", "run_id", "sha256",
                 "text")

    def __init__(self, name: str, sha256: str, gold: dict[str, Any], *, text: str | None = None,
                 document: DocumentInfo | None = None, reviewer: str | None = None,
                 reviewed_at: datetime | None = None, run_id: str | None = None) -> None:
        self.name, self.sha256, self.gold, self.text = name, sha256, gold, text
        self.document, self.reviewer, self.reviewed_at, self.run_id = \
            document, reviewer, reviewed_at, run_id


def _fitted(schema: type[BaseModel], new: NewExample) -> _Row:
    """`new` checked (a name, a text, a gold that fits) as a row; ValueError naming it."""
    name = (new.name or "").strip()
    if not name:
        raise ValueError("A document of a labelled set needs a name.")
    if not new.text or not new.text.strip():
        raise ValueError(f"{name}: the document has no text.")
    gold, problems = fit_gold(schema, new.gold)
    if problems:
        _refuse(name, problems)
    return _Row(name, text_sha256(new.text), gold, text=new.text, document=new.document,
                reviewer=new.reviewer, reviewed_at=new.reviewed_at, run_id=new.run_id)


def _refitted(schema: type[BaseModel], row: _Row) -> _Row:
    """A kept row's gold checked again (the set moves to another schema version)."""
    gold, problems = fit_gold(schema, row.gold)
    if problems:
        _refuse(row.name, problems)
    row.gold = gold
    return row


def _refuse(name: str, problems: Sequence[tuple[str, str]]) -> NoReturn:
    listed = "; ".join(f"{path or 'the answer'}: {reason}" for path, reason in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise ValueError(f"{name}: the expected answer does not fit the schema: {listed}{more}.")


def _check_unique(rows: Sequence[_Row]) -> None:
    counts = Counter(row.name for row in rows)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        raise ValueError(f"Each document of a set needs its own name; given more than once: "
                         f"{', '.join(twice[:10])}.")


def _rows(conn: Connection, name: str, version: int) -> list[_Row]:
    query = (select(eval_examples).where(eval_examples.c.set_name == name,
                                         eval_examples.c.version == version)
             .order_by(eval_examples.c.idx))
    return [_Row(r["name"], r["sha256"], json.loads(r["gold"]), reviewer=r["reviewer"],
                 reviewed_at=r["reviewed_at"], run_id=r["run_id"])
            for r in conn.execute(query).mappings()]


def _write(conn: Connection, store: Store, name: str, version: int, schema_name: str,
           schema_version: str | None, rows: Sequence[_Row], who: str | None,
           note: str) -> LabelSet:
    now = utcnow()
    conn.execute(insert(eval_sets).values(
        name=name, version=version, schema_name=schema_name, schema_version=schema_version,
        created_at=now, created_by=who, note=note))
    _insert_texts(conn, store.dialect, rows)
    values = [{"set_name": name, "version": version, "idx": idx, "name": row.name,
               "sha256": row.sha256, "gold": json.dumps(row.gold, ensure_ascii=False),
               "reviewer": row.reviewer, "reviewed_at": row.reviewed_at, "run_id": row.run_id}
              for idx, row in enumerate(rows)]
    for start in range(0, len(values), _INSERT_ROWS):
        conn.execute(insert(eval_examples), values[start:start + _INSERT_ROWS])
    return LabelSet(name, version, schema_name, schema_version, now, who, note, len(rows))


def _insert_texts(conn: Connection, dialect: str, rows: Sequence[_Row]) -> None:
    """Each new text once: a text already kept (by another version, another set) is left as
    it is, by the database itself, so two writers at once cannot collide on it."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    fresh: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.text is not None and row.sha256 not in fresh:
            document = json.dumps(row.document.to_json()) if row.document else None
            fresh[row.sha256] = {"sha256": row.sha256, "text": row.text, "document": document}
    values = list(fresh.values())
    statement = dialect_insert(eval_texts).on_conflict_do_nothing(index_elements=["sha256"])
    for start in range(0, len(values), _INSERT_ROWS):
        conn.execute(statement, values[start:start + _INSERT_ROWS])


def _reviewed(new: NewExample, who: str) -> NewExample:
    return NewExample(new.name, new.text, new.gold, new.document, who,
                      new.reviewed_at or utcnow(), new.run_id)


def _documents(count: int) -> str:
    return f"{count} document{'' if count == 1 else 's'}"


# --- from a run -------------------------------------------------------------------------


def from_run(store: Store, run_id: str, set_name: str, *, gold: dict[str, Any] | None = None,
             who: str | None = None, text: str | None = None,
             name: str | None = None) -> LabelSet:
    """History's "Mark as correct" (`gold` None: the run's answer is the gold) and "Correct
    it" (`gold`: the corrected answer) on run `run_id`: the run's document, named `name`, else
    its file's name, else `run-<id>`, goes into `set_name` (made for the run's schema when
    there is none) with `who` as its reviewer, now. `text` is the document's text when the run
    kept none (`NeedsText` otherwise)."""
    run = get_run(store, run_id)
    if run is None:
        raise ValueError(f"There is no run {run_id!r} in the history.")
    if (run.shown_status or run.status) == RUNNING:
        raise ValueError(f"Run {run_id[:8]} is still running: mark it when it has ended.")
    if gold is None and not isinstance(run.result, dict):
        raise ValueError(f"Run {run_id[:8]} has no answer to mark as correct (it ended "
                         f"{run.status}): correct it by hand instead.")
    document_name = run.document.name if run.document is not None else None
    body = text if text is not None else run.input_text
    if not body:
        raise NeedsText(run_id, document_name)
    example = NewExample(
        name=(name or document_name or f"run-{run_id[:8]}").strip(), text=body,
        gold=run.result if gold is None else gold, document=run.document, reviewer=who,
        reviewed_at=utcnow(), run_id=run_id)  # fmt: skip
    verb = "marked" if gold is None else "corrected"
    note = f"{verb} {example.name} (run {run_id[:8]})"
    existing = get_set(store, set_name)
    if existing is None:
        try:
            return create_set(store, set_name, run.schema_name, [example],
                              schema_version=run.schema_version, who=who, note=note)
        except ValueError:
            if get_set(store, set_name) is None:  # not made meanwhile by someone else
                raise
    else:
        _same_schema(existing, run.schema_name)
    return put_example(store, set_name, example, who=who, note=note)


def _same_schema(labelled: LabelSet, schema_name: str) -> None:
    if labelled.schema_name.casefold() != schema_name.casefold():
        raise ValueError(f"The set {labelled.name!r} holds answers for the schema "
                         f"{labelled.schema_name!r}; this run used {schema_name!r}.")


# --- gold against the schema --------------------------------------------------------------


def check_gold(store: Store | None, schema_name: str, schema_version: str | int | None,
               gold: Any) -> list[tuple[str, str]]:
    """(field path, reason) for each way `gold` does not fit the schema; [] when it fits.
    A field left out or null means "nothing expected" and fits; a value of the wrong type,
    a choice not offered, or a key the schema has not does not."""
    return fit_gold(resolve_schema(store, schema_name, schema_version).schema, gold)[1]


def fit_gold(schema: type[BaseModel], gold: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(`gold` as the schema reads it, the problems): JSON values of the schema's types
    (`"12.5"` for a number is 12.5), keys as given; problems as `check_gold` says them."""
    if not isinstance(gold, dict):
        return {}, [("", f"the expected answer must be a JSON object, not {_kind(gold)}")]
    problems = _unknown_keys(schema, gold, ())
    try:
        schema.model_validate(gold)
    except ValidationError as exc:
        problems.extend(_type_problems(exc, gold))
    problems = list(dict.fromkeys(problems))  # (a union's members repeat a path)
    first: dict[str, tuple[str, str]] = {}
    for path, reason in problems:
        first.setdefault(path, (path, reason))
    if first:
        return gold, list(first.values())
    try:  # every field optional: the present ones as the schema types them
        typed = partial_model(schema).model_validate(gold)
    except ValidationError:  # (no stricter than the full model; kept as given if it were)
        return gold, []
    return typed.model_dump(mode="json", by_alias=True, exclude_unset=True), []


def _type_problems(exc: ValidationError, gold: dict[str, Any]) -> list[tuple[str, str]]:
    """The full model's errors but those saying a value is missing or null (partial gold)."""
    found = []
    for error in exc.errors(include_url=False):
        if error["type"] == "missing" or error.get("input", ...) is None:
            continue
        found.append((_path(error["loc"], gold), error["msg"]))
    return found


def _path(loc: Sequence[str | int], gold: Any) -> str:
    """The engine's path (`users[0].email`) of a pydantic location, walked through the value
    so a union member's tag (`str`, `function-after[...]`) is left out."""
    segments: list[str | int] = []
    here = gold
    for part in loc:
        keyed = isinstance(here, dict) and isinstance(part, str) and part in here
        indexed = isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)
        if keyed or indexed:
            segments.append(part)
            here = here[part]  # type: ignore[index]
    return paths.join(segments)


def _unknown_keys(schema: type[BaseModel], value: dict[str, Any],
                  at: tuple[str | int, ...]) -> list[tuple[str, str]]:
    """Keys of `value` that are no field of `schema` (a typo would otherwise be dropped and
    the field it meant scored as "nothing expected"), in nested models and lists of them."""
    fields: dict[str, Any] = {}
    for field_name, info in schema.model_fields.items():
        fields[info.alias or field_name] = info.annotation
        fields.setdefault(field_name, info.annotation)
    problems = []
    for key, item in value.items():
        if key not in fields:
            problems.append((paths.join((*at, key)), f"{schema.__name__} has no field {key!r}"))
            continue
        shape = classify(fields[key])
        if shape.kind == MODEL and isinstance(item, dict):
            problems.extend(_unknown_keys(shape.base, item, (*at, key)))
        elif shape.kind == LIST and is_model(classify(shape.item).base) \
                and isinstance(item, list):
            for i, member in enumerate(item):
                if isinstance(member, dict):
                    problems.extend(_unknown_keys(classify(shape.item).base, member,
                                                  (*at, key, i)))
    return problems


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", type(None): "null", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
