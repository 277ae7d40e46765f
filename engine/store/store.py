"""The history store: writes runs (a row at start, updated at the end, a heartbeat between)
to one SQLite file or one Postgres database, the same code for both.

    store = open_store()                  # settings from the environment / secrets.toml
    run = StoredRun(schema_name="MeetingInfo", provider="openai", model="gpt-4o-mini", ...)
    store.start(run)                      # the row exists from now on, heartbeat running
    ... run.status, run.result, run.timeline = "done", {...}, [(12.5, '{"na'), ...]
    store.finish(run)

A process that dies mid-run stops beating; queries then show its row as "interrupted".
An ending the database cannot take when the run ends (a server restarting, a locked file) is
kept in the pending folder (`engine.store.pending`) and written when the database answers
again: by this store on a schedule, or by the next store that opens the same database.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, exc, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from engine import settings as env_settings
from engine.redact import Redactor
from engine.store import db, urls
from engine.store.config import HistorySettings, load_settings
from engine.store.pending import PendingEnds, folder_for, unreachable
from engine.store.records import ENDED, RUNNING, StoredPart, StoredRun, url_host, utcnow
from engine.store.tables import run_parts, runs
from engine.store.timeline import pack, unpack

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 15.0  # seconds; a run silent for STALE_AFTER is shown as interrupted
STALE_AFTER = 60.0
PURGE_EVERY = 24 * 3600.0
_PURGE_BATCH = 1000  # short transactions: a big purge must not hold SQLite's write lock long
_RESULT_COLUMNS = ("ended_at", "status", "result", "field_errors", "usage", "ttft_ms",
                   "first_field_ms", "total_ms", "timeline", "grounding", "not_found",
                   "document", "document_name")
# What `finish` did with an ending: written, kept in the pending folder, or nothing (history off).
SAVED, PENDING, OFF = "saved", "pending", "off"
# Columns that are StoredRun fields of the same name (seq is the store's; timeline is packed;
# document is DocumentInfo.to_json(), document_name its name).
_FIELD_COLUMNS = tuple(c.name for c in runs.columns
                       if c.name not in ("seq", "timeline", "document", "document_name"))
# Likewise for StoredPart and run_parts (run_id is the run's id).
_PART_COLUMNS = tuple(c.name for c in run_parts.columns
                      if c.name not in ("seq", "run_id", "timeline"))


class Store:
    def __init__(
        self,
        url: str,
        *,
        enabled: bool = True,
        keep_input: bool = True,
        retention_days: float | None = None,
        secrets: Iterable[str] = (),
        heartbeat_every: float = HEARTBEAT_EVERY,
        data_dir: Path | None = None,
        pending_retry: Sequence[float] | None = None,
    ) -> None:
        """`data_dir` holds the pending folder (default: FIELDSTREAM_DATA_DIR's);
        `pending_retry`: the waits between tries to write it (FIELDSTREAM_PENDING_RETRY)."""
        self.url = urls.normalize(url)  # as the settings give it: `fs:p@ss@host` encoded
        self.dialect = make_url(self.url).get_backend_name()
        self.enabled = enabled
        self.keep_input = keep_input
        self.retention_days = retention_days
        self._redactor = Redactor(secrets)
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._pump = _HeartbeatPump(self, heartbeat_every)
        self._statements = _Statements(self.dialect)
        self._last_purge = 0.0
        self._purging = False
        root = env_settings.data_dir() if data_dir is None else data_dir
        self._pending = PendingEnds(folder_for(root, self.url))
        self._pending_lock = threading.Lock()  # one writer of the pending folder at a time
        self._pending_checked = False  # the folder is written once when the store opens
        waits = env_settings.pending_retry() if pending_retry is None else pending_retry
        self._retry = _PendingRetry(self, tuple(waits))

    @classmethod
    def from_settings(cls, settings: HistorySettings, **kwargs: Any) -> Store:
        return cls(
            settings.url, enabled=settings.enabled, keep_input=settings.keep_input,
            retention_days=settings.retention_days, secrets=settings.secrets,
            data_dir=settings.data_dir, pending_retry=settings.pending_retry, **kwargs,
        )

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    @property
    def location(self) -> str:
        """Where the history lives, safe to show (`urls.location`: never a password)."""
        return urls.location(self.url)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- connections -------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """Connected and migrated to the newest revision on first use; StoreUnavailable
        (tried again on the next use) when the database cannot be used."""
        with self._lock:
            if self._engine is None:
                self._engine = db.open_engine(self.url)
        if self.retention_days:
            self._purge_if_due()
        self._write_pending_on_open()
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (committed on success, rolled back on any exception)."""
        with self._connect() as conn:
            conn.execution_options(**db.WRITE)
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self._connect() as conn:
            yield conn

    def open(self) -> Store:
        """Connect and migrate now (the first use would), so that a database that cannot be
        used says so here: StoreUnavailable."""
        _ = self.engine
        return self

    def _connect(self) -> Connection:
        engine = self.engine
        try:
            return engine.connect()
        except exc.DBAPIError as error:  # the server went down after the store opened
            raise db.unavailable(self.url, error, reached=False) from None

    def close(self) -> None:
        self._pump.stop()
        self._retry.stop()  # what is still pending stays on disk for the next store
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def add_secret(self, value: str | None) -> None:
        """Mask this value (e.g. the API key a run used) wherever it would be written."""
        self._redactor.add(value)

    # -- writing runs -------------------------------------------------------------------

    def start(self, run: StoredRun) -> str:
        """Write the run's row now (status running) and keep its heartbeat going."""
        if not self.enabled:
            return run.id
        run.status = RUNNING
        values = self.row_values(run)
        del values["heartbeat_at"]  # the database's clock, in the statement
        with self.transaction() as conn:
            conn.execute(self._statements.start, values)
        self._pump.add(run.id)
        return run.id

    def beat(self, run_id: str, partial: Any = None) -> None:
        """Say the run is alive; `partial` (if given) also saves what has arrived so far."""
        extra = {} if partial is None else {"result": self._redactor.value(partial)}
        self._beat([run_id], **extra)

    def finish(self, run: StoredRun) -> str:
        """Write the end of the run (its status must be one of the ended ones): SAVED, or
        PENDING when the database cannot be reached (written later, see the module doc)."""
        self._pump.discard(run.id)
        if not self.enabled:
            return OFF
        if run.status not in ENDED:
            raise ValueError(f"finish() needs an ended status ({', '.join(ENDED)})")
        if run.ended_at is None:
            run.ended_at = utcnow()
        values = self.row_values(run)
        parts = self.part_rows(run)
        try:
            with self.transaction() as conn:
                self._write_end(conn, values, parts)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._park(run, exc)
            return PENDING
        return SAVED

    def _write_end(self, conn: Connection, values: dict[str, Any],
                   parts: list[dict[str, Any]]) -> None:
        """The ending over a row still running (shown "interrupted" if it went silent), or
        the whole row when there is none; a row that already has an ending keeps it (and
        its parts). A split run's parts go in with the ending, in the same transaction."""
        ended = {name: values[name] for name in _RESULT_COLUMNS}
        done = conn.execute(self._statements.finish, {**ended, "run_id": values["id"]})
        if done.rowcount == 0:
            if conn.execute(select(runs.c.seq).where(runs.c.id == values["id"])).first():
                return  # ended already: a late ending changes nothing
            conn.execute(insert(runs), values)  # the start row never made it (or was purged)
        if parts:
            conn.execute(insert(run_parts), parts)

    # -- endings the database could not take (engine.store.pending) -----------------------

    def _park(self, run: StoredRun, error: BaseException) -> None:
        path = self._pending.park(self._masked(run))
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[:1]
        log.warning("The history database is not reachable (%s: %s): the ending of run %s is "
                    "kept in %s and written when it is.", type(error).__name__,
                    reason[0] if reason else "", run.id, path)
        self._retry.start()

    def _masked(self, run: StoredRun) -> dict[str, Any]:
        """The run as a pending file holds it: `to_dict()`, masked as `row_values` masks."""
        redact = self._redactor
        data = {k: redact.value(v) for k, v in run.to_dict().items() if k != "timeline"}
        data["timeline"] = [[ms, text] for ms, text in redact.timeline(run.timeline)]
        for part, kept in zip(run.parts, data["parts"], strict=True):
            kept["timeline"] = [[ms, text] for ms, text in redact.timeline(part.timeline)]
        data["base_url_host"] = url_host(run.base_url_host)
        if not self.keep_input:
            data["input_text"] = None
        return data

    def write_pending(self) -> bool:
        """Write the endings waiting in the pending folder; False when the database still
        cannot be reached (they stay for the next try)."""
        with self._pending_lock:
            for path, run in self._pending.waiting():
                try:
                    with self.transaction() as conn:
                        self._write_end(conn, self.row_values(run), self.part_rows(run))
                except IntegrityError:
                    pass  # another process wrote this run's row at the same moment
                except Exception as exc:
                    if unreachable(exc):
                        return False
                    self._pending.set_aside(path, f"the database refused it ({exc})")
                    continue
                self._pending.drop(path)
                log.info("Run %s: its ending, kept while the history was not reachable, is "
                         "now written.", run.id)
        return True

    def has_pending(self) -> bool:
        """Endings of this database wait in the pending folder."""
        return self._pending.any()

    def _write_pending_on_open(self) -> None:
        """What a store (this one or one in an earlier process) could not write is written
        when the store first opens; the schedule takes over if it still cannot be."""
        if self._pending_checked:  # the usual case, without taking the lock
            return
        with self._lock:
            checked, self._pending_checked = self._pending_checked, True
        if checked or not self.has_pending():
            return
        try:
            written = self.write_pending()
        except Exception:  # opening the store must not fail for a pending file
            log.warning("The endings kept in %s could not be written now.",
                        self._pending.folder, exc_info=True)
            written = False
        if not written:
            self._retry.start()

    def add(self, run: StoredRun) -> None:
        """Write a whole run in one go (a run recorded elsewhere, a test fixture)."""
        if self.enabled:
            with self.transaction() as conn:
                self.insert_many(conn, [run])

    def insert_many(self, conn: Connection, batch: list[StoredRun]) -> int:
        """Insert finished or imported runs, and their parts, inside the caller's transaction
        (one executemany each)."""
        if batch:
            conn.execute(insert(runs), [self.row_values(run) for run in batch])
            parts = [row for run in batch for row in self.part_rows(run)]
            if parts:
                conn.execute(insert(run_parts), parts)
        return len(batch)

    def row_values(self, run: StoredRun) -> dict[str, Any]:
        """The column values for a run, masked, with the input dropped if it is not kept."""
        redact = self._redactor
        values = {column: getattr(run, column) for column in _FIELD_COLUMNS}
        values["base_url_host"] = url_host(run.base_url_host)  # even if set after creation
        if not self.keep_input:
            values["input_text"] = None
        if redact:
            values = {
                k: redact.text(v) if isinstance(v, str) else redact.value(v)
                for k, v in values.items()
            }
        values["timeline"] = pack(redact.timeline(run.timeline)) if run.timeline else None
        document = run.document.to_json() if run.document is not None else None
        values["document"] = redact.value(document)  # metadata only, whatever keep_input says
        # The name again, masked as in the document, for search (0009).
        values["document_name"] = values["document"]["name"] if document is not None else None
        return values

    def part_rows(self, run: StoredRun) -> list[dict[str, Any]]:
        """The `run_parts` rows of a split run, masked as its row is (a part holds no input)."""
        redact = self._redactor
        rows = []
        for part in run.parts:
            values = {column: getattr(part, column) for column in _PART_COLUMNS}
            if redact:
                values = {k: redact.text(v) if isinstance(v, str) else redact.value(v)
                          for k, v in values.items()}
            values["run_id"] = run.id
            values["timeline"] = pack(redact.timeline(part.timeline)) if part.timeline else None
            rows.append(values)
        return rows

    # -- reading parts ------------------------------------------------------------------------

    def run_parts(self, run_id: str) -> list[StoredPart]:
        """A split run's parts in order (empty for a run in one piece)."""
        return self.parts_of([run_id]).get(run_id, [])

    def parts_of(self, run_ids: Sequence[str]) -> dict[str, list[StoredPart]]:
        """The parts of these runs, by run id, each run's in order (runs without: absent)."""
        found: dict[str, list[StoredPart]] = {}
        if not run_ids:
            return found
        query = (select(run_parts).where(run_parts.c.run_id.in_(list(run_ids)))
                 .order_by(run_parts.c.run_id, run_parts.c.idx))
        with self.reading() as conn:
            for row in conn.execute(query).mappings():
                found.setdefault(row["run_id"], []).append(stored_part(row))
        return found

    def delete_runs(self, conn: Connection, condition: Any) -> int:
        """Delete the runs matching `condition` and their parts, in the caller's transaction;
        returns how many runs."""
        ids = select(runs.c.id).where(condition).scalar_subquery()
        conn.execute(delete(run_parts).where(run_parts.c.run_id.in_(ids)))
        return conn.execute(delete(runs).where(condition)).rowcount

    def _beat(self, run_ids: list[str], **extra: Any) -> None:
        if not self.enabled or not run_ids:
            return
        with self.transaction() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(run_ids), runs.c.status == RUNNING)
                .values(heartbeat_at=db.db_now(self.dialect), **extra)
            )

    # -- retention and size ---------------------------------------------------------------

    def purge(self, days: float | None = None) -> int:
        """Delete runs started more than `days` (default: the retention setting) ago."""
        days = self.retention_days if days is None else days
        if not days:
            return 0
        cutoff = utcnow() - timedelta(days=days)
        removed = 0
        while True:
            with self.transaction() as conn:
                batch = conn.execute(select(runs.c.seq).where(runs.c.started_at < cutoff)
                                     .limit(_PURGE_BATCH)).scalars().all()
                count = self.delete_runs(conn, runs.c.seq.in_(batch)) if batch else 0
            removed += count
            if count < _PURGE_BATCH:
                return removed

    def _purge_if_due(self) -> None:
        """At start-up (first use), then at most once every PURGE_EVERY seconds."""
        now = time.monotonic()
        with self._lock:
            # purge() itself uses the engine: `_purging` keeps it from purging again inside.
            due = not self._purging and (
                not self._last_purge or now - self._last_purge >= PURGE_EVERY
            )
            if due:
                self._last_purge, self._purging = now, True
        if due:
            try:
                self.purge()
            finally:
                self._purging = False

    def database_size(self) -> int:
        return db.database_size(self.engine)


class _Statements:
    """The recording statements, built once: values go in as parameters, so SQLAlchemy
    reuses one compiled statement instead of building one per run (most of the cost)."""

    def __init__(self, dialect: str) -> None:
        now = db.db_now(dialect)
        self.start = insert(runs).values(heartbeat_at=now)
        # Only over a running row: an ending written late must never replace a real one.
        self.finish = update(runs).where(
            runs.c.id == bindparam("run_id"), runs.c.status == RUNNING
        ).values(heartbeat_at=now)


class _Loop:
    """A store's daemon thread: `stop()` ends it (and waits a little) from any other thread."""

    _stop: threading.Event
    _thread: threading.Thread | None

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


class _HeartbeatPump(_Loop):
    """One daemon thread per store beats every running run it started, in one UPDATE."""

    def __init__(self, store: Store, every: float) -> None:
        self._store = store
        self._every = every
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, run_id: str) -> None:
        with self._lock:
            self._ids.add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="history-heartbeat",
                                                daemon=True)
                self._thread.start()

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._ids.discard(run_id)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            with self._lock:
                ids = sorted(self._ids)
            try:
                self._store._beat(ids)
            except Exception:  # a missed beat is harmless; a dead thread would not be
                log.warning("history heartbeat failed", exc_info=True)


class _PendingRetry(_Loop):
    """One daemon thread per store tries the pending folder on the schedule (the last wait
    repeats) until it is empty or the store closes."""

    def __init__(self, store: Store, waits: tuple[float, ...]) -> None:
        self._store = store
        self._waits = waits
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return  # the running loop looks at the folder again before it ends
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="history-pending",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        waits = itertools.chain(self._waits, itertools.repeat(self._waits[-1]))
        for wait in waits:
            if self._stop.wait(wait):
                break
            try:
                written = self._store.write_pending()
            except Exception:  # a bug must not end the retries quietly
                log.warning("Writing the pending run endings failed.", exc_info=True)
                written = False
            with self._lock:  # with start(): a file parked meanwhile is never left behind
                if written and not self._store.has_pending():
                    self._thread = None
                    return
        with self._lock:
            self._thread = None


def stored_part(row: Any) -> StoredPart:
    """A `run_parts` row (a mapping) as a `StoredPart`."""
    values = {name: row[name] for name in _PART_COLUMNS}
    return StoredPart(**values, timeline=unpack(row["timeline"]))


def open_store(settings: HistorySettings | None = None, **kwargs: Any) -> Store:
    """The store the settings describe (environment, secrets.toml, default SQLite file)."""
    return Store.from_settings(settings or load_settings(), **kwargs)
