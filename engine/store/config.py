"""Every setting of the history store, read in one place (to be folded into engine/settings.py).

    FIELDSTREAM_HISTORY=off        record nothing (existing history stays readable)
    FIELDSTREAM_KEEP_INPUT=0       keep input texts out of the store (results, timelines kept)
    FIELDSTREAM_HISTORY_DAYS=N     delete runs started more than N days ago
    FIELDSTREAM_DATABASE_URL=...   Postgres (or any SQLAlchemy URL) instead of the SQLite file
    FIELDSTREAM_DATA_DIR=...       where the SQLite file lives (~/.local/share/fieldstream)

Without FIELDSTREAM_DATABASE_URL the URL comes from `[connections.fieldstream] url = ...` in
./.streamlit/secrets.toml, else ~/.streamlit/secrets.toml (the project file wins), else the
SQLite file `history.db` in the data folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SQLITE_NAME = "history.db"
_OFF = {"0", "off", "false", "no"}
# Env vars whose values are secrets to keep out of the store, whatever else reads them.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
_MIN_SECRET = 8  # shorter values ("1", "yes") would mask ordinary words


@dataclass(frozen=True)
class HistorySettings:
    url: str
    enabled: bool = True
    keep_input: bool = True
    retention_days: float | None = None
    secrets: frozenset[str] = field(default=frozenset(), repr=False)


def load_settings(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> HistorySettings:
    env = os.environ if env is None else env
    return HistorySettings(
        url=database_url(env, cwd or Path.cwd(), home or Path.home()),
        enabled=_flag(env, "FIELDSTREAM_HISTORY"),
        keep_input=_flag(env, "FIELDSTREAM_KEEP_INPUT"),
        retention_days=_days(env.get("FIELDSTREAM_HISTORY_DAYS", "")),
        secrets=secret_values(env),
    )


def database_url(env: Mapping[str, str], cwd: Path, home: Path) -> str:
    url = env.get("FIELDSTREAM_DATABASE_URL", "").strip() or _secrets_url(cwd, home)
    if url:
        return normalize_url(url)
    data_dir = Path(env.get("FIELDSTREAM_DATA_DIR", "") or home / ".local/share/fieldstream")
    return f"sqlite:///{data_dir.expanduser() / SQLITE_NAME}"


def normalize_url(url: str) -> str:
    """`postgres://` and bare `postgresql://` mean psycopg 3 (psycopg2 is not a dependency)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def secret_values(env: Mapping[str, str]) -> frozenset[str]:
    return frozenset(
        value for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET
    )


def _secrets_url(cwd: Path, home: Path) -> str:
    for path in (cwd / ".streamlit/secrets.toml", home / ".streamlit/secrets.toml"):
        if path.is_file():
            with path.open("rb") as fh:
                url = tomllib.load(fh).get("connections", {}).get("fieldstream", {}).get("url")
            if url:
                return str(url).strip()
    return ""


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() not in _OFF


def _days(raw: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if not days > 0:  # also rejects nan; 0 would silently delete the whole history
        raise ValueError(f"FIELDSTREAM_HISTORY_DAYS must be a positive number of days, got {raw!r}")
    return days
