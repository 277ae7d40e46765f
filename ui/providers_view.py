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
