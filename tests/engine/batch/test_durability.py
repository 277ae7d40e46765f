"""A batch survives its processes (#20, "Durability"): a worker or the app killed with SIGKILL
mid-batch loses nothing, each document ends with exactly one run row, and a request repeats
only for the documents that were in flight. Every document runs in a child process
(`tests.batch_children`); this process only enqueues and watches the rows."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter

import psycopg
import pytest

from engine.batch import records, service
from engine.batch.model import DONE
from tests.batch_support import items, room_of, spec
from tests.engine.batch.process_support import (
    process_world,
    running_on,
    runs_per_document,
    wait_for,
)

pytest_plugins = ["tests.postgres"]
#: 10-20 s each: `make test` only (`make check` leaves `processes` out).
pytestmark = pytest.mark.processes

DOCS = 40
#: A provider limit of 4 across every process, 2 in each: two workers, two in flight each.
LIMITS = {"FIELDSTREAM_PROVIDER_LIMIT": "4", "FIELDSTREAM_WORKER_LIMIT": "2"}


@pytest.fixture
def owned_database(pg_cluster) -> str:
    """A database owned by a role that may not create databases (the queue's schema goes in
    it): its URL."""
    role, name = "fs_batch", f"fs_{uuid.uuid4().hex[:12]}"
    with contextlib.suppress(psycopg.errors.DuplicateObject):  # made by an earlier test
        pg_cluster.admin(f'CREATE ROLE "{role}" LOGIN NOCREATEDB NOCREATEROLE')
    pg_cluster.admin(f'CREATE DATABASE "{name}" OWNER "{role}"')
    yield f"postgresql+psycopg://{role}@127.0.0.1:{pg_cluster.port}/{name}"
    pg_cluster.drop_database(name)


def _holding(world, batch, executor: str) -> list[int]:
    """The documents `executor` runs now, once 5 are done (else nothing)."""
    if service.progress(world.store, batch).counts[DONE] < 5:
        return []
    return running_on(world.store, batch.id, executor)


def _finished_once(world, batch, *, timeout: float) -> None:
    counts = service.wait_until_finished(world.store, batch.id, timeout=timeout, every=0.2)
    assert counts[DONE] == DOCS, (counts.by_status, [c.output()[-2000:] for c in world.children])
    per_doc = runs_per_document(world.store, batch.id)
    assert per_doc == {str(i): 1 for i in range(DOCS)}, per_doc
    rows = service.table(world.store, batch, service.fields_of(world.store, batch), limit=None)
    assert [r.values.get("location") for r in rows] == [f"Room {n}" for n in range(DOCS)]


def test_a_worker_killed_mid_batch_and_restarted_loses_nothing_on_postgres(
        monkeypatch, tmp_path, owned_database):
    with process_world(monkeypatch, tmp_path, database_url=owned_database, **LIMITS) as world:
        first = world.child("worker", "w1")
        second = world.child("worker", "w2")
        first.wait_ready(), second.wait_ready()
        started = time.monotonic()
        batch = service.start_batch(world.store, spec(), items(DOCS), world.provider)
        in_hand = wait_for(lambda: _holding(world, batch, "w1"), 60, every=0.02)
        first.kill()
        world.child("worker", "w1").wait_ready()
        _finished_once(world, batch, timeout=90)
        seen = len(world.srv.requests)
        asked = Counter(room_of(body) for body in world.srv.requests)
        print(f"\n40 documents, w1 killed holding {in_hand}: {seen} requests, "
              f"{time.monotonic() - started:.1f} s, peak in flight {world.srv.peak_in_flight}")
        assert DOCS <= seen <= DOCS + 2
        assert {r for r, n in asked.items() if n > 1} <= set(in_hand)  # only those ran twice
        assert world.srv.peak_in_flight <= 4


def test_the_app_killed_mid_batch_and_restarted_loses_nothing_on_sqlite(monkeypatch, tmp_path):
    with process_world(monkeypatch, tmp_path, FIELDSTREAM_PROVIDER_LIMIT="4") as world:
        world.child("app", "app-x").wait_ready()
        started = time.monotonic()
        batch = service.start_batch(world.store, spec(), items(DOCS), world.provider)
        in_hand = wait_for(lambda: _holding(world, batch, "app-x"), 60, every=0.02)
        streaming = world.srv.in_flight
        world.children[0].kill()
        world.child("app", "app-x").wait_ready()
        _finished_once(world, batch, timeout=90)
        seen = len(world.srv.requests)
        asked = Counter(room_of(body) for body in world.srv.requests)
        print(f"\n40 documents, app killed holding {in_hand} ({streaming} answers streaming): "
              f"{seen} requests, {time.monotonic() - started:.1f} s, peak in flight "
              f"{world.srv.peak_in_flight}; asked twice: {[r for r, n in asked.items() if n > 1]}")
        # one app with 4 in flight: only what it was running when killed is asked again
        assert DOCS <= seen <= DOCS + max(streaming, len(in_hand)) <= DOCS + 4
        assert {r for r, n in asked.items() if n > 1} <= set(in_hand)
        assert world.srv.peak_in_flight <= 4


def test_a_dead_workers_documents_are_taken_over_by_a_live_one(monkeypatch, tmp_path):
    docs = 8
    with process_world(monkeypatch, tmp_path, **LIMITS) as world:
        dead = world.child("worker", "w1")
        live = world.child("worker", "w2")
        dead.wait_ready(), live.wait_ready()
        batch = service.start_batch(world.store, spec(), items(docs), world.provider)
        held = wait_for(lambda: (lambda h: h if len(h) == 2 else [])(
            running_on(world.store, batch.id, "w1")), 30, every=0.02)
        dead.kill()
        killed = time.monotonic()

        def taken() -> bool:
            return all(d.executor == "w2" for d in records.items(world.store, batch.id)
                       if d.idx in held)

        wait_for(taken, 30)
        took = time.monotonic() - killed
        counts = service.wait_until_finished(world.store, batch.id, timeout=30, every=0.2)
        seen = len(world.srv.requests)
        print(f"\nw1 killed holding {held}: w2 took them {took:.1f} s later "
              f"(heartbeat 1 s, stale after 3); {seen} requests for {docs} documents")
        assert counts[DONE] == docs, counts.by_status
        assert runs_per_document(world.store, batch.id) == {str(i): 1 for i in range(docs)}
        assert docs <= seen <= docs + len(held)
        assert 2.0 <= took <= 10.0  # not before its beat is stale, and soon after
