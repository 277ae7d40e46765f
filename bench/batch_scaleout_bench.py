"""Batch scale-out bench (#20): one app and one or two `fieldstream worker` processes on a
throwaway Postgres, against a replay server whose answers take 1 s (latency-bound).

The bench process is the app: it makes the batch (texts stored, documents queued) and runs none
itself (`listen=[]`); each worker is a child process serving the "Custom server" queue with
`FIELDSTREAM_WORKER_LIMIT` documents at once (the per-machine limit of a server each machine
runs itself, as the local model's slots are). Measures, in one run: the time for `--docs`
documents with one worker, then with two (a new batch each), and the ratio.

Target (issue #20): two workers finish >= 1.7x faster than one.

    PYTHONPATH=$PWD .venv/bin/python bench/batch_scaleout_bench.py [--docs 40] [--per-worker 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKER = ("import sys; from engine.store import open_store; from engine.batch.worker import serve; "
          "sys.exit(serve(open_store().open(), sys.argv[1]))")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--per-worker", type=int, default=2)
    ap.add_argument("--answer-s", type=float, default=1.0)
    args = ap.parse_args()

    from engine.testing.replay_server import ReplayServer
    from tests.batch_support import meeting_responder
    from tests.postgres import PostgresCluster
    from tests.ui_support import custom_server_env

    cluster = PostgresCluster()
    cluster.start()
    try:
        url = cluster.create_database("history")
        with ReplayServer() as srv:
            srv.responder = meeting_responder(delay=args.answer_s)
            env = {**os.environ, **custom_server_env(srv.base_url, model="replay-model"),
                   "FIELDSTREAM_DATABASE_URL": url, "FIELDSTREAM_HISTORY": "on",
                   "FIELDSTREAM_DATA_DIR": tempfile.mkdtemp(prefix="fs-scaleout-"),
                   "FIELDSTREAM_QUEUE_POLL": "0.1", "FIELDSTREAM_PROVIDER_LIMIT": "64",
                   "FIELDSTREAM_WORKER_LIMIT": str(args.per_worker),
                   "PYTHONPATH": str(ROOT)}
            os.environ.update(env)
            one = run(args, env, workers=1)
            two = run(args, env, workers=2)
            print(f"documents          {args.docs}, answers {args.answer_s:g} s, "
                  f"{args.per_worker} at once per worker")
            print(f"one worker         {one:.1f} s")
            print(f"two workers        {two:.1f} s")
            print(f"speed-up           {one / two:.2f}x  (target >= 1.7)")
            print(f"requests seen      {len(srv.requests)} for {2 * args.docs} documents")
    finally:
        cluster.stop()


def run(args: argparse.Namespace, env: dict[str, str], *, workers: int) -> float:
    from engine.batch import queue, service
    from engine.history import recorder
    from engine.store import open_store
    from tests.batch_support import custom_provider, items, spec

    store = open_store().open()
    recorder.install(store=store)
    queue.launch(store, executor_id=f"bench-app-{workers}", role="app", listen=[])
    children = [subprocess.Popen([sys.executable, "-c", WORKER, f"bench-w{workers}-{n}"],
                                 env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
                for n in range(workers)]
    try:
        time.sleep(3.0)  # the workers launched and polling: their start is not the batch's
        started = time.perf_counter()
        batch = service.start_batch(store, spec(), items(args.docs), custom_provider())
        counts = service.wait_until_finished(store, batch.id, timeout=600, every=0.1)
        elapsed = time.perf_counter() - started
        assert counts["done"] == args.docs, counts
        return elapsed
    finally:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            child.wait(30)
        queue.shutdown(hand_back=False)
        recorder.uninstall()
        store.close()


if __name__ == "__main__":
    main()
