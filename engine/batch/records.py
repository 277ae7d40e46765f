"""Batches in the history database (`batches`, `batch_items`, migration 0010): made, read,
paged, and each document's status moved along.

Every function takes the one `Store` (its engine, its transactions). A document's values are
its run's (`runs.result`, `not_found`, `total_ms`, `usage`): the page and the exports read the
rows, never the queue, so a document run on another machine shows the same as one run here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB

from engine.batch.model import (
    ACTIVE,
    FAILED,
    FINISHED,
    QUEUED,
    Batch,
    BatchSpec,
    Counts,
    Item,
    NewItem,
    Row,
)
from engine.documents.model import DocumentInfo
from engine.grounding.model import NOT_FOUND
from engine.runs.spec import BATCH_KINDS, GROUP_EVAL
from engine.store import Store
from engine.store.records import utcnow
from engine.store.tables import batch_items, batches, runs

#: A document's columns but its text (read only by `item(..., with_text=True)`).
_ITEM_COLUMNS = tuple(c for c in batch_items.c if c.name != "text")
#: Columns of `runs` a row needs (never the input text or the timeline).
_RUN_COLUMNS = (runs.c.id, runs.c.status, runs.c.result, runs.c.not_found, runs.c.total_ms,
                runs.c.usage, runs.c.grounding, runs.c.started_at, runs.c.ended_at)


def create(store: Store, batch_id: str, spec: BatchSpec, items: Sequence[NewItem], *,
           name: str | None = None) -> Batch:
    """Write the batch and its documents (texts included) in one transaction: nothing is
    queued before every document's text is stored."""
    now = utcnow()
    batch = Batch(batch_id, now, spec.who, name, spec, ACTIVE, len(items))
    rows = [_item_values(batch_id, idx, item, now) for idx, item in enumerate(items)]
    with store.transaction() as conn:
        conn.execute(insert(batches).values(
            id=batch_id, created_at=now, created_by=spec.who, name=name,
            spec=spec.to_json(), state=ACTIVE, total=len(items)))
        for start in range(0, len(rows), 500):
            conn.execute(insert(batch_items), rows[start:start + 500])
    return batch


def _item_values(batch_id: str, idx: int, item: NewItem, now: datetime) -> dict[str, Any]:
    document = json.dumps(item.document.to_json()) if item.document is not None else None
    runnable = item.reason is None and item.duplicate_of is None
    return {
        "batch_id": batch_id, "idx": idx, "name": item.name, "sha256": item.sha256,
        "document": document, "text": item.text if runnable else None,
        "status": QUEUED if item.reason is None else FAILED, "reason": item.reason,
        "attempt": 1, "run_id": None, "duplicate_of": item.duplicate_of, "executor": None,
        "updated_at": now,
    }  # fmt: skip


def get(store: Store, batch_id: str) -> Batch | None:
    with store.reading() as conn:
        row = conn.execute(select(batches).where(batches.c.id == batch_id)).mappings().first()
    return _batch(row) if row is not None else None


def _batch(row: Any) -> Batch:
    return Batch(row["id"], row["created_at"], row["created_by"], row["name"],
                 BatchSpec.from_json(row["spec"]), row["state"], row["total"])


def recent(store: Store, limit: int = 50) -> list[Batch]:
    """The newest batches first (an evaluation's lanes left out: the Evaluate page has them)."""
    query = (select(batches).where(~batches.c.spec.contains(f'"kind": "{GROUP_EVAL}"'))
             .order_by(batches.c.created_at.desc(), batches.c.seq.desc()))
    with store.reading() as conn:
        return [_batch(row) for row in conn.execute(query.limit(limit)).mappings()]


def set_state(store: Store, batch_id: str, state: str) -> None:
    with store.transaction() as conn:
        conn.execute(update(batches).where(batches.c.id == batch_id).values(state=state))


def state_of(store: Store, batch_id: str) -> str | None:
    with store.reading() as conn:
        return conn.execute(select(batches.c.state).where(batches.c.id == batch_id)).scalar()


# --- documents --------------------------------------------------------------------------------


def item(store: Store, batch_id: str, idx: int, *, with_text: bool = False) -> Item | None:
    query = select(batch_items).where(batch_items.c.batch_id == batch_id,
                                      batch_items.c.idx == idx)
    with store.reading() as conn:
        row = conn.execute(query).mappings().first()
    return _item(row, with_text) if row is not None else None


def items(store: Store, batch_id: str, *, statuses: Iterable[str] | None = None,
          offset: int = 0, limit: int | None = None) -> list[Item]:
    """The batch's documents in order (those in `statuses` only, when given)."""
    query = select(*_ITEM_COLUMNS).where(
        batch_items.c.batch_id == batch_id)
    if statuses is not None:
        query = query.where(batch_items.c.status.in_(list(statuses)))
    query = query.order_by(batch_items.c.idx).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.reading() as conn:
        return [_item(row, False) for row in conn.execute(query).mappings()]


def _item(row: Any, with_text: bool) -> Item:
    document = row["document"]
    return Item(
        batch_id=row["batch_id"], idx=row["idx"], name=row["name"], status=row["status"],
        attempt=row["attempt"], sha256=row["sha256"],
        document=DocumentInfo.from_json(json.loads(document)) if document else None,
        reason=row["reason"], run_id=row["run_id"], duplicate_of=row["duplicate_of"],
        executor=row["executor"], updated_at=row["updated_at"],
        text=row["text"] if with_text else None,
    )  # fmt: skip


def mark(store: Store, batch_id: str, idx: int, status: str, *, reason: str | None = None,
         run_id: str | None = None, executor: str | None = None,
         drop_text: bool = False, attempt: int | None = None) -> None:
    """Move a document to `status` (with why, its run, who runs it). `drop_text`: its text
    is not needed any more (done, and input texts are not kept)."""
    values: dict[str, Any] = {"status": status, "reason": reason, "updated_at": utcnow()}
    if run_id is not None:
        values["run_id"] = run_id
    if executor is not None:
        values["executor"] = executor
    if attempt is not None:
        values["attempt"] = attempt
    if drop_text:
        values["text"] = None
    with store.transaction() as conn:
        conn.execute(update(batch_items).where(batch_items.c.batch_id == batch_id,
                                               batch_items.c.idx == idx).values(**values))


def mark_many(store: Store, batch_id: str, idxs: Sequence[int], status: str, *,
              reason: str | None = None, new_attempt: bool = False) -> None:
    """Move these documents to `status` at once (Stop, Resume, Retry); `new_attempt`: each
    gets its next attempt number (a new workflow id)."""
    values: dict[str, Any] = {"status": status, "reason": reason, "updated_at": utcnow()}
    if new_attempt:
        values["attempt"] = batch_items.c.attempt + 1
    with store.transaction() as conn:
        for start in range(0, len(idxs), 500):
            conn.execute(update(batch_items).where(
                batch_items.c.batch_id == batch_id,
                batch_items.c.idx.in_(list(idxs[start:start + 500]))).values(**values))


def run_row(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run's status and answer (None when there is no row)."""
    with store.reading() as conn:
        row = conn.execute(select(*_RUN_COLUMNS).where(runs.c.id == run_id)).mappings().first()
    return dict(row) if row is not None else None


def drop_run(store: Store, run_id: str) -> int:
    """Delete a run row that is not a finished answer (a crashed attempt's, a cancelled one's)
    so the document's next try writes the only one."""
    with store.transaction() as conn:
        return store.delete_runs(conn, and_(runs.c.id == run_id,
                                            runs.c.status.not_in(list(FINISHED))))


def reusable_run(store: Store, sha256: str, spec: BatchSpec, before: str) -> str | None:
    """An earlier batch's finished run of the same bytes with the same schema (version),
    provider, model and mode: its id, else None."""
    query = (
        select(batch_items.c.run_id, batches.c.spec)
        .join(batches, batches.c.id == batch_items.c.batch_id)
        .where(batch_items.c.sha256 == sha256, batch_items.c.status.in_(list(FINISHED)),
               batch_items.c.batch_id != before, batch_items.c.run_id.is_not(None))
        .order_by(batch_items.c.updated_at.desc())
    )
    same = ("schema_name", "schema_version", "provider", "model", "mode", "chunking", "passes")
    with store.reading() as conn:
        for run_id, text in conn.execute(query.limit(20)):
            earlier = BatchSpec.from_json(text)
            if all(getattr(earlier, name) == getattr(spec, name) for name in same):
                return run_id
    return None


# --- what the page shows -------------------------------------------------------------------------


def rows(store: Store, batch_id: str, fields: Sequence[str], *, offset: int = 0,
         limit: int | None = None, statuses: Iterable[str] | None = None) -> list[Row]:
    """A page of the batch's table: each document with its run's values (a duplicate with its
    first document's)."""
    page = items(store, batch_id, statuses=statuses, offset=offset, limit=limit)
    firsts = {i.idx: i for i in _firsts(store, batch_id, page)}
    run_ids = {i.run_id for i in (*page, *firsts.values()) if i.run_id}
    found = _runs(store, run_ids)
    return [_row(i, firsts.get(i.duplicate_of) if i.duplicate_of is not None else None,
                 found, fields) for i in page]


def _firsts(store: Store, batch_id: str, page: Sequence[Item]) -> list[Item]:
    wanted = sorted({i.duplicate_of for i in page if i.duplicate_of is not None})
    if not wanted:
        return []
    query = select(*_ITEM_COLUMNS).where(
        batch_items.c.batch_id == batch_id, batch_items.c.idx.in_(wanted))
    with store.reading() as conn:
        return [_item(row, False) for row in conn.execute(query).mappings()]


def _runs(store: Store, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return run_rows(store, run_ids, _RUN_COLUMNS)


def run_rows(store: Store, run_ids: Iterable[str], columns: Sequence[Any]
             ) -> dict[str, dict[str, Any]]:
    """These runs' `columns` (the first must be `runs.c.id`) by run id, 500 ids a query."""
    ids = list(run_ids)
    found: dict[str, dict[str, Any]] = {}
    with store.reading() as conn:
        for start in range(0, len(ids), 500):
            query = select(*columns).where(runs.c.id.in_(ids[start:start + 500]))
            found.update({row["id"]: dict(row) for row in conn.execute(query).mappings()})
    return found


def _row(item: Item, first: Item | None, found: dict[str, dict[str, Any]],
         fields: Sequence[str]) -> Row:
    source = first if first is not None else item
    run = found.get(source.run_id or "")
    status = source.status
    values: dict[str, Any] = {}
    not_in_text: tuple[str, ...] = ()
    seconds = tokens = None
    if run is not None:
        result = run["result"]
        if isinstance(result, dict):
            values = {name: result[name] for name in fields if name in result}
        elif result is not None and len(fields) == 1:  # a list schema: one column
            values = {fields[0]: result}
        not_in_text = _not_in_text(run["grounding"], fields)
        seconds = run["total_ms"] / 1000.0 if run["total_ms"] is not None else None
        tokens = _tokens(run["usage"])
    return Row(item=item, status=status, values=values, not_in_text=not_in_text,
               seconds=seconds, tokens=tokens, run_id=source.run_id,
               reason=source.reason if first is None or item.reason is None else item.reason,
               duplicate_of=first.name if first is not None else None)


def _not_in_text(grounding: Any, fields: Sequence[str]) -> tuple[str, ...]:
    """The top-level fields with a value found nowhere in the text (any leaf under them)."""
    if not isinstance(grounding, dict):
        return ()
    missing = set()
    for path, found in grounding.items():
        if isinstance(found, dict) and found.get("status") == NOT_FOUND:
            missing.add(_top(path))
    return tuple(name for name in fields if name in missing)


def _top(path: str) -> str:
    for i, char in enumerate(path):
        if char in ".[":
            return path[:i]
    return path


def _tokens(usage: Any, key: str | None = None) -> int | None:
    """A run's tokens (`key`: one count of its usage, e.g. prompt_tokens), when it said."""
    if isinstance(usage, dict):
        value = usage.get(key) if key else (usage.get("total_tokens")
                                            or usage.get("completion_tokens"))
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def counts(store: Store, batch_id: str) -> Counts:
    """Documents per status (a duplicate counted as its first document is), tokens so far,
    and the first start and last end of the batch's runs (for its throughput)."""
    first = batch_items.alias("first")
    status = func.coalesce(first.c.status, batch_items.c.status)
    query = (select(status, func.count()).select_from(batch_items.outerjoin(first, and_(
        first.c.batch_id == batch_items.c.batch_id, first.c.idx == batch_items.c.duplicate_of)))
        .where(batch_items.c.batch_id == batch_id).group_by(status))
    timing = (select(func.min(runs.c.started_at), func.max(runs.c.ended_at),
                     func.sum(runs.c.total_ms))
              .where(runs.c.group_kind.in_(BATCH_KINDS), runs.c.group_id == batch_id))
    usage = select(*(func.coalesce(func.sum(_usage_count(store.dialect, key)), 0)
                     for key in ("prompt_tokens", "completion_tokens", "total_tokens"))
                   ).where(runs.c.group_kind.in_(BATCH_KINDS), runs.c.group_id == batch_id,
                           runs.c.usage.is_not(None))
    with store.reading() as conn:
        by_status = {s: n for s, n in conn.execute(query)}
        start, end, total_ms = conn.execute(timing).one()
        read, written, total = conn.execute(usage).one()
    return Counts(by_status, int(total or read + written), start, end,
                  (total_ms or 0.0) / 1000.0, int(read), int(written))


def _usage_count(dialect: str, key: str) -> Any:
    """One count of a run's usage, read by the database (the page asks every second: parsing
    every run's usage in Python grew with the batch). Not a whole number: NULL."""
    if dialect == "postgresql":
        text = cast(runs.c.usage, JSONB)[key].astext
        return case((text.op("~")(r"^\d{1,15}$"), cast(text, BigInteger)), else_=None)
    value = func.json_extract(runs.c.usage, f"$.{key}")
    return case((func.json_type(runs.c.usage, f"$.{key}") == "integer", value), else_=None)


def waiting_items(store: Store, batch_id: str) -> list[Item]:
    """Documents that still need a run and have their text (queued, running, cancelled)."""
    query = select(*_ITEM_COLUMNS).where(
        batch_items.c.batch_id == batch_id, batch_items.c.duplicate_of.is_(None),
        batch_items.c.text.is_not(None),
        or_(batch_items.c.status.not_in([*FINISHED, FAILED]),
            batch_items.c.status.is_(None))).order_by(batch_items.c.idx)
    with store.reading() as conn:
        return [_item(row, False) for row in conn.execute(query).mappings()]


def retryable(store: Store, batch_id: str) -> list[Item]:
    """Failed documents that have their text (a file that could not be read has none)."""
    query = select(*_ITEM_COLUMNS).where(
        batch_items.c.batch_id == batch_id, batch_items.c.duplicate_of.is_(None),
        batch_items.c.text.is_not(None), batch_items.c.status == FAILED,
    ).order_by(batch_items.c.idx)
    with store.reading() as conn:
        return [_item(row, False) for row in conn.execute(query).mappings()]


def delete_batch(store: Store, batch_id: str) -> None:
    """The batch and its documents (their runs stay in the history)."""
    with store.transaction() as conn:
        conn.execute(delete(batch_items).where(batch_items.c.batch_id == batch_id))
        conn.execute(delete(batches).where(batches.c.id == batch_id))
