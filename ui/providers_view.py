"""Provider, model and mode pickers, and the reachability line (no API key is ever shown,
logged or kept in session state: providers are re-read from env/secrets on each run)."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from engine.runner import default_mode, default_provider_index
from ui.page import escape_md

CHECK_TTL = 30.0


def load_providers() -> tuple[list[Any], str | None]:
    """(providers, None), or ([], a plain-language reason)."""
    try:
        from engine.providers import available_providers
    except ImportError as exc:
        return [], f"The provider module is not available ({exc})."
    try:
        key = st.session_state.get("fs_session_key") or None
        return list(available_providers(session_key=key)), None
    except Exception as exc:
        return [], f"Could not read the provider settings: {exc}"


def pick_provider(providers: list[Any]) -> Any | None:
    """The provider select box (kept across pages); returns the chosen provider."""
    if not providers:
        return None
    names = [p.name for p in providers]
    if st.session_state.get("fs_provider") not in names:
        st.session_state["fs_provider"] = names[default_provider_index(providers)]
    name = st.selectbox("Provider", names, key="fs_provider",
                        help="Where the language model runs. 'Local' needs no internet.")
    return providers[names.index(name)]


def active_provider(providers: list[Any]) -> Any | None:
    """The provider chosen on the Extract page, or the default one."""
    if not providers:
        return None
    names = [p.name for p in providers]
    chosen = st.session_state.get("fs_provider")
    return providers[names.index(chosen)] if chosen in names else providers[
        default_provider_index(providers)
    ]


def _models(provider: Any) -> tuple[list[str], str | None]:
    cache: dict[str, tuple[list[str], str | None]] = st.session_state.setdefault(
        "fs_models_cache", {}
    )
    if provider.name not in cache:
        try:
            from engine.providers import list_models

            cache[provider.name] = (list(list_models(provider)), None)
        except Exception as exc:
            cache[provider.name] = ([], str(exc))
    return cache[provider.name]


def pick_model(provider: Any) -> str:
    """The model select box (the provider's models; any name can be typed)."""
    models, error = _models(provider)
    default = getattr(provider, "default_model", None)
    options = list(dict.fromkeys([m for m in [default, *models] if m]))
    if st.session_state.get("fs_model") not in options:
        st.session_state["fs_model"] = options[0] if options else None
    if error:
        st.caption(f"Could not list this provider's models: {error}")
    chosen = st.selectbox("Model", options, key="fs_model", accept_new_options=True,
                          help="Pick one, or type a model name.")
    return chosen or ""


def pick_mode(provider: Any) -> str:
    """How the model is asked for JSON; the default suits the provider."""
    modes = list(getattr(provider, "modes", None) or ["json_schema"])
    if st.session_state.get("fs_mode") not in modes:
        st.session_state["fs_mode"] = default_mode(modes)
    return st.selectbox(
        "Mode", modes, key="fs_mode",
        help="json_schema: the provider enforces the schema (best). tools: a function call. "
             "json_object / md_json: plain JSON, for servers without structured outputs.",
    )


def reachability(provider: Any, *, refresh: bool = False) -> str | None:
    """None when the provider answers, else a plain-language message (cached for 30 s)."""
    cache: dict[str, tuple[float, str | None]] = st.session_state.setdefault("fs_check", {})
    hit = cache.get(provider.name)
    if hit is None or refresh or time.monotonic() - hit[0] > CHECK_TTL:
        try:
            from engine.providers import check

            message = check(provider)
        except Exception as exc:
            message = f"Could not check the provider: {exc}"
        hit = (time.monotonic(), message)
        cache[provider.name] = hit
    return hit[1]


def describe(provider: Any) -> str:
    """One line of Markdown: name, kind and address (never the key)."""
    kind = {"local": "embedded local model", "openai": "OpenAI", "compatible": "OpenAI-compatible"}
    where = (getattr(provider, "base_url", None) or "").replace("`", "")
    at = f" at `{where}`" if where else " (runs on this computer)"
    label = escape_md(kind.get(provider.kind, provider.kind))
    return f"**{escape_md(provider.name)}** — {label}{at}"


def render_saved_servers() -> None:
    """Add, list and forget named OpenAI-compatible servers (Ollama, vLLM, LM Studio, ...).
    The saved file holds addresses only: a key is named by its environment variable."""
    from engine.errors import ProviderError
    from engine.providers import MODES, remove_provider, save_provider, saved_providers

    st.subheader("Your servers")
    for provider in saved_providers():
        col, button = st.columns([5, 1])
        col.markdown(describe(provider))
        if button.button("Remove", key=f"fs_remove_{provider.name}"):
            remove_provider(provider.name)
            _forget_cached(provider.name)
            st.rerun()
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


def _forget_cached(name: str) -> None:
    """Drop what this session cached about a provider of that name (models, reachability)."""
    for key in ("fs_models_cache", "fs_check"):
        st.session_state.get(key, {}).pop(name, None)
