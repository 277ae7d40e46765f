"""Provider, model and mode pickers, the reachability line, and the saved servers' form (no API
key is ever shown, logged or kept in session state: `context.providers` re-reads them)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import streamlit as st

from engine.llm.modes import MODES, default_mode
from engine.redact import redact
from ui.text import escape_md

CHECK_TTL = 30.0  # seconds a reachability answer, or a failed model listing, is reused
NOTICE_KEY = "fs_servers_notice"  # (kind, text) left by a button callback for the next run
#: The Extract page's pickers (kept across pages; Home reads the provider). A page with a
#: picker per lane passes keys of its own, so two pickers never share one.
PROVIDER_KEY, MODEL_KEY, MODE_KEY = "fs_provider", "fs_model", "fs_mode"


def _cache_key(provider: Any, *extra: Any) -> tuple[Any, ...]:
    """What decides a provider's answer: its name, address and key. The key only as a hash:
    session state never holds it."""
    key = getattr(provider, "api_key", None) or ""
    digest = hashlib.sha256(key.encode()).hexdigest() if key else ""
    return (provider.name, provider.kind, getattr(provider, "base_url", None), digest, *extra)


def _store(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    """Keep one answer per provider name: an answer for an older key or address is dropped."""
    for old in [k for k in cache if k[0] == key[0]]:
        del cache[old]
    cache[key] = value


def pick_provider(providers: list[Any], key: str = PROVIDER_KEY) -> Any | None:
    """The provider select box (kept across pages); returns the chosen provider."""
    if not providers:
        return None
    names = [p.name for p in providers]
    if st.session_state.get(key) not in names:
        st.session_state[key] = _default(providers).name
    name = st.selectbox("Provider", names, key=key,
                        help="Where the language model runs. 'Local' needs no internet.")
    return providers[names.index(name)]


def active_provider(providers: list[Any]) -> Any | None:
    """The provider chosen on the Extract page, or the default one."""
    if not providers:
        return None
    names = [p.name for p in providers]
    chosen = st.session_state.get(PROVIDER_KEY)
    return providers[names.index(chosen)] if chosen in names else _default(providers)


def _default(providers: list[Any]) -> Any:
    from engine.providers import default_provider

    return default_provider(providers)


def _models(provider: Any, *, refresh: bool = False) -> tuple[list[str], str | None]:
    """The provider's model ids, or ([], why not). A list is kept for the session; a failure
    only for CHECK_TTL seconds (or until `refresh`), so a fixed server or key is seen."""
    cache: dict[tuple[Any, ...], tuple[float, list[str], str | None]] = (
        st.session_state.setdefault("fs_models_cache", {})
    )
    key = _cache_key(provider)
    hit = cache.get(key)
    stale = hit is not None and hit[2] is not None and time.monotonic() - hit[0] > CHECK_TTL
    if hit is None or stale or (refresh and hit[2] is not None):
        try:
            from engine.providers import list_models

            hit = (time.monotonic(), list(list_models(provider)), None)
        except Exception as exc:
            hit = (time.monotonic(), [], redact(str(exc), provider.api_key))
        _store(cache, key, hit)
    return hit[1], hit[2]


def pick_model(provider: Any, key: str = MODEL_KEY) -> str:
    """The model select box (the provider's models; any name can be typed). Its retry button
    is keyed `<key>_retry`."""
    retry = f"{key}_retry"
    # The retry button's click is in session state before the button is drawn again.
    models, error = _models(provider, refresh=bool(st.session_state.get(retry)))
    default = getattr(provider, "default_model", None)
    options = list(dict.fromkeys([m for m in [default, *models] if m]))
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0] if options else None
    if error:  # the server's own words: shown as text, never as Markdown
        st.caption(escape_md(f"Could not list this provider's models: {error}"))
        st.button("List the models again", key=retry)
    chosen = st.selectbox("Model", options, key=key, accept_new_options=True,
                          help="Pick one, or type a model name.")
    return chosen or ""


def pick_mode(provider: Any, key: str = MODE_KEY) -> str:
    """How the model is asked for JSON; the default suits the provider."""
    modes = list(getattr(provider, "modes", None) or [default_mode()])
    if st.session_state.get(key) not in modes:
        st.session_state[key] = default_mode(modes)
    return st.selectbox(
        "Mode", modes, key=key,
        help="json_schema: the provider enforces the schema (best). tools: a function call. "
             "json_object / md_json: plain JSON, for servers without structured outputs.",
    )


def reachability(provider: Any, *, refresh: bool = False) -> str | None:
    """None when the provider answers, else a plain-language message (cached for 30 s)."""
    cache: dict[tuple[Any, ...], tuple[float, str | None]] = st.session_state.setdefault(
        "fs_check", {}
    )
    key = _cache_key(provider, getattr(provider, "default_model", None))
    hit = cache.get(key)
    if hit is None or refresh or time.monotonic() - hit[0] > CHECK_TTL:
        try:
            from engine.providers import check

            message = check(provider)
        except Exception as exc:
            message = redact(f"Could not check the provider: {exc}", provider.api_key)
        hit = (time.monotonic(), message)
        _store(cache, key, hit)
    return hit[1]


def describe(provider: Any) -> str:
    """One line of Markdown: name, kind and address (never the key)."""
    kind = {"local": "embedded local model", "openai": "OpenAI", "compatible": "OpenAI-compatible"}
    # One line inside a code span: no backtick or blank line can end the span early.
    where = " ".join((getattr(provider, "base_url", None) or "").replace("`", "").split())
    at = f" at `{where}`" if where else " (runs on this computer)"
    label = escape_md(kind.get(provider.kind, provider.kind))
    return f"**{escape_md(provider.name)}** — {label}{at}"


def render_saved_servers() -> None:
    """Add, list and forget named OpenAI-compatible servers (Ollama, vLLM, LM Studio, ...).
    The saved file holds addresses only: a key is named by its environment variable."""
    from engine.errors import ProviderError
    from engine.providers import read_saved, save_provider

    st.subheader("Your servers")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        (st.success if notice[0] == "success" else st.error)(escape_md(notice[1]))
    saved = read_saved()
    if saved.unreadable:
        st.error(escape_md(saved.unreadable))
        st.button("Move it aside and start a new list", key="fs_set_aside",
                  on_click=_set_aside)
    for problem in saved.problems:
        st.warning(escape_md(problem))
    for provider in saved.providers:
        col, button = st.columns([5, 1])
        col.markdown(describe(provider))
        button.button("Remove", key=f"fs_remove_{provider.name}", on_click=_remove,
                      args=(provider.name,))
    with st.form("fs_add_server", clear_on_submit=False):
        st.markdown("**Add an OpenAI-compatible server** (Ollama, vLLM, LM Studio, llama.cpp, "
                    "Azure OpenAI)")
        name = st.text_input("Name", placeholder="Team vLLM", key="fs_new_name")
        base_url = st.text_input("Address", placeholder="http://localhost:11434/v1",
                                 key="fs_new_url")
        model = st.text_input("Default model (optional)", placeholder="qwen2.5:7b",
                              key="fs_new_model")
        key_env = st.text_input(
            "Environment variable that holds its API key (optional)", placeholder="TEAM_LLM_KEY",
            key="fs_new_key_env",
            help="The key itself is never saved: give the name of an environment variable or "
                 "of an entry in .streamlit/secrets.toml.")
        modes = st.multiselect("Modes it supports", list(MODES), default=list(MODES),
                               key="fs_new_modes")
        if st.form_submit_button("Save server", key="fs_save_server"):
            try:
                saved = save_provider(name, base_url, default_model=model or None,
                                      modes=modes or ["md_json"], api_key_env=key_env or None)
            except ProviderError as exc:
                st.error(escape_md(str(exc)))
            else:
                _forget_cached(saved.name)
                st.success(f"Saved {escape_md(saved.name)}: pick it on the Extract page.")


def _remove(name: str) -> None:
    """Button callback (runs before the page is drawn, so the list is already current)."""
    from engine.errors import ProviderError
    from engine.providers import remove_provider

    try:
        remove_provider(name)
    except ProviderError as exc:
        st.session_state[NOTICE_KEY] = ("error", str(exc))
    _forget_cached(name)


def _set_aside() -> None:
    from engine.errors import ProviderError
    from engine.providers import set_aside_saved_file

    try:
        backup = set_aside_saved_file()
    except ProviderError as exc:
        st.session_state[NOTICE_KEY] = ("error", str(exc))
    else:
        st.session_state[NOTICE_KEY] = (
            "success", f"The unreadable file was kept as {backup}. New servers start a new list.",
        )


def _forget_cached(name: str) -> None:
    """Drop what this session cached about a provider of that name (models, reachability)."""
    for cache_name in ("fs_models_cache", "fs_check"):
        cache = st.session_state.get(cache_name, {})
        for key in [k for k in cache if k[0] == name]:
            del cache[key]
