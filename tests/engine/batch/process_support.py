"""The test process's side of the multi-process batch tests: the history store and a replay
server here, the queue launched here only to enqueue (it listens to no queue, so every document
runs in a child), and children started with the same settings (`tests.batch_children`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.batch import records
from engine.testing.replay_server import ReplayServer
from tests.batch_children import Child, child_env
from tests.batch_support import MODEL, custom_provider, meeting_responder
from tests.support import HISTORY_ENV, isolate


@dataclass
class ProcessWorld:
    store: Any
    srv: ReplayServer
    provider: Any
    data: Path
    env: dict[str, str]  # every child's
    children: list[Child] = field(default_factory=list)

    def child(self, role: str, executor_id: str) -> Child:
        started = Child(role, executor_id, self.env, self.data.parent / "logs").start()
        self.children.append(started)
        return started


@contextlib.contextmanager
def process_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *,
                  database_url: str | None = None, delay: float = 1.0,
                  **settings: str) -> Iterator[ProcessWorld]:
    """The store on `database_url` (None: SQLite in the data folder), a replay server whose
    answers take `delay` seconds, the queue launched here as a client listening to nothing;
    `settings` go to this process and every child alike (the queue's limits must agree)."""
    from engine.batch import queue
    from engine.store import Store, load_settings
    from tests.ui_support import custom_server_env

    with ReplayServer() as srv:
        isolate(monkeypatch, tmp_path)
        for name in HISTORY_ENV:
            monkeypatch.delenv(name, raising=False)
        data = tmp_path / "data"
        env = child_env(data, srv.base_url, database_url=database_url, **settings)
        mine = {**custom_server_env(srv.base_url, model=MODEL), **settings,
                "FIELDSTREAM_QUEUE_POLL": "0.1", "FIELDSTREAM_WORKER_HEARTBEAT": "1"}
        if database_url:
            mine["FIELDSTREAM_DATABASE_URL"] = database_url
        for name, value in mine.items():
            monkeypatch.setenv(name, value)
        srv.responder = meeting_responder(delay=delay)
        store = Store.from_settings(load_settings()).open()
        queue.launch(store, executor_id="test-client", role="client", listen=[])
        world = ProcessWorld(store, srv, custom_provider(), data, env)
        try:
            yield world
        finally:
            for child in world.children:
                child.kill()
            queue.shutdown(hand_back=False)
            store.close()


def wait_for(what: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """Poll until `what()` is truthy; its value (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not (value := what()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s")
        time.sleep(every)
    return value


def runs_per_document(store: Any, batch_id: str) -> dict[str, int]:
    """How many run rows each document of the batch has (`group_member` -> count)."""
    from engine.store.tables import runs

    query = (select(runs.c.group_member, func.count()).where(
        runs.c.group_kind == "batch", runs.c.group_id == batch_id)
        .group_by(runs.c.group_member))
    with store.reading() as conn:
        return {member: n for member, n in conn.execute(query)}


def running_on(store: Any, batch_id: str, executor: str) -> list[int]:
    """The documents this process is running now."""
    return [d.idx for d in records.items(store, batch_id, statuses=["running"])
            if d.executor == executor]
