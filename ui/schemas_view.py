"""The Schemas page: the library (built-in and saved, versioned), the no-code builder with its
live preview, drafting a schema from a description, and JSON Schema import / export.

The definition being edited lives in session state (`DEFN`); every editor draws it under a key
that includes a generation counter (`GEN`), bumped whenever the definition changes, so an edit is
applied once and the editors redraw from the new definition. Loading a definition (opened from
the library, drafted, imported) goes through `LOAD` and a rerun, because a keyed
`st.data_editor` cannot be redrawn in the same run.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from engine.runs.group import RunnerGroup
from engine.runs.runner import Runner
from engine.runs.spec import SOURCE_EXTRACT, RunSpec
from engine.runs.start import start_run
from engine.runs.status import RunStatus
from engine.schemas import draft
from engine.schemas.convert import from_json_schema, to_json_schema, to_pydantic_source
from engine.schemas.definition import (
    DEFAULT_INSTRUCTION,
    FieldDef,
    SchemaDefinition,
    SchemaDefinitionError,
    build_model,
    parse_definition,
    validate_definition,
)
from engine.schemas.fields import leaves
from engine.schemas.library import SCHEMAS
from engine.schemas.saved import get_schema, list_schemas, save_schema, schema_versions
from engine.store import Store
from engine.stream.terminal import escape, escape_json
from ui import context
from ui.keys import RunKeys, slug
from ui.live_form import LiveView, stream_lanes
from ui.run_lane import render_outcome, render_settings
from ui.text import escape_md

DEFN, GEN, LOAD, FLASH = "fs_sch_defn", "fs_sch_gen", "fs_sch_load", "fs_sch_flash"
SECTION = "fs_sch_section"
NAME, DESCRIPTION, AUTHOR, INSTRUCTION = "fs_sch_name", "fs_sch_desc", "fs_sch_author", \
    "fs_sch_instruction"
SECTIONS = ("Library", "Builder", "Draft from a description", "Import / export")
DRAFT_KEYS, SAMPLE_KEYS = RunKeys("draft"), RunKeys("sample")
DRAFT_LOADED = "fs_sch_draft_loaded"
#: A draft's own token limit (its answer is a schema, not a document's values).
DRAFT_TOKENS = "fs_sch_draft_tokens"
BUILTIN = "built-in · "
STARTER = SchemaDefinition(name="", fields=[FieldDef(name="Name", description="")])


# --- state ------------------------------------------------------------------------------------


def current() -> SchemaDefinition:
    """The definition in the builder (fields from `DEFN`, the rest from its inputs)."""
    data = st.session_state.get(DEFN)
    fields = parse_definition(data).fields if data else list(STARTER.fields)
    return SchemaDefinition(
        name=str(st.session_state.get(NAME) or ""),
        description=str(st.session_state.get(DESCRIPTION) or ""),
        instruction=str(st.session_state.get(INSTRUCTION) or DEFAULT_INSTRUCTION),
        fields=fields,
    )


def _commit_fields(fields: list[FieldDef]) -> None:
    defn = current().model_copy(update={"fields": fields})
    st.session_state[DEFN] = defn.model_dump(mode="json")
    st.session_state[GEN] = st.session_state.get(GEN, 0) + 1


def request_load(defn: SchemaDefinition, note: str) -> None:
    """Load `defn` into the builder on the next run (and show the builder)."""
    st.session_state[LOAD] = defn.model_dump(mode="json")
    st.session_state[FLASH] = note


def _apply_load() -> None:
    data = st.session_state.pop(LOAD, None)
    if data is None:
        return
    defn = parse_definition(data)
    st.session_state[DEFN] = defn.model_dump(mode="json")
    st.session_state[NAME] = defn.name
    st.session_state[DESCRIPTION] = defn.description
    st.session_state[INSTRUCTION] = defn.instruction
    st.session_state[GEN] = st.session_state.get(GEN, 0) + 1
    st.session_state[SECTION] = "Builder"


# --- the page ---------------------------------------------------------------------------------


def render_schemas_page() -> None:
    st.title("Schemas")
    st.caption("The forms the model fills in: build your own without code, draft one from a "
               "description, import or export JSON Schema. Saved schemas appear on the Extract "
               "page at once.")
    # Kept while another section shows.
    for key in (NAME, DESCRIPTION, AUTHOR, INSTRUCTION, DRAFT_TOKENS):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    _apply_load()
    st.session_state.setdefault(INSTRUCTION, DEFAULT_INSTRUCTION)
    st.session_state.setdefault(AUTHOR, context.current_user() or "")
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(escape_md(flash))
    store = context.history_store()  # None: the page still shows built-ins, builds, exports
    context.store_warning("The built-in schemas still work; saved schemas need the history "
                          "database.")
    section = st.radio("Section", SECTIONS, key=SECTION, horizontal=True,
                       label_visibility="collapsed")
    if section == "Library":
        render_library(store)
    elif section == "Builder":
        render_builder(store)
    elif section == "Draft from a description":
        render_draft()
    else:
        render_import_export()


# --- library ----------------------------------------------------------------------------------


def builtin_definition(name: str) -> SchemaDefinition:
    from engine.llm.strict_schema import strict_json_schema

    return from_json_schema(strict_json_schema(SCHEMAS[name]), name=name)


def render_library(store: Store | None) -> None:
    saved = list_schemas(store) if store is not None else []
    # Names saved before control and invisible characters were refused are shown escaped.
    rows = [{"name": escape(s.name), "version": s.version, "description": s.description,
             "author": s.author or "", "created": s.created_at, "updated": s.updated_at,
             "kind": "saved"} for s in saved]
    rows += [{"name": name, "version": None, "description": "", "author": "", "created": None,
              "updated": None, "kind": "built-in"} for name in SCHEMAS]
    st.dataframe(rows, hide_index=True, width="stretch", key="fs_sch_library")
    options = [s.name for s in saved] + [BUILTIN + name for name in SCHEMAS]
    choice = st.selectbox("Open a schema", options, key="fs_sch_open", format_func=escape)
    if not choice:
        return
    if choice.startswith(BUILTIN):
        name = choice[len(BUILTIN):]
        if st.button("Copy into the builder", key="fs_sch_open_builtin"):
            try:
                request_load(builtin_definition(name), f"{name} (built-in) is in the builder; "
                             "save it under a new name to make it your own.")
                st.rerun()
            except SchemaDefinitionError as exc:
                _problems(exc.problems)
        return
    assert store is not None
    versions = schema_versions(store, choice)
    labels = {f"version {v.version} · {v.updated_at:%Y-%m-%d %H:%M}": v.version
              for v in reversed(versions)}
    label = st.selectbox("Version", list(labels), key=f"fs_sch_version_{slug(choice)}")
    chosen = get_schema(store, choice, labels[label]) if label else None
    if chosen is None:
        return
    st.caption(escape_md(escape(f"{chosen.name} · version {chosen.version} · by "
                                f"{chosen.author or 'unknown'} · created "
                                f"{chosen.created_at:%Y-%m-%d}")))
    st.code(escape_json(json.dumps(chosen.definition.model_dump(mode="json"), indent=2,
                                   ensure_ascii=False)), language="json")
    if st.button("Edit in the builder", key="fs_sch_edit", type="primary"):
        request_load(chosen.definition, escape(f"{chosen.name} version {chosen.version} is in "
                                               "the builder; saving a change makes a new "
                                               "version."))
        st.rerun()


# --- builder ----------------------------------------------------------------------------------


def _column_config() -> dict[str, Any]:
    col = st.column_config
    return {
        "name": col.TextColumn("Name", required=True, help="The field's label and JSON key."),
        "type": col.SelectboxColumn("Type", options=list(draft.TYPES), required=True,
                                    default="text"),
        "description": col.TextColumn("Description", help="Sent to the model."),
        "required": col.CheckboxColumn("Required", default=True,
                                       help="Off: the value may be null."),
        "choices": col.TextColumn("Choices", help="For 'choice': allowed values, comma-separated."),
    }


def _editor(fields: list[FieldDef], key: str) -> list[FieldDef]:
    import pandas as pd

    # A frame with every column even when there are no rows yet (an empty list has none).
    frame = pd.DataFrame(draft.field_rows(fields), columns=list(draft.COLUMNS), dtype=object)
    edited = st.data_editor(frame, key=key, num_rows="dynamic", column_config=_column_config(),
                            column_order=draft.COLUMNS, hide_index=True, width="stretch")
    rows = edited.astype(object).where(edited.notna(), None).to_dict("records")
    return draft.rows_to_fields(rows, fields)


def render_builder(store: Store | None) -> None:
    defn = current()
    gen = st.session_state.get(GEN, 0)
    top, side = st.columns([3, 2], gap="medium")
    with top:
        st.text_input("Schema name", key=NAME, placeholder="e.g. Invoice")
        st.text_input("Description", key=DESCRIPTION)
        st.text_input("Author", key=AUTHOR, help="Free text, stored with each saved version.")
        st.text_area("Instruction (the system prompt)", key=INSTRUCTION, height=100)
        st.markdown("**Fields**")
        edited = _editor(defn.fields, f"fs_sch_fields_{gen}")
        if edited != defn.fields:
            _commit_fields(edited)
            st.rerun()
        paths = draft.object_paths(defn.fields)
        if paths:
            labels = {draft.path_label(p): p for p in paths}
            label = st.selectbox("Edit the fields of", list(labels), key="fs_sch_nested")
            path = labels.get(label or "", paths[0])
            children = draft.children_at(defn.fields, path)
            new = _editor(children, f"fs_sch_children_{gen}_{slug(draft.path_label(path))}")
            if new != children:
                _commit_fields(draft.with_children(defn.fields, path, new))
                st.rerun()
        problems = validate_definition(defn)
        if problems:
            _problems(problems)
        save = st.button("Save", key="fs_sch_save", type="primary",
                         disabled=bool(problems) or store is None)
        if save and store is not None and not problems:
            author = str(st.session_state.get(AUTHOR) or "").strip() or None
            saved = save_schema(store, defn, author=author)
            st.session_state[FLASH] = f"Saved {saved.name} version {saved.version}."
            st.rerun()
    with side:
        render_preview(defn, problems)


def _problems(problems: list[str]) -> None:
    # Escaped: a problem about an invisible character shows where it is (`Total\u200b`).
    st.error("  \n".join(escape_md(escape(p)) for p in problems))


def render_preview(defn: SchemaDefinition, problems: list[str]) -> None:
    st.markdown("**Preview**")
    if problems:
        st.caption("The preview appears once the schema is valid.")
        return
    form, schema_tab, source_tab = st.tabs(["Form", "JSON Schema", "Pydantic source"])
    with schema_tab:
        st.code(json.dumps(to_json_schema(defn), indent=2, ensure_ascii=False),
                language="json")
    with source_tab:
        st.code(to_pydantic_source(defn), language="python")
    with form:
        play = st.button("Stream a sample answer", key="fs_sch_sample")
        view = LiveView(build_model(defn), SAMPLE_KEYS)
        view.build()
        if play:
            runner = Runner(leaves(build_model(defn)), draft.sample_factory(defn)).start()
            stream_lanes({SAMPLE_KEYS.lane: view}, RunnerGroup({SAMPLE_KEYS.lane: runner}))
            view.apply(runner.snapshot_all(), runner, final=True)


# --- draft ------------------------------------------------------------------------------------


def render_draft() -> None:
    st.caption("Say what you want to capture; the active model proposes a schema, its fields "
               "appearing as they stream. When it is done the proposal opens in the builder.")
    left, right = st.columns([3, 2], gap="medium")
    with left:
        description = st.text_area("What should the schema capture?", key="fs_sch_draft_desc",
                                   placeholder="Invoices from our suppliers: who, when, lines…")
        sample = st.text_area("A sample text (optional)", key="fs_sch_draft_sample")
    with right:
        st.session_state.setdefault(DRAFT_TOKENS, draft.DRAFT_MAX_TOKENS)
        settings = render_settings(DRAFT_TOKENS, "The longest proposal the model may write: "
                                   "a schema's size, well below a document's answer.")
        go = st.button("Draft a schema", key="fs_sch_draft", type="primary",
                       disabled=settings.provider is None)
    runner: Runner | None = st.session_state.get(DRAFT_KEYS.run)
    if go:
        if not description.strip():
            st.warning("Describe the schema first.")
            return
        if runner is not None:
            runner.stop()
        spec = RunSpec.for_provider(draft.draft_request(description, sample), "Schema draft",
                                    draft.DraftDefinition, settings.provider, settings.model,
                                    settings.mode, settings.max_tokens, source=SOURCE_EXTRACT,
                                    who=context.current_user(), system=draft.DRAFT_INSTRUCTION,
                                    ground=False)  # no source text: nothing to find values in
        runner = start_run(spec, settings.provider)
        st.session_state[DRAFT_KEYS.run] = runner
    if runner is None:
        return
    st.divider()
    view = LiveView(draft.DraftDefinition, DRAFT_KEYS)
    view.build()
    if not runner.ended:
        stream_lanes({DRAFT_KEYS.lane: view}, RunnerGroup({DRAFT_KEYS.lane: runner}))
    view.apply(runner.snapshot_all(), runner, final=True)
    if runner.status is RunStatus.DONE and runner.result is not None:
        try:
            defn = draft.proposal(runner.result)
        except SchemaDefinitionError as exc:
            st.error("The proposal is not a usable schema:  \n"
                     + "  \n".join(escape_md(p) for p in exc.problems))
            return
        if st.session_state.get(DRAFT_LOADED) != runner.run_id:
            st.session_state[DRAFT_LOADED] = runner.run_id
            request_load(defn, f"The proposed schema {defn.name} is in the builder: check it, "
                         "then save.")
            st.rerun()
    else:
        render_outcome(runner, DRAFT_KEYS)


# --- import / export --------------------------------------------------------------------------


def render_import_export() -> None:
    left, right = st.columns(2, gap="medium")
    with left:
        st.markdown("**Import a JSON Schema**")
        text = st.text_area("JSON Schema", key="fs_sch_import_text", height=240)
        name = st.text_input("Name (default: the schema's title)", key="fs_sch_import_name")
        if st.button("Import into the builder", key="fs_sch_import"):
            try:
                defn = from_json_schema(text, name=name.strip() or None)
            except SchemaDefinitionError as exc:
                _problems(exc.problems)
            else:
                request_load(defn, f"Imported {defn.name}: check it in the builder, then save.")
                st.rerun()
    with right:
        st.markdown("**Export the builder's schema**")
        defn = current()
        problems = validate_definition(defn)
        if problems:
            _problems(problems)
            return
        schema_text = json.dumps(to_json_schema(defn), indent=2, ensure_ascii=False)
        st.download_button("Download JSON Schema", schema_text, file_name=f"{slug(defn.name)}"
                           ".schema.json", mime="application/json", key="fs_sch_export_schema")
        st.download_button("Download definition (with instruction)",
                           json.dumps(defn.model_dump(mode="json"), indent=2, ensure_ascii=False),
                           file_name=f"{slug(defn.name)}.definition.json",
                           mime="application/json", key="fs_sch_export_defn")
        st.markdown("Pydantic class, to copy:")
        st.code(to_pydantic_source(defn), language="python")
