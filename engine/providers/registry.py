"""The providers a run can go to, and which one is picked first.

    from engine import providers
    listed = providers.available_providers(secrets=st.secrets, session_key=typed_key)
    provider = providers.default_provider(listed)      # the local model unless configured
    client = providers.client_for(provider)            # local: starts the embedded server once

Keys come from (first found) the key typed into the sidebar for this session, the secrets file
(`.streamlit/secrets.toml`), or the environment (read through `engine.settings`). They live in
memory only: a `Provider`'s repr hides its key, saved providers are written without one, and
every error message is redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from engine import settings
from engine.errors import ProviderError
from engine.llm.modes import MODES
from engine.local.weights import DEFAULT_MODEL as LOCAL_DEFAULT_MODEL
from engine.providers.address import normalize_base_url
from engine.providers.detect import detect_local_servers
from engine.providers.model import CUSTOM_NAME, LOCAL_NAME, OPENAI_NAME, Provider
from engine.providers.saved import saved_providers

# Measured: the local Qwen model streams tool calls as fenced text that llama.cpp does not turn
# into tool_calls, so "tools" is not offered; json_schema is grammar-constrained and best.
LOCAL_MODES = ("json_schema", "json_object", "md_json")
OPENAI_MODES = MODES
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


# --- keys ----------------------------------------------------------------------------------


def _session(session_key: str | Mapping[str, str] | None, name: str) -> str | None:
    if isinstance(session_key, Mapping):
        value = session_key.get(name)
    else:
        value = session_key if name == OPENAI_NAME else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _resolve_key(
    name: str, var: str | None, secrets: Mapping[str, Any] | None, session_key: Any
) -> tuple[str | None, str | None]:
    """(key, source): the session key first, then the secrets file, then the environment."""
    for source, value in (
        ("session", _session(session_key, name)),
        ("secrets", settings.secret(var, secrets)),
        ("env", settings.env_key(var)),
    ):
        if value:
            return value, source
    return None, None


# --- the provider list ---------------------------------------------------------------------


def available_providers(
    secrets: Mapping[str, Any] | None = None,
    session_key: str | Mapping[str, str] | None = None,
    *,
    detect: bool = True,
) -> list[Provider]:
    """Local model first, then OpenAI, the env-configured server, saved and detected servers.

    `secrets`: st.secrets or any mapping (None: read the secrets files). `session_key`: a key
    typed in this browser session: a string for OpenAI, or a mapping provider name -> key.
    """
    if secrets is None:
        secrets = settings.read_secrets()
    providers = [local_provider(), _openai(secrets, session_key)]
    custom = _custom_from_env(secrets, session_key)
    if custom:
        providers.append(custom)
    for saved in saved_providers():
        key, source = _resolve_key(saved.name, saved.api_key_env, secrets, session_key)
        providers.append(replace(saved, api_key=key, key_source=source))
    if detect:
        known = {p.base_url for p in providers}
        providers += [p for p in detect_local_servers() if p.base_url not in known]
    return providers


def local_provider(model: str | None = None) -> Provider:
    model = model or settings.local_model() or LOCAL_DEFAULT_MODEL
    return Provider(LOCAL_NAME, "local", None, LOCAL_MODES, default_model=model)


def _openai(secrets: Mapping[str, Any] | None, session_key: Any) -> Provider:
    key, source = _resolve_key(OPENAI_NAME, settings.OPENAI_KEY_VAR, secrets, session_key)
    base = settings.openai_base_url() or OPENAI_BASE_URL
    model = settings.openai_model() or OPENAI_DEFAULT_MODEL
    return Provider(OPENAI_NAME, "openai", base, OPENAI_MODES, model, key, source)


def _custom_from_env(secrets: Mapping[str, Any] | None, session_key: Any) -> Provider | None:
    base = settings.custom_base_url()
    if not base:
        return None
    var = settings.CUSTOM_KEY_VAR
    key, source = _resolve_key(CUSTOM_NAME, var, secrets, session_key)
    return Provider(
        CUSTOM_NAME, "compatible", normalize_base_url(base), MODES,
        default_model=settings.custom_model(), api_key=key, key_source=source,
        api_key_env=var, origin="env",
    )  # fmt: skip


# --- picking one ---------------------------------------------------------------------------


def _names(provider: Provider, wanted: str) -> bool:
    """`wanted` is the provider's name or its kind ("local", "openai"), in any case."""
    return wanted.strip().casefold() in (provider.name.casefold(), provider.kind)


def find_provider(providers: list[Provider], name: str) -> Provider:
    """By name (case-insensitive), kind ("local", "openai"), or an unambiguous name prefix."""
    for provider in providers:
        if _names(provider, name):
            return provider
    wanted = name.strip().casefold()
    prefixed = [p for p in providers if p.name.casefold().startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    names = ", ".join(p.name for p in providers)
    raise ProviderError(f"No provider named {name!r}. Available: {names}.")


def default_provider(providers: list[Provider]) -> Provider:
    """The one FIELDSTREAM_DEFAULT_PROVIDER names (as `find_provider` reads a name), else the
    first: the local model. The app's picker and the CLI both start from it."""
    wanted = settings.default_provider_name()
    if wanted:
        try:
            return find_provider(providers, wanted)
        except ProviderError:
            pass  # a provider that is gone (a removed saved server): fall back, do not fail
    return providers[0]


def default_is_local() -> bool:
    """Whether the app starts on the embedded model (so it is worth warming up when the app
    opens). A provider list that cannot be read leaves the local model first, as the app does."""
    try:
        return default_provider(available_providers()).kind == "local"
    except ProviderError:
        return True
