"""The Extract page: inputs, Extract / Stop, the live area while streaming, and the outcome."""

from __future__ import annotations

import streamlit as st

from engine.documents import Document
from engine.runs.runner import Runner
from engine.runs.spec import SOURCE_EXTRACT, RunSpec
from engine.runs.start import start_run
from engine.schemas.fields import schema_rows
from engine.schemas.library import SAMPLE_FOR_SCHEMA, SAMPLES, SCHEMAS
from engine.schemas.saved import SchemaChoice
from ui import context
from ui.document_input import render_document_input
from ui.keys import EXTRACT_KEYS, UPLOAD_KEYS
from ui.live_form import LiveView
from ui.run_lane import (
    SAVED_MARK,
    Settings,
    build_view,
    lane_caption,
    render_chunking,
    render_run,
    render_settings,
    render_text_input,
    saved_schemas,
)
from ui.text import escape_md

#: The Extract page shows one run, in one lane.
KEYS = EXTRACT_KEYS


def _on_schema_change() -> None:
    """Picking a schema swaps in its sample text, unless the user typed their own text."""
    text = st.session_state.get("fs_text", "")
    if st.session_state["fs_schema"] not in SAMPLE_FOR_SCHEMA:
        return  # a saved schema has no sample text of its own
    if not text.strip() or text in SAMPLES.values():
        sample = SAMPLE_FOR_SCHEMA[st.session_state["fs_schema"]]
        st.session_state["fs_sample"] = sample
        st.session_state["fs_text"] = SAMPLES[sample]


def render_schema_picker() -> SchemaChoice:
    saved = saved_schemas()
    wanted = st.session_state.get("fs_schema")
    if wanted not in {*SCHEMAS, *saved}:  # a run's schema name (from History), or one deleted
        mark = f"{wanted}{SAVED_MARK}"
        st.session_state["fs_schema"] = mark if mark in saved else next(iter(SCHEMAS))
    label = st.selectbox("Schema", [*SCHEMAS, *saved], key="fs_schema",
                         on_change=_on_schema_change,
                         help="The form the model fills in (your saved ones: Schemas page).")
    if label in saved:
        entry = saved[label]
        picked = SchemaChoice.of_saved(entry)
        title = f"Fields of {entry.name} · version {entry.version}"
    else:
        picked, title = SchemaChoice(label, SCHEMAS[label]), f"Fields of {label}"
    with st.expander(escape_md(title), expanded=True):
        st.dataframe(schema_rows(picked.schema), hide_index=True, width="stretch")
    return picked


def render_extract_page() -> None:
    st.title("Extract")
    st.caption("Paste a text or drop a file, pick a schema and a model, press Extract, and "
               "watch the fields fill in.")
    note = st.session_state.pop("fs_prefill_note", None)
    if note:
        st.info(escape_md(note))  # opened from the History page without the run's text
    context.store_warning("Extractions still run, without being recorded; saved schemas need "
                          "the history database.")
    text_col, schema_col, settings_col = st.columns([5, 4, 3], gap="medium")
    with text_col:
        text = render_text_input()
        document = render_document_input(UPLOAD_KEYS["extract"])
        # here, not with the settings: the label is long for their narrow column
        chunking = render_chunking(KEYS.picker("chunking"))
    with schema_col:
        picked = render_schema_picker()
    with settings_col:
        settings = render_settings()
        go_col, stop_col = st.columns(2)
        extract = go_col.button("Extract", type="primary", key="fs_extract", width="stretch",
                                disabled=settings.provider is None)
        stop = stop_col.button("Stop", key="fs_stop", width="stretch")
    runner: Runner | None = st.session_state.get(KEYS.run)
    if stop and runner is not None:
        runner.stop(wait=1.0)
    wants_start = extract or st.session_state.pop(KEYS.autostart, False)
    if wants_start and settings.provider is not None:
        if runner is not None:
            runner.stop()
        if _start_and_stream(text, picked, settings, document, chunking):
            return
    st.divider()
    if runner is not None:
        render_run(runner, KEYS)
    else:
        st.caption("Press Extract to fill in this form.")
        # the same tabs as a run's, text first
        LiveView(picked.schema, KEYS, source=document.text if document else text,
                 document=document.info if document else None).build()


def _start_and_stream(text: str, picked: SchemaChoice, settings: Settings,
                      document: Document | None = None, chunking: str = "auto") -> bool:
    """Start a run (on the document's text when a file is given; split into chunks when it
    does not fit, or when `chunking` is `always`) and stream it into a fresh live area;
    False if the inputs are not ready."""
    info = document.info if document is not None else None
    if document is not None:
        text = document.text
    problem = _cannot_start(text, settings.model)
    if problem:
        st.warning(problem)
        return False
    st.divider()
    caption = lane_caption(picked.name, picked.version, settings.provider.name, settings.model,
                           settings.mode, chunking)
    st.session_state.pop(KEYS.pick, None)  # a new run: no field picked in its text yet
    # the placeholders exist before the request
    view = build_view(picked.schema, KEYS, caption, source=text, document=info)
    spec = RunSpec.for_provider(text, picked.name, picked.schema, settings.provider,
                                settings.model, settings.mode, settings.max_tokens,
                                source=SOURCE_EXTRACT, who=context.current_user(),
                                schema_version=picked.version, system=picked.system,
                                document=info, chunking=chunking)
    runner = start_run(spec, settings.provider)
    st.session_state[KEYS.run] = runner
    render_run(runner, KEYS, view)
    return True


def _cannot_start(text: str, model: str) -> str | None:
    if not text.strip():
        return "Paste or pick a text first."
    if not model:
        return "Pick or type a model name first."
    return None
