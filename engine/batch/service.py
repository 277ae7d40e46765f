"""What the Batch page and the CLI do with batches: make one from files, Stop, Resume, Retry
failed, read its table and its header figures, export it.

    batch = start_batch(store, spec, inputs, provider)      # texts stored, then queued
    progress(store, batch.id)                               # counts, rate, ETA, tokens, cost
    table(store, batch.id, offset=0, limit=100)             # a page of rows
    stop(store, batch.id); resume(store, batch.id); retry_failed(store, batch.id)

The queue must be launched in this process first (`queue.launch`, done by the app's context and
the CLI). Every document's text is in the database before its workflow is queued, so a crash
between the two loses nothing: `resume` queues what is not queued.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from engine.batch import queue, records
from engine.batch.model import (
    ACTIVE,
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    STOPPED,
    Batch,
    BatchSpec,
    Counts,
    NewItem,
    Row,
    new_batch_id,
)
from engine.documents.batch_input import InputItem
from engine.store import Store

#: DBOS statuses of a workflow that is still to run or running.
_LIVE_WORKFLOW = ("ENQUEUED", "PENDING", "DELAYED")


def inputs_from(items: Iterable[InputItem], *, env: Any = None) -> Iterator[NewItem]:
    """Upload items (`documents.batch_input.iter_inputs`) as a batch's documents: each read
    to text now (a bad one keeps its reason; the batch goes on), duplicates pointing to the
    first with the same bytes."""
    from engine.documents import DocumentError
    from engine.documents.batch_input import to_document

    first: dict[str, int] = {}
    for idx, item in enumerate(items):
        if item.error is not None:
            yield NewItem(item.name, reason=str(item.error))
            continue
        if item.duplicate_of is not None and item.sha256 in first:
            yield NewItem(item.name, sha256=item.sha256, duplicate_of=first[item.sha256])
            continue
        try:
            document = to_document(item, env=env)
        except DocumentError as exc:
            yield NewItem(item.name, sha256=item.sha256, reason=str(exc))
            continue
        if item.sha256 is not None:
            first.setdefault(item.sha256, idx)
        yield NewItem(item.name, text=document.text, document=document.info,
                      sha256=item.sha256)


def start_batch(store: Store, spec: BatchSpec, docs: Sequence[NewItem], provider: Any, *,
                name: str | None = None, session_key: str | None = None) -> Batch:
    """Store the batch (every text first), then queue its documents on the provider's queue."""
    from engine.batch.work import SESSION_KEYS

    if provider.name != spec.provider:
        raise ValueError(f"The batch names {spec.provider!r}, not {provider.name!r}.")
    batch = records.create(store, new_batch_id(), spec, docs, name=name)
    if session_key:
        SESSION_KEYS[batch.id] = session_key
    if spec.reuse:
        _reuse(store, batch)
    queue.register(provider, session=spec.session_key)
    queue.enqueue(batch, records.waiting_items(store, batch.id))
    return batch


def _reuse(store: Store, batch: Batch) -> None:
    for doc in records.waiting_items(store, batch.id):
        earlier = records.reusable_run(store, doc.sha256, batch.spec, batch.id) \
            if doc.sha256 else None
        if earlier is not None:
            records.mark(store, batch.id, doc.idx, DONE, run_id=earlier,
                         reason="Answered by an earlier batch (reused).",
                         drop_text=not store.keep_input)


def stop(store: Store, batch_id: str) -> int:
    """Stop the batch: queued documents leave the queue (cancelled); running ones end within
    a second, keeping what arrived. Returns how many were taken off the queue."""
    records.set_state(store, batch_id, STOPPED)
    waiting = [d for d in records.items(store, batch_id, statuses=[QUEUED])
               if d.duplicate_of is None]
    if queue.current() is not None:
        # One a process has just taken (PENDING) sees the state at its start and ends itself:
        # cancelling it under its feet only makes DBOS log an error with a traceback.
        states = queue.states([d.workflow_id for d in waiting])
        queue.cancel([d.workflow_id for d in waiting if states.get(d.workflow_id) != "PENDING"])
    records.mark_many(store, batch_id, [d.idx for d in waiting], CANCELLED,
                      reason="Stopped before it ran.")
    return len(waiting)


def resume(store: Store, batch_id: str, provider: Any, *, session_key: str | None = None
           ) -> int:
    """Go on: every document without an answer that is not on the queue is queued again (a
    new attempt: a stopped run starts over; what it had is replaced). Returns how many."""
    batch = _batch(store, batch_id)
    records.set_state(store, batch_id, ACTIVE)
    _remember_key(batch, session_key)
    todo = [d for d in records.waiting_items(store, batch_id) if d.status != FAILED]
    live = queue.states([d.workflow_id for d in todo])
    # A cancelled document goes back whatever its workflow says: one stopped a moment ago is
    # still PENDING while its step returns, and would otherwise never run again.
    todo = [d for d in todo
            if d.status == CANCELLED or live.get(d.workflow_id) not in _LIVE_WORKFLOW]
    return _requeue(store, batch, todo, provider)


def retry_failed(store: Store, batch_id: str, provider: Any, *,
                 session_key: str | None = None) -> int:
    """Queue every failed document again (those whose file could not be read stay failed:
    there is no text to run). Returns how many."""
    batch = _batch(store, batch_id)
    records.set_state(store, batch_id, ACTIVE)
    _remember_key(batch, session_key)
    return _requeue(store, batch, records.retryable(store, batch_id), provider)


def _requeue(store: Store, batch: Batch, docs: Sequence[Any], provider: Any) -> int:
    if not docs:
        return 0
    records.mark_many(store, batch.id, [d.idx for d in docs], QUEUED, new_attempt=True)
    fresh = {d.idx: d for d in records.waiting_items(store, batch.id)}
    queue.register(provider, session=batch.spec.session_key)
    return queue.enqueue(batch, [fresh[d.idx] for d in docs if d.idx in fresh])


def _remember_key(batch: Batch, session_key: str | None) -> None:
    from engine.batch.work import SESSION_KEYS

    if session_key and batch.spec.session_key:
        SESSION_KEYS[batch.id] = session_key


def _batch(store: Store, batch_id: str) -> Batch:
    batch = records.get(store, batch_id)
    if batch is None:
        raise KeyError(f"No batch {batch_id!r}.")
    return batch


# --- reading ------------------------------------------------------------------------------------


def fields_of(store: Store, batch: Batch) -> list[str]:
    """The schema's top-level fields: the table's columns (the schema the batch pinned)."""
    from pydantic import TypeAdapter

    from engine.history.export import top_level_fields
    from engine.schemas.resolve import find_schema

    choice = find_schema(store, batch.spec.schema_name, batch.spec.schema_version)
    if choice is None:
        return ["result"]
    return top_level_fields(TypeAdapter(choice.schema).json_schema())


@dataclass(frozen=True)
class Progress:
    """The figures above a batch's table."""

    counts: Counts
    per_minute: float | None  # documents ended per minute since the first started
    eta_seconds: float | None
    cost: float | None  # dollars, when the provider's price is configured

    @property
    def finished(self) -> bool:
        return self.counts.left == 0


def progress(store: Store, batch: Batch, *, now: datetime | None = None) -> Progress:
    from engine import settings

    counts = records.counts(store, batch.id)
    per_minute = eta = None
    if counts.first_start is not None and counts.ended:
        now = now or datetime.now(UTC)
        until = counts.last_end if counts.left == 0 and counts.last_end else now
        minutes = max((_aware(until) - _aware(counts.first_start)).total_seconds(), 1.0) / 60
        per_minute = counts.ended / minutes
        eta = counts.left / per_minute * 60 if counts.left and per_minute else None
    price = settings.prices().get(batch.spec.provider)
    cost = price.cost(counts.prompt_tokens, counts.completion_tokens) if price else None
    return Progress(counts, per_minute, eta, cost)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def table(store: Store, batch: Batch, fields: Sequence[str], *, offset: int = 0,
          limit: int | None = 100, statuses: Iterable[str] | None = None) -> list[Row]:
    return records.rows(store, batch.id, fields, offset=offset, limit=limit,
                        statuses=statuses)


def export(store: Store, batch: Batch, kind: str, out: BinaryIO) -> int:
    """The whole batch as CSV, JSON Lines or Excel (`export.write`), a page of rows at a time
    from the database."""
    from engine.batch.export import ExportRow, write

    fields = fields_of(store, batch)

    def rows() -> Iterator[ExportRow]:
        for offset in range(0, max(batch.total, 1), 1000):
            for row in records.rows(store, batch.id, fields, offset=offset, limit=1000):
                yield ExportRow(
                    document=row.item.name, status=row.status, fields=row.values,
                    not_in_text=row.not_in_text, reason=row.reason, run_id=row.run_id,
                    seconds=row.seconds, tokens=row.tokens, duplicate_of=row.duplicate_of)

    return write(kind, out, fields, rows())


def wait_until_finished(store: Store, batch_id: str, *, timeout: float, every: float = 0.5,
                        on_progress: Any = None) -> Counts:
    """Block until no document is queued or running (or `timeout` seconds); the counts."""
    deadline = time.monotonic() + timeout
    while True:
        counts = records.counts(store, batch_id)
        if on_progress is not None:
            on_progress(counts)
        if counts.left == 0 or time.monotonic() >= deadline:
            return counts
        time.sleep(every)
