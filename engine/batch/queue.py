"""The batch queue: DBOS Transact, set up the way `docs/decisions/batch-queue.md` found we must.

One process, one `Queue` runtime (`launch` / `shutdown`; DBOS is a process singleton): the app
launches it on first use, `fieldstream worker` at start. Its state lives in
`$FIELDSTREAM_DATA_DIR/queue.db` beside a SQLite history, or in the History Postgres in a schema
of its own (`fieldstream_queue`: no CREATE DATABASE). Set explicitly, because DBOS's defaults
are wrong for us: a stable executor id per process (the default "local" would make every
process recover the others' work as its own), `application_version` = the package version,
the JSON serializer (the default is pickle), the polling interval (`settings.queue_poll`).

A document is one workflow, `fieldstream.batch.document(batch_id, idx, attempt)`: ids and
numbers only, never a text or a key. Its one step runs the document (`work.run_document`). Its
workflow id is its run's id (`model.workflow_id`); enqueueing the same id twice returns the
first. Each provider has its queue (`model.queue_name`): the local model's allows its slots on
each worker (each worker has its own model); a hosted provider's, `provider_limit()` across
every process, and `FIELDSTREAM_PROVIDER_RPM` starts a minute if set. Each document's priority
is its place in its batch, so two batches on one queue take turns (FIFO would run the first
batch to its end before the second's first document).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ParamSpec, TypeVar

from dbos import (
    DBOS,
    DBOSConfig,
    DBOSPortableJSONSerializer,
    SetEnqueueOptions,
    SetWorkflowID,
    WorkflowSerializationFormat,
)

from engine.batch.model import Batch, Item, queue_name
from engine.store import Store

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

APP_NAME = "fieldstream"
PG_SCHEMA = "fieldstream_queue"
QUEUE_FILE = "queue.db"
WORKFLOW = "fieldstream.batch.document"
MAX_PRIORITY = 2**31 - 1


def app_version() -> str:
    try:
        return metadata.version("fieldstream")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


def default_executor(role: str) -> str:
    return f"{role}-{socket.gethostname()}"


@dataclass
class Runtime:
    """This process on the queue: its store, its executor id, its role (app or worker)."""

    store: Store
    executor_id: str
    role: str
    poll: float
    listen: list[str] | None
    heartbeat: Any = None  # executors.Heartbeat
    #: Serve the queue of a batch this process starts or resumes, even one not in `listen`
    #: (the app: a provider added after it launched). A CLI that only queues must not.
    follow: bool = False


_runtime: Runtime | None = None
_lock = threading.RLock()


def system_database(store: Store) -> tuple[str, str | None]:
    """The queue's database URL and schema: a file beside a SQLite history, else the
    History Postgres (a schema of its own)."""
    from engine import settings

    if store.dialect == "sqlite":
        folder = settings.data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        _write_ahead(folder / QUEUE_FILE)
        return f"sqlite:///{folder / QUEUE_FILE}", None
    return store.url, PG_SCHEMA


def _write_ahead(path: Any) -> None:
    """Put the queue's SQLite file in WAL mode (it stays so): DBOS opens it in rollback-journal
    mode, where each of a document's several commits syncs the file and readers (the page,
    the other processes' polls) block the writer."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def launch(store: Store, *, executor_id: str, role: str,
           listen: Sequence[str] | None = None, follow: bool = False) -> Runtime:
    """Start this process on the queue (once; a second call returns the first runtime): DBOS
    launched (its own PENDING documents resume), the heartbeat going. `listen`: the queues it
    takes documents from (None: all); `follow`: also those of batches it starts later."""
    global _runtime
    from engine import settings
    from engine.batch.executors import Heartbeat, beat

    with _lock:
        if _runtime is not None:
            return _runtime
        url, schema = system_database(store)
        config: DBOSConfig = {
            "name": APP_NAME, "system_database_url": url, "executor_id": executor_id,
            "application_version": app_version(), "serializer": DBOSPortableJSONSerializer(),
            "log_level": "WARNING",
        }  # fmt: skip
        if schema:
            config["dbos_system_schema"] = schema
        _runtime = Runtime(store, executor_id, role, settings.queue_poll(),
                           list(listen) if listen is not None else None, follow=follow)
        try:
            # Beat before taking any work: a peer that found this id stale while it was
            # away must not re-queue what it runs from now on (executors.Heartbeat.tick).
            beat(store, executor_id, role)
            DBOS(config=config)
            if listen is not None:
                DBOS.listen_queues(list(listen))
            DBOS.launch()
        except BaseException:
            _runtime = None
            DBOS.destroy()
            raise
        _runtime.heartbeat = Heartbeat(store, executor_id, role).start()
        return _runtime


def current() -> Runtime | None:
    return _runtime


def shutdown(*, finish_seconds: int = 0, hand_back: bool = True) -> None:
    """Leave the queue: stop taking documents, wait up to `finish_seconds` for those running
    here, then (`hand_back`) tell the other processes to take over what is left at once."""
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is None:
        return
    DBOS.destroy(workflow_completion_timeout_sec=finish_seconds)
    if runtime.heartbeat is not None:
        runtime.heartbeat.stop(hand_back=hand_back)


# --- queues -------------------------------------------------------------------------------------


def off_loop(call: Callable[P, R]) -> Callable[P, R]:
    """Run `call` in a thread of its own when this one has a running event loop. DBOS's
    blocking calls refuse such a thread (`check_async`): a caller inside Jupyter, or under
    Playwright's sync API, would otherwise fail; its context (SetWorkflowID) is per thread,
    so the whole call moves, not each DBOS call."""

    @functools.wraps(call)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return call(*args, **kwargs)
        with ThreadPoolExecutor(1, thread_name_prefix="fieldstream-queue") as pool:
            return pool.submit(call, *args, **kwargs).result()

    return wrapper



def limits_for(provider: Any) -> dict[str, Any]:
    """A provider's queue limits: the local model's slots on each worker, else the provider's
    limit across every process (each process's share too, `FIELDSTREAM_WORKER_LIMIT`, and its
    requests per minute, when set)."""
    from engine import settings

    if provider.kind == "local":
        from engine.local.server import ServerSettings

        return {"worker_concurrency": ServerSettings.from_env().parallel}
    limits: dict[str, Any] = {"global_concurrency": settings.provider_limit()}
    per_worker = settings.worker_limit()
    if per_worker:  # e.g. each worker's share of a server, or its own connection's limit
        limits["worker_concurrency"] = min(per_worker, limits["global_concurrency"])
    rpm = settings.provider_rpm()
    if rpm:
        limits["limiter"] = {"limit": rpm, "period": 60.0}
    return limits


@off_loop
def register(provider: Any, *, session: bool = False) -> str:
    """Register the provider's queue with this process's limits (every process registers the
    same: the last registration wins). Returns its name."""
    runtime = _need()
    name = queue_name(provider.name, session=session)
    DBOS.register_queue(name, polling_interval_sec=runtime.poll, on_conflict="always_update",
                        **limits_for(provider))
    if runtime.follow:
        _serve(runtime, name)
    return name


def app_queues(providers: Iterable[Any]) -> list[str]:
    """The queues the app serves: its providers', and theirs for keys typed in its pages."""
    return [name for p in providers
            for name in (queue_name(p.name), queue_name(p.name, session=True))]


def _serve(runtime: Runtime, name: str) -> None:
    """Take documents from this queue too. DBOS fixes `listen_queues` before launch; its queue
    thread reads the list again every second, so adding to it (a private attribute of the
    pinned minor version, tested) serves a provider added after launch."""
    from dbos._dbos import _get_dbos_instance

    listening = _get_dbos_instance()._listening_queues
    if runtime.listen is not None and listening is not None and name not in listening:
        listening.append(name)
        runtime.listen.append(name)


@off_loop
def enqueue(batch: Batch, docs: Iterable[Item]) -> int:
    """Put these documents on the batch's queue (ids already there are not added again)."""
    _need()
    name, count = batch.spec.queue(), 0
    for doc in docs:
        with SetWorkflowID(doc.workflow_id), SetEnqueueOptions(
                priority=min(MAX_PRIORITY, doc.idx + 1)):
            DBOS.enqueue_workflow(name, document_workflow, batch.id, doc.idx, doc.attempt)
        count += 1
    return count


@off_loop
def cancel(workflow_ids: Sequence[str]) -> None:
    """Take these documents off the queue (one running now ends at its step's end)."""
    _need()
    for start in range(0, len(workflow_ids), 500):
        DBOS.cancel_workflows(list(workflow_ids[start:start + 500]))


@off_loop
def resume(workflow_ids: Sequence[str], queue: str) -> list[str]:
    """Put cancelled documents back on their queue; returns the ids DBOS does not know (to be
    enqueued anew)."""
    from dbos._error import DBOSNonExistentWorkflowError

    _need()
    missing: list[str] = []
    for wid in workflow_ids:
        try:
            DBOS.resume_workflows([wid], queue_name=queue)
        except DBOSNonExistentWorkflowError:
            missing.append(wid)
    return missing


@off_loop
def states(workflow_ids: Sequence[str]) -> dict[str, str]:
    """DBOS's status of these workflows (ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED, ...)."""
    _need()
    found: dict[str, str] = {}
    for start in range(0, len(workflow_ids), 500):
        for status in DBOS.list_workflows(workflow_ids=list(workflow_ids[start:start + 500]),
                                          load_input=False, load_output=False):
            found[status.workflow_id] = status.status
    return found


def _need() -> Runtime:
    if _runtime is None:
        raise RuntimeError("The batch queue is not launched in this process (queue.launch).")
    return _runtime


# --- the workflow ---------------------------------------------------------------------------


@DBOS.workflow(name=WORKFLOW, max_recovery_attempts=100,
               serialization_type=WorkflowSerializationFormat.PORTABLE)
def document_workflow(batch_id: str, idx: int, attempt: int) -> dict[str, Any]:
    return _run_step(batch_id, idx, attempt)


@DBOS.step(name="fieldstream.batch.run")
def _run_step(batch_id: str, idx: int, attempt: int) -> dict[str, Any]:
    from engine.batch.work import run_document

    runtime = _need()
    outcome = run_document(runtime.store, batch_id, idx, attempt,
                           executor=runtime.executor_id)
    return {"status": outcome.status, "reason": outcome.reason}
