"""Batch on the embedded model (#20): 20 meeting notes (the built-in sample with its day and
budget changed) as one batch on the local model's queue, which allows its two slots.

Prints: time for the batch, documents/min, the most runs at once (from the run rows: both slots
in use means 2), how many documents ended done, and how many have the right date and budget;
beside it, the same documents one at a time through `start_run` (one slot), the ratio.

    PYTHONPATH=$PWD .venv/bin/python bench/batch_local_bench.py [--docs 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20)
    args = ap.parse_args()
    os.environ.update({"FIELDSTREAM_DATA_DIR": tempfile.mkdtemp(prefix="fs-local-batch-"),
                       "FIELDSTREAM_QUEUE_POLL": "0.1", "FIELDSTREAM_HISTORY": "on"})
    os.environ.pop("FIELDSTREAM_DATABASE_URL", None)
    from engine.batch import queue, service
    from engine.batch.model import DONE, BatchSpec
    from engine.history import recorder
    from engine.local.server import LocalServer  # noqa: F401  (started by the first run)
    from engine.providers.registry import local_provider
    from engine.runs.spec import RunSpec
    from engine.runs.start import start_run
    from engine.schemas.library import SCHEMAS
    from engine.store import Store, load_settings
    from tests.batch_support import meeting_variants, overlapping

    store = Store.from_settings(load_settings()).open()
    recorder.install(store=store)
    provider = local_provider()
    docs = meeting_variants(args.docs)
    # Warm the server (its start is not the batch's), then one at a time: the floor.
    warm = RunSpec.for_provider(docs[0].text, "MeetingInfo", SCHEMAS["MeetingInfo"], provider,
                                "", provider.best_mode)
    start_run(warm, provider).wait()
    started = time.perf_counter()
    for doc in docs[: min(6, len(docs))]:
        spec = RunSpec.for_provider(doc.text, "MeetingInfo", SCHEMAS["MeetingInfo"], provider,
                                    "", provider.best_mode)
        start_run(spec, provider).wait()
    serial = (time.perf_counter() - started) / min(6, len(docs))

    queue.launch(store, executor_id="bench-local", role="app")
    spec = BatchSpec("MeetingInfo", provider.name, "", provider.best_mode)
    started = time.perf_counter()
    batch = service.start_batch(store, spec, docs, provider)
    counts = service.wait_until_finished(store, batch.id, timeout=3600)
    elapsed = time.perf_counter() - started
    rows = service.table(store, batch, service.fields_of(store, batch), limit=None)
    right = sum(1 for n, row in enumerate(rows)
                if row.values.get("budget") == 50_000 + 1000 * n
                and str(n + 1) in str(row.values.get("date", "")))
    most = overlapping(store, batch.id)
    queue.shutdown(hand_back=False)
    recorder.uninstall()
    store.close()
    print(f"documents            {args.docs} on the local model")
    print(f"batch                {elapsed:.1f} s, {args.docs / elapsed * 60:.1f} docs/min")
    print(f"one at a time        {serial:.1f} s a document (first 6), "
          f"{60 / serial:.1f} docs/min")
    print(f"ratio batch/serial   {args.docs / elapsed * serial:.2f} x throughput")
    print(f"most runs at once    {most}  (both slots: 2)")
    print(f"done                 {counts[DONE]} of {args.docs}")
    print(f"right date & budget  {right} of {args.docs}")


if __name__ == "__main__":
    main()
