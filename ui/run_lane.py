"""A lane: one run's inputs and its live area, as the Extract, Compare and Schemas pages share
them. What a run reads (the input text shared by Extract and Compare, the saved schemas'
picker labels, provider / model / mode / token limit) and what it shows (a caption, the live
form, then the outcome: how it ended, problems by field, where its values stand in the text,
its JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.runs.display import grounding_summary, json_text, jsonable
from engine.runs.group import RunnerGroup
from engine.runs.outcome import explain
from engine.runs.runner import Runner
from engine.runs.spec import RunSpec
from engine.runs.status import RunStatus
from engine.schemas.library import SAMPLES
from ui import context
from ui.keys import RunKeys
from ui.live_form import LiveView, stream_lanes
from ui.provider_widgets import pick_mode, pick_model, pick_provider
from ui.text import escape_md

#: A saved schema's entry in a schema picker: its name and this mark (built-ins keep theirs).
SAVED_MARK = " (saved)"
#: Said under a run whose ending the history could not take (the store keeps it and writes it
#: when the database answers again).
PENDING_NOTE = "History is not reachable: this run will be saved when it is."
#: Seconds to wait for the end hooks (the history's write) of a run that just ended.
RECORDING_WAIT = 5.0


# --- what a run reads -------------------------------------------------------------------------


def _on_sample_change() -> None:
    st.session_state["fs_text"] = SAMPLES[st.session_state["fs_sample"]]


def render_text_input() -> str:
    """The input text and its sample picker (the same keys on Extract and Compare, so the text
    follows the person between them)."""
    st.selectbox("Sample text", list(SAMPLES), key="fs_sample", on_change=_on_sample_change,
                 help="Built-in texts to try; edit the text freely.")
    return st.text_area("Text to extract from", key="fs_text", height=320,
                        placeholder="Paste an e-mail, a note, an invoice…")


def saved_schemas() -> dict[str, Any]:
    """The saved schemas (newest versions) by picker label; empty when the store is closed."""
    from engine.schemas.saved import list_schemas

    store = context.history_store()
    return {} if store is None else {s.name + SAVED_MARK: s for s in list_schemas(store)}


@dataclass
class Settings:
    provider: Any
    model: str
    mode: str
    max_tokens: int


def render_settings(
    tokens_key: str = "fs_max_tokens", tokens_help: str = "The longest answer the model may write."
) -> Settings:
    """Provider, model, mode and token limit (the Extract page's keys, kept across pages;
    `tokens_key`: a token limit of the caller's own, e.g. a schema draft's)."""
    providers, problem = context.providers()
    if problem:
        st.error(escape_md(problem))
    provider = pick_provider(providers)
    model = pick_model(provider) if provider else ""
    mode = pick_mode(provider) if provider else "json_schema"
    max_tokens = st.number_input("Token limit", min_value=64, max_value=32768, step=256,
                                 key=tokens_key, help=tokens_help)
    return Settings(provider, model, mode, int(max_tokens))


#: The Extract page's chunking option, and a Compare lane's.
CHUNK_ALWAYS_LABEL = "Split into chunks even when the text fits"
CHUNK_LANE_LABEL = "Split into chunks"
#: Said in a chunked run's caption and a chunked lane's label (the verdict's columns).
CHUNKED = "chunked"
CHUNK_HELP = ("Extract from the text in parts and merge their answers, as a text too long for "
              "the model is; on Compare, set a chunked lane beside a single-shot one.")


def render_chunking(key: str, label: str = CHUNK_ALWAYS_LABEL, *, toggle: bool = False) -> str:
    """The option that splits a text even when it fits (off by default unless
    FIELDSTREAM_CHUNKING is `always`): a checkbox, whose label wraps in a narrow column, or a
    `toggle` for a short label; returns the run's `chunking`, `auto` or `always`."""
    from engine.settings import CHUNKING_ALWAYS, CHUNKING_AUTO, SettingError, chunking

    if key not in st.session_state:
        try:
            st.session_state[key] = chunking() == CHUNKING_ALWAYS
        except SettingError as exc:  # said once, where the option is; the option still works
            st.warning(escape_md(str(exc)))
            st.session_state[key] = False
    on = (st.toggle if toggle else st.checkbox)(label, key=key, help=CHUNK_HELP)
    return CHUNKING_ALWAYS if on else CHUNKING_AUTO


def pick_lane_run(providers: list[Any], key_of: Any, problem: str | None = None
                  ) -> tuple[Any, str, str, str, str | None]:
    """A lane's provider, model, mode and chunking (Compare's and Evaluate's lanes), each
    widget keyed by `key_of(name)`, and what keeps the lane from running (`problem` first)."""
    provider = pick_provider(providers, key=key_of("provider"))
    model = pick_model(provider, key=key_of("model")) if provider else ""
    mode = pick_mode(provider, key=key_of("mode")) if provider else "json_schema"
    chunking = render_chunking(key_of("chunking"), CHUNK_LANE_LABEL, toggle=True)
    if provider is None:
        problem = problem or "No provider is available."
    elif not model:
        problem = problem or "Pick or type a model name."
    return provider, model, mode, chunking, problem


# --- what a run shows -------------------------------------------------------------------------


def lane_caption(schema: str, version: str | None, provider: str, model: str, mode: str,
                 chunking: str | None = None) -> str:
    """What runs where, as Markdown: `Invoice v2 · Custom server · model · json_schema`, and
    `· chunked` when the text is split even if it fits (`chunking` `always`)."""
    name = f"{schema} v{version}" if version else schema
    chunked = f" · {CHUNKED}" if chunking == "always" else ""
    return escape_md(f"{name} · {provider} · {model} · {mode}{chunked}")


def build_view(schema: Any, keys: RunKeys, caption: str, **options: Any) -> LiveView:
    """A lane's caption (what runs where) and its empty live area (`options`: LiveView's:
    `source`, the input text in which the values are highlighted; `tabs`; `document`, the
    file that text was read from)."""
    st.caption(caption)
    view = LiveView(schema, keys, **options)
    view.build()
    return view


def render_run(runner: Runner, keys: RunKeys, view: LiveView | None = None) -> None:
    """A lane's live area: streams its run if it is still going, else redraws its end."""
    if view is None:
        spec = _spec(runner)
        view = build_view(spec.schema, keys,
                          lane_caption(spec.schema_name, spec.schema_version, spec.provider,
                                       spec.model, spec.mode, spec.chunking),
                          source=spec.text, document=spec.document)
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
