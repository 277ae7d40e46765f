"""Heartbeats of the processes that run batches, and taking over a dead one's documents.

Open-source DBOS has no heartbeat: a process resumes its own unfinished workflows when it
launches again under the same executor id, but nobody takes over those of a process that never
comes back. So each process (the app, each worker) writes its row in `batch_executors` every
`worker_heartbeat()` seconds (10), on the database's clock; a process whose beat is older than
`STALE_BEATS` beats (30 s) is dead: the first live process to see it re-queues its unfinished
documents (`dbos._recovery.recover_pending_workflows`, a private function of the pinned minor
version: it takes only rows still owned by the dead id, so two processes doing it at once
re-queue each document once) and removes the row. A process leaving on purpose without
finishing (`fieldstream worker`, Ctrl-C twice) ages its own beat so the others take over at
their next beat instead of 30 s later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import UTC, datetime

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine import settings
from engine.store import Store
from engine.store.db import db_now
from engine.store.records import utcnow
from engine.store.tables import batch_executors

log = logging.getLogger(__name__)

_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def beat(store: Store, executor_id: str, role: str) -> None:
    """Write this process's heartbeat (its row made on the first beat)."""
    now = db_now(store.dialect)
    with store.transaction() as conn:
        done = conn.execute(update(batch_executors).where(batch_executors.c.id == executor_id)
                            .values(beat_at=now, role=role, pid=os.getpid(),
                                    host=socket.gethostname()))
        if done.rowcount:
            return
    try:
        with store.transaction() as conn:
            conn.execute(insert(batch_executors).values(
                id=executor_id, role=role, host=socket.gethostname(), pid=os.getpid(),
                started_at=utcnow(), beat_at=now))
    except IntegrityError:  # another process of the same id wrote it first: beat it
        beat(store, executor_id, role)


def stale(store: Store, *, but: str, after: float) -> list[str]:
    """Processes whose last beat is older than `after` seconds (not `but`, this one)."""
    query = select(batch_executors.c.id).where(
        batch_executors.c.beat_at < db_now(store.dialect, after), batch_executors.c.id != but)
    with store.reading() as conn:
        return list(conn.execute(query).scalars())


def alive(store: Store, *, within: float) -> list[tuple[str, str]]:
    """(id, role) of the processes that beat within `within` seconds."""
    query = select(batch_executors.c.id, batch_executors.c.role).where(
        batch_executors.c.beat_at >= db_now(store.dialect, within))
    with store.reading() as conn:
        return [(row.id, row.role) for row in conn.execute(query)]


def forget(store: Store, executor_id: str, *, if_stale_after: float | None = None) -> bool:
    condition = batch_executors.c.id == executor_id
    if if_stale_after is not None:
        condition = and_(condition,
                         batch_executors.c.beat_at < db_now(store.dialect, if_stale_after))
    with store.transaction() as conn:
        return conn.execute(delete(batch_executors).where(condition)).rowcount > 0


def age(store: Store, executor_id: str) -> None:
    """Make this process's beat look long gone (it leaves without finishing its documents)."""
    with store.transaction() as conn:
        conn.execute(update(batch_executors).where(batch_executors.c.id == executor_id)
                     .values(beat_at=_LONG_AGO))


def _unclaim(store: Store, executor_id: str) -> None:
    """Put back a dead process's row, still stale, after taking it over failed."""
    with contextlib.suppress(IntegrityError), store.transaction() as conn:
        conn.execute(insert(batch_executors).values(
            id=executor_id, role="?", host="?", pid=0, started_at=utcnow(),
            beat_at=_LONG_AGO))


def take_over(store: Store, dead: str) -> int:
    """Re-queue the unfinished documents of a dead process; how many."""
    from dbos._dbos import _get_dbos_instance
    from dbos._recovery import recover_pending_workflows

    handles = recover_pending_workflows(_get_dbos_instance(), [dead])
    if handles:
        log.warning("Process %s stopped beating: %d of its documents are queued again.", dead,
                    len(handles))
    return len(handles)


class Heartbeat:
    """A daemon thread: beat, then take over the processes that went silent."""

    def __init__(self, store: Store, executor_id: str, role: str) -> None:
        self.store, self.executor_id, self.role = store, executor_id, role
        self.every = settings.worker_heartbeat()
        self.stale_after = self.every * settings.STALE_BEATS
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.taken_over: list[str] = []

    def start(self) -> Heartbeat:
        beat(self.store, self.executor_id, self.role)
        self._thread = threading.Thread(target=self._loop, name="fieldstream-heartbeat",
                                        daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception:  # a database blip: the next beat tries again
                log.warning("Batch heartbeat failed; trying again in %.0f s", self.every,
                            exc_info=True)

    def tick(self) -> None:
        beat(self.store, self.executor_id, self.role)
        for dead in stale(self.store, but=self.executor_id, after=self.stale_after):
            # Claim it first (its row deleted only while still stale): a process restarted
            # under the same id beats before it takes any work, so once it is back nobody
            # re-queues the documents it runs now (they would run twice).
            if not forget(self.store, dead, if_stale_after=self.stale_after):
                continue
            try:
                take_over(self.store, dead)
            except Exception:
                _unclaim(self.store, dead)  # the next beat (here or elsewhere) tries again
                raise
            self.taken_over.append(dead)

    def stop(self, *, hand_back: bool = False) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            if hand_back:
                age(self.store, self.executor_id)
            else:
                forget(self.store, self.executor_id)
        except Exception:
            log.warning("Could not write the batch heartbeat's end", exc_info=True)
