"""Two batches share a provider's limit fairly (#20, "Faults"): on a limit of 2, a batch started
a second after another gets its first document done before the first batch's tenth (each
document's priority is its place in its batch; first come, first served would run the first
batch to its end)."""

from __future__ import annotations

import time

from engine.batch import records, service
from engine.batch.model import DONE
from tests.batch_support import batch_world, items, meeting_responder, spec
from tests.engine.batch.process_support import wait_for


def _ended(store, batch_id: str, idx: int):
    doc = records.item(store, batch_id, idx)
    if doc is None or doc.status != DONE:
        return None
    return records.run_row(store, doc.run_id)["ended_at"]


def test_a_second_batch_gets_its_turn_before_the_first_is_half_done(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_PROVIDER_LIMIT="2") as world:
        world.srv.responder = meeting_responder(delay=0.3)
        first = service.start_batch(world.store, spec(), items(20), world.provider)
        time.sleep(1.0)
        second = service.start_batch(world.store, spec(), items(20, start=100),
                                     world.provider)
        opening = wait_for(lambda: _ended(world.store, second.id, 0), 30)
        tenth = _ended(world.store, first.id, 9)  # None: not done yet
        done = records.counts(world.store, first.id)[DONE]
        print(f"\nthe second batch's first document done when the first batch had {done} done")
        assert tenth is None or opening < tenth, (opening, tenth)
        assert done < 10
        assert world.srv.peak_in_flight <= 2
        service.stop(world.store, first.id), service.stop(world.store, second.id)
        wait_for(lambda: not records.items(world.store, first.id, statuses=["running"])
                 and not records.items(world.store, second.id, statuses=["running"]), 10)
