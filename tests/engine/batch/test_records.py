"""The batch tables on SQLite and a real Postgres server (tests/postgres.py): a batch's counts,
tokens summed by the database from its runs' usage (a usage that is not a whole number counts
nothing), a duplicate counted as its first document."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.batch import records
from engine.batch.model import DONE, FAILED, QUEUED, NewItem
from engine.store import Store, StoredRun
from tests.batch_support import spec

pytest_plugins = ["tests.postgres"]


def batch_run(run_id: str, batch_id: str, usage: object) -> StoredRun:
    return StoredRun(
        id=run_id, started_at=datetime(2026, 12, 3, 9, tzinfo=UTC), status="done",
        schema_name="MeetingInfo", schema_fingerprint="f", provider="Custom server",
        model="m", source="batch", group_kind="batch", group_id=batch_id, usage=usage,
        ended_at=datetime(2026, 12, 3, 9, 1, tzinfo=UTC), total_ms=1500.0,
    )  # fmt: skip


def test_counts_and_tokens_come_from_the_database(store: Store) -> None:
    docs = [NewItem("a.txt", text="A", sha256="a"), NewItem("b.txt", text="B", sha256="b"),
            NewItem("a copy.txt", sha256="a", duplicate_of=0),
            NewItem("bad.pdf", reason="damaged")]
    records.create(store, "b1", spec(), docs)
    usages = [{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
              {"prompt_tokens": 7, "completion_tokens": "many", "total_tokens": 1.5},
              None]
    for n, usage in enumerate(usages):
        store.add(batch_run(f"b1.{n}.1", "b1", usage))
    records.mark(store, "b1", 0, DONE, run_id="b1.0.1")
    counts = records.counts(store, "b1")
    assert counts[DONE] == 2 and counts[QUEUED] == 1 and counts[FAILED] == 1  # copy = first
    assert (counts.prompt_tokens, counts.completion_tokens, counts.tokens) == (17, 5, 15)
    assert counts.done_seconds == 4.5
    assert counts.first_start is not None and counts.last_end is not None
