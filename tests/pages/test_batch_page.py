"""The Batch page (AppTest): documents uploaded, Start, rows filling in from the queue launched
by the page in this process (DBOS on SQLite in the test's data folder), a row's document,
Stop / Resume, Retry failed, the exports, the recent batches and History's link back.

The replay server is the "Custom server" and answers each meeting note by its room number
(`tests.batch_support`). DBOS is one per process: `support.app_server` shuts the page's queue
down after each test."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.batch import records
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.batch_support import answer, meeting_responder, note, room_of
from ui import batch_view

pytestmark = pytest.mark.timeout(180)

PAGE = "pages/5_Batch.py"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, "test-key") as srv:
        monkeypatch.setenv("FIELDSTREAM_QUEUE_POLL", "0.05")
        srv.responder = meeting_responder()
        yield srv


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def notes(*rooms: int) -> list[tuple[str, bytes, str]]:
    return [(f"note-{n}.txt", note(n).encode(), "text/plain") for n in rooms]


def start(at: AppTest, files: list[tuple[str, bytes, str]]) -> str:
    at.file_uploader(key=batch_view.UPLOAD).set_value(files)
    run(at)
    at.button(key="fs_batch_start").click()
    run(at)
    batch_id = at.query_params["batch"][0] if isinstance(at.query_params["batch"], list) \
        else at.query_params["batch"]
    assert batch_id
    return str(batch_id)


def table(at: AppTest) -> pd.DataFrame:
    frames = [d for d in at.dataframe if (d.key or "").startswith("fs_batch_table_")]
    assert len(frames) == 1, [d.key for d in at.dataframe]
    return frames[0].value


def wait_table(at: AppTest, until: Callable[[pd.DataFrame], bool],
               timeout: float = 40) -> pd.DataFrame:
    """Rerun the page (as its fragment does every second) until the table says so."""
    deadline = time.monotonic() + timeout
    while True:
        frame = table(run(at))
        if until(frame):
            return frame
        assert time.monotonic() < deadline, frame.to_dict("records")
        time.sleep(0.2)


def statuses(frame: pd.DataFrame) -> list[str]:
    return list(frame["status"])


def all_are(status: str) -> Callable[[pd.DataFrame], bool]:
    return lambda frame: statuses(frame) == [status] * len(frame)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(at: AppTest) -> str:
    return support.page_texts(at).replace("\\", "")


def test_a_batch_of_three_fills_in_its_rows_and_exports(server: ReplayServer) -> None:
    at = support.app_page(PAGE)
    assert at.expander[0].label == "New batch"
    batch_id = start(at, notes(0, 1, 2))
    frame = wait_table(at, all_are("done"))
    assert list(frame["document"]) == ["note-0.txt", "note-1.txt", "note-2.txt"]
    assert list(frame["location"]) == ["Room 0", "Room 1", "Room 2"]
    assert list(frame["budget"]) == ["1000", "1001", "1002"]  # text cells
    assert json.loads(frame["users"][1])[0]["email"] == "ana1@example.com"  # nested: JSON
    assert list(frame.columns) == ["status", "document", "users", "date", "location", "budget",
                                   "deadline", "not in text", "seconds", "tokens", "reason"]
    assert all(frame["seconds"].notna())
    assert len(server.requests) == 3
    run(at)  # the figures above the table were read before its rows: the next redraw has all
    assert metric(at, "Done") == "3" and metric(at, "Time left") == "finished"
    assert "Updates every second" not in texts(at)  # finished: no more polling
    # the recent batches link back to it
    links = [link for link in at.get("page_link") if link.proto.page == "Batch"]
    assert any(f"batch={batch_id}" in str(link.proto) for link in links), \
        [str(x.proto) for x in links]

    # a row's document: its stored run drawn as its form, grounded, and its run in History
    at.session_state[f"fs_batch_table_{batch_id}_1"] = {
        "selection": {"rows": [2], "columns": [], "cells": []}}
    run(at)
    shown = texts(at)
    assert "note-2.txt" in shown and '"location": "Room 2"' in shown
    assert "**location** · ✓ done · :green-badge[in text · page 1]" in shown  # its box, grounded
    history = [link for link in at.get("page_link") if link.proto.page == "History"]
    assert len(history) == 1 and f"{batch_id}.2.1" in str(history[0].proto)

    # the exports: three deferred buttons; the CSV made on click
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["CSV", "JSON Lines", "Excel (.xlsx)"]
    store = records_store()
    data = batch_view.export_bytes(store, batch_id, "csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert [r["location"] for r in rows] == ["Room 0", "Room 1", "Room 2"]
    assert [r["status"] for r in rows] == ["done"] * 3
    lines = batch_view.export_bytes(store, batch_id, "jsonl").decode().splitlines()
    assert [json.loads(line)["document"] for line in lines] == [f"note-{n}.txt" for n in range(3)]
    assert batch_view.export_bytes(store, batch_id, "xlsx")[:2] == b"PK"


def records_store() -> Any:
    from ui import context

    return context.shared_store()


def test_stop_then_resume(server: ReplayServer) -> None:
    # about 6 s a document: Stop (some 3 s in) must find them running with more than the
    # second a running document takes to see it
    server.responder = meeting_responder(pace=0.3)
    at = support.app_page(PAGE)
    batch_id = start(at, notes(0, 1, 2, 3, 4, 5))
    # a running document's fields show as they arrive (its runner is in this process)
    frame = wait_table(at, lambda f: any(s == "running" and d for s, d in zip(
        f["status"], f["date"], strict=True)))
    assert "Updates every second" in texts(at)
    idx = next(i for i, (s, d) in enumerate(zip(frame["status"], frame["date"], strict=True))
               if s == "running" and d)
    assert "ana" in frame["users"][idx]
    # its live form below the table
    at.session_state[f"fs_batch_table_{batch_id}_1"] = {
        "selection": {"rows": [idx], "columns": [], "cells": []}}
    run(at)
    progress = [p.proto.text for p in at.get("progress")]
    assert any(re.fullmatch(r"\d+ of \d+ fields done", t) for t in progress), progress
    at.button(key="fs_batch_stop").click()
    run(at)
    assert "Stopped:" in texts(at)
    frame = wait_table(at, lambda f: set(statuses(f)) <= {"cancelled", "done"}, timeout=30)
    assert "cancelled" in statuses(frame)
    assert at.button(key="fs_batch_stop").disabled
    server.responder = meeting_responder()
    at.button(key="fs_batch_resume").click()
    run(at)
    assert "Resumed:" in texts(at)
    frame = wait_table(at, all_are("done"))
    assert list(frame["location"]) == [f"Room {n}" for n in range(6)]
    store = records_store()
    assert records.get(store, batch_id).state == "active"


def test_a_failed_document_is_retried(server: ReplayServer) -> None:
    failing = {1}

    def respond(body: dict[str, Any]) -> Reply:
        room = room_of(body)
        if room in failing:
            return Reply.error(400, f"Room {room} refused")
        return Reply.content(support.chunks(answer(room), 12))

    server.responder = respond
    at = support.app_page(PAGE)
    start(at, notes(0, 1, 2))
    frame = wait_table(at, lambda f: "failed" in statuses(f) and statuses(f).count("done") == 2)
    assert "Room 1 refused" in frame["reason"][1]
    run(at)  # the figures above the table were read before its rows: the next redraw has all
    assert metric(at, "Failed") == "1"
    failing.clear()
    at.button(key="fs_batch_retry").click()
    run(at)
    assert "Retrying 1 failed documents." in texts(at)
    frame = wait_table(at, all_are("done"))
    assert list(frame["location"]) == ["Room 0", "Room 1", "Room 2"]
    assert at.button(key="fs_batch_retry").disabled


def test_an_unknown_batch_and_a_history_run_link_back(server: ReplayServer) -> None:
    at = support.app_page(PAGE)
    at.query_params["batch"] = "nope"
    run(at)
    assert "There is no batch nope in the history." in texts(at)
    batch_id = start(at, notes(7))
    wait_table(at, all_are("done"))
    at.switch_page("pages/2_History.py")
    at.query_params["run"] = f"{batch_id}.0.1"
    run(at)
    links = [link for link in at.get("page_link") if link.proto.page == "Batch"]
    assert len(links) == 1 and batch_id in str(links[0].proto)


def test_a_restarted_app_takes_up_its_unfinished_batch_on_any_page(
        server: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents queued by an app that then stopped run when the app's next process draws
    its first page (Home), nobody opening the Batch page."""
    from engine.batch import queue, service
    from engine.history import recorder
    from tests.batch_support import custom_provider, items, spec
    from ui import context

    store = context.shared_store().open()
    recorder.install(store=store)
    # the first process serves no queue: it queues the documents, then is gone
    queue.launch(store, executor_id=queue.default_executor("app"), role="app", listen=[])
    batch = service.start_batch(store, spec(), items(3), custom_provider())
    queue.shutdown(hand_back=False)
    assert records.counts(store, batch.id)["queued"] == 3 and not server.requests

    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"),
                           default_timeout=30)
    run(at)
    assert at.title[0].value == "Fieldstream"  # Home
    counts = service.wait_until_finished(store, batch.id, timeout=30)
    assert counts["done"] == 3, counts
    assert sorted(room_of(body) for body in server.requests) == [0, 1, 2]
