"""The history database: one SQLite file by default, or Postgres by URL; see `store.Store`."""

from engine.store.config import HistorySettings, load_settings
from engine.store.db import StoreUnavailable
from engine.store.records import ENDED, INTERRUPTED, RUNNING, STATUSES, StoredRun, fingerprint
from engine.store.store import (
    HEARTBEAT_EVERY,
    OFF,
    PENDING,
    SAVED,
    STALE_AFTER,
    Store,
    open_store,
)

__all__ = [
    "ENDED",
    "HEARTBEAT_EVERY",
    "INTERRUPTED",
    "OFF",
    "PENDING",
    "RUNNING",
    "SAVED",
    "STALE_AFTER",
    "STATUSES",
    "HistorySettings",
    "Store",
    "StoreUnavailable",
    "StoredRun",
    "fingerprint",
    "load_settings",
    "open_store",
]
