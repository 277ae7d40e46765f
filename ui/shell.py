"""The frame around every page, drawn by app.py on each script run before the page itself: the
page's config, input values kept across pages, the local model warmed, the context started,
and the shared sidebar under Streamlit's page list. Only app.py and pages/ import it (a page
file only for `framed`)."""

from __future__ import annotations

import runpy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from engine import settings
from engine.schemas.library import MEETING_NOTE, SAMPLE_FOR_SCHEMA
from ui import context
from ui.keys import EXTRACT_KEYS

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

#: The entry script, which declares the pages and draws the frame.
APP = Path(__file__).resolve().parent.parent / "app.py"
#: Set by the frame, taken by the page it frames: "app.py ran on this script run".
FRAMED_KEY = "fs_framed"

#: Session keys of inputs that must survive moving between pages (Streamlit forgets widget
#: values of widgets a page does not draw, unless they are re-assigned each run).
KEPT = ("fs_text", "fs_sample", "fs_schema", "fs_provider", "fs_model", "fs_mode", "fs_max_tokens",
        EXTRACT_KEYS.picker("chunking"), context.WHO_KEY)

DEFAULTS: dict[str, object] = {
    "fs_schema": "MeetingInfo",
    "fs_sample": SAMPLE_FOR_SCHEMA["MeetingInfo"],
    "fs_text": MEETING_NOTE,
    "fs_max_tokens": 2048,
}


@st.cache_resource(show_spinner=False)
def _warm_local_model() -> bool:
    """Start the embedded model's server once per app process, in the background, so the
    first extraction does not wait for it (FIELDSTREAM_WARM_LOCAL=0 turns this off)."""
    from engine.local.server import start_in_background

    start_in_background()
    return True


def framed() -> bool:
    """Whether app.py's frame is around this page on this script run; if not, app.py runs
    here, and draws this very page inside its frame (False: nothing left for the caller).

    Until the first `st.navigation` call in the process, Streamlit takes a `pages/` folder
    beside the entry script for its older page list, and runs a page file on its own: on a
    fresh server, an address such as `History?run=<id>` does (and AppTest's every run after
    the first). app.py's `st.navigation` then finds the same page, by its URL path, with the
    address's query kept, and turns the older list off for the rest of the process."""
    if st.session_state.pop(FRAMED_KEY, False):
        return True
    runpy.run_path(str(APP), run_name="__main__")
    return False


def frame(page: StreamlitPage, pages: Sequence[StreamlitPage]) -> None:
    """Everything around `page` (the one `st.navigation` picked among `pages`)."""
    st.set_page_config(page_title=f"{page.title} · Fieldstream", page_icon=page.icon,
                       layout="wide")
    if settings.warm_local():
        from engine.providers import default_is_local

        if default_is_local():
            _warm_local_model()
    _keep_inputs()
    context.start_run(pages)
    context.resume_batches()  # once per process: a restarted app takes up its batches
    context.current_user()  # read before the name box is drawn, which then shows it
    _sidebar()
    st.session_state[FRAMED_KEY] = True


def _keep_inputs() -> None:
    for key in KEPT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def _name_changed() -> None:
    st.session_state["fs_who_changed"] = True


def _sidebar() -> None:
    with st.sidebar:
        st.caption(
            "Fieldstream watches a language model fill in a form, one field at a time. "
            "Model answers are shown as plain text."
        )
        st.text_input(
            "OpenAI API key (optional)", type="password", key=context.SESSION_KEY,
            help="Only for this browser session: never saved, never logged. You can also set "
                 "OPENAI_API_KEY or add it to .streamlit/secrets.toml.",
        )
        st.text_input(
            "Your name (for the history)", key=context.WHO_KEY, max_chars=context.WHO_MAX,
            on_change=_name_changed,
            help="Stored with the runs you start, so the history says who ran what. "
                 "Remembered by this browser; there is no sign-in.",
        )
        if st.session_state.pop("fs_who_changed", False):
            context.remember_user()
