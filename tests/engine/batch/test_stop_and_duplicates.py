"""Stop keeps what arrived, Resume finishes (one run row per document); a duplicate file runs
once for both its rows; a new batch over the same files runs them again unless it reuses
(#20, "Durability")."""

from __future__ import annotations

import io
import zipfile

from engine.batch import records, service
from engine.batch.model import CANCELLED, DONE, RUNNING
from engine.documents.batch_input import iter_inputs
from tests.batch_support import batch_world, items, meeting_responder, note, spec
from tests.engine.batch.process_support import runs_per_document, wait_for


def _streamed_some(world, batch_id: str) -> list:
    """The running documents, once each has had a few chunks of its answer."""
    running = records.items(world.store, batch_id, statuses=[RUNNING])
    return running if len(running) == 2 and len(world.srv.sent) >= 12 else []


def test_stop_keeps_the_partials_and_resume_finishes_every_document(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_PROVIDER_LIMIT="2") as world:
        world.srv.responder = meeting_responder(pace=0.15)  # ~2.5 s an answer
        batch = service.start_batch(world.store, spec(), items(5), world.provider)
        running = wait_for(lambda: _streamed_some(world, batch.id), 20)
        service.stop(world.store, batch.id)
        wait_for(lambda: not records.items(world.store, batch.id, statuses=[RUNNING]), 10)

        for doc in running:
            doc = records.item(world.store, batch.id, doc.idx)
            assert doc.status == CANCELLED and "what arrived is kept" in doc.reason
            run = records.run_row(world.store, doc.run_id)
            assert run["status"] == "cancelled"
            assert run["result"] and run["result"].get("users"), run["result"]  # the partial
        others = [d for d in records.items(world.store, batch.id)
                  if d.idx not in {r.idx for r in running}]
        assert {d.status for d in others} == {CANCELLED}
        assert all(d.reason == "Stopped before it ran." for d in others)

        world.srv.responder = meeting_responder()
        assert service.resume(world.store, batch.id, world.provider) == 5
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        assert counts[DONE] == 5, counts.by_status
        assert runs_per_document(world.store, batch.id) == {str(i): 1 for i in range(5)}
        rows = service.table(world.store, batch, service.fields_of(world.store, batch))
        assert [r.values["location"] for r in rows] == [f"Room {n}" for n in range(5)]


def _upload() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", note(1))
        archive.writestr("copy-of-a.txt", note(1))
        archive.writestr("b.txt", note(2))
    return out.getvalue()


def test_a_duplicate_runs_once_and_a_new_batch_runs_again_unless_it_reuses(
        monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path) as world:
        def run(**extra):
            docs = list(service.inputs_from(iter_inputs("upload.zip", _upload())))
            batch = service.start_batch(world.store, spec(**extra), docs, world.provider)
            counts = service.wait_until_finished(world.store, batch.id, timeout=30)
            assert counts[DONE] == 3, counts.by_status
            return batch, service.table(world.store, batch, service.fields_of(world.store,
                                                                              batch))

        batch, rows = run()
        assert len(world.srv.requests) == 2
        a, copy, b = rows
        assert copy.duplicate_of == a.item.name and copy.run_id == a.run_id
        assert copy.values == a.values and a.values["location"] == "Room 1"
        assert b.values["location"] == "Room 2"
        assert runs_per_document(world.store, batch.id) == {"0": 1, "2": 1}

        again, rows_again = run()
        assert len(world.srv.requests) == 4  # a new batch asks again
        assert {r.run_id for r in rows_again}.isdisjoint({r.run_id for r in rows})
        assert runs_per_document(world.store, again.id) == {"0": 1, "2": 1}

        reused, rows_reused = run(reuse=True)
        assert len(world.srv.requests) == 4  # nothing asked: the answers are reused
        assert [r.values for r in rows_reused] == [r.values for r in rows_again]
        assert runs_per_document(world.store, reused.id) == {}
        assert all(r.status == DONE for r in rows_reused)
