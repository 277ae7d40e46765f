"""An editable form of a schema's field tree: a run's answer corrected into a gold answer
(History's "Correct it"; by hand on the Evaluate page).

The form follows the field tree the live form draws (`engine.schemas.fields`, the engine's one
classifier `engine.stream.types.classify`): a scalar is one input (text, number, a choice for a
Literal, an enum or yes/no), a nested model a bordered group of its fields, a list of scalars a
text area of one item per line, a list of flat models a table whose rows are added and removed
(`st.data_editor(num_rows="dynamic")`), anything deeper (a list of nested models, a dict, `Any`,
a fixed tuple, a model that contains itself) a JSON text area. An empty input is null; an empty
list is the value it was (null stays null) or `[]`.

`gold_form` returns the edited value, or None while an input cannot be read (invalid JSON, a
line that is no number: each says so under its input). It does not validate the answer against
the schema: the caller asks `engine.evaluate.sets.check_gold`, which names field and reason.
Every widget key starts with the caller's `key`. Values are shown in inputs, never as HTML.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import pandas as pd
import streamlit as st
from pydantic import BaseModel

from engine.stream import paths
from engine.stream.types import DICT, LIST, MODEL, TEXT, WHOLE, classify, is_model, strip
from ui.keys import slug
from ui.text import escape_md

__all__ = ["Column", "field_key", "gold_form", "table_frame", "table_rows", "to_model"]

EMPTY = "—"  # how a choice left empty reads
_DEEP = (MODEL, LIST, DICT, WHOLE)  # kinds a scalar input cannot hold
YES_NO = {True: "yes", False: "no"}


def field_key(key: str, path: str) -> str:
    """The widget key of the field at `path` in the form keyed `key`: the path's slug (readable
    in tests) and a short hash of the path (two paths with one slug, `a.b` and `a_b`, stay two)."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:6]
    return f"{key}_{slug(path)}_{digest}"


def to_model(schema: type[BaseModel] | dict[str, Any]) -> type[BaseModel]:
    """The pydantic model of a schema given as its class or its JSON Schema (the strict subset
    saved schemas use; `SchemaDefinitionError` names what it cannot read)."""
    if is_model(schema):
        return schema  # type: ignore[return-value]
    from engine.schemas.convert import from_json_schema
    from engine.schemas.definition import build_model

    return build_model(from_json_schema(schema))  # type: ignore[arg-type]


def gold_form(schema: type[BaseModel] | dict[str, Any], value: dict[str, Any] | None, *,
              key: str) -> dict[str, Any] | None:
    """Draw the form of `schema` filled with `value`; the edited value, or None while an input
    cannot be read (its problem shown under it)."""
    form = _Form(key)
    edited = _model_fields(form, to_model(schema), value if isinstance(value, dict) else {},
                           "", frozenset())
    return None if form.problems else edited


@dataclass
class _Form:
    key: str
    problems: list[str] = field(default_factory=list)

    def key_of(self, path: str, what: str = "") -> str:
        return field_key(self.key, path) + (f"_{what}" if what else "")


def _model_fields(form: _Form, model: type[BaseModel], value: dict[str, Any], parent: str,
                  seen: frozenset[type]) -> dict[str, Any]:  # fmt: skip
    seen = seen | {model}
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        name = info.alias or name  # the JSON key, as the engine's paths spell it
        out[name] = _field(form, paths.child(parent, name), name, info.annotation,
                           info.description or "", value.get(name), seen)
    return out


def _field(form: _Form, path: str, name: str, annotation: Any, help_text: str, value: Any,
           seen: frozenset[type]) -> Any:  # fmt: skip
    shape = classify(annotation)
    help_text = help_text or None  # type: ignore[assignment]
    if shape.kind == MODEL and shape.base not in seen:
        return _group(form, path, name, shape.base, shape.nullable, value, seen)
    if shape.kind == LIST:
        item = classify(shape.item)
        if item.kind == MODEL and item.base not in seen and _flat(item.base):
            return _table(form, path, name, item.base, value, help_text)
        if item.kind not in _DEEP:
            return _items(form, path, name, shape.item, value, help_text)
        return _json_area(form, path, name, value, help_text)
    if shape.kind in _DEEP:  # a dict, Any, a fixed tuple, a model inside itself
        return _json_area(form, path, name, value, help_text)
    return _scalar(form, path, name, shape.base, value, help_text)


# --- scalars ------------------------------------------------------------------------------------


def _choices(tp: Any) -> list[Any] | None:
    """A Literal's or an enum's values, yes/no for a bool; None for a free value."""
    if get_origin(tp) is Literal:
        return list(get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [m.value for m in tp]
    if tp is bool:
        return [True, False]
    return None


def _scalar(form: _Form, path: str, name: str, tp: Any, value: Any, help_text: str | None
            ) -> Any:  # fmt: skip
    wkey = form.key_of(path)
    choices = _choices(tp)
    if choices is not None:
        options = [*choices, *([value] if value is not None and value not in choices else [])]
        picked = st.selectbox(name, options, index=options.index(value) if value in options
                              else None, key=wkey, help=help_text, placeholder=EMPTY,
                              format_func=lambda v: YES_NO.get(v, str(v)) if tp is bool
                              else str(v))  # fmt: skip
        return picked
    if tp in (int, float) and (value is None or _is_number(value)):
        return _number(name, tp, value, wkey, help_text)
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    if "\n" in text or len(text) > 120:
        typed = st.text_area(name, text, key=wkey, help=help_text)
    else:
        typed = st.text_input(name, text, key=wkey, help=help_text)
    if not typed.strip():
        return None
    return _as_number(typed) if tp in (int, float) else typed


def _as_number(text: str) -> Any:
    """A number field's text: the number it spells, else the text (the schema check names it)."""
    try:
        number = json.loads(text)
    except ValueError:
        return text
    return number if isinstance(number, int | float) and not isinstance(number, bool) else text


def _is_number(value: Any) -> bool:
    """A JSON number a number input can hold (the browser's safe integers: a bigger one,
    or NaN, is edited as text rather than rounded)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and abs(value) <= 2**53)


def _number(name: str, tp: Any, value: Any, wkey: str, help_text: str | None) -> Any:
    if tp is int and (value is None or float(value).is_integer()):
        return st.number_input(name, value=None if value is None else int(value), step=1,
                               key=wkey, help=help_text, placeholder=EMPTY)
    shown = None if value is None else float(value)
    return st.number_input(name, value=shown, step=0.01, format=_float_format(shown),
                           key=wkey, help=help_text, placeholder=EMPTY)


def _float_format(value: float | None) -> str:
    """Two decimals, or as many as the value has (up to 10): the input shows it whole."""
    if value is None or not math.isfinite(value):
        return "%.2f"
    decimals = len(repr(value).partition(".")[2].rstrip("0")) if "e" not in repr(value) else 10
    return f"%.{min(max(decimals, 2), 10)}f"


# --- groups -------------------------------------------------------------------------------------


def _group(form: _Form, path: str, name: str, model: type[BaseModel], nullable: bool,
           value: Any, seen: frozenset[type]) -> dict[str, Any] | None:  # fmt: skip
    with st.container(border=True, key=form.key_of(path, "group")):
        st.markdown(f"**{escape_md(name)}**")
        edited = _model_fields(form, model, value if isinstance(value, dict) else {}, path, seen)
    if nullable and all(v is None for v in edited.values()):
        return None  # an optional group left empty is no group
    return edited


# --- lists of scalars ---------------------------------------------------------------------------


def _items(form: _Form, path: str, name: str, item: Any, value: Any, help_text: str | None
           ) -> list[Any] | None:  # fmt: skip
    """One item per line; a list whose text items hold a line break is edited as JSON."""
    listed = value if isinstance(value, list) else []
    if any(isinstance(v, str) and "\n" in v for v in listed):
        return _json_area(form, path, name, value, help_text)
    base, _ = strip(item)
    choices = _choices(base)
    if choices is not None and base is not bool:
        options = [*choices, *(v for v in listed if v not in choices)]
        picked = st.multiselect(name, options, default=[v for v in listed if v in options],
                                key=form.key_of(path), help=help_text, placeholder=EMPTY)
        return picked or ([] if value is not None else None)
    text = "\n".join(v if isinstance(v, str) else json.dumps(v) for v in listed)
    typed = st.text_area(f"{name} (one per line)", text, key=form.key_of(path), help=help_text)
    lines = [line.strip() for line in typed.splitlines() if line.strip()]
    if not lines:
        return [] if value is not None else None
    if classify(base).kind == TEXT:
        return lines
    return _parsed_lines(form, name, lines, base)


def _parsed_lines(form: _Form, name: str, lines: list[str], base: Any) -> list[Any] | None:
    """Lines of numbers (or other JSON values) read one by one; a bad line named."""
    out = []
    for n, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except ValueError:
            item = line  # a date, a word: kept as written for the schema check to judge
        if base in (int, float) and not _is_number(item):
            problem = f"{name}: line {n} ({line!r}) is not a number."
            st.error(escape_md(problem))
            form.problems.append(problem)
            return None
        out.append(item)
    return out


# --- tables (lists of flat models) --------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a table: its JSON key and the kind of value it holds."""

    name: str
    kind: Literal["text", "int", "float", "bool", "choice"]
    choices: tuple[Any, ...] = ()
    help: str = ""


def _flat(model: type[BaseModel]) -> bool:
    """Every field a scalar: its items fit a table's rows."""
    return all(classify(info.annotation).kind not in _DEEP
               for info in model.model_fields.values())


def columns_of(model: type[BaseModel]) -> list[Column]:
    cols = []
    for name, info in model.model_fields.items():
        base, _ = strip(info.annotation)
        choices = _choices(base)
        kind = ("bool" if base is bool else "choice" if choices is not None
                else "int" if base is int else "float" if base is float else "text")
        cols.append(Column(info.alias or name, kind, tuple(choices or ()),
                           info.description or ""))  # fmt: skip
    return cols


_DTYPES = {"int": "Int64", "float": "Float64", "bool": "boolean", "text": "object",
           "choice": "object"}


def table_frame(columns: list[Column], rows: Any) -> pd.DataFrame:
    """A list of items as the editor's table: one column per field, nullable dtypes (a missing
    number is <NA>, not 0). A value of another type than its column's (a model's slip) is
    shown as text, so nothing is lost to a cast."""
    items = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    data: dict[str, list[Any]] = {c.name: [] for c in columns}
    frame_cols = list(columns)
    for row in items:
        for c in columns:
            data[c.name].append(row.get(c.name))
    for i, c in enumerate(columns):
        values = data[c.name]
        if not all(v is None or _fits(c, v) for v in values):
            frame_cols[i] = Column(c.name, "text", help=c.help)
            data[c.name] = [v if v is None or isinstance(v, str) else json.dumps(v)
                            for v in values]
    frame = pd.DataFrame({c.name: pd.Series(data[c.name], dtype=_DTYPES[c.kind])
                          for c in frame_cols})  # fmt: skip
    return frame.reset_index(drop=True)


def _fits(column: Column, value: Any) -> bool:
    if column.kind == "int":
        return _is_number(value) and float(value).is_integer()
    if column.kind == "float":
        return _is_number(value)
    if column.kind == "bool":
        return isinstance(value, bool)
    if column.kind == "choice":
        return value in column.choices
    return isinstance(value, str)


def table_rows(columns: list[Column], frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The editor's table back as items: <NA> and empty text are null, numbers their own type;
    a row left wholly empty (added, never filled) is no item."""
    out = []
    for record in frame.to_dict("records"):
        item = {c.name: _cell(c, record.get(c.name)) for c in columns}
        if any(v is not None for v in item.values()):
            out.append(item)
    return out


def _cell(column: Column, value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if column.kind in ("int", "float"):  # a cell shown as text (a slip), read back
            try:
                return _cell(column, float(text))
            except ValueError:
                return text
        return value
    if column.kind == "int" and float(value).is_integer():
        return int(value)
    if column.kind == "float":
        return float(value)
    if column.kind == "bool":
        return bool(value)
    return value.item() if hasattr(value, "item") else value  # numpy scalars to Python


def _column_config(frame: pd.DataFrame, columns: list[Column]) -> dict[str, Any]:
    cc = st.column_config
    config: dict[str, Any] = {}
    for c in columns:
        shown_as_text = frame[c.name].dtype == object and c.kind in ("int", "float", "bool")
        help_text = c.help or None
        if c.kind == "int" and not shown_as_text:
            config[c.name] = cc.NumberColumn(c.name, step=1, format="%d", help=help_text)
        elif c.kind == "float" and not shown_as_text:
            config[c.name] = cc.NumberColumn(c.name, help=help_text)
        elif c.kind == "bool" and not shown_as_text:
            config[c.name] = cc.CheckboxColumn(c.name, help=help_text)
        elif c.kind == "choice":
            options = [*c.choices, *(v for v in frame[c.name].dropna() if v not in c.choices)]
            config[c.name] = cc.SelectboxColumn(c.name, options=options, help=help_text)
        else:
            config[c.name] = cc.TextColumn(c.name, help=help_text)
    return config


def _table(form: _Form, path: str, name: str, model: type[BaseModel], value: Any,
           help_text: str | None) -> list[dict[str, Any]] | None:  # fmt: skip
    columns = columns_of(model)
    frame = table_frame(columns, value)
    st.markdown(f"**{escape_md(name)}**", help=help_text)
    edited = st.data_editor(frame, key=form.key_of(path), num_rows="dynamic", hide_index=True,
                            width="stretch", column_config=_column_config(frame, columns))
    rows = table_rows(columns, edited)
    return rows if rows or value is not None else None


# --- anything deeper: JSON ----------------------------------------------------------------------


def _json_area(form: _Form, path: str, name: str, value: Any, help_text: str | None) -> Any:
    text = "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)
    typed = st.text_area(f"{name} (JSON)", text, key=form.key_of(path), help=help_text,
                         height=max(90, min(400, 24 * (text.count("\n") + 2))))
    if not typed.strip():
        return None
    try:
        return json.loads(typed)
    except json.JSONDecodeError as exc:
        problem = (f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                   f"{exc.colno}). Fix it or empty the box.")
        st.error(escape_md(problem))
        form.problems.append(problem)
        return None
