"""Servers already running on this computer: an OpenAI model list on the usual local ports."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from engine.llm.modes import MODES
from engine.providers.model import Provider
from engine.stream import document

# The usual local servers, probed on 127.0.0.1. LM Studio rejects response_format json_object.
LOCAL_SERVER_PORTS: dict[str, int] = {"Ollama": 11434, "LM Studio": 1234}
DETECTED_MODES: dict[str, tuple[str, ...]] = {
    "Ollama": MODES,
    "LM Studio": ("json_schema", "tools", "md_json"),
}
_detected: dict[tuple[tuple[str, int], ...], tuple[float, list[Provider]]] = {}
DETECT_TTL = 15.0  # seconds; the app reruns often and probing each time would be wasteful


def detect_local_servers(
    ports: Mapping[str, int] | None = None, timeout: float = 0.3
) -> list[Provider]:
    """Servers answering an OpenAI model list on the usual local ports (Ollama, LM Studio)."""
    probe = tuple(sorted((ports or LOCAL_SERVER_PORTS).items()))
    cached = _detected.get(probe)
    if cached and time.monotonic() - cached[0] < DETECT_TTL:
        return cached[1]
    with ThreadPoolExecutor(max_workers=max(1, len(probe))) as pool:
        found = [p for p in pool.map(lambda item: _probe(*item, timeout), probe) if p]
    _detected[probe] = (time.monotonic(), found)
    return found


def _probe(label: str, port: int, timeout: float) -> Provider | None:
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        with urllib.request.urlopen(base_url + "/models", timeout=timeout) as resp:
            body = document.load(resp.read(1 << 20))
    except urllib.error.HTTPError as exc:
        body = None if exc.code != 401 else {"data": []}  # needs a key, but it is there
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    ids = [m.get("id") for m in body["data"] if isinstance(m, dict) and m.get("id")]
    return Provider(
        f"{label} (port {port})", "compatible", base_url, DETECTED_MODES.get(label, MODES),
        default_model=ids[0] if ids else None, origin="detected",
    )  # fmt: skip
