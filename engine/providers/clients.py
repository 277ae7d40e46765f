"""An `openai.OpenAI` client per provider endpoint; the local provider's starts the embedded
server. Clients (connection pools) are shared per endpoint and key."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import openai

from engine.errors import ProviderError
from engine.providers.model import NO_KEY_MESSAGE, Provider

NO_KEY = "not-needed"  # the openai client insists on some key; local servers ignore it
STREAM_TIMEOUT = openai.Timeout(600.0, connect=5.0)  # a slow local answer is still an answer
INSTALL_HINT = "Install it with: make install (or pip install -e '.[local]')."

_clients: dict[tuple[str, ...], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def client_for(provider: Provider, model: str | None = None) -> openai.OpenAI:
    """An `openai.OpenAI` client for the provider; the local one starts the embedded server.

    `model` matters only for the local provider: each local model has its own server, so pass
    the model you will extract with when it is not `provider.default_model`.
    """
    base_url, key = _endpoint(provider, model)
    # Cache clients (connection pools) per endpoint; the key is only hashed into the cache key.
    cache_key = (provider.kind, base_url, hashlib.sha256(key.encode()).hexdigest())
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = openai.OpenAI(
                base_url=base_url, api_key=key, timeout=STREAM_TIMEOUT, max_retries=1
            )
            _clients[cache_key] = client
        return client


def _endpoint(provider: Provider, model: str | None) -> tuple[str, str]:
    if provider.kind == "local":
        return _local_server(model or provider.default_model).base_url, NO_KEY
    if provider.needs_key:
        raise ProviderError(NO_KEY_MESSAGE)
    if not provider.base_url:
        raise ProviderError(f"{provider.name} has no base URL.")
    return provider.base_url, provider.api_key or NO_KEY


def _local_server(model: str | None) -> Any:
    try:
        from engine.local.server import ensure_server  # starts xllamacpp: only when asked

        return ensure_server(model)
    except ImportError as exc:
        message = f"The embedded model is not installed ({exc}). {INSTALL_HINT}"
        raise ProviderError(message) from None
