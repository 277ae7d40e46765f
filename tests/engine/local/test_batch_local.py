"""A batch on the embedded model (#20): three meeting notes on the queue, both of the model's
slots in use, each a done run with the right date and budget (the 20-document version is
bench/batch_local_bench.py)."""

from __future__ import annotations

import pytest

from engine.batch import service
from engine.batch.model import DONE, BatchSpec
from tests.batch_support import local_batch_world, meeting_variants, overlapping


@pytest.mark.local_model
def test_three_documents_run_on_both_slots(monkeypatch, tmp_path) -> None:
    with local_batch_world(monkeypatch, tmp_path) as (store, provider):
        spec = BatchSpec("MeetingInfo", provider.name, provider.default_model or "",
                         provider.best_mode)
        batch = service.start_batch(store, spec, meeting_variants(3), provider)
        counts = service.wait_until_finished(store, batch.id, timeout=600)
        assert counts[DONE] == 3, counts
        rows = service.table(store, batch, service.fields_of(store, batch))
        assert [r.values.get("budget") for r in rows] == [50_000, 51_000, 52_000]
        assert overlapping(store, batch.id) == 2  # both slots, never a third at once
