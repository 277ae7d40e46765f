"""Shared pieces of the batch tests (#20): a store and the queue launched in this process on a
data folder of the test's own, a replay server as the "Custom server" answering each document
by what it asks, and meeting notes that name their room."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.batch.model import BatchSpec, NewItem
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import HISTORY_ENV, chunks, isolate

SCHEMA = "MeetingInfo"
MODEL = "replay-model"
_ROOM = re.compile(r"Room (\d+)")


def note(n: int) -> str:
    """A meeting note of its own: the room number is what tells documents apart."""
    return (f"Meeting on 2026-03-{n % 28 + 1:02d} in Room {n}. Ana (ana{n}@example.com, "
            f"@ana{n}) joins. Budget {1000 + n} dollars, deadline 2026-04-01.")


def answer(n: int) -> str:
    return json.dumps({
        "users": [{"name": "Ana", "email": f"ana{n}@example.com", "twitter": f"@ana{n}"}],
        "date": f"2026-03-{n % 28 + 1:02d}", "location": f"Room {n}",
        "budget": 1000 + n, "deadline": "2026-04-01",
    })  # fmt: skip


def room_of(body: dict[str, Any]) -> int:
    """The room number of the document a request carries (its last user message)."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", [])
                    if m.get("role") == "user")
    found = _ROOM.findall(text)
    return int(found[-1]) if found else -1


def meeting_responder(*, delay: float = 0.0, pace: float | None = None):
    def respond(body: dict[str, Any]) -> Reply:
        return Reply.content(chunks(answer(room_of(body)), 12), delay=delay, pace=pace)

    return respond


def items(count: int, start: int = 0) -> list[NewItem]:
    return [NewItem(f"note-{n}.txt", text=note(n), sha256=f"sha-{n}")
            for n in range(start, start + count)]


def spec(**extra: Any) -> BatchSpec:
    return BatchSpec(SCHEMA, "Custom server", MODEL, "json_object", **extra)


@dataclass
class BatchWorld:
    store: Any
    srv: ReplayServer
    provider: Any
    data: Path


def custom_provider() -> Any:
    from engine.providers import available_providers

    return next(p for p in available_providers() if p.name == "Custom server")


@contextlib.contextmanager
def batch_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *,
                executor: str = "test-app", listen: list[str] | None = None,
                follow: bool = False, **env: str) -> Iterator[BatchWorld]:
    """The queue launched here on SQLite in tmp_path, the recorder writing the runs, a
    replay server as the Custom server."""
    from engine.batch import queue
    from engine.history import recorder
    from engine.store import Store, load_settings
    from tests.ui_support import custom_server_env

    with ReplayServer() as srv:
        isolate(monkeypatch, tmp_path)
        for name in HISTORY_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in {**custom_server_env(srv.base_url, model=MODEL),
                            "FIELDSTREAM_QUEUE_POLL": "0.05", **env}.items():
            monkeypatch.setenv(name, value)
        srv.responder = meeting_responder()
        store = Store.from_settings(load_settings()).open()
        recorder.install(store=store)
        queue.launch(store, executor_id=executor, role="app", listen=listen, follow=follow)
        try:
            yield BatchWorld(store, srv, custom_provider(), tmp_path / "data")
        finally:
            queue.shutdown(hand_back=False)
            recorder.uninstall()
            store.close()


def meeting_variants(count: int) -> list[NewItem]:
    """The built-in meeting note, `count` times with its day and budget changed: documents a
    real model reads differently, each with a known date and budget."""
    from engine.schemas.library import MEETING_NOTE

    out = []
    for n in range(count):
        text = (MEETING_NOTE.replace("March 15th", f"March {n + 1}th")
                .replace("$50,000", f"${50_000 + 1000 * n:,}"))
        out.append(NewItem(f"meeting-{n + 1}.txt", text=text, sha256=f"meeting-{n}"))
    return out


@contextlib.contextmanager
def local_batch_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The queue launched here on SQLite in tmp_path, runs recorded, the embedded model as the
    provider (its queue allows its slots)."""
    from engine.batch import queue
    from engine.history import recorder
    from engine.providers.registry import local_provider
    from engine.store import Store, load_settings

    isolate(monkeypatch, tmp_path)
    for name in HISTORY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIELDSTREAM_QUEUE_POLL", "0.1")
    store = Store.from_settings(load_settings()).open()
    recorder.install(store=store)
    queue.launch(store, executor_id="local-test", role="app")
    try:
        yield store, local_provider()
    finally:
        queue.shutdown(hand_back=False)
        recorder.uninstall()
        store.close()


def overlapping(store: Any, batch_id: str) -> int:
    """The most runs of the batch that were running at one moment (from their rows)."""
    from sqlalchemy import select

    from engine.store.tables import runs

    with store.reading() as conn:
        spans = conn.execute(select(runs.c.started_at, runs.c.ended_at).where(
            runs.c.group_kind == "batch", runs.c.group_id == batch_id)).all()
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans if e is not None],
                   key=lambda x: (x[0], x[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most
