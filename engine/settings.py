"""Every environment variable and secret the engine reads, in one place (a bottom layer).

No other module under `engine/` reads `os.environ` (tests/engine/test_settings.py checks it). Each
setting is a function read when called, not at import: the app reruns its scripts, and tests
change the environment between calls. Every function takes `env` (default: `os.environ`) so
code and tests can ask about an environment of their own.

Where a run goes (engine.providers):
    OPENAI_API_KEY, FIELDSTREAM_API_KEY    keys (also from .streamlit/secrets.toml; see `secret`)
    OPENAI_BASE_URL, FIELDSTREAM_OPENAI_MODEL   OpenAI's address and default model
    FIELDSTREAM_BASE_URL, FIELDSTREAM_MODEL     one more OpenAI-compatible server ("Custom server")
    FIELDSTREAM_DEFAULT_PROVIDER           the provider picked first (name, kind or name prefix)
    FIELDSTREAM_LOCAL_MODEL                the embedded model's weight set
    FIELDSTREAM_DATA_DIR                   saved servers, the history (~/.local/share/fieldstream)
A request (engine.llm):
    FIELDSTREAM_READ_TIMEOUT               seconds without a byte before a request is given up
The embedded model (engine.local):
    FIELDSTREAM_CACHE_DIR                  joined weights and the server log (~/.cache/fieldstream)
    FIELDSTREAM_LOCAL_CTX, _PARALLEL, _THREADS, _THREADS_BATCH   server sizing
    FIELDSTREAM_WARM_LOCAL=0               do not start the embedded model when the app opens
Documents (engine.documents) and long texts (engine.runs.chunked):
    FIELDSTREAM_MAX_FILE_MB=50             largest file read (Streamlit's server.maxUploadSize too)
    FIELDSTREAM_CONVERT_TIMEOUT=30         seconds a file's conversion to text may take
    FIELDSTREAM_CONVERT_MEMORY_MB=1024     the conversion process's address space (RLIMIT_AS)
    FIELDSTREAM_MAX_TEXT_CHARS=2000000     longest text extracted (pasted or read from a file)
    FIELDSTREAM_CHUNKING=auto|always       split only a text that does not fit, or every text
Batches (engine.batch):
    FIELDSTREAM_EXECUTOR_ID                this process's name on the batch queue (the app:
                                           app-<host>; `fieldstream worker --id NAME` sets it)
    FIELDSTREAM_QUEUE_POLL=0.2             seconds between a process's looks at the queue
    FIELDSTREAM_WORKER_HEARTBEAT=10        seconds between heartbeats; 3 missed: taken over
    FIELDSTREAM_BATCH_RETRIES=3, FIELDSTREAM_BATCH_BACKOFF=5   a provider that fails on its
                                           own (down, 429, 5xx): tries again after 5, 10, 20 s
    FIELDSTREAM_PROVIDER_RPM               requests per minute to each hosted provider, across
                                           every process (unset: no rate limit)
    FIELDSTREAM_WORKER_LIMIT               a hosted provider's documents at once in each process,
                                           under FIELDSTREAM_PROVIDER_LIMIT across all (unset: none)
    FIELDSTREAM_PRICES                     JSON: price per million tokens by provider name,
                                           {"OpenAI": {"input": 0.15, "output": 0.6}} or a number
The history (engine.store, engine.history):
    FIELDSTREAM_DATABASE_URL               else `[connections.fieldstream] url` in secrets.toml
    FIELDSTREAM_HISTORY=off, FIELDSTREAM_KEEP_INPUT=0, FIELDSTREAM_HISTORY_DAYS=N
    FIELDSTREAM_PENDING_RETRY=5,15,60,300  seconds between tries to write a run's ending the
                                           database refused (kept meanwhile in DATA_DIR/pending)

A flag is off when its value is one of 0, off, false, no (any case); unset or anything else is on.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.redact import SHORT_KEY

Env = Mapping[str, str]

OPENAI_KEY_VAR = "OPENAI_API_KEY"
CUSTOM_KEY_VAR = "FIELDSTREAM_API_KEY"
DEFAULT_READ_TIMEOUT = 300.0  # long: a long text on a slow CPU takes a while to read
#: Seconds between tries to write an ending kept in the pending folder; the last repeats. Soon
#: at first (a restart takes seconds), then rarely (an outage need not fill the log).
DEFAULT_PENDING_RETRY = (5.0, 15.0, 60.0, 300.0)
_OFF = frozenset({"0", "off", "false", "no"})
#: Variables whose values are secrets, whoever reads them: kept from the local server's child
#: process and from the history (`secret_values`).
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


class SettingError(ValueError):
    """A variable is set to something that cannot mean what it names. The message says which
    variable and what it takes."""


def _environ(env: Env | None) -> Env:
    return os.environ if env is None else env


def _text(name: str, env: Env | None) -> str | None:
    """The variable's value without surrounding blanks; None when unset or blank."""
    value = _environ(env).get(name, "").strip()
    return value or None


def _flag(name: str, env: Env | None, default: bool = True) -> bool:
    value = _text(name, env)
    return default if value is None else value.lower() not in _OFF


def _path(name: str, env: Env | None, default: Path) -> Path:
    value = _text(name, env)
    return Path(value).expanduser() if value else default


# --- secrets --------------------------------------------------------------------------------


def secrets_files(cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """Streamlit's secrets files, weakest first: ~/.streamlit, then the project's."""
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    return [home / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]


def read_secrets(paths: Iterable[Path] | None = None) -> dict[str, Any]:
    """The secrets files merged for code outside Streamlit (the project file wins, table by
    table). A missing or broken file counts as empty: secrets are optional everywhere."""
    merged: dict[str, Any] = {}
    for path in secrets_files() if paths is None else paths:
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            _merge(merged, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return merged


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    # Table by table, so a project file with [connections.other] keeps the home file's
    # [connections.fieldstream].
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def secret(name: str | None, secrets: Mapping[str, Any] | None) -> str | None:
    """The text stored under `name` in `secrets` (st.secrets, or `read_secrets()`), else None."""
    if not secrets or not name:
        return None
    try:  # st.secrets raises when no secrets file exists: that is "not there"
        value = secrets.get(name)
    except Exception:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def env_key(var: str | None, env: Env | None = None) -> str | None:
    """The API key in the environment variable `var` (saved servers name their own variable)."""
    return _text(var, env) if var else None


def secret_values(env: Env | None = None) -> frozenset[str]:
    """The values of variables named like secrets (KEY, TOKEN, ...), to keep out of what is
    stored or shown."""
    return frozenset(
        value for name, value in _environ(env).items()
        if _SECRET_NAME.search(name) and len(value) >= SHORT_KEY  # "1", "yes": no keys
    )  # fmt: skip


def child_env(env: Env | None = None) -> dict[str, str]:
    """The environment for a child process that needs no secrets (the local model server):
    everything but the variables named like a secret (the keys among them)."""
    return {name: value for name, value in _environ(env).items() if not _SECRET_NAME.search(name)}


# --- providers ------------------------------------------------------------------------------


def openai_base_url(env: Env | None = None) -> str | None:
    return _text("OPENAI_BASE_URL", env)


def openai_model(env: Env | None = None) -> str | None:
    return _text("FIELDSTREAM_OPENAI_MODEL", env)


def custom_base_url(env: Env | None = None) -> str | None:
    """FIELDSTREAM_BASE_URL: the address of one more OpenAI-compatible server."""
    return _text("FIELDSTREAM_BASE_URL", env)


def custom_model(env: Env | None = None) -> str | None:
    return _text("FIELDSTREAM_MODEL", env)


def local_model(env: Env | None = None) -> str | None:
    return _text("FIELDSTREAM_LOCAL_MODEL", env)


def default_provider_name(env: Env | None = None) -> str | None:
    """FIELDSTREAM_DEFAULT_PROVIDER as given; `engine.providers.default_provider` says which
    provider it picks."""
    return _text("FIELDSTREAM_DEFAULT_PROVIDER", env)


def data_dir(env: Env | None = None, home: Path | None = None) -> Path:
    """Where saved servers and the history live: FIELDSTREAM_DATA_DIR, else
    ~/.local/share/fieldstream."""
    home = Path.home() if home is None else home
    return _path("FIELDSTREAM_DATA_DIR", env, home / ".local" / "share" / "fieldstream")


# --- requests -------------------------------------------------------------------------------


def read_timeout(env: Env | None = None) -> float:
    """FIELDSTREAM_READ_TIMEOUT (seconds, > 0), else `DEFAULT_READ_TIMEOUT`."""
    try:
        value = float(_text("FIELDSTREAM_READ_TIMEOUT", env) or DEFAULT_READ_TIMEOUT)
    except ValueError:
        return DEFAULT_READ_TIMEOUT
    return value if value > 0 and math.isfinite(value) else DEFAULT_READ_TIMEOUT


# --- the embedded model ---------------------------------------------------------------------


def cache_dir(env: Env | None = None) -> Path:
    """Where joined weights live: FIELDSTREAM_CACHE_DIR, else ~/.cache/fieldstream (never the
    repository)."""
    return _path("FIELDSTREAM_CACHE_DIR", env, Path.home() / ".cache" / "fieldstream")


@dataclass(frozen=True)
class LocalSizing:
    """The embedded server's sizing as the environment sets it; None: not set (the server's
    own default applies, see `engine.local.server.ServerSettings`)."""

    ctx: int | None = None  # FIELDSTREAM_LOCAL_CTX: tokens per slot
    parallel: int | None = None  # FIELDSTREAM_LOCAL_PARALLEL: slots
    threads: int | None = None  # FIELDSTREAM_LOCAL_THREADS
    threads_batch: int | None = None  # FIELDSTREAM_LOCAL_THREADS_BATCH


def local_sizing(env: Env | None = None) -> LocalSizing:
    """Each value at least 1; one that is not a whole number counts as not set."""
    return LocalSizing(
        ctx=_count("FIELDSTREAM_LOCAL_CTX", env),
        parallel=_count("FIELDSTREAM_LOCAL_PARALLEL", env),
        threads=_count("FIELDSTREAM_LOCAL_THREADS", env),
        threads_batch=_count("FIELDSTREAM_LOCAL_THREADS_BATCH", env),
    )


def _count(name: str, env: Env | None) -> int | None:
    try:
        value = int(_text(name, env) or "")
    except ValueError:
        return None
    return max(1, value)


DEFAULT_PROVIDER_LIMIT = 8


def provider_limit(env: Env | None = None) -> int:
    """Runs at once against one hosted or custom server, in this process
    (FIELDSTREAM_PROVIDER_LIMIT, at least 1; 8 when not set). The local model's limit is its
    slots."""
    return _count("FIELDSTREAM_PROVIDER_LIMIT", env) or DEFAULT_PROVIDER_LIMIT


def warm_local(env: Env | None = None) -> bool:
    """Start the embedded model when the app opens (FIELDSTREAM_WARM_LOCAL, on by default)."""
    return _flag("FIELDSTREAM_WARM_LOCAL", env)


# --- documents and long texts ---------------------------------------------------------------

DEFAULT_MAX_FILE_MB = 50
DEFAULT_CONVERT_TIMEOUT = 30.0
DEFAULT_CONVERT_MEMORY_MB = 1024
DEFAULT_MAX_TEXT_CHARS = 2_000_000
CHUNKING_AUTO = "auto"  # split a text only when it does not fit the model's context
CHUNKING_ALWAYS = "always"  # split every text (to compare the merge with a single shot)


def _positive(name: str, env: Env | None, default: float, unit: str) -> float:
    raw = _text(name, env)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SettingError(f"{name} must be a positive number of {unit}, got {raw!r}")
    return value


def max_file_bytes(env: Env | None = None) -> int:
    """FIELDSTREAM_MAX_FILE_MB: the largest file read as a document (MB; 50 when not set).
    The app's upload limit (Streamlit's `server.maxUploadSize`) is set from the same value."""
    return int(_positive("FIELDSTREAM_MAX_FILE_MB", env, DEFAULT_MAX_FILE_MB, "MB") * 2**20)


def convert_timeout(env: Env | None = None) -> float:
    """FIELDSTREAM_CONVERT_TIMEOUT: seconds a file's conversion to text may take (30)."""
    return _positive("FIELDSTREAM_CONVERT_TIMEOUT", env, DEFAULT_CONVERT_TIMEOUT, "seconds")


def convert_memory_bytes(env: Env | None = None) -> int:
    """FIELDSTREAM_CONVERT_MEMORY_MB: the conversion process's address space (1024 MB)."""
    mb = _positive("FIELDSTREAM_CONVERT_MEMORY_MB", env, DEFAULT_CONVERT_MEMORY_MB, "MB")
    return int(mb * 2**20)


def max_text_chars(env: Env | None = None) -> int:
    """FIELDSTREAM_MAX_TEXT_CHARS: the longest text extracted, pasted or read (2,000,000)."""
    return int(_positive("FIELDSTREAM_MAX_TEXT_CHARS", env, DEFAULT_MAX_TEXT_CHARS,
                         "characters"))


def chunking(env: Env | None = None) -> str:
    """FIELDSTREAM_CHUNKING: `auto` (split a text only when it does not fit; the default) or
    `always` (split every text, to compare the merge with the single-shot answer)."""
    raw = (_text("FIELDSTREAM_CHUNKING", env) or CHUNKING_AUTO).lower()
    if raw not in (CHUNKING_AUTO, CHUNKING_ALWAYS):
        raise SettingError(f"FIELDSTREAM_CHUNKING must be auto or always, got {raw!r}")
    return raw


# --- the history ----------------------------------------------------------------------------


def database_url(env: Env | None = None, secrets: Mapping[str, Any] | None = None) -> str | None:
    """FIELDSTREAM_DATABASE_URL, else `[connections.fieldstream] url` in the secrets files
    (`secrets`: st.secrets or a mapping; None reads the files), else None (the history's own
    SQLite file in `data_dir()`)."""
    url = _text("FIELDSTREAM_DATABASE_URL", env)
    if url:
        return url
    secrets = read_secrets() if secrets is None else secrets
    with contextlib.suppress(Exception):  # st.secrets raises when there is no file
        value = secrets.get("connections", {}).get("fieldstream", {}).get("url")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def history_enabled(env: Env | None = None) -> bool:
    """FIELDSTREAM_HISTORY=off records nothing (what is stored stays readable)."""
    return _flag("FIELDSTREAM_HISTORY", env)


def field_guide(env: Env | None = None) -> bool:
    """FIELDSTREAM_FIELD_GUIDE=1: list the schema's fields, types and descriptions in the local
    model's prompt as well as its grammar. Off by default: measured worse (micro F1: invoices
    0.883 -> 0.829, meetings 0.905 -> 0.789, long opinions 0.295 -> 0.247: the 0.5B model
    copies the descriptions' example values; docs/decisions/default-model.md); kept as a switch
    to measure on other sets."""
    return _flag("FIELDSTREAM_FIELD_GUIDE", env, default=False)


def compact_json(env: Env | None = None) -> bool:
    """FIELDSTREAM_COMPACT_JSON=1: the local model's grammar allows one line of JSON only (no
    newlines or indentation). Off by default: it cost F1 on the starter sets (meetings 0.905 ->
    0.837, one answer looping to the token limit; invoices 0.883 -> 0.827) and saved 10 % of
    the tokens on the meetings, none on the invoices, no time (#22)."""
    return _flag("FIELDSTREAM_COMPACT_JSON", env, default=False)


def keep_input(env: Env | None = None) -> bool:
    """FIELDSTREAM_KEEP_INPUT=0 keeps input texts out of the history (results are kept)."""
    return _flag("FIELDSTREAM_KEEP_INPUT", env)


def history_days(env: Env | None = None) -> float | None:
    """FIELDSTREAM_HISTORY_DAYS: runs older than this many days are deleted; None keeps all.
    Raises `SettingError` for anything but a positive number (0 would delete everything)."""
    raw = _text("FIELDSTREAM_HISTORY_DAYS", env)
    if raw is None:
        return None
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if not days > 0:  # also refuses nan
        raise SettingError(
            f"FIELDSTREAM_HISTORY_DAYS must be a positive number of days, got {raw!r}"
        )
    return days


def pending_retry(env: Env | None = None) -> tuple[float, ...]:
    """FIELDSTREAM_PENDING_RETRY: the waits, in seconds, between tries to write a run's ending
    that the database could not take ("5,15,60,300": the last one repeats), else
    `DEFAULT_PENDING_RETRY`. Raises `SettingError` for anything but positive numbers."""
    raw = _text("FIELDSTREAM_PENDING_RETRY", env)
    if raw is None:
        return DEFAULT_PENDING_RETRY
    try:
        waits = tuple(float(part) for part in raw.split(","))
    except ValueError:
        waits = ()
    if not waits or not all(0 < wait < math.inf for wait in waits):  # also refuses nan
        raise SettingError(
            "FIELDSTREAM_PENDING_RETRY must be seconds separated by commas (e.g. 5,15,60,300), "
            f"got {raw!r}"
        )
    return waits


# --- batches ------------------------------------------------------------------------------------

DEFAULT_QUEUE_POLL = 0.2  # 2 slots at 1 s (DBOS's default) would cap a batch at 2 documents/s
DEFAULT_HEARTBEAT = 10.0
STALE_BEATS = 3  # missed heartbeats before a process's documents are taken over
DEFAULT_BATCH_RETRIES = 3
DEFAULT_BATCH_BACKOFF = 5.0


def executor_id(env: Env | None = None) -> str | None:
    """FIELDSTREAM_EXECUTOR_ID: this process's stable name on the batch queue (None: the
    caller's default, `app-<host>` for the app)."""
    return _text("FIELDSTREAM_EXECUTOR_ID", env)


def queue_poll(env: Env | None = None) -> float:
    """FIELDSTREAM_QUEUE_POLL: seconds between a process's looks at the batch queue (0.2)."""
    return _positive("FIELDSTREAM_QUEUE_POLL", env, DEFAULT_QUEUE_POLL, "seconds")


def worker_heartbeat(env: Env | None = None) -> float:
    """FIELDSTREAM_WORKER_HEARTBEAT: seconds between a batch process's heartbeats (10); after
    `STALE_BEATS` missed ones another process takes over its documents."""
    return _positive("FIELDSTREAM_WORKER_HEARTBEAT", env, DEFAULT_HEARTBEAT, "seconds")


def batch_retries(env: Env | None = None) -> int:
    """FIELDSTREAM_BATCH_RETRIES: tries after the first when a provider fails on its own (3;
    0 allowed)."""
    raw = _text("FIELDSTREAM_BATCH_RETRIES", env)
    if raw is None:
        return DEFAULT_BATCH_RETRIES
    if not raw.strip().isdigit():
        raise SettingError(f"FIELDSTREAM_BATCH_RETRIES must be a whole number, got {raw!r}")
    return int(raw)


def batch_backoff(env: Env | None = None) -> float:
    """FIELDSTREAM_BATCH_BACKOFF: seconds before the first retry, doubled each time (5)."""
    return _positive("FIELDSTREAM_BATCH_BACKOFF", env, DEFAULT_BATCH_BACKOFF, "seconds")


def worker_limit(env: Env | None = None) -> int | None:
    """FIELDSTREAM_WORKER_LIMIT: a hosted provider's documents at once in each batch process,
    under the limit across all of them (None: only that limit)."""
    return _count("FIELDSTREAM_WORKER_LIMIT", env)


def provider_rpm(env: Env | None = None) -> int | None:
    """FIELDSTREAM_PROVIDER_RPM: requests per minute to each hosted provider across every
    process of a batch (None: no rate limit, only the concurrency limit)."""
    return _count("FIELDSTREAM_PROVIDER_RPM", env)


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens, read (`input`) and written (`output`)."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def prices(env: Env | None = None) -> dict[str, Price]:
    """FIELDSTREAM_PRICES: a JSON object of provider name -> price per million tokens, a
    number (both ways) or {"input": x, "output": y}. No built-in table: a price is what your
    contract says. Unset: {} (no cost is shown)."""
    import json

    raw = _text("FIELDSTREAM_PRICES", env)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return {str(name): _price(value) for name, value in data.items()}
    except (ValueError, TypeError) as exc:
        raise SettingError(
            'FIELDSTREAM_PRICES must be JSON like {"OpenAI": {"input": 0.15, "output": 0.6}} '
            f"or {{\"OpenAI\": 0.3}} (dollars per million tokens): {exc}") from None


def _price(value: Any) -> Price:
    if isinstance(value, dict):
        return Price(_dollars(value.get("input")), _dollars(value.get("output")))
    return Price(_dollars(value), _dollars(value))


def _dollars(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value < 0:
        raise ValueError(f"a price is a number of dollars ≥ 0, got {value!r}")
    return float(value)
