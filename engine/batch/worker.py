"""`fieldstream worker`: run queued batch documents on this machine until stopped.

A worker serves the queues of the providers in its own configuration (environment,
secrets.toml, providers.json; never a key typed in someone's browser), each on its own
providers (its own embedded model included: the local queue allows each worker its slots).
Ctrl-C once: take no more documents and finish those in hand; twice (or SIGTERM): leave now
and hand them back (the other processes take them over at their next heartbeat; this worker,
started again with the same id, takes them back itself).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from engine.batch import queue
from engine.batch.model import queue_name
from engine.store import Store

log = logging.getLogger(__name__)

FINISH_SECONDS = 3600  # Ctrl-C once: how long the documents in hand may take to finish


def worker_providers() -> list[Any]:
    """The providers this machine can run (an OpenAI entry without a key is left out)."""
    from engine.providers import available_providers

    return [p for p in available_providers() if not p.needs_key]


def start_worker(store: Store, executor_id: str) -> queue.Runtime:
    """Launch this process as a worker listening to its providers' queues (registered with
    their limits) and recording runs through `store`."""
    from engine.history import recorder

    providers = worker_providers()
    recorder.install(store=store)
    runtime = queue.launch(store, executor_id=executor_id, role="worker",
                           listen=[queue_name(p.name) for p in providers])
    for provider in providers:
        queue.register(provider)
    return runtime


def serve(store: Store, executor_id: str, *, say: Callable[[str], None] = print,
          stop: threading.Event | None = None) -> int:
    """Run until Ctrl-C / SIGTERM (or `stop` is set); the exit code."""
    stop = stop or threading.Event()
    runtime = start_worker(store, executor_id)
    names = ", ".join(queue_name(p.name) for p in worker_providers()) or "none"
    say(f"# worker {runtime.executor_id}: serving {names}; Ctrl-C finishes the documents in "
        "hand, twice hands them back.")
    hand_back = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: (hand_back.set(), stop.set()))
    try:
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            say("# finishing the documents in hand (Ctrl-C again hands them back)…")
        if hand_back.is_set():
            return _hand_back(say)
        try:
            queue.shutdown(finish_seconds=FINISH_SECONDS, hand_back=False)
        except KeyboardInterrupt:
            return _hand_back(say)
        say("# worker stopped: nothing left in hand.")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _hand_back(say: Callable[[str], None]) -> int:
    runtime = queue.current()
    if runtime is not None and runtime.heartbeat is not None:
        runtime.heartbeat.stop(hand_back=True)
    say("# handed back: another process takes over this worker's documents at its next "
        "heartbeat.")
    import os

    os._exit(130)  # the requests in flight die with the process; their documents run again
