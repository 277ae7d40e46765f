"""`fieldstream batch …` and `fieldstream worker` as a person runs them: each a child process
(DBOS is one runtime per process) on a data folder of the test's own, against a replay server
this test runs as the "Custom server" answering each meeting note by its room number."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.batch import records
from engine.batch.model import DONE, FAILED, Counts
from engine.store import Store, load_settings
from engine.testing.replay_server import ReplayServer, Reply
from tests.batch_support import MODEL, meeting_responder, note, room_of
from tests.support import HISTORY_ENV, PROVIDER_ENV
from tests.ui_support import custom_server_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def srv() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        server.responder = meeting_responder()
        yield server


@pytest.fixture
def env(tmp_path: Path, srv: ReplayServer) -> dict[str, str]:
    """The children's environment: the replay server as the default provider, the history and
    the queue in tmp_path, no secrets files, fast polls and heartbeats, no retry pauses."""
    base = {k: v for k, v in os.environ.items() if k not in (*PROVIDER_ENV, *HISTORY_ENV)}
    return {**base, **custom_server_env(srv.base_url, model=MODEL),
            "HOME": str(tmp_path), "FIELDSTREAM_DATA_DIR": str(tmp_path / "data"),
            "FIELDSTREAM_QUEUE_POLL": "0.05", "FIELDSTREAM_WORKER_HEARTBEAT": "1",
            "FIELDSTREAM_BATCH_RETRIES": "0", "PYTHONPATH": str(ROOT)}  # fmt: skip


def fieldstream(env: dict[str, str], cwd: Path, *args: str,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def spawn(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def notes_folder(root: Path) -> Path:
    """4 meeting notes (one in a subfolder), an empty file, a copy of a note, a hidden file."""
    folder = root / "notes"
    (folder / "more").mkdir(parents=True)
    for n, name in enumerate(("a.txt", "b.txt", "c.txt", "more/d.txt")):
        (folder / name).write_text(note(n), encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "more/b-copy.txt").write_text(note(1), encoding="utf-8")
    (folder / ".hidden.txt").write_text(note(99), encoding="utf-8")
    return folder


def wait_for(env: dict[str, str], cwd: Path, ident: str, timeout: float = 30) -> Counts:
    """The batch's counts once nothing is queued or running (read from its database here:
    a `status` child a poll would cost a second or two each)."""
    with Store.from_settings(load_settings(env, cwd=cwd, home=cwd)).open() as store:
        deadline = time.monotonic() + timeout
        while (counts := records.counts(store, ident)).left and time.monotonic() < deadline:
            time.sleep(0.2)
    return counts


def recent_batch(env: dict[str, str], cwd: Path) -> str:
    with Store.from_settings(load_settings(env, cwd=cwd, home=cwd)).open() as store:
        return records.recent(store, 1)[0].id


def batch_id(summary: str) -> str:
    found = re.search(r"^batch ([0-9a-f]{16}):", summary, re.M)
    assert found, summary
    return found.group(1)


def test_a_folder_runs_to_a_summary_then_reads_exports_and_retries(
    tmp_path: Path, env: dict[str, str], srv: ReplayServer,
) -> None:
    folder = notes_folder(tmp_path)
    ran = fieldstream(env, tmp_path, "batch", "start", "--schema", "meetinginfo",
                      "--name", "notes", str(folder))
    assert ran.returncode == 1, ran.stderr  # one file failed
    out, err = ran.stdout, ran.stderr
    assert "Traceback" not in err
    assert "# Custom server · replay-model · json_schema · MeetingInfo · 6 documents" in err
    assert "6 of 6 ended" in err
    assert re.search(r"^batch \w+: 6 documents · done 5 · invalid 0 · failed 1 · cancelled 0$",
                     out, re.M), out
    assert "  failed  empty.txt: empty.txt: the file is empty." in out
    assert "  same as b.txt: more/b-copy.txt (run once)" in out
    assert re.search(r"^time [\d.]+ s · tokens [\d,]+$", out, re.M), out
    ident = batch_id(out)
    assert f"fieldstream batch retry {ident}" in out
    assert len(srv.requests) == 4  # the copy once, the hidden file and the empty one never

    status = fieldstream(env, tmp_path, "batch", "status", ident)
    assert status.returncode == 0, status.stderr
    assert ("6 documents: queued 0 · running 0 · done 5 · invalid 0 · failed 1 · "
            "cancelled 0") in status.stdout
    assert "MeetingInfo · Custom server · replay-model · json_schema" in status.stdout
    assert "docs/min · ETA —" in status.stdout
    assert "  failed  empty.txt: empty.txt: the file is empty." in status.stdout
    figures = json.loads(fieldstream(env, tmp_path, "batch", "status", ident, "--json").stdout)
    assert figures["counts"] == {"queued": 0, "running": 0, "done": 5, "invalid": 0,
                                 "failed": 1, "cancelled": 0}
    assert figures["name"] == "notes" and figures["state"] == "active"
    assert figures["failed"] == [{"document": "empty.txt",
                                  "reason": "empty.txt: the file is empty."}]
    assert figures["per_minute"] > 0 and figures["cost"] is None

    listed = fieldstream(env, tmp_path, "batch", "list").stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{ident}\t")
    assert "\tMeetingInfo\tCustom server\t5/6 done\t1 failed\t0 left\tnotes" in listed[0]

    exported = fieldstream(env, tmp_path, "batch", "export", ident, "--as", "csv")
    assert exported.returncode == 0, exported.stderr
    path = tmp_path / f"batch-{ident}.csv"
    assert f"# 6 rows written to {path.name}" in exported.stderr
    table = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [(r["document"], r["status"], r["location"]) for r in table] == [
        ("a.txt", "done", "Room 0"), ("b.txt", "done", "Room 1"), ("c.txt", "done", "Room 2"),
        ("empty.txt", "failed", ""), ("more/b-copy.txt", "done", "Room 1"),
        ("more/d.txt", "done", "Room 3")]
    assert table[4]["duplicate of"] == "b.txt"
    again = fieldstream(env, tmp_path, "batch", "export", ident, "--as", "csv")
    assert again.returncode == 2 and "exists: pass --force" in again.stderr
    lines = fieldstream(env, tmp_path, "batch", "export", ident, "--as", "jsonl", "-o", "-")
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["done", "done", "done", "failed", "done", "done"]
    assert rows[3]["reason"] == "empty.txt: the file is empty."
    assert rows[0]["fields"]["location"] == "Room 0" and rows[0]["run_id"]
    assert rows[4]["duplicate_of"] == "b.txt" and rows[4]["fields"]["budget"] == 1001


def test_retry_runs_the_failed_documents_again_once_the_server_answers(
    tmp_path: Path, env: dict[str, str], srv: ReplayServer,
) -> None:
    folder = notes_folder(tmp_path)
    (folder / "empty.txt").unlink()
    srv.responder = lambda body: Reply.error(400, "model is resting")
    ran = fieldstream(env, tmp_path, "batch", "start", "--schema", "MeetingInfo", str(folder))
    assert ran.returncode == 1, ran.stderr
    assert "done 0 · invalid 0 · failed 5" in ran.stdout  # the copy counts as b.txt
    assert "model is resting" in ran.stdout
    ident = batch_id(ran.stdout)

    srv.responder = meeting_responder()
    retried = fieldstream(env, tmp_path, "batch", "retry", ident)
    assert retried.returncode == 0, retried.stderr + retried.stdout
    assert "# 4 failed documents queued again" in retried.stderr
    assert "done 5 · invalid 0 · failed 0 · cancelled 0" in retried.stdout


@pytest.mark.processes  # a worker and CLIs as children, one killed: make test only
def test_a_worker_runs_a_batch_queued_by_a_cli_that_left(
    tmp_path: Path, env: dict[str, str], srv: ReplayServer,
) -> None:
    folder = notes_folder(tmp_path)
    worker = spawn({**env, "FIELDSTREAM_EXECUTOR_ID": "test-worker"}, tmp_path, "worker")
    try:
        queued = fieldstream(env, tmp_path, "batch", "start", "--schema", "MeetingInfo",
                             "--no-wait", str(folder))
        assert queued.returncode == 0, queued.stderr
        ident = queued.stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{16}", ident), queued.stdout
        assert f"# queued; see `fieldstream batch status {ident}`" in queued.stderr
        counts = wait_for(env, tmp_path, ident)
        assert counts[DONE] == 5 and counts[FAILED] == 1, counts
        assert len(srv.requests) == 4
    finally:
        err = stop(worker)
    assert worker.returncode == 0, err
    assert "# worker test-worker: serving fs-local-model, fs-custom-server;" in err
    assert "# worker stopped: nothing left in hand." in err


@pytest.mark.processes  # a worker and CLIs as children, one killed: make test only
def test_a_killed_cli_s_documents_are_taken_over_by_a_worker(
    tmp_path: Path, env: dict[str, str], srv: ReplayServer,
) -> None:
    srv.responder = meeting_responder(delay=1.0)
    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(6):
        (folder / f"n{n}.txt").write_text(note(n), encoding="utf-8")
    cli = spawn(env, tmp_path, "batch", "start", "--schema", "MeetingInfo", str(folder))
    while len(srv.requests) < 2:  # the CLI is running documents
        assert cli.poll() is None, cli.communicate()
        time.sleep(0.05)
    cli.kill()
    cli.wait()
    killed = time.monotonic()
    worker = spawn(env, tmp_path, "worker", "--id", "heir")
    try:
        counts = wait_for(env, tmp_path, recent_batch(env, tmp_path))
        took = time.monotonic() - killed
    finally:
        err = stop(worker)
    assert counts[DONE] == 6, counts
    assert took < 15  # the CLI's beat is stale after 3 s (FIELDSTREAM_WORKER_HEARTBEAT=1)
    rooms = [room_of(r) for r in srv.requests]
    assert set(rooms) == set(range(6)) and len(rooms) <= 6 + 8  # at most the in-flight again
    assert worker.returncode == 0, err


def stop(worker: subprocess.Popen[str]) -> str:
    """Ctrl-C the worker; what it said on stderr (killed if it does not stop in 30 s)."""
    try:
        worker.send_signal(signal.SIGINT)
        return worker.communicate(timeout=30)[1]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.parametrize(("args", "said"), [
    (["batch", "status", "0123456789abcdef"], "No batch '0123456789abcdef'"),
    (["batch", "start", "--schema", "Nope", "x"], "There is no schema 'Nope'"),
    (["batch", "start", "--schema", "MeetingInfo", "missing"], "No such file or folder: missing"),
    (["batch", "start", "--schema", "MeetingInfo", "void"], "The folder void has no files"),
    (["batch", "start", "--schema", "MeetingInfo", "--provider", "nobody", "void"],
     "No provider named 'nobody'"),
])
def test_bad_input_is_one_message(
    args: list[str], said: str, tmp_path: Path, env: dict[str, str],
) -> None:
    (tmp_path / "void").mkdir()
    (tmp_path / "void" / ".hidden").write_text("x")
    ran = fieldstream(env, tmp_path, *args)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert said in ran.stderr and "Traceback" not in ran.stderr
