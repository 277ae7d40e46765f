"""The Extract page: inputs, Extract / Stop, the live area while streaming, and the outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.runs.runner import FINISHED, RunRecord, explain, start_run
from engine.schemas.fields import schema_rows
from engine.schemas.library import SAMPLE_FOR_SCHEMA, SAMPLES, SCHEMAS
from ui.live_form import LiveView
from ui.page import escape_md
from ui.providers_view import load_providers, pick_mode, pick_model, pick_provider

RUN_KEY = "fs_run"
AUTOSTART_KEY = "fs_autostart"


def _on_sample_change() -> None:
    st.session_state["fs_text"] = SAMPLES[st.session_state["fs_sample"]]


def _on_schema_change() -> None:
    """Picking a schema swaps in its sample text, unless the user typed their own text."""
    text = st.session_state.get("fs_text", "")
    if not text.strip() or text in SAMPLES.values():
        sample = SAMPLE_FOR_SCHEMA[st.session_state["fs_schema"]]
        st.session_state["fs_sample"] = sample
        st.session_state["fs_text"] = SAMPLES[sample]


def render_text_input() -> str:
    st.selectbox("Sample text", list(SAMPLES), key="fs_sample", on_change=_on_sample_change,
                 help="Built-in texts to try; edit the text freely.")
    return st.text_area("Text to extract from", key="fs_text", height=320,
                        placeholder="Paste an e-mail, a note, an invoice…")


def render_schema_picker() -> tuple[str, Any]:
    name = st.selectbox("Schema", list(SCHEMAS), key="fs_schema", on_change=_on_schema_change,
                        help="The form the model fills in.")
    schema = SCHEMAS[name]
    with st.expander(f"Fields of {name}", expanded=True):
        st.dataframe(schema_rows(schema), hide_index=True, width="stretch")
    return name, schema


@dataclass
class Settings:
    provider: Any
    model: str
    mode: str
    max_tokens: int


def render_settings() -> Settings:
    providers, problem = load_providers()
    if problem:
        st.error(escape_md(problem))
    provider = pick_provider(providers)
    model = pick_model(provider) if provider else ""
    mode = pick_mode(provider) if provider else "json_schema"
    max_tokens = st.number_input("Token limit", min_value=64, max_value=32768, step=256,
                                 key="fs_max_tokens",
                                 help="The longest answer the model may write.")
    return Settings(provider, model, mode, int(max_tokens))


def render_extract_page() -> None:
    st.title("Extract")
    st.caption("Paste a text, pick a schema and a model, press Extract, and watch the fields "
               "fill in.")
    text_col, schema_col, settings_col = st.columns([5, 4, 3], gap="medium")
    with text_col:
        text = render_text_input()
    with schema_col:
        schema_name, schema = render_schema_picker()
    with settings_col:
        settings = render_settings()
        go_col, stop_col = st.columns(2)
        extract = go_col.button("Extract", type="primary", key="fs_extract", width="stretch",
                                disabled=settings.provider is None)
        stop = stop_col.button("Stop", key="fs_stop", width="stretch")
    record: RunRecord | None = st.session_state.get(RUN_KEY)
    if stop and record is not None:
        record.runner.stop(wait=1.0)
    wants_start = extract or st.session_state.pop(AUTOSTART_KEY, False)
    if wants_start and settings.provider is not None:
        if record is not None:
            record.runner.stop()
        if _start_and_stream(text, schema_name, schema, settings):
            return
    st.divider()
    if record is not None:
        render_run(record)
    else:
        st.caption("Press Extract to fill in this form.")
        LiveView(schema).build()


def _start_and_stream(text: str, schema_name: str, schema: Any, settings: Settings) -> bool:
    """Start a run and stream it into a fresh live area; False if the inputs are not ready."""
    problem = _cannot_start(text, settings.model)
    if problem:
        st.warning(problem)
        return False
    st.divider()
    view = _build_view(schema_name, schema, settings.provider.name, settings.model,
                       settings.mode)
    # The placeholders exist before the request is sent.
    record = start_run(text, schema_name, schema, settings.provider, settings.model,
                       settings.mode, settings.max_tokens)
    st.session_state[RUN_KEY] = record
    render_run(record, view)
    return True


def _cannot_start(text: str, model: str) -> str | None:
    if not text.strip():
        return "Paste or pick a text first."
    if not model:
        return "Pick or type a model name first."
    return None


def _build_view(schema_name: str, schema: Any, provider: str, model: str, mode: str) -> LiveView:
    st.caption(escape_md(f"{schema_name} · {provider} · {model} · {mode}"))
    view = LiveView(schema)
    view.build()
    return view


def render_run(record: RunRecord, view: LiveView | None = None) -> None:
    """The live area for a run: streams it if it is still going, else redraws its end."""
    if view is None:
        view = _build_view(record.schema_name, record.schema, record.provider, record.model,
                           record.mode)
    runner = record.runner
    if not runner.finished:
        stream_into(view, record)
    view.apply(runner.snapshot_all(), runner, final=True)
    render_outcome(record)


def stream_into(view: LiveView, record: RunRecord) -> None:
    """Poll the runner ~20 times a second and redraw what changed. Any rerun (a click, Stop,
    a closed tab) interrupts this loop at its next draw; the finally then stops the LLM
    request. The finally makes no st.* call."""
    runner = record.runner
    try:
        while True:
            update = runner.next_update()
            view.apply(update, runner)
            if update.finished:
                break
    finally:
        runner.stop()


def render_outcome(record: RunRecord) -> None:
    runner = record.runner
    outcome = explain(runner.error)
    box = {"success": st.success, "warning": st.warning}.get(outcome.kind, st.error)
    lines = [f"**{escape_md(outcome.headline)}**"]
    if outcome.hint:
        lines.append(f"What to try: {escape_md(outcome.hint)}")
    box("  \n".join(lines))
    if outcome.detail:
        with st.expander("Technical detail"):
            st.text(outcome.detail)
    errors = dict(getattr(runner.error, "errors", None) or {}) or runner.errors
    if errors:
        st.markdown("**Problems by field**")
        st.dataframe([{"field": k, "problem": v} for k, v in errors.items()], hide_index=True,
                     width="stretch")
    if runner.status == FINISHED and runner.result is not None:
        _result_block(_model_json(runner.result), f"{record.schema_name}.json", "Result")
    else:
        _result_block(runner.json_text(), f"{record.schema_name}-partial.json",
                      "What arrived (partial)")


def _result_block(text: str, filename: str, title: str) -> None:
    st.markdown(f"**{escape_md(title)}**")
    st.code(text, language="json")
    st.download_button("Download JSON", text, file_name=filename, mime="application/json",
                       key="fs_download")


def _model_json(result: Any) -> str:
    if hasattr(result, "model_dump_json"):
        return result.model_dump_json(indent=2)
    if isinstance(result, list):
        items = [r.model_dump(mode="json") if hasattr(r, "model_dump") else r for r in result]
        return json.dumps(items, indent=2, ensure_ascii=False)
    return json.dumps(result, indent=2, ensure_ascii=False, default=str)
