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


def test_a_batch_exports_its_rows(monkeypatch, tmp_path):
    import csv
    import io
    import json

    from openpyxl import load_workbook

    with batch_world(monkeypatch, tmp_path) as world:
        batch = service.start_batch(world.store, spec(), items(3), world.provider)
        service.wait_until_finished(world.store, batch.id, timeout=60)
        out = io.BytesIO()
        assert service.export(world.store, batch, "csv", out) == 3
        table = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
        assert [r["location"] for r in table] == ["Room 0", "Room 1", "Room 2"]
        assert {r["status"] for r in table} == {DONE}
        out = io.BytesIO()
        service.export(world.store, batch, "jsonl", out)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [line["fields"]["budget"] for line in lines] == [1000, 1001, 1002]
        out = io.BytesIO()
        service.export(world.store, batch, "xlsx", out)
        sheet = load_workbook(out, read_only=True).active
        values = list(sheet.iter_rows(values_only=True))
        assert values[0][0] == "document" and values[1][0] == "note-0.txt"
        assert len(values) == 4


def test_a_process_serves_only_its_queues_and_follows_the_batches_it_starts(
        monkeypatch, tmp_path):
    import time

    from engine.batch.model import QUEUED

    with batch_world(monkeypatch, tmp_path, listen=["fs-elsewhere"]) as world:
        batch = service.start_batch(world.store, spec(), items(2), world.provider)
        time.sleep(1.5)  # the queue polled ~30 times: nothing taken
        assert records.counts(world.store, batch.id)[QUEUED] == 2
        assert world.srv.requests == []
    with batch_world(monkeypatch, tmp_path / "b", listen=["fs-elsewhere"],
                     follow=True) as world:
        batch = service.start_batch(world.store, spec(), items(2), world.provider)
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        assert counts[DONE] == 2


def test_a_finished_document_is_drawn_from_its_stored_run(monkeypatch, tmp_path):
    from engine import history
    from engine.history.replay import settled

    with batch_world(monkeypatch, tmp_path) as world:
        batch = service.start_batch(world.store, spec(), items(1), world.provider)
        service.wait_until_finished(world.store, batch.id, timeout=30)
        row = service.table(world.store, batch, service.fields_of(world.store, batch))[0]
        runner = settled(history.get_run(world.store, row.run_id), world.store)
        assert runner is not None and runner.ended and not world.srv.requests[1:]
        assert runner.result.location == "Room 0"
        grounding = runner.report().grounding
        assert grounding["location"].status == "exact"  # found in its stored input text


def test_a_batch_starts_and_stops_in_a_thread_with_a_running_event_loop(monkeypatch, tmp_path):
    """DBOS refuses its blocking calls where an event loop runs (Jupyter, Playwright's sync
    API): the queue's calls move to a thread of their own there."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def in_a_loop(call):  # a thread of its own: this one may have a loop already
        async def inside():
            return call()

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, inside()).result()

    with batch_world(monkeypatch, tmp_path) as world:
        batch = in_a_loop(lambda: service.start_batch(world.store, spec(), items(2),
                                                      world.provider))
        assert service.wait_until_finished(world.store, batch.id, timeout=30)[DONE] == 2
        assert in_a_loop(lambda: service.resume(world.store, batch.id, world.provider)) == 0
