"""What every page stands on, owned in one place: the history's settings, the one history store
(the recorder writes through it, the pages read it), the providers, who is running, and the
app's pages (for links). How long each lives, and why:

- settings and providers: read again on each call, so a changed environment, secrets file,
  providers.json or sidebar key is seen at once (no key is ever kept in session state);
- the store and its recorder: one per process and history settings (one database engine, one
  heartbeat, one pending-retry loop for every session);
- whether the store opened: once per script run (a database out of reach is tried again);
- who is running: per session, from this browser's cookie (no sign-in yet: when there is,
  only `current_user` changes);
- the pages: per script run, as app.py declares them (`st.Page` objects exist only in a run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import streamlit as st

from ui.text import escape_md

if TYPE_CHECKING:
    from streamlit.navigation.page import StreamlitPage

    from engine.store import HistorySettings, Store

log = logging.getLogger(__name__)

#: This script run's attempt to open the history: (store, None) or (None, why not).
STORE_KEY = "fs_store_opened"
#: This script run's pages by URL path (app.py declares them).
PAGES_KEY = "fs_pages"
#: The OpenAI key typed in the sidebar: for this browser session only, never saved.
SESSION_KEY = "fs_session_key"
#: Who is running: typed once per browser, kept in this cookie (no sign-in).
WHO_KEY, WHO_COOKIE = "fs_who", "fieldstream_who"
WHO_MAX = 80


def start_run(pages: Sequence[StreamlitPage]) -> None:
    """At the top of every script run (app.py's frame): keep the pages for links, ask the
    history afresh (it may be back, or gone), record runs through the one store."""
    st.session_state[PAGES_KEY] = {page.url_path: page for page in pages}
    st.session_state.pop(STORE_KEY, None)
    install_recorder()


# --- the pages --------------------------------------------------------------------------------


def page(url_path: str) -> StreamlitPage:
    """The page at this URL path (`"History"`), to link or switch to. Views name a page by its
    URL, which deep links keep stable, never by its file."""
    pages: dict[str, StreamlitPage] = st.session_state[PAGES_KEY]
    return pages[url_path]


# --- settings and the one store ---------------------------------------------------------------


def history_settings() -> HistorySettings:
    """The history's settings as they are now (environment, secrets.toml)."""
    from engine.store import load_settings

    return load_settings()


@st.cache_resource(show_spinner=False)
def _store(url: str, enabled: bool, keep_input: bool, _settings: HistorySettings) -> Store:
    """One store per process and settings: the arguments key the cache (`_settings`, not
    hashed, builds it). It connects on first use, so a database that cannot be used is tried
    again on the next script run."""
    from engine.store import Store

    return Store.from_settings(_settings)


def shared_store(settings: HistorySettings | None = None) -> Store:
    """The process's store for these settings (default: the current ones), not opened yet."""
    settings = settings or history_settings()
    return _store(settings.url, settings.enabled, settings.keep_input, settings)


def install_recorder() -> None:
    """Record every run through the shared store (FIELDSTREAM_HISTORY=off: no recorder). The
    recorder stays while the settings do; changed settings get a store and recorder of their
    own."""
    from engine.history import recorder

    settings = history_settings()
    recorder.install(settings, store=shared_store(settings))


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
    from engine.store import StoreUnavailable

    try:
        return shared_store().open(), None
    except StoreUnavailable as exc:  # the one place a page turns it into a message
        return None, str(exc)


# --- the batch queue --------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _batch_queue(url: str, _store: Store) -> Any:
    """This process on the batch queue, launched once (DBOS is one per process): its own
    documents that were running resume, and it serves its providers' queues (queued
    documents are taken again, no page needed); a document for a provider only a worker has
    is left for that worker."""
    from engine import settings
    from engine.batch import queue

    found, _ = providers(saved_problems=False)
    return queue.launch(_store, executor_id=settings.executor_id()
                        or queue.default_executor("app"), role="app",
                        listen=queue.app_queues(found), follow=True)


def batch_runtime() -> tuple[Any | None, str | None]:
    """(the queue's runtime, None), or (None, why batches cannot run here): a batch needs the
    history database (its documents, rows and runs live there)."""
    if not history_settings().enabled:
        return None, ("Batches need the history, which is off (FIELDSTREAM_HISTORY=off): each "
                      "document's text and result are kept there.")
    store = history_store()
    if store is None:
        return None, f"Batches need the history database. {store_problem() or ''}".strip()
    try:
        runtime = _batch_queue(store.url, store)
    except Exception as exc:  # a queue database that cannot be opened: said, tried again
        return None, f"The batch queue could not start: {exc}"
    if runtime.store.url != store.url:
        return None, ("The history database changed since this app started its batch queue: "
                      "restart the app to run batches on the new one.")
    return runtime, None


@st.cache_resource(show_spinner=False)
def _resumed(url: str) -> bool:
    """Once per process and history: launch the queue if a batch is unfinished (a history
    out of reach now is not tried again here: the Batch page launches the queue when opened)."""
    from engine.batch.view import unfinished_batches

    try:
        store = history_store()
        if store is None or not unfinished_batches(store, limit=1):
            return False
        return batch_runtime()[0] is not None
    except Exception:  # never stops a page from drawing: the Batch page says what is wrong
        log.exception("Could not take up the unfinished batches")
        return False


def resume_batches() -> None:
    """On the process's first script run (the frame's): take up unfinished batches at once,
    so a restarted app goes on without anyone opening the Batch page."""
    settings = history_settings()
    if settings.enabled:
        _resumed(settings.url)


# --- providers --------------------------------------------------------------------------------


def providers(*, saved_problems: bool = True) -> tuple[list[Any], str | None]:
    """(providers, None), or (providers, a plain-language problem): ([], reason) when none can
    be listed. `saved_problems`: also report a saved-servers file that could not be read.
    Re-read on every call, with the key typed in the sidebar (never kept beyond the call)."""
    try:
        from engine.providers import available_providers
    except ImportError as exc:
        return [], f"The provider module is not available ({exc})."
    try:
        key = st.session_state.get(SESSION_KEY) or None
        found = list(available_providers(session_key=key))
    except Exception as exc:
        return [], f"Could not read the provider settings: {exc}"
    problems = _saved_file_problems() if saved_problems else []
    return found, "\n\n".join(problems) or None


def _saved_file_problems() -> list[str]:
    from engine.providers import read_saved

    saved = read_saved()
    moved = " The Home page can move it aside." if saved.unreadable else ""
    return [*([saved.unreadable + moved] if saved.unreadable else []), *saved.problems]


# --- who is running ---------------------------------------------------------------------------


def current_user() -> str | None:
    """Who is running: the name typed in the sidebar, first read from this browser's cookie;
    None when empty. The one reader of the cookie: sign-in will change only this function."""
    if WHO_KEY not in st.session_state:
        raw = st.context.cookies.get(WHO_COOKIE)
        st.session_state[WHO_KEY] = unquote(raw)[:WHO_MAX] if isinstance(raw, str) else ""
    name = str(st.session_state.get(WHO_KEY) or "").strip()
    return name[:WHO_MAX] or None


def remember_user() -> None:
    """Keep the name in this browser's cookie for a year: a tiny script in a same-origin iframe
    sets it (read back by `current_user` on the next visit)."""
    import streamlit.components.v1 as components

    value = json.dumps(quote(current_user() or "", safe="")).replace("<", "\\u003c")
    components.html(
        f"<script>document.cookie = '{WHO_COOKIE}=' + {value} + "
        "'; path=/; max-age=31536000; SameSite=Lax';</script>", height=0,
    )
