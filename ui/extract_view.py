"""The Extract page: inputs, Extract / Stop, the live area while streaming, and the outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.runs.display import grounding_summary, json_text, jsonable
from engine.runs.group import RunnerGroup
from engine.runs.outcome import explain
from engine.runs.runner import Runner
from engine.runs.spec import SOURCE_EXTRACT, RunSpec
from engine.runs.start import start_run
from engine.runs.status import RunStatus
from engine.schemas.fields import schema_rows
from engine.schemas.library import SAMPLE_FOR_SCHEMA, SAMPLES, SCHEMAS
from engine.schemas.saved import SchemaChoice
from ui.keys import EXTRACT_KEYS, RunKeys
from ui.live_form import LiveView, stream_lanes
from ui.page import escape_md, history_store, store_warning, who
from ui.providers_view import load_providers, pick_mode, pick_model, pick_provider

#: The Extract page shows one run, in one lane.
KEYS = EXTRACT_KEYS
#: Said under a run whose ending the history could not take (the store keeps it and writes it
#: when the database answers again).
PENDING_NOTE = "History is not reachable: this run will be saved when it is."
#: Seconds to wait for the end hooks (the history's write) of a run that just ended.
RECORDING_WAIT = 5.0


def _on_sample_change() -> None:
    st.session_state["fs_text"] = SAMPLES[st.session_state["fs_sample"]]


#: A saved schema's entry in the picker: its name and this mark (built-ins keep their names).
SAVED_MARK = " (saved)"


def saved_schemas() -> dict[str, Any]:
    """The saved schemas (newest versions) by picker label; empty when the store is closed."""
    from engine.schemas.saved import list_schemas

    store = history_store()
    return {} if store is None else {s.name + SAVED_MARK: s for s in list_schemas(store)}


def _on_schema_change() -> None:
    """Picking a schema swaps in its sample text, unless the user typed their own text."""
    text = st.session_state.get("fs_text", "")
    if st.session_state["fs_schema"] not in SAMPLE_FOR_SCHEMA:
        return  # a saved schema has no sample text of its own
    if not text.strip() or text in SAMPLES.values():
        sample = SAMPLE_FOR_SCHEMA[st.session_state["fs_schema"]]
        st.session_state["fs_sample"] = sample
        st.session_state["fs_text"] = SAMPLES[sample]


def render_text_input() -> str:
    st.selectbox("Sample text", list(SAMPLES), key="fs_sample", on_change=_on_sample_change,
                 help="Built-in texts to try; edit the text freely.")
    return st.text_area("Text to extract from", key="fs_text", height=320,
                        placeholder="Paste an e-mail, a note, an invoice…")


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
    note = st.session_state.pop("fs_prefill_note", None)
    if note:
        st.info(escape_md(note))  # opened from the History page without the run's text
    store_warning("Extractions still run, without being recorded; saved schemas need the "
                  "history database.")
    text_col, schema_col, settings_col = st.columns([5, 4, 3], gap="medium")
    with text_col:
        text = render_text_input()
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
        if _start_and_stream(text, picked, settings):
            return
    st.divider()
    if runner is not None:
        render_run(runner, KEYS)
    else:
        st.caption("Press Extract to fill in this form.")
        LiveView(picked.schema, KEYS, source=text).build()  # the same tabs as a run's, text first


def _start_and_stream(text: str, picked: SchemaChoice, settings: Settings) -> bool:
    """Start a run and stream it into a fresh live area; False if the inputs are not ready."""
    problem = _cannot_start(text, settings.model)
    if problem:
        st.warning(problem)
        return False
    st.divider()
    caption = _caption(_versioned(picked.name, picked.version), settings.provider.name,
                       settings.model, settings.mode)
    st.session_state.pop(KEYS.pick, None)  # a new run: no field picked in its text yet
    # the placeholders exist before the request
    view = build_view(picked.schema, KEYS, caption, source=text)
    runner = start_run(text, picked.name, picked.schema, settings.provider, settings.model,
                       settings.mode, settings.max_tokens, source=SOURCE_EXTRACT, who=who(),
                       schema_version=picked.version, system=picked.system)
    st.session_state[KEYS.run] = runner
    render_run(runner, KEYS, view)
    return True


def _cannot_start(text: str, model: str) -> str | None:
    if not text.strip():
        return "Paste or pick a text first."
    if not model:
        return "Pick or type a model name first."
    return None


def _versioned(name: str, version: str | None) -> str:
    return f"{name} v{version}" if version else name


def _caption(schema_name: str, provider: str, model: str, mode: str) -> str:
    return escape_md(f"{schema_name} · {provider} · {model} · {mode}")


def build_view(schema: Any, keys: RunKeys, caption: str, **options: Any) -> LiveView:
    """A lane's caption (what runs where) and its empty live area (`options`: LiveView's:
    `source`, the input text in which the values are highlighted; `tabs`)."""
    st.caption(caption)
    view = LiveView(schema, keys, **options)
    view.build()
    return view


def render_run(runner: Runner, keys: RunKeys, view: LiveView | None = None) -> None:
    """A lane's live area: streams its run if it is still going, else redraws its end."""
    if view is None:
        spec = _spec(runner)
        view = build_view(spec.schema, keys,
                          _caption(_versioned(spec.schema_name, spec.schema_version),
                                   spec.provider, spec.model, spec.mode),
                          source=spec.text)
    if not runner.ended:
        stream_lanes({keys.lane: view}, RunnerGroup({keys.lane: runner}))
    view.apply(runner.snapshot_all(), runner, final=True)
    view.draw_picker()
    render_outcome(runner, keys)


def _spec(runner: Runner) -> RunSpec:
    if runner.spec is None:
        raise ValueError("A lane shows runs started by start_run (they carry their spec).")
    return runner.spec


def render_outcome(runner: Runner, keys: RunKeys) -> None:
    """How the run ended in plain words, its problems by field, and its JSON to download."""
    outcome = explain(runner.error)
    box = {"success": st.success, "warning": st.warning}.get(outcome.kind, st.error)
    lines = [f"**{escape_md(outcome.headline)}**"]
    if outcome.hint:
        lines.append(f"What to try: {escape_md(outcome.hint)}")
    box("  \n".join(lines))
    render_recording(runner)
    if outcome.detail:
        with st.expander("Technical detail"):
            st.text(outcome.detail)
    errors = runner.field_errors
    if errors:
        st.markdown("**Problems by field**")
        st.dataframe([{"field": k, "problem": v} for k, v in errors.items()], hide_index=True,
                     width="stretch")
    name = _spec(runner).schema_name
    if runner.status is RunStatus.DONE and runner.result is not None:
        data = jsonable(runner.result)
        render_grounding_summary(runner, data)
        _result_block(json_text(data), f"{name}.json", "Result", keys)
    else:
        text = runner.json_text()
        render_grounding_summary(runner, json.loads(text))
        _result_block(text, f"{name}-partial.json", "What arrived (partial)", keys)


def render_recording(runner: Runner) -> None:
    """Say so when the history could not record the run's ending (it will later). The
    recorder learns how in the runner's thread, right after the run ends: wait for it."""
    from engine.history import recorder
    from engine.store import PENDING

    current = recorder.current()
    if current is None or not runner.wait(RECORDING_WAIT):
        return
    if current.recording(runner.run_id) == PENDING:
        st.warning(PENDING_NOTE)


def render_grounding_summary(runner: Runner, values: Any) -> None:
    """The run's one line on where its values stand in the text: a warning naming the values
    found nowhere (the likely inventions), else a caption."""
    grounding = runner.grounding
    line = grounding_summary(grounding, values)
    if not line:
        return
    if any(not g.found for g in grounding.values()):
        st.warning(escape_md(line))
    else:
        st.caption(escape_md(line))


def _result_block(text: str, filename: str, title: str, keys: RunKeys) -> None:
    st.markdown(f"**{escape_md(title)}**")
    st.code(text, language="json")
    st.download_button("Download JSON", text, file_name=filename, mime="application/json",
                       key=keys.download)
