"""The Evaluate page's labelled sets: pick one (`Evaluate?set=<name>` preselects it) and a
version of it (who made it, when, why), see its documents with their gold, correct one's gold
or take it out; **Try the starter set**; **Import** documents (files or ZIPs) with a JSON Lines
or CSV file of their answers, every problem named before anything is saved; **Add by hand**
(a document's text and its gold in the schema's form, `ui.gold_form`); **Export** a version as
a ZIP that imports again.

A widget of the Evaluate page alone, kept apart from its view so each stays readable (a view
imports no other view). Logic lives in `engine.evaluate` (sets, importer, starter); every
change makes a new version of the set, saved by the engine. Names and values are text:
escaped Markdown, or dataframe cells."""

from __future__ import annotations

import functools
import io
import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from engine.evaluate import importer, sets, starter
from engine.evaluate.model import Example, LabelSet, NewExample
from engine.schemas.library import SCHEMAS
from engine.schemas.resolve import resolve_schema
from engine.store import Store
from ui import context
from ui.document_input import EXTENSIONS
from ui.gold_form import gold_form
from ui.run_lane import saved_schemas
from ui.text import escape_md

#: The query parameter naming the set on show (`Evaluate?set=<name>`).
PARAM = "set"
SET_KEY = "fs_eval_set"  # the set picker
NOTICE_KEY = "fs_eval_sets_notice"  # (kind, text) said once on the next run
PLAN_KEY = "fs_eval_import_plan"  # (what was read, ImportPlan) of the Import section
DOCS_UPLOAD, ANSWERS_UPLOAD = "fs_eval_import_docs", "fs_eval_import_answers"
#: How many documents of each starter set "Try the starter set" installs (None: all; a test
#: sets a few).
STARTER_LIMIT: int | None = None
ANSWER_TYPES = ["jsonl", "ndjson", "json", "csv", "tsv"]
NEW_SET = "(a new set)"


def _say(kind: str, text: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, text)


def _show(label_set: str | None) -> None:
    """Show this set on the next run (the query parameter is what the picker follows)."""
    if label_set:
        st.query_params[PARAM] = label_set
    st.rerun()


def render_sets(store: Store) -> tuple[LabelSet | None, list[Example]]:
    """The set picker and its sections; returns the set version on show (None: no set yet)
    and its documents (without their text)."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        {"error": st.error, "warning": st.warning}.get(notice[0], st.success)(
            escape_md(notice[1]))
    all_sets = sets.list_sets(store)
    names = [s.name for s in all_sets]
    wanted = st.query_params.get(PARAM)
    if wanted and wanted not in names:
        st.warning(escape_md(f"There is no labelled set {wanted} here."))
    if wanted in names:
        st.session_state[SET_KEY] = wanted
    elif st.session_state.get(SET_KEY) not in names:
        st.session_state[SET_KEY] = names[0] if names else None
    pick_col, version_col, starter_col = st.columns([4, 4, 2], vertical_alignment="bottom")
    with starter_col:
        if st.button("Try the starter set", key="fs_eval_starter", width="stretch",
                     help="Install the documents with hand-written answers that ship with "
                          "Fieldstream, and show them."):
            _install_starter(store, names)
    if not names:
        pick_col.caption("No labelled set yet: try the starter set, import one, or add "
                         "documents by hand below.")
        render_import(store, None)
        render_by_hand(store, None)
        return None, []
    name = pick_col.selectbox("Labelled set", names, key=SET_KEY, on_change=_picked_set,
                              help="Documents with their expected answers (gold).")
    with version_col:
        label_set = _pick_version(store, name)
    if label_set is None:
        return None, []
    st.caption(escape_md(_set_line(label_set)))
    docs = sets.examples(store, label_set.name, label_set.version, with_text=False)
    with st.expander(f"Documents ({len(docs):,}) and their gold", expanded=False):
        render_documents(store, label_set, docs)
    with st.expander("Versions"):
        table("fs_eval_versions", versions_frame(sets.versions(store, label_set.name)),
              hide_index=True)
    render_import(store, label_set)
    render_by_hand(store, label_set)
    render_export(store, label_set)
    return label_set, docs


def table(key: str, data: Any, **options: Any) -> None:
    """A table shown (not picked from) in a container keyed `key`: a display dataframe has no
    key of its own, and tests and styles find it by its container."""
    with st.container(key=key):
        st.dataframe(data, width="stretch", **options)


def _picked_set() -> None:
    st.query_params[PARAM] = st.session_state[SET_KEY]


def _install_starter(store: Store, names: list[str]) -> None:
    """Install each starter set not here yet (installing one twice gives the one there), then
    show the first."""
    who = context.current_user()
    shown, installed = [], []
    for name in starter.STARTER_SETS:
        set_name = starter.starter_set_name(name, STARTER_LIMIT)
        try:
            starter.install_starter(store, name, limit=STARTER_LIMIT, who=who)
        except ValueError as exc:
            _say("error", f"The starter set {name} could not be installed: {exc}")
            _show(None)
        shown.append(set_name)
        if set_name not in names:
            installed.append(set_name)
    _say("success", f"Installed the starter sets: {', '.join(installed)}." if installed
         else "The starter sets are installed already.")
    _show(shown[0])


def _pick_version(store: Store, name: str) -> LabelSet | None:
    found = sets.versions(store, name)
    if not found:
        return None
    by_version = {s.version: s for s in found}
    key = f"fs_eval_set_version_{name}"
    if st.session_state.get(key) not in by_version:
        st.session_state[key] = found[0].version
    version = st.selectbox("Version", list(by_version), key=key,
                           format_func=lambda v: _version_label(by_version[v]),
                           help="Every change makes a new version; an evaluation pins one.")
    return by_version[version]


def _version_label(s: LabelSet) -> str:
    who = f" · {s.created_by}" if s.created_by else ""
    return f"v{s.version} · {s.created_at:%Y-%m-%d %H:%M}{who} · {s.size:,} documents"


def _set_line(s: LabelSet) -> str:
    schema = f"{s.schema_name} v{s.schema_version}" if s.schema_version else s.schema_name
    note = f" · {s.note}" if s.note else ""
    return f"Schema {schema} · version {s.version} of {s.created_at:%Y-%m-%d %H:%M}{note}"


def versions_frame(found: list[LabelSet]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"version": s.version, "made": s.created_at.strftime("%Y-%m-%d %H:%M"),
          "by": s.created_by or "", "documents": s.size, "note": s.note or ""} for s in found],
        columns=["version", "made", "by", "documents", "note"])


def documents_frame(docs: list[Example]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"#": d.idx + 1, "document": d.name,
          "reviewed by": d.reviewer or "",
          "reviewed": d.reviewed_at.strftime("%Y-%m-%d %H:%M") if d.reviewed_at else "",
          "from run": d.run_id or "",
          "gold": json.dumps(d.gold, ensure_ascii=False, default=str)} for d in docs],
        columns=["#", "document", "reviewed by", "reviewed", "from run", "gold"])


# --- a set's documents -------------------------------------------------------------------------


def render_documents(store: Store, label_set: LabelSet, docs: list[Example]) -> None:
    key = f"fs_eval_docs_{label_set.name}_{label_set.version}"
    event = st.dataframe(documents_frame(docs), hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key=key,
                         column_config={"gold": st.column_config.TextColumn("gold")})
    chosen = event.selection.rows if event is not None else []
    if not chosen or chosen[0] >= len(docs):
        st.caption("Click a row for its text and gold.")
        return
    idx = docs[chosen[0]].idx
    example = next((e for e in sets.examples(store, label_set.name, label_set.version)
                    if e.idx == idx), None)
    if example is None:
        return
    text_col, gold_col = st.columns(2, gap="medium")
    with text_col:
        st.markdown(f"**{escape_md(example.name)}**")
        with st.container(height=260):
            st.text(example.text)
    with gold_col:
        st.markdown("**Gold**")
        st.code(json.dumps(example.gold, ensure_ascii=False, indent=2, default=str),
                language="json")
    with st.expander("Correct its gold"):
        schema = _schema_class(store, label_set)
        if schema is not None:
            gold = gold_form(schema, example.gold,
                             key=f"fs_eval_fix_{label_set.name}_{label_set.version}_{idx}")
            if st.button("Save as a new version", key="fs_eval_fix_save",
                         disabled=gold is None) and _fits(store, label_set.schema_name,
                                                          label_set.schema_version, gold):
                _put(store, label_set.name, NewExample(
                    example.name, example.text, gold or {}, document=example.document,
                    reviewer=context.current_user(), reviewed_at=datetime.now(UTC),
                    run_id=example.run_id), note=f"corrected {example.name}")
    if st.button("Take this document out of the set", key="fs_eval_remove",
                 help="Makes a new version without it; older versions keep it."):
        try:
            new = sets.remove_example(store, label_set.name, example.name,
                                      who=context.current_user())
        except ValueError as exc:
            st.error(escape_md(str(exc)))
            return
        st.session_state.pop(f"fs_eval_set_version_{label_set.name}", None)  # show the new one
        _say("success", f"{example.name} taken out: version {new.version}.")
        _show(label_set.name)


def _schema_class(store: Store, label_set: LabelSet) -> Any | None:
    try:
        return resolve_schema(store, label_set.schema_name, label_set.schema_version).schema
    except ValueError as exc:
        st.error(escape_md(str(exc)))
        return None


def _fits(store: Store, schema_name: str, schema_version: Any, gold: Any) -> bool:
    """Whether the gold fits the schema; else every problem named (field and reason)."""
    problems = sets.check_gold(store, schema_name, schema_version, gold)
    if problems:
        st.error(escape_md("The answer does not fit the schema: " + "; ".join(
            f"{path or '(the answer)'}: {reason}" for path, reason in problems)))
    return not problems


def _put(store: Store, name: str, new: NewExample, *, note: str, forget: str | None = None) -> None:
    try:
        made = sets.put_example(store, name, new, who=context.current_user(), note=note)
    except ValueError as exc:
        st.error(escape_md(str(exc)))
        return
    st.session_state.pop(f"fs_eval_set_version_{name}", None)  # show the new version
    if forget:
        _forget(forget)
    _say("success", f"Saved {new.name}: {made.name} version {made.version}.")
    _show(name)


# --- a schema for a new set ----------------------------------------------------------------------


def _pick_new_schema(store: Store, key: str) -> Any | None:
    """A schema for a new set (built-in, or a saved one in its newest version): a
    `SchemaChoice`, or None (said)."""
    saved = saved_schemas()
    options = [*SCHEMAS, *saved]
    if st.session_state.get(key) not in options:
        st.session_state[key] = next(iter(SCHEMAS))
    label = st.selectbox("Schema of the gold", options, key=key)
    try:
        if label in saved:
            return resolve_schema(store, saved[label].name, saved[label].version)
        return resolve_schema(store, label, None)
    except ValueError as exc:
        st.error(escape_md(str(exc)))
        return None


def _target(store: Store, label_set: LabelSet | None, what: str) -> tuple[str, Any | None, bool]:
    """Into which set (the one on show, or a new one named here) and its schema: (name,
    SchemaChoice or None, is new)."""
    options = ([label_set.name] if label_set else []) + [NEW_SET]
    into = st.radio("Into", options, key=f"fs_eval_{what}_into", horizontal=True,
                    format_func=lambda o: o if o == NEW_SET else f"{o} (a new version)")
    if into != NEW_SET and label_set is not None:
        try:
            return into, resolve_schema(store, label_set.schema_name,
                                        label_set.schema_version), False
        except ValueError as exc:
            st.error(escape_md(str(exc)))
            return into, None, False
    name = st.text_input("New set's name", key=f"fs_eval_{what}_name", max_chars=100,
                         placeholder="March invoices").strip()
    schema = _pick_new_schema(store, f"fs_eval_{what}_schema")
    taken = next((s.name for s in sets.list_sets(store)
                  if name and s.name.casefold() == name.casefold()), None)
    if taken is not None:  # a "new" set must not quietly become a version of another
        st.error(escape_md(f"There is a set named {taken} already: pick it (then Into: "
                           f"{taken}) to add a version of it, or give another name."))
        return name, None, True
    return name, schema, True


def _forget(what: str) -> None:
    """Once saved, the section starts again on the set just shown (its Into, name and schema
    otherwise still say "a new set" of the name just made)."""
    for name in [k for k in st.session_state if str(k).startswith(f"fs_eval_{what}_")]:
        del st.session_state[name]


# --- import ------------------------------------------------------------------------------------


def render_import(store: Store, label_set: LabelSet | None) -> None:
    with st.expander("Import documents and their answers"):
        st.caption("Documents (files, or ZIPs of them) and one file of expected answers, "
                   "matched by file name: JSON Lines (`{\"file\": \"a.pdf\", \"answer\": "
                   "{...}}` a line) or CSV (a `file` column, then a column per field). A ZIP "
                   "exported here holds its own answers.jsonl.")
        docs = st.file_uploader("Documents", type=[*EXTENSIONS, "zip"], key=DOCS_UPLOAD,
                                accept_multiple_files=True) or []
        answers = st.file_uploader("Answers (JSON Lines or CSV; none: an answers.jsonl or "
                                   "answers.csv among the documents)", type=ANSWER_TYPES,
                                   key=ANSWERS_UPLOAD)
        name, schema, _ = _target(store, label_set, "import")
        read = (tuple(d.file_id for d in docs), answers.file_id if answers else None,
                name, schema.name if schema else None, schema.version if schema else None)
        if st.button("Read and check", key="fs_eval_import_read",
                     disabled=not (docs and schema and name)):
            plan = _read_import(store, docs, answers, schema)
            st.session_state[PLAN_KEY] = (read, plan) if plan is not None else None
        kept = st.session_state.get(PLAN_KEY)
        if not kept or kept[0] != read:
            return
        plan = kept[1]
        render_plan(plan)
        if st.button(f"Import {len(plan.examples):,} documents", key="fs_eval_import_go",
                     type="primary", disabled=not plan.examples):
            try:
                made = importer.import_set(store, name, schema.name, plan,
                                           schema_version=schema.version,
                                           who=context.current_user())
            except ValueError as exc:
                st.error(escape_md(str(exc)))
                return
            st.session_state.pop(PLAN_KEY, None)
            st.session_state.pop(f"fs_eval_set_version_{name}", None)
            _forget("import")
            _say("success", f"Imported {len(plan.examples):,} documents: {made.name} version "
                            f"{made.version}.")
            _show(made.name)


def _read_import(store: Store, docs: list[Any], answers: Any, schema: Any) -> Any | None:
    check = functools.partial(sets.check_gold, store, schema.name, schema.version)
    try:
        with st.spinner("Reading the documents…"):
            return importer.read_import(
                [(d.name, d.getvalue()) for d in docs],
                (answers.name, answers.getvalue()) if answers is not None else None, check=check)
    except ValueError as exc:  # a file that cannot be read at all (DocumentError is one)
        st.error(escape_md(str(exc)))
        return None


def render_plan(plan: Any) -> None:
    """What an import would do: the documents matched, and every problem named."""
    if plan.problems:
        st.warning(escape_md(f"{len(plan.problems):,} problems: these documents are left out "
                             "unless you fix the files and read them again."))
        table("fs_eval_import_problems", problems_frame(plan.problems), hide_index=True)
    else:
        st.success(escape_md(f"Every document has an answer that fits the schema: "
                             f"{len(plan.examples):,} documents."))


def problems_frame(problems: list[Any]) -> pd.DataFrame:
    return pd.DataFrame([{"document": p.name or "", "field": p.field or "",
                          "problem": p.reason} for p in problems],
                        columns=["document", "field", "problem"])


# --- by hand -------------------------------------------------------------------------------------


def render_by_hand(store: Store, label_set: LabelSet | None) -> None:
    with st.expander("Add a document by hand"):
        name, schema, new = _target(store, label_set, "hand")
        doc_name = st.text_input("Document name", key="fs_eval_hand_doc", max_chars=200,
                                 placeholder="invoice-42.txt").strip()
        text = st.text_area("Its text", key="fs_eval_hand_text", height=180)
        if schema is None:
            return
        st.markdown("**Its expected answer (gold)**")
        gold = gold_form(schema.schema, {}, key=f"fs_eval_hand_gold_{schema.name}")
        why = ("Name the set first." if not name else "Name the document first." if not doc_name
               else "Paste its text first." if not text.strip()
               else "Fix the answer first." if gold is None else None)
        if st.button("Add to the set", key="fs_eval_hand_add", type="primary",
                     disabled=why is not None, help=why) and _fits(
                         store, schema.name, schema.version, gold):
            example = NewExample(doc_name, text, gold or {}, reviewer=context.current_user(),
                                 reviewed_at=datetime.now(UTC))
            if not new:
                _put(store, name, example, note=f"added {doc_name}", forget="hand")
                return
            try:
                made = sets.create_set(store, name, schema.name, [example],
                                       schema_version=schema.version,
                                       who=context.current_user(), note=f"added {doc_name}")
            except ValueError as exc:
                st.error(escape_md(str(exc)))
                return
            _forget("hand")
            _say("success", f"Made the set {made.name} with {doc_name}.")
            _show(made.name)


# --- export --------------------------------------------------------------------------------------


def export_bytes(store: Store, name: str, version: int) -> bytes:
    """The set version as a ZIP (documents + answers.jsonl), made when the button is clicked
    (no Streamlit call here: it runs outside the script)."""
    out = io.BytesIO()
    importer.export_set(store, name, version, out)
    return out.getvalue()


def render_export(store: Store, label_set: LabelSet) -> None:
    st.download_button(
        f"Export version {label_set.version} (ZIP)",
        data=functools.partial(export_bytes, store, label_set.name, label_set.version),
        file_name=f"{_file_stem(label_set.name)}-v{label_set.version}.zip",
        mime="application/zip", key="fs_eval_export", on_click="ignore",
        icon=":material/download:",
        help="Its documents and an answers.jsonl: Import reads it back.")


def _file_stem(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "set"

