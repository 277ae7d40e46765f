"""Batch overhead bench (#20): many short documents through the durable queue, in one process.

1,000 short meeting notes (by default) as one batch on the replay server as the "Custom server",
each answer streamed in ~20 ms (12 chunks, paced), 16 documents in flight
(FIELDSTREAM_PROVIDER_LIMIT=16), the queue on SQLite (`queue.db`) beside a SQLite history, as
`make run` has it. Measures, side by side in one run:

- documents/s from Start (texts stored + queued) to the last row ended, with every document's
  row and run written (checked: N run rows, N done);
- the same documents run straight through `start_run` 16 at a time, no queue, no batch rows
  (the floor: what the model calls and the run history cost alone) — the ratio is the queue's
  overhead;
- the process's resident memory growth over the batch (RSS after − before).

Targets (issue #20): >= 20 documents/s on 2 cores; memory growth <= 200 MB for the 1,000.

    PYTHONPATH=$PWD .venv/bin/python bench/batch_bench.py [--docs 1000] [--in-flight 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--answer-ms", type=float, default=20.0)
    ap.add_argument("--poll", type=float, default=None, help="FIELDSTREAM_QUEUE_POLL")
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fs-batch-bench-"))
    from engine.testing.replay_server import ReplayServer
    from tests.ui_support import custom_server_env

    with ReplayServer() as srv:
        os.environ.update(custom_server_env(srv.base_url, model="replay-model"))
        os.environ.update({"FIELDSTREAM_DATA_DIR": str(data), "FIELDSTREAM_HISTORY": "on",
                           "FIELDSTREAM_PROVIDER_LIMIT": str(args.in_flight)})
        if args.poll:
            os.environ["FIELDSTREAM_QUEUE_POLL"] = str(args.poll)
        os.environ.pop("FIELDSTREAM_DATABASE_URL", None)
        from engine import settings
        from tests.batch_support import meeting_responder

        srv.responder = meeting_responder(pace=args.answer_ms / 1000 / 14)
        floor = straight(args)
        srv.requests.clear()
        batch_rate, grew, checked = queued(args)
        print(f"documents            {args.docs}, {args.in_flight} in flight, answers "
              f"~{args.answer_ms:.0f} ms, poll {settings.queue_poll()} s")
        print(f"straight start_run   {floor:.1f} docs/s (no queue, no batch rows)")
        print(f"batch on the queue   {batch_rate:.1f} docs/s  (target >= 20)")
        print(f"ratio batch/straight {batch_rate / floor:.2f}")
        print(f"memory growth        {grew:.0f} MB  (target <= 200)")
        print(f"checked              {checked}")


def straight(args: argparse.Namespace) -> float:
    """The documents through start_run, `in_flight` at a time, recorded like any run."""
    from engine.history import recorder
    from engine.runs.spec import RunSpec
    from engine.runs.start import start_run
    from engine.schemas.library import SCHEMAS
    from engine.store import Store, load_settings
    from tests.batch_support import MODEL, custom_provider, note

    store = Store.from_settings(load_settings()).open()
    recorder.install(store=store)
    provider = custom_provider()
    gate = threading.Semaphore(args.in_flight)
    runners = []
    started = time.perf_counter()
    for n in range(args.docs):
        gate.acquire()
        spec = RunSpec.for_provider(note(n), "MeetingInfo", SCHEMAS["MeetingInfo"], provider,
                                    MODEL, "json_object")
        runner = start_run(spec, provider)
        threading.Thread(target=lambda r=runner: (r.wait(), gate.release()),
                         daemon=True).start()
        runners.append(runner)
    for runner in runners:
        runner.wait()
    elapsed = time.perf_counter() - started
    recorder.uninstall()
    store.close()
    return args.docs / elapsed


def queued(args: argparse.Namespace) -> tuple[float, float, str]:
    from sqlalchemy import func, select

    from engine.batch import queue, service
    from engine.batch.model import DONE
    from engine.history import recorder
    from engine.store import Store, load_settings
    from engine.store.tables import runs
    from tests.batch_support import custom_provider, items, spec

    store = Store.from_settings(load_settings()).open()
    recorder.install(store=store)
    queue.launch(store, executor_id="bench-app", role="app")
    before = rss_mb()
    started = time.perf_counter()
    batch = service.start_batch(store, spec(), items(args.docs), custom_provider())
    counts = service.wait_until_finished(store, batch.id, timeout=3600, every=0.1)
    elapsed = time.perf_counter() - started
    grew = rss_mb() - before
    with store.reading() as conn:
        rows = conn.execute(select(func.count()).select_from(runs).where(
            runs.c.group_kind == "batch", runs.c.group_id == batch.id)).scalar()
    queue.shutdown(hand_back=False)
    recorder.uninstall()
    store.close()
    checked = f"{counts[DONE]} done of {args.docs}, {rows} run rows"
    return args.docs / elapsed, grew, checked


if __name__ == "__main__":
    main()
