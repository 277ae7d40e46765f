"""One document of a batch, run to its end: what the queue's step calls (`run_document`).

The document's run is an ordinary run (`start_run`, recorded by the history's recorder), keyed
by the document's workflow id, so after a crash the step that runs again replaces the dead
attempt's row instead of adding one; a run that had already finished is taken as it is (its
request is not made again). A provider that fails on its own (unreachable, overloaded,
rate-limited, a dropped stream) is tried again after a pause (its `Retry-After` when it gave
one, else `batch_backoff` doubling), then the document fails with the reason. Stop (the
batch's state, read every second) ends the run and keeps what arrived.

Live runs are kept in `LIVE` (run id -> Runner) while they run in this process, so the Batch
page can draw a running document's fields as they arrive; keys typed in a browser session
are kept in `SESSION_KEYS` (batch id -> key), in this process's memory only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from engine.batch import records
from engine.batch.model import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    NEEDS_KEY,
    QUEUED,
    RUNNING,
    STOPPED,
    Batch,
    Item,
    item_status,
)
from engine.errors import ProviderError, StreamInterrupted, TimedOut
from engine.runs.runner import Runner
from engine.store import Store

log = logging.getLogger(__name__)

#: Runs of batch documents in this process, by run id (the page's live view of them).
LIVE: dict[str, Runner] = {}
#: Keys typed in a browser session, by batch id: this process's memory only, never stored.
SESSION_KEYS: dict[str, str] = {}
_lock = threading.Lock()

STOP_CHECK = 1.0  # seconds between looks at the batch's state while a document runs


@dataclass(frozen=True)
class Outcome:
    """How the step ended for a document: its status and why (for the workflow's result)."""

    status: str
    reason: str | None = None


def run_document(store: Store, batch_id: str, idx: int, attempt: int, *,
                 executor: str, env: Any = None) -> Outcome:
    """Run document `idx` of the batch (this `attempt`) to its end and record it."""
    from engine import settings
    from engine.batch.model import workflow_id

    batch, item = records.get(store, batch_id), records.item(store, batch_id, idx,
                                                               with_text=True)
    if batch is None or item is None:
        return Outcome(FAILED, "The batch or the document is gone.")
    if item.attempt != attempt:  # Retry made a newer attempt: this one has nothing to do
        return Outcome(item.status, "superseded")
    run_id = workflow_id(batch_id, idx, attempt)
    earlier = records.run_row(store, run_id)
    if earlier is not None and earlier["status"] in FINISHED:
        return _finish(store, batch, item, run_id, earlier["status"], None, executor)
    if batch.stopped:
        records.mark(store, batch_id, idx, CANCELLED, reason="Stopped before it ran.")
        return Outcome(CANCELLED)
    if item.text is None:
        records.mark(store, batch_id, idx, FAILED, reason="Its text is not stored any more.")
        return Outcome(FAILED)
    provider = find_provider(batch)
    if provider is None:
        return _no_provider(store, batch, item)
    retries, backoff = settings.batch_retries(env), settings.batch_backoff(env)
    if item.run_id and item.run_id != run_id:
        records.drop_run(store, item.run_id)  # the attempt this one replaces (Resume, Retry)
    for tried in range(retries + 1):
        if earlier is not None or tried:  # a dead or failed try's row: this one is the only one
            records.drop_run(store, run_id)
        records.mark(store, batch_id, idx, RUNNING, run_id=run_id, executor=executor,
                     reason=None if tried == 0 else f"Try {tried + 1} of {retries + 1}.")
        runner = _start(store, batch, item, provider, run_id)
        stopped = _wait(store, batch_id, runner)
        error = runner.error
        if stopped or not _passing(error) or tried == retries:
            return _finish(store, batch, item, run_id, str(runner.status), error, executor,
                           stopped=stopped)
        pause = _pause(error, backoff * 2 ** tried)
        records.mark(store, batch_id, idx, QUEUED, run_id=run_id, reason=(
            f"Waiting {pause:.0f} s to try again ({tried + 2} of {retries + 1}): {error}"))
        if _sleep_unless_stopped(store, batch_id, pause):
            records.mark(store, batch_id, idx, CANCELLED, reason="Stopped while waiting.")
            return Outcome(CANCELLED)
    raise AssertionError("unreachable")  # the loop returns on its last try


def find_provider(batch: Batch) -> Any | None:
    """The batch's provider by name in this process's configuration (a key typed in a browser
    session: only where that key is held)."""
    from engine.providers import available_providers

    spec = batch.spec
    key = SESSION_KEYS.get(batch.id) if spec.session_key else None
    if spec.session_key and key is None:
        return None
    found = available_providers(session_key={spec.provider: key} if key else None)
    return next((p for p in found if p.name == spec.provider), None)


def _no_provider(store: Store, batch: Batch, item: Item) -> Outcome:
    if batch.spec.session_key:  # the person types the key again and presses Resume
        records.mark(store, batch.id, item.idx, QUEUED, reason=NEEDS_KEY)
        return Outcome(QUEUED, NEEDS_KEY)
    reason = (f"This process has no provider named {batch.spec.provider!r}: add it to its "
              "configuration (providers.json, environment) and press Retry failed.")
    records.mark(store, batch.id, item.idx, FAILED, reason=reason)
    return Outcome(FAILED, reason)


def _start(store: Store, batch: Batch, item: Item, provider: Any, run_id: str) -> Runner:
    from engine.runs.spec import SOURCE_BATCH, RunGroup, RunSpec
    from engine.runs.start import start_run
    from engine.schemas.resolve import resolve_schema

    spec = batch.spec
    choice = resolve_schema(store, spec.schema_name, spec.schema_version)
    run_spec = RunSpec.for_provider(
        item.text or "", choice.name, choice.schema, provider, spec.model, spec.mode,
        source=SOURCE_BATCH, who=spec.who, schema_version=choice.version,
        system=choice.system, group=RunGroup(spec.kind, batch.id, str(item.idx)),
        document=item.document, chunking=spec.chunking, passes=spec.passes,
    )  # fmt: skip
    runner = start_run(run_spec, provider, run_id=run_id)
    with _lock:
        LIVE[run_id] = runner
    return runner


def _wait(store: Store, batch_id: str, runner: Runner) -> bool:
    """Wait for the run to end; True if the batch was stopped meanwhile (the run is then
    stopped too, keeping what arrived)."""
    try:
        while not runner.wait(STOP_CHECK):
            if records.state_of(store, batch_id) == STOPPED:
                runner.stop(wait=10.0)
                return True
        return False
    finally:
        with _lock:
            LIVE.pop(runner.run_id, None)


def _passing(error: BaseException | None) -> bool:
    """A failure that may pass on its own (try again later)."""
    if isinstance(error, StreamInterrupted | TimedOut):
        return True
    return isinstance(error, ProviderError) and error.transient


def _pause(error: BaseException | None, backoff: float) -> float:
    asked = getattr(error, "retry_after", None)
    return min(300.0, asked if isinstance(asked, int | float) and asked > 0 else backoff)


def _sleep_unless_stopped(store: Store, batch_id: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(STOP_CHECK, left))
        if records.state_of(store, batch_id) == STOPPED:
            return True
    return False


def _finish(store: Store, batch: Batch, item: Item, run_id: str, run_status: str,
            error: BaseException | None, executor: str, *, stopped: bool = False) -> Outcome:
    status = item_status(run_status)
    reason = str(error) if error is not None and status != DONE else None
    if stopped and status == CANCELLED:
        reason = "Stopped: what arrived is kept."
    records.mark(store, batch.id, item.idx, status, reason=reason, run_id=run_id,
                 executor=executor, drop_text=status == DONE and not store.keep_input)
    return Outcome(status, reason)


def live_runner(run_id: str | None) -> Runner | None:
    if run_id is None:
        return None
    with _lock:
        return LIVE.get(run_id)
