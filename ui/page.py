"""The one set-up every page calls: page config, kept input values, the sidebar."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import streamlit as st

from engine import settings
from engine.schemas.library import MEETING_NOTE, SAMPLE_FOR_SCHEMA

if TYPE_CHECKING:
    from engine.store import Store

#: Session keys of inputs that must survive moving between pages (Streamlit forgets widget
#: values of widgets a page does not draw, unless they are re-assigned each run).
KEPT = ("fs_text", "fs_sample", "fs_schema", "fs_provider", "fs_model", "fs_mode", "fs_max_tokens",
        "fs_who")

#: This script run's attempt to open the history: (store, None) or (None, why not).
STORE_KEY = "fs_store_opened"

#: Who is running: typed once per browser, kept in this cookie (no sign-in).
WHO_KEY, WHO_COOKIE = "fs_who", "fieldstream_who"
WHO_MAX = 80

#: The app's pages in sidebar order: (script, label, icon). Streamlit's own page list is hidden
#: (`client.showSidebarNavigation = false`): it would name the home page "app". Each page adds
#: itself here; `st.page_link` raises for a script that does not exist. Material icons come with
#: Streamlit's own font (an emoji needs an emoji font, which Debian's Chromium lacks).
PAGES: tuple[tuple[str, str, str], ...] = (
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Extract.py", "Extract", ":material/edit_note:"),
    ("pages/2_History.py", "History", ":material/history:"),
    ("pages/3_Schemas.py", "Schemas", ":material/schema:"),
    ("pages/4_Compare.py", "Compare", ":material/compare_arrows:"),
)

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


@st.cache_resource(show_spinner=False)
def _recorder(url: str, enabled: bool, keep_input: bool) -> bool:
    """Register the history recorder once per process and settings (FIELDSTREAM_HISTORY=off:
    none); the arguments key the cache, so changed settings get a recorder of their own."""
    from engine.history import recorder

    return recorder.install() is not None


def install_recorder() -> None:
    from engine.store import load_settings

    settings = load_settings()
    _recorder(settings.url, settings.enabled, settings.keep_input)


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    """One store per process and database URL (the URL keys the cache; it opens on first
    use, so a database that cannot be used is tried again on the next script run)."""
    from engine.store import load_settings, open_store

    return open_store(load_settings())


def history_store() -> Store | None:
    """The history store, connected and migrated; None when it cannot be used (a newer
    Fieldstream's, not a database, out of reach): `store_problem()` says why. Tried once per
    script run, whichever views ask."""
    return _opened()[0]


def store_problem() -> str | None:
    """Why the history cannot be used on this script run (a plain sentence), else None."""
    return _opened()[1]


def store_warning(without: str) -> None:
    """On a page that works without the history: why it is unavailable and what that means."""
    problem = store_problem()
    if problem:
        st.warning(escape_md(f"{problem} {without}"))


def _opened() -> tuple[Store | None, str | None]:
    if STORE_KEY not in st.session_state:
        st.session_state[STORE_KEY] = _open_store()
    return st.session_state[STORE_KEY]


def _open_store() -> tuple[Store | None, str | None]:
    from engine.store import StoreUnavailable, load_settings

    try:
        return _store(load_settings().url).open(), None
    except StoreUnavailable as exc:  # the one place a page turns it into a message
        return None, str(exc)


def who() -> str | None:
    """The name typed in the sidebar (or remembered by this browser), None when empty."""
    name = str(st.session_state.get(WHO_KEY) or "").strip()
    return name[:WHO_MAX] or None


def _who_from_cookie() -> None:
    if WHO_KEY not in st.session_state:
        raw = st.context.cookies.get(WHO_COOKIE)
        st.session_state[WHO_KEY] = unquote(raw)[:WHO_MAX] if isinstance(raw, str) else ""


def _remember_who() -> None:
    st.session_state["fs_who_changed"] = True


def _write_who_cookie() -> None:
    """A tiny script in a same-origin iframe sets the cookie (a year; read back next visit)."""
    import streamlit.components.v1 as components

    value = json.dumps(quote((who() or "")[:WHO_MAX], safe="")).replace("<", "\\u003c")
    components.html(
        f"<script>document.cookie = '{WHO_COOKIE}=' + {value} + "
        "'; path=/; max-age=31536000; SameSite=Lax';</script>", height=0,
    )


def setup_page(title: str, icon: str) -> None:
    """Configure the page, keep inputs across pages, and draw the shared sidebar."""
    st.set_page_config(page_title=f"{title} · Fieldstream", page_icon=icon, layout="wide")
    if settings.warm_local():
        from engine.providers import default_is_local

        if default_is_local():
            _warm_local_model()
    for key in KEPT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    _who_from_cookie()
    st.session_state.pop(STORE_KEY, None)  # each run asks the history afresh (it may be back)
    install_recorder()
    with st.sidebar:
        for script, label, page_icon in PAGES:
            st.page_link(script, label=label, icon=page_icon)
        st.divider()
        st.caption(
            "Fieldstream watches a language model fill in a form, one field at a time. "
            "Model answers are shown as plain text."
        )
        st.text_input(
            "OpenAI API key (optional)", type="password", key="fs_session_key",
            help="Only for this browser session: never saved, never logged. You can also set "
                 "OPENAI_API_KEY or add it to .streamlit/secrets.toml.",
        )
        st.text_input(
            "Your name (for the history)", key=WHO_KEY, max_chars=WHO_MAX,
            on_change=_remember_who,
            help="Stored with the runs you start, so the history says who ran what. "
                 "Remembered by this browser; there is no sign-in.",
        )
        if st.session_state.pop("fs_who_changed", False):
            _write_who_cookie()


#: Words Streamlit's Markdown would turn into links even when escaped (its autolinking runs after
#: the escapes are removed): URLs, `www.` names, e-mail-like words.
_LINKISH = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\S*@\S*", re.IGNORECASE)


def escape_md(text: str) -> str:
    """Markdown that shows `text` literally: no formatting, links, images or directives.
    Address-like and e-mail-like words go into code spans, where nothing becomes a link."""
    text = str(text)
    out, last = [], 0
    for match in _LINKISH.finditer(text):
        out += [_escape_chars(text[last : match.start()]), _code_span(match.group())]
        last = match.end()
    return "".join([*out, _escape_chars(text[last:])])


def _escape_chars(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~:$=" else ch for ch in text)


def _code_span(word: str) -> str:
    fence = "`" * (max(map(len, re.findall("`+", word)), default=0) + 1)
    return f"{fence} {word} {fence}"  # the spaces let a word start or end with a backtick
