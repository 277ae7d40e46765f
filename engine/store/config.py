"""Every setting of the history store, read in one place (read through engine/settings.py).

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine import settings
from engine.store import urls

SQLITE_NAME = "history.db"


@dataclass(frozen=True)
class HistorySettings:
    url: str
    enabled: bool = True
    keep_input: bool = True
    retention_days: float | None = None
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    data_dir: Path | None = None  # holds pending/ (endings the database could not take yet)
    pending_retry: tuple[float, ...] | None = None  # waits between tries to write them

    def __repr__(self) -> str:  # the URL may hold a password: show where it points only
        return (f"HistorySettings(location={urls.location(self.url)!r}, enabled={self.enabled}, "
                f"keep_input={self.keep_input}, retention_days={self.retention_days})")


def load_settings(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> HistorySettings:
    """The history's settings, every value read through `engine.settings`."""
    return HistorySettings(
        url=database_url(env, cwd, home),
        enabled=settings.history_enabled(env),
        keep_input=settings.keep_input(env),
        retention_days=settings.history_days(env),
        secrets=settings.secret_values(env),
        data_dir=settings.data_dir(env, home),
        pending_retry=tuple(settings.pending_retry(env)),
    )


def database_url(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> str:
    secrets = settings.read_secrets(settings.secrets_files(cwd, home))
    url = settings.database_url(env, secrets)
    if url:
        return urls.normalize(url)
    return f"sqlite:///{settings.data_dir(env, home) / SQLITE_NAME}"


def secret_values(env: Mapping[str, str] | None = None) -> frozenset[str]:
    return settings.secret_values(env)
