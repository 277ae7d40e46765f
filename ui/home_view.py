"""The home page: what Fieldstream does, a one-click sample, and the active provider."""

from __future__ import annotations

import streamlit as st

from engine.schemas.library import MEETING_NOTE, SAMPLE_FOR_SCHEMA
from ui import context
from ui.keys import EXTRACT_KEYS
from ui.provider_widgets import active_provider, describe, reachability, render_saved_servers
from ui.text import escape_md


def _try_sample() -> None:
    st.session_state["fs_schema"] = "MeetingInfo"
    st.session_state["fs_sample"] = SAMPLE_FOR_SCHEMA["MeetingInfo"]
    st.session_state["fs_text"] = MEETING_NOTE
    st.session_state[EXTRACT_KEYS.autostart] = True


def render_home() -> None:
    st.title("Fieldstream")
    st.markdown(
        "Fieldstream turns free text into a filled-in form with a language model, and lets "
        "you **watch every field arrive live**: names, dates and amounts appear one by one "
        "while the model is still writing, each marked *waiting*, *streaming*, *done* or "
        "*invalid*."
    )
    st.markdown(
        "1. Open **Extract** and paste a text (or pick a sample).\n"
        "2. Pick a schema — the form to fill in — and a model.\n"
        "3. Press **Extract** and watch. Press **Stop** at any time; what arrived is kept."
    )
    if st.button("▶ Try it on the sample meeting note", type="primary", key="fs_try_sample"):
        _try_sample()
        st.switch_page(context.page("Extract"))
    st.page_link(context.page("Extract"), label="Open the Extract page")
    st.divider()
    render_provider_status()
    st.divider()
    render_saved_servers()


def render_provider_status() -> None:
    st.subheader("Model provider")
    # "Your servers" below says what is wrong with the saved-servers file.
    providers, problem = context.providers(saved_problems=False)
    if problem:
        st.error(escape_md(problem))
        return
    provider = active_provider(providers)
    if provider is None:
        st.warning("No provider is configured.")
        return
    st.markdown(f"Active: {describe(provider)}")
    refresh = st.button("Check again", key="fs_recheck")
    message = reachability(provider, refresh=refresh)
    if message is None:
        st.success("Reachable: the model server answers.")
    else:
        st.error(f"Not reachable: {escape_md(message)}")
    others = [p.name for p in providers if p.name != provider.name]
    if others:
        st.caption("Also available: " + escape_md(", ".join(others)) + " (choose on Extract).")
