"""Faults in a batch (#20, "Faults"): a provider down mid-batch makes documents wait and try
again with backoff, then fail with the reason, and Retry failed finishes them; a 429's
`Retry-After` is waited for; files that cannot be read say why in their rows while the rest
run."""

from __future__ import annotations

import io
import itertools
import threading
import time
import zipfile
from collections import defaultdict

from engine.batch import records, service
from engine.batch.model import DONE, FAILED, QUEUED
from engine.documents.batch_input import iter_inputs
from engine.testing.replay_server import Reply
from tests.batch_support import answer, batch_world, items, meeting_responder, note, room_of, spec
from tests.engine.batch.process_support import runs_per_document, wait_for
from tests.support import chunks

QUICK_RETRIES = {"FIELDSTREAM_BATCH_BACKOFF": "0.2", "FIELDSTREAM_BATCH_RETRIES": "2"}


class Outage:
    """The replay server's answers: 503 while `down` is set, else each room's answer; the time
    of every request by room."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.asked: dict[int, list[float]] = defaultdict(list)
        self._ok = meeting_responder(delay=0.05)

    def __call__(self, body):
        self.asked[room_of(body)].append(time.monotonic())
        if self.down.is_set():
            return Reply.error(503, "The server is overloaded.")
        return self._ok(body)


def test_a_short_outage_waits_and_tries_again(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, **QUICK_RETRIES) as world:
        outage = world.srv.responder = Outage()
        outage.down.set()
        batch = service.start_batch(world.store, spec(), items(4), world.provider)
        waiting = wait_for(lambda: [d for d in records.items(world.store, batch.id,
                                                            statuses=[QUEUED])
                                    if (d.reason or "").startswith("Waiting")], 20, every=0.02)
        assert "503" in waiting[0].reason and "try again" in waiting[0].reason
        outage.down.clear()
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        assert counts[DONE] == 4, counts.by_status
        assert all(len(times) >= 2 for times in outage.asked.values())  # each waited, then ran
        assert runs_per_document(world.store, batch.id) == {str(i): 1 for i in range(4)}


def test_a_provider_down_past_the_retries_fails_with_the_reason_and_retry_finishes(
        monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, **QUICK_RETRIES) as world:
        outage = world.srv.responder = Outage()
        outage.down.set()
        batch = service.start_batch(world.store, spec(), items(3), world.provider)
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        assert counts[FAILED] == 3, counts.by_status
        for doc in records.items(world.store, batch.id):
            assert "HTTP 503" in doc.reason and "overloaded" in doc.reason, doc.reason
        for times in outage.asked.values():  # 3 tries, each with the client's own retry
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert len(times) == 6 and max(gaps) >= 0.4, gaps  # backoff 0.2 then 0.4 s

        outage.down.clear()
        assert service.retry_failed(world.store, batch.id, world.provider) == 3
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        assert counts[DONE] == 3, counts.by_status
        rows = service.table(world.store, batch, service.fields_of(world.store, batch))
        assert [r.values["location"] for r in rows] == ["Room 0", "Room 1", "Room 2"]
        assert all(r.reason is None for r in rows)
        # the failed attempt's run row is replaced by the one that answered
        assert runs_per_document(world.store, batch.id) == {"0": 1, "1": 1, "2": 1}


def test_a_429_retry_after_is_waited_for(monkeypatch, tmp_path):
    asked: dict[int, list[float]] = defaultdict(list)

    def respond(body):
        room = room_of(body)
        asked[room].append(time.monotonic())
        if len(asked[room]) == 1:
            return Reply.error(429, "Rate limit reached.", retry_after=1)
        return Reply.content(chunks(answer(room), 12))

    with batch_world(monkeypatch, tmp_path, **QUICK_RETRIES) as world:
        world.srv.responder = respond
        batch = service.start_batch(world.store, spec(), items(2), world.provider)
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        assert counts[DONE] == 2, counts.by_status
        pauses = [times[1] - times[0] for times in asked.values()]
        assert len(pauses) == 2 and min(pauses) >= 1.0, pauses
        assert all(len(times) == 2 for times in asked.values())


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_unreadable_empty_and_oversized_files_say_why_and_the_batch_goes_on(
        monkeypatch, tmp_path):
    upload = _zip({
        "a.txt": note(1).encode(), "empty.txt": b"", "broken.pdf": b"%PDF-1.7 not really",
        "huge.txt": b"x" * (1024 * 1024 + 1), "b.txt": note(2).encode(),
        "nested.zip": _zip({"c.txt": b"c"}),
    })  # fmt: skip
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_MAX_FILE_MB="1") as world:
        docs = list(service.inputs_from(iter_inputs("upload.zip", upload)))
        batch = service.start_batch(world.store, spec(), docs, world.provider)
        counts = service.wait_until_finished(world.store, batch.id, timeout=30)
        rows = {r.item.name.removeprefix("upload.zip/"): r for r in service.table(
            world.store, batch, service.fields_of(world.store, batch))}
        assert counts[DONE] == 2 and counts[FAILED] == 4, counts.by_status
        assert rows["a.txt"].values["location"] == "Room 1"
        assert rows["b.txt"].values["location"] == "Room 2"
        assert "empty" in rows["empty.txt"].reason
        assert "PDF" in rows["broken.pdf"].reason
        assert "MB" in rows["huge.txt"].reason
        assert "ZIP" in rows["nested.zip"].reason
        assert len(world.srv.requests) == 2  # nothing was sent for the bad ones
