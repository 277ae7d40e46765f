"""Server addresses: what a saved or configured server's base URL may look like."""

from __future__ import annotations

from urllib.parse import urlsplit

from engine.errors import ProviderError
from engine.redact import redact


def normalize_base_url(url: str) -> str:
    """Trim, drop a pasted `/chat/completions`, and add `/v1` to a bare host (Ollama-style).
    Refuses what is not one plain http(s) address: spaces, line breaks, control characters,
    credentials, a query or #fragment, a port outside 1-65535."""
    url = url.strip().rstrip("/")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        # Checked before urlsplit, which silently drops tabs and line breaks.
        raise ProviderError(
            "The server address contains a space, line break or control character; "
            "type it on one line, like http://localhost:11434/v1."
        )
    for suffix in ("/chat/completions", "/completions", "/models"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderError(
            f"{redact(url, None)!r} is not a server address; use http(s)://host:port/v1"
        )
    if parts.username or parts.password or "?" in url:
        raise ProviderError(
            "Put no credentials or query strings in the server address; give the key through "
            "an environment variable or the secrets file instead."
        )
    if "#" in url:
        raise ProviderError("Leave out the '#…' part: a server address has no #fragment.")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = -1
    if port is not None and not 0 < port <= 65535:
        raise ProviderError("The port in the server address must be a number from 1 to 65535.")
    return url if parts.path not in ("", "/") else url + "/v1"

