"""A batch end to end in one process: documents queued on DBOS (SQLite), each run recorded as
a run of the batch's group, its row filled from the run."""

from __future__ import annotations

from engine.batch import records, service
from engine.batch.model import DONE, FAILED
from tests.batch_support import batch_world, items, spec


def test_a_batch_runs_every_document_once(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path) as world:
        batch = service.start_batch(world.store, spec(), items(5), world.provider)
        counts = service.wait_until_finished(world.store, batch.id, timeout=60)
        assert counts[DONE] == 5, counts
        fields = service.fields_of(world.store, batch)
        rows = service.table(world.store, batch, fields)
        assert [r.values["location"] for r in rows] == [f"Room {n}" for n in range(5)]
        assert all(r.status == DONE and r.run_id for r in rows)
        assert len(world.srv.requests) == 5
        assert counts[FAILED] == 0
        assert records.get(world.store, batch.id).total == 5
