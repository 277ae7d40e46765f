"""Endings the history could not take (engine/store/pending.py): a run that ends while Postgres
is down (a server of the test's own, really stopped and started again on the same port) or
while the SQLite file is locked is kept in the data folder's pending/ and written when the
database answers again, by this process on the FIELDSTREAM_PENDING_RETRY schedule or by the
next one to open the store; a late ending never replaces a real one; a corrupt pending file is
set aside; no pending file holds a key."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from engine import cli
from engine import providers as pv
from engine.history import get_run
from engine.history.recorder import Recorder
from engine.llm.modes import MODES
from engine.runs.runner import StreamFactory
from engine.runs.spec import RunSpec
from engine.runs.start import extraction_factory, start_run
from engine.runs.status import RunStatus
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.store import PENDING, SAVED, Store, StoredRun
from engine.store import db as store_db
from engine.store.pending import FOLDER, folder_for
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING, chunks, isolate

if TYPE_CHECKING:  # imported for real by pytest_plugins (importing it here first would
    from tests.postgres import PostgresCluster  # keep pytest from rewriting its asserts)

pytest_plugins = ["tests.postgres"]

ROOT = Path(__file__).resolve().parents[3]
KEY = "sk-fieldstream-PENDING-4b7e1d9a2c6f8e0b"
# The model echoes the key, and the text holds it: the store masks both, in a pending file too.
ANSWER = json.dumps({**MEETING, "location": f"room {KEY}"})
TEXT = f"{MEETING_NOTE}\nsent with {KEY}"
FAST_RETRY = "0.3,0.5"  # FIELDSTREAM_PENDING_RETRY for these tests: seconds, not minutes


def wait_for(predicate: object, timeout: float = 30.0) -> bool:
    """Poll until true; a predicate that raises (the database is still away) is false."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():  # type: ignore[operator]
                return True
        time.sleep(0.1)
    return False


def pending_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / FOLDER).rglob("*.json"))


def status_of(url: str, run_id: str, folder: Path) -> str | None:
    """The row's stored status, read by a store of its own (`folder`: an empty data folder,
    so the reader writes nothing pending itself)."""
    with Store(url, data_dir=folder) as reader:
        run = get_run(reader, run_id)
        return None if run is None else run.status


def provider(srv: ReplayServer) -> pv.Provider:
    return pv.Provider(pv.CUSTOM_NAME, "compatible", srv.base_url, MODES, "m", api_key=KEY)


def held_at_the_end(factory: StreamFactory, gate: threading.Event) -> StreamFactory:
    """The same stream, its final snapshot held back until `gate` is set: the run ends only
    once the test has taken the database down."""

    def stream(cancel: threading.Event) -> Iterator[object]:
        for snap in factory(cancel):
            if snap.is_final:
                gate.wait(60)
            yield snap

    return stream  # type: ignore[return-value]


def assert_no_key(path: Path) -> None:
    raw = path.read_bytes()
    assert KEY.encode() not in raw and b"room " + b"*" * len(KEY) in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the input text


# -- Postgres, really stopped and started -----------------------------------------------------


@pytest.fixture(scope="module")
def outage() -> Iterator[PostgresCluster]:
    """A server of this module's own (the shared one must stay up for other tests), durable
    so that what was committed survives its restarts."""
    from tests.postgres import MISSING, PostgresCluster, pg_bin

    if pg_bin() is None:  # the tests are marked `postgres`: tests/tiers.py skipped them first
        pytest.fail(MISSING, pytrace=False)
    cluster = PostgresCluster(durable=True)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(outage: PostgresCluster) -> Iterator[str]:
    name = f"fs_{uuid.uuid4().hex[:12]}"
    url = outage.create_database(name)
    yield url
    with contextlib.suppress(RuntimeError):
        outage.resume()  # a failed test may have left it down
    with contextlib.suppress(psycopg.Error):
        outage.drop_database(name)


@pytest.mark.postgres  # a cluster of its own (`outage`)
def test_a_run_that_ends_while_postgres_is_down_is_written_when_it_is_back(
    outage: PostgresCluster, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("FIELDSTREAM_PENDING_RETRY", FAST_RETRY)
    data, reader = tmp_path / "data", tmp_path / "reader"
    store = Store(pg_url, secrets={KEY}, heartbeat_every=0.2, data_dir=data)
    recorder = Recorder(store).register()
    gate = threading.Event()
    try:
        with ReplayServer(api_key=KEY) as srv:
            srv.queue(Reply.content(chunks(ANSWER, 9)))
            prov = provider(srv)
            spec = RunSpec.for_provider(TEXT, "MeetingInfo", MeetingInfo, prov, "m",
                                        "json_schema", 1024)
            factory = extraction_factory(spec.request, prov)
            runner = start_run(spec, prov, factory=held_at_the_end(factory, gate))
            assert wait_for(lambda: status_of(pg_url, runner.run_id, reader) == "running")
            outage.halt()  # the blip: the run ends while the server is down
            gate.set()
            assert runner.wait(60)
        assert runner.status is RunStatus.DONE
        assert recorder.recording(runner.run_id) == PENDING
        [kept] = pending_files(data)
        assert_no_key(kept)
        assert json.loads(kept.read_text())["run"]["status"] == "done"

        outage.resume()  # the same port, the same URL: this process writes it on schedule
        assert wait_for(lambda: status_of(pg_url, runner.run_id, reader) == "done")
        assert wait_for(lambda: not pending_files(data))
        with Store(pg_url, data_dir=reader) as opened:
            row = get_run(opened, runner.run_id)
        assert row is not None and row.shown_status == "done"  # no longer "interrupted"
        assert row.result == {**MEETING, "location": "room " + "*" * len(KEY)}
        assert "".join(text for _, text in row.timeline) == ANSWER.replace(KEY, "*" * len(KEY))
        assert row.input_text == TEXT.replace(KEY, "*" * len(KEY))
    finally:
        gate.set()
        recorder.unregister()
        store.close()


NEXT_PROCESS = """
from engine.store import open_store
with open_store() as store:
    store.engine  # opening the store writes what an earlier process could not
    print(store.has_pending())
"""


@pytest.mark.postgres  # a cluster of its own (`outage`)
def test_the_cli_exits_at_once_and_the_next_process_writes_its_ending(
    outage: PostgresCluster, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("FIELDSTREAM_DATABASE_URL", pg_url)
    monkeypatch.setenv("FIELDSTREAM_API_KEY", KEY)
    with Store(pg_url, data_dir=tmp_path / "reader") as first:
        first.engine  # migrated while the server is up
    outage.halt()
    with ReplayServer(models=["m"], api_key=KEY) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content(chunks(ANSWER, 9)))
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["extract", "--schema", "meetinginfo", "--provider", "custom"],
                        stdin=io.StringIO(TEXT), stdout=out, stderr=err)
    assert code == cli.EXIT_OK and json.loads(out.getvalue())["budget"] == MEETING["budget"]
    assert "history not reachable: this run will be saved when it is" in err.getvalue()
    [kept] = pending_files(tmp_path / "data")
    assert_no_key(kept)
    run_id = kept.stem

    outage.resume()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", NEXT_PROCESS], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr
    # The whole row: its start was lost too.
    assert status_of(pg_url, run_id, tmp_path / "reader") == "done"
    assert not pending_files(tmp_path / "data")


# -- SQLite, locked for longer than the busy timeout ------------------------------------------


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another connection holding the write lock (as a long import or a backup would)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def started(url: str, data: Path, **options: object) -> tuple[Store, StoredRun]:
    store = Store(url, secrets={KEY}, data_dir=data, **options)  # type: ignore[arg-type]
    run = StoredRun(schema_name="MeetingInfo", provider="Custom server", model="m",
                    input_text=TEXT)
    store.start(run)
    run.status, run.result = "done", {"location": f"room {KEY}"}
    run.timeline = [(1.0, '{"location": "room '), (2.0, f'{KEY}"}}')]
    return store, run


def test_a_locked_sqlite_file_keeps_the_ending_until_it_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)  # fail fast instead of after 30 s
    url, data = f"sqlite:///{tmp_path / 'history.db'}", tmp_path / "data"
    store, run = started(url, data, pending_retry=(0.3, 0.5))
    with store:
        with locked(tmp_path / "history.db"):
            assert store.finish(run) == PENDING
            [kept] = pending_files(data)
            assert_no_key(kept)
            assert status_of(url, run.id, tmp_path / "reader") == "running"
        # The lock is gone: the schedule writes it (this process, the same store).
        assert wait_for(lambda: status_of(url, run.id, tmp_path / "reader") == "done")
        assert not pending_files(data)


def test_a_late_ending_never_replaces_a_real_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    url, data = f"sqlite:///{tmp_path / 'history.db'}", tmp_path / "data"
    store, run = started(url, data, pending_retry=(600.0,))
    with store, locked(tmp_path / "history.db"):
        assert store.finish(run) == PENDING
    with Store(url, data_dir=tmp_path / "elsewhere") as other:  # the row gets its ending
        real = StoredRun(id=run.id, schema_name="MeetingInfo", provider="Custom server",
                         model="m", status="cancelled", result={"real": 1})
        assert other.finish(real) == SAVED
    with Store(url, data_dir=data) as opened:  # the next process opens the store
        stored = get_run(opened, run.id)
        assert not opened.has_pending()
    assert stored is not None and (stored.status, stored.result) == ("cancelled", {"real": 1})


def test_a_corrupt_pending_file_is_set_aside_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, data = f"sqlite:///{tmp_path / 'history.db'}", tmp_path / "data"
    folder = folder_for(data, url)
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text('{"format": 1, "run": {"id": "x", "stat')
    (folder / "wrong.json").write_text(json.dumps({"format": 1, "run": {"id": "y"}}))
    with caplog.at_level(logging.WARNING), Store(url, data_dir=data) as store:
        run = StoredRun(schema_name="S", provider="p", model="m", status="done")
        assert store.finish(run) == SAVED  # the store works all the same
        assert not store.has_pending()
    assert sorted(p.name for p in folder.iterdir()) == ["broken.json.bad", "wrong.json.bad"]
    assert caplog.text.count("is set aside") == 2 and "cannot be read back" in caplog.text


def test_pending_files_belong_to_one_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    one = folder_for(data, "postgresql+psycopg://ann:secret1@db.example:5432/history")
    same = folder_for(data, "postgresql+psycopg://ann:changed@db.example:5432/history")
    other = folder_for(data, "postgresql+psycopg://ann:secret1@db.example:5432/other")
    assert one == same != other and one.parent == data / FOLDER
    assert "secret1" not in str(one)
