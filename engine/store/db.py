"""Connecting to the one database (SQLite file or Postgres) and migrating it to the newest
revision on first use; a database that cannot be used raises `StoreUnavailable`, saying why in
one plain sentence."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import (
    ColumnElement,
    Engine,
    create_engine,
    event,
    exc,
    func,
    literal_column,
    text,
)
from sqlalchemy.engine import make_url

from engine.store import urls

MIGRATIONS = Path(__file__).with_name("migrations")
# Not Alembic's default name: a team Postgres database may hold other apps' migrations.
VERSION_TABLE = "fieldstream_alembic_version"
BUSY_TIMEOUT_MS = 30_000
IDLE_PING_AFTER = 10.0  # seconds a pooled Postgres connection may idle before it is checked
_LOCK_KEY = 0x46535452  # pg_advisory_xact_lock key serialising migrations ("FSTR")
# Transactions that write on SQLite take the write lock up front (BEGIN IMMEDIATE): a deferred
# transaction that reads first and then writes can fail with "database is locked" at once,
# without waiting for busy_timeout, when another connection wrote in between.
WRITE = {"sqlite_begin": "IMMEDIATE"}
# What a driver's message says before its reason, on every line of a multi-host attempt.
_NOISE = re.compile(r'connection failed: |connection to server at "[^"]*"(?: \([^)]*\))?, '
                    r"port \d+ failed: |\b(?:FATAL|ERROR): +")
_REASON_MAX = 300
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class StoreUnavailable(Exception):
    """The history database cannot be used: written by a newer Fieldstream, not a database
    file, or out of reach. `str()` is one plain sentence, safe to show and to log: the place
    comes from `urls.location`, the driver's words go through `urls.scrub`."""


class NewerDatabase(Exception):
    """The database is at a migration this version does not know (a newer one wrote it)."""

    def __init__(self, revision: str) -> None:
        super().__init__(revision)
        self.revision = revision


def open_engine(url: str) -> Engine:
    """An engine on `url`, connected and migrated to the newest revision; StoreUnavailable
    when that cannot be done."""
    engine: Engine | None = None
    reached = False
    try:
        engine = connect(url)
        engine.connect().close()  # the server answers and lets us in (or the file opens)
        reached = True
        migrate(engine)
        return engine
    except (NewerDatabase, exc.SQLAlchemyError, CommandError, OSError) as error:
        if engine is not None:
            engine.dispose()
        # `from None`: the driver's error, which may quote the URL, stays out of tracebacks.
        raise unavailable(url, error, reached=reached) from None


def unavailable(url: str, error: BaseException, *, reached: bool = True) -> StoreUnavailable:
    """The plain message for a database that failed with `error`; `reached`: the server had
    answered (so a failure is not about reaching it)."""
    where = urls.location(url)
    if isinstance(error, NewerDatabase):
        return StoreUnavailable(
            f"This history was written by a newer Fieldstream ({error.revision}); this version "
            f"knows the migrations up to {head_revision()}. Upgrade Fieldstream, or point it "
            f"at another database. Database: {where}")  # fmt: skip
    if getattr(getattr(error, "orig", None), "sqlite_errorname", None) in _DAMAGED:
        return StoreUnavailable(
            f"The history file {where} is not a database file (or it is damaged): move it "
            "aside, or point FIELDSTREAM_DATA_DIR at another folder.")  # fmt: skip
    reason = urls.scrub(_reason(error), url)
    if not reached and urls.backend(url) != "sqlite":
        return StoreUnavailable(
            f"Could not reach the history database at {urls.server(url)}: {reason}")
    return StoreUnavailable(f"The history database at {where} cannot be used: {reason}")


def _reason(error: BaseException) -> str:
    """The first line of the driver's own words (SQLAlchemy's text adds the SQL and a web
    link; the driver's next lines quote the statement or give hints)."""
    orig = getattr(error, "orig", None) or error
    first = next((line for line in str(orig).splitlines() if line.strip()), "")
    text = _NOISE.sub("", " ".join(first.split()))
    return text[:_REASON_MAX].rstrip() or type(orig).__name__


def connect(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed)
        event.listen(engine, "connect", _mark_used)
        event.listen(engine, "checkout", _ping_if_idle)
        event.listen(engine, "checkin", _mark_used)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Check a pooled server connection that sat idle (the server may have restarted or
    dropped it) before use. A busy recorder skips this round trip: the usual
    `pool_pre_ping` would add one to every start and finish of a run."""
    if time.monotonic() - record.info.get("used", 0.0) < IDLE_PING_AFTER:
        return
    try:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception:
        raise exc.DisconnectionError() from None  # the pool opens a fresh one and retries


def _mark_used(_dbapi_conn: Any, record: Any) -> None:
    record.info["used"] = time.monotonic()


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the driver must not BEGIN on its own; _sqlite_begin does
    cursor = dbapi_conn.cursor()
    for pragma in (
        f"busy_timeout={BUSY_TIMEOUT_MS}",  # wait for another writer instead of failing
        "journal_mode=WAL",  # readers never block the writer, nor the writer them
        "synchronous=NORMAL",  # WAL stays consistent on a crash; fsync at checkpoints only
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    """The newest migration's revision id (what a migrated database is at)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    return {script.revision for script in
            ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision`; several processes may call this at once.
    NewerDatabase when a newer Fieldstream migrated it (Alembic would only say it cannot
    find that revision)."""
    cfg = alembic_config()
    wanted = head_revision() if revision == "head" else revision
    current = current_revision(engine)
    if current == wanted:
        return  # the usual case, without taking any lock
    if current is not None and current not in known_revisions():
        raise NewerDatabase(current)
    with engine.connect() as conn:
        conn.execution_options(**WRITE)
        conn.begin()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)  # a no-op when a concurrent process got there first
        conn.commit()


def db_now(dialect: str, seconds_ago: float = 0.0) -> ColumnElement[Any]:
    """The database server's clock (minus `seconds_ago`) as a SQL expression.

    Heartbeats are written and judged by this one clock, so processes on hosts whose clocks
    disagree still agree on which runs went silent.
    """
    if dialect == "sqlite":
        # Same text layout SQLAlchemy writes, with milliseconds: compares as text correctly.
        modifier = f"{-seconds_ago:+.3f} seconds"
        return func.strftime("%Y-%m-%d %H:%M:%f", "now", modifier)
    if dialect == "postgresql":
        return literal_column("clock_timestamp()") - func.make_interval(0, 0, 0, 0, 0, 0,
                                                                          seconds_ago)
    return func.current_timestamp()


def database_size(engine: Engine) -> int:
    """Bytes on disk: the SQLite file plus its WAL, or pg_database_size on Postgres."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    path = engine.url.database
    if not path or path == ":memory:":
        return 0
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
