"""Does a provider answer? Its model list (GET /v1/models) and a plain-language check."""

from __future__ import annotations

import importlib.util

import openai

from engine.errors import ProviderError
from engine.llm.failures import not_openai, translate
from engine.local import weights
from engine.providers.clients import INSTALL_HINT, client_for
from engine.providers.model import NO_KEY_MESSAGE, Provider

_NOT_CHAT = ("embedding", "tts", "whisper", "dall-e", "moderation", "davinci", "babbage",
             "audio", "realtime", "image", "transcribe", "search", "sora")  # fmt: skip


def list_models(provider: Provider, timeout: float = 10.0) -> list[str]:
    """Model ids from the server's /v1/models (local: the installed local models)."""
    if provider.kind == "local":
        return [ws.key for ws in weights.installed_models()]
    client = client_for(provider).with_options(timeout=timeout, max_retries=0)
    where = _where(provider)
    try:
        ids = sorted(model.id for model in client.models.list())
    except openai.OpenAIError as exc:
        raise translate(exc, where=where, key=provider.api_key) from None
    except Exception:  # the client's parser fails in many ways on, say, an HTML page
        raise ProviderError(not_openai(where)) from None
    if provider.kind == "openai":
        ids = [i for i in ids if not any(word in i for word in _NOT_CHAT)]
    return ids


def _where(provider: Provider) -> str:
    return f"{provider.name} at {provider.base_url}"


def check(provider: Provider, timeout: float = 5.0) -> str | None:
    """None when the provider looks usable, else a plain-language message (no key inside)."""
    if provider.kind == "local":
        return _check_local(provider)
    if provider.needs_key:
        return NO_KEY_MESSAGE
    try:
        models = list_models(provider, timeout=timeout)
    except ProviderError as exc:
        return str(exc)
    wanted = provider.default_model
    if provider.kind == "compatible" and wanted and models and wanted not in models:
        return f"{provider.name} does not offer the model {wanted!r}. It offers: " + ", ".join(
            models[:10]
        )
    return None


def _check_local(provider: Provider) -> str | None:
    if importlib.util.find_spec("xllamacpp") is None:
        return f"The embedded model runtime (xllamacpp) is not installed. {INSTALL_HINT}"
    try:
        ws = weights.resolve(provider.default_model)
        if not weights.installed(ws):
            weights.part_files(ws)  # raises, saying what is missing
    except ProviderError as exc:
        return str(exc)
    return None
