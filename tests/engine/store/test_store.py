"""The history store on SQLite and on a real Postgres server (tests/postgres.py): migrations,
the row at start and end, heartbeats, exact text, concurrency, retention, no API keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import MetaData, bindparam, inspect, select, text

from engine.history import RunFilters, export_csv, export_jsonl, get_run, list_runs
from engine.store import Store, StoredRun, load_settings, open_store
from engine.store import db as store_db
from engine.store import store as store_module
from engine.store.records import utcnow
from engine.store.textsafe import UTCDateTime
from engine.store.timeline import unpack

if TYPE_CHECKING:  # imported for real by pytest_plugins (importing it here first would
    from tests.postgres import PostgresCluster  # keep pytest from rewriting its asserts)

pytest_plugins = ["tests.postgres"]  # the db_url (SQLite and Postgres) and store fixtures

ROOT = Path(__file__).resolve().parents[3]
STALE = 1.0  # seconds without a heartbeat before a running row shows as interrupted
WEIRD = "ordinary words \x00 NUL, lone \ud800 high, \udfff low, \ue000 marker, \ue000e0 fake"

SCHEMA = {
    "title": "MeetingInfo",
    "type": "object",
    "properties": {"topic": {"type": "string"}, "attendees": {"type": "array"},
                   "budget": {"type": "number"}},
}


def sample_run(**overrides: object) -> StoredRun:
    """A finished-looking run with every column filled; tests override what they check."""
    values: dict[str, object] = {
        "schema_name": "MeetingInfo", "provider": "openai", "model": "gpt-4o-mini",
        "status": "done",
        "json_schema": SCHEMA, "schema_version": "1", "base_url_host": "api.openai.com",
        "mode": "tools", "input_text": "Meeting about the launch with Ada and Grace.",
        "result": {"topic": "launch", "attendees": ["Ada", "Grace"], "budget": 5000},
        "field_errors": {"attendees.1": ["not an email"]},
        "usage": {"prompt_tokens": 120, "completion_tokens": 40},
        "ttft_ms": 210.5, "first_field_ms": 340.25, "total_ms": 1200.0, "source": "page",
        "ran_by": "tester", "timeline": [(210.5, '{"topic"'), (260.0, ':"launch"'), (300.0, "}")],
    }
    values.update(overrides)
    return StoredRun(**values)  # type: ignore[arg-type]


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll until true (a deadline for slow machines, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def child(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- migrations ---------------------------------------------------------------------------

FIRST_REVISION_ROW = """
INSERT INTO runs (id, started_at, status, schema_name, schema_fingerprint, provider, model,
                  source, input_text, result)
VALUES ('old-run', :started, 'done', 'MeetingInfo', 'f00', 'openai', 'gpt-4o', 'cli',
        'notes from the quarterly zeppelin review', '{"topic":"zeppelin"}')
"""


def test_a_database_made_by_the_first_migration_is_upgraded_with_its_runs(db_url: str) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0001")
    with engine.begin() as conn:
        started = bindparam("started", utcnow() - timedelta(hours=1), type_=UTCDateTime())
        conn.execute(text(FIRST_REVISION_ROW).bindparams(started))
    assert store_db.current_revision(engine) == "0001"
    engine.dispose()

    with Store(db_url) as upgraded:
        rows, total = list_runs(upgraded)
        assert store_db.current_revision(upgraded.engine) == store_db.head_revision()
        assert (total, rows[0].id, rows[0].source) == (1, "old-run", "cli")
        # The search index came with the upgrade and covers the run made before it.
        assert list_runs(upgraded, RunFilters(search="zeppelin"))[1] == 1
        upgraded.add(sample_run(input_text="a zeppelin again"))
        assert list_runs(upgraded, RunFilters(search="ZEPPELIN"))[1] == 2


def test_migrating_twice_is_a_no_op(db_url: str) -> None:
    with Store(db_url) as first:
        first.add(sample_run(id="kept"))
    with Store(db_url) as second:
        assert get_run(second, "kept") is not None
        assert store_db.current_revision(second.engine) == store_db.head_revision()


# -- a row at start, updated at the end -------------------------------------------------

def test_the_row_is_written_at_start_and_updated_at_the_end(store: Store) -> None:
    run = sample_run(status="running", result=None, field_errors=None, usage=None,
                     ttft_ms=None, first_field_ms=None, total_ms=None, timeline=[])
    store.start(run)
    begun = get_run(store, run.id)
    assert begun is not None
    assert (begun.status, begun.shown_status, begun.ended_at) == ("running", "running", None)
    assert begun.input_text == run.input_text and begun.result is None
    assert begun.heartbeat_at is not None

    run.status, run.result = "done", {"topic": "launch", "attendees": [], "budget": 1}
    run.field_errors, run.usage = {"budget": ["too small"]}, {"total_tokens": 9}
    run.ttft_ms, run.first_field_ms, run.total_ms = 10.0, 20.0, 30.0
    run.timeline = [(10.0, '{"to'), (12.5, 'pic":"launch"}')]
    store.finish(run)
    ended = get_run(store, run.id)
    assert ended is not None and ended.ended_at is not None
    assert (ended.status, ended.result, ended.field_errors) == ("done", run.result,
                                                                 run.field_errors)
    assert (ended.usage, ended.ttft_ms, ended.first_field_ms, ended.total_ms) == (
        {"total_tokens": 9}, 10.0, 20.0, 30.0)
    assert ended.timeline == run.timeline
    assert list_runs(store)[1] == 1


def test_finish_writes_the_whole_run_when_the_start_row_is_missing(store: Store) -> None:
    run = sample_run(status="error")
    store.finish(run)
    stored = get_run(store, run.id)
    assert stored is not None and stored.status == "error"
    assert stored.input_text == run.input_text and stored.timeline == run.timeline


def test_finish_needs_an_ended_status(store: Store) -> None:
    run = sample_run(status="running")
    store.start(run)
    with pytest.raises(ValueError, match="ended status"):
        store.finish(run)
    with pytest.raises(ValueError, match="status must be one of"):
        sample_run(status="interrupted")


# -- heartbeat → interrupted ------------------------------------------------------------

RUNNING_CHILD = """
import sys, time
from engine.store import Store
from tests.engine.store.test_store import sample_run
store = Store(sys.argv[1], heartbeat_every=0.1)
run = sample_run(status="running", result=None, input_text="killed mid-run")
store.start(run)
print(run.id, flush=True)
time.sleep(600)
"""


def test_a_sigkilled_run_shows_as_interrupted_while_a_live_one_stays_running(
    db_url: str,
) -> None:
    proc = child(RUNNING_CHILD, db_url)
    try:
        run_id = proc.stdout.readline().strip() if proc.stdout else ""
        assert run_id, proc.stderr.read() if proc.stderr else ""
        with Store(db_url) as store:
            time.sleep(STALE * 2)  # longer than the threshold: only the heartbeat keeps it alive
            assert _shown(store, run_id) == "running"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert wait_for(lambda: _shown(store, run_id) == "interrupted")
            interrupted = RunFilters(status="interrupted")
            assert [r.id for r in list_runs(store, interrupted, stale_after=STALE)[0]] == [run_id]
            assert list_runs(store, RunFilters(status="running"), stale_after=STALE)[1] == 0
            kept = get_run(store, run_id, stale_after=STALE)
            assert kept is not None and kept.input_text == "killed mid-run"
            assert kept.status == "running"  # stored as is; "interrupted" is only shown
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _shown(store: Store, run_id: str) -> str | None:
    run = get_run(store, run_id, stale_after=STALE)
    return run and run.shown_status


def test_an_explicit_beat_revives_the_run_and_saves_the_partial(db_url: str) -> None:
    with Store(db_url, heartbeat_every=3600) as store:  # the background beat never comes
        run = sample_run(status="running", result=None)
        store.start(run)
        assert wait_for(lambda: _shown(store, run.id) == "interrupted")
        store.beat(run.id, partial={"topic": "lau"})
        shown = get_run(store, run.id, stale_after=STALE)
        assert shown is not None
        assert (shown.shown_status, shown.result) == ("running", {"topic": "lau"})


def test_the_heartbeat_thread_stops_beating_a_finished_run(store: Store) -> None:
    run = sample_run(status="running")
    store.start(run)
    run.status = "cancelled"
    store.finish(run)
    ended = get_run(store, run.id)
    time.sleep(0.5)  # several heartbeat periods of the fixture's store (0.2 s)
    later = get_run(store, run.id)
    assert ended is not None and later is not None
    assert later.heartbeat_at == ended.heartbeat_at and later.shown_status == "cancelled"


def test_a_dropped_server_connection_is_replaced_before_use(
    pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "fs_dropped"
    with Store(pg_cluster.create_database(name)) as store:
        store.add(sample_run(id="before"))
        # The server ends every session of this database (a restart, an idle timeout).
        pg_cluster.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         f"WHERE datname = '{name}'")
        monkeypatch.setattr(store_db, "IDLE_PING_AFTER", 0.0)  # as if idle for a while
        store.start(sample_run(id="after", status="running"))
        assert {r.id for r in list_runs(store)[0]} == {"before", "after"}
    pg_cluster.drop_database(name)


# -- exact text ---------------------------------------------------------------------------

def test_nul_and_lone_surrogates_come_back_exactly(store: Store) -> None:
    run = sample_run(
        schema_name=f"Schema {WEIRD}", input_text=WEIRD, ran_by=WEIRD,
        result={WEIRD: [WEIRD, {"k\x00": "\ud83d"}]}, field_errors={"a\udc00": [WEIRD]},
        json_schema={"title": WEIRD, "type": "object", "properties": {}},
        timeline=[(0.0, "\ud83d"), (1.5, "\ude00\x00"), (3.25, WEIRD)],
    )
    store.start(run)
    run.status = "done"
    store.finish(run)
    stored = get_run(store, run.id)
    assert stored is not None
    for name in ("schema_name", "input_text", "ran_by", "result", "field_errors",
                 "json_schema", "timeline", "schema_fingerprint"):
        assert getattr(stored, name) == getattr(run, name), name
    # Escaping leaves ordinary words alone: searching and filtering still find them.
    assert list_runs(store, RunFilters(search="ordinary words"))[1] == 1
    assert list_runs(store, RunFilters(search="NUL, lone"))[1] == 1
    assert list_runs(store, RunFilters(schema=f"Schema {WEIRD}"))[1] == 1


# -- concurrency --------------------------------------------------------------------------

def _distinct_run(tag: str) -> StoredRun:
    return sample_run(
        status="running", input_text=f"input of {tag} " * 40, result=None,
        timeline=[(float(i), f"{tag}:{i};") for i in range(50)],
    )


def _assert_intact(store: Store, runs: dict[str, StoredRun]) -> None:
    assert list_runs(store)[1] == len(runs)
    for run_id, expected in runs.items():
        stored = get_run(store, run_id)
        assert stored is not None, run_id
        assert stored.input_text == expected.input_text
        assert stored.result == expected.result and stored.status == "done"
        assert stored.timeline == expected.timeline


def test_ten_threads_write_without_losing_or_mixing_rows(store: Store) -> None:
    written: dict[str, StoredRun] = {}
    lock = threading.Lock()

    def work(thread: int) -> None:
        for i in range(15):
            tag = f"thread-{thread}-run-{i}"
            run = _distinct_run(tag)
            store.start(run)
            store.beat(run.id)
            run.status, run.result = "done", {"tag": tag}
            store.finish(run)
            with lock:
                written[run.id] = run

    threads = [threading.Thread(target=work, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(written) == 150
    _assert_intact(store, written)


WRITER_CHILD = """
import sys
from engine.store import Store
from tests.engine.store.test_store import _distinct_run
store = Store(sys.argv[1], heartbeat_every=0.05)
for i in range(int(sys.argv[3])):
    tag = f"{sys.argv[2]}-run-{i}"
    run = _distinct_run(tag)
    store.start(run)
    run.status, run.result = "done", {"tag": tag}
    store.finish(run)
store.close()
"""


def test_two_processes_write_the_same_new_database(db_url: str) -> None:
    # Both start on an empty database, so they also race to migrate it.
    procs = [child(WRITER_CHILD, db_url, f"proc-{n}", "40") for n in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with Store(db_url) as store:
        rows, total = list_runs(store, limit=100)
        assert total == 80
        expected = {}
        for row in rows:
            stored = get_run(store, row.id)
            assert stored is not None and isinstance(stored.result, dict)
            tag = stored.result["tag"]
            expected[row.id] = _distinct_run(tag)
            expected[row.id].result = {"tag": tag}
        assert {e.result["tag"] for e in expected.values()} == {
            f"proc-{n}-run-{i}" for n in range(2) for i in range(40)}
        _assert_intact(store, expected)


# -- settings: off, no input, retention, size -------------------------------------------

def test_history_off_writes_nothing(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, enabled=False) as off:
        run = sample_run(status="running")
        off.start(run)
        run.status = "done"
        off.finish(run)
        off.add(sample_run())
        if db_url.startswith("sqlite"):
            assert not (tmp_path / "history.db").exists()  # not even created
    with Store(db_url) as on:
        assert list_runs(on)[1] == 0


def test_inputs_are_left_out_when_not_kept(db_url: str) -> None:
    with Store(db_url, keep_input=False) as store:
        run = sample_run(status="running", input_text="private contract text")
        store.start(run)
        run.status = "done"
        store.finish(run)
        stored = get_run(store, run.id)
        assert stored is not None and stored.input_text is None
        assert stored.result == run.result and stored.timeline == run.timeline
        assert list_runs(store, RunFilters(search="contract"))[1] == 0


def test_purge_deletes_runs_older_than_the_retention(db_url: str) -> None:
    now = utcnow()
    with Store(db_url) as store:
        for days in (1, 10, 40, 400):
            store.add(sample_run(id=f"age-{days}", started_at=now - timedelta(days=days),
                                 input_text=f"aged {days} days"))
        assert store.purge(30) == 2
        assert {r.id for r in list_runs(store)[0]} == {"age-1", "age-10"}
        assert list_runs(store, RunFilters(search="aged 40"))[1] == 0  # gone from the index
    # A store with a retention setting purges when it is first used (start-up).
    with Store(db_url, retention_days=5) as keeping:
        assert [r.id for r in list_runs(keeping)[0]] == ["age-1"]


def test_the_retention_purge_runs_again_once_it_is_due(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(db_url, retention_days=5) as store:
        store.add(sample_run(id="old", started_at=utcnow() - timedelta(days=6)))
        assert get_run(store, "old") is not None  # purged at start-up only, not since
        monkeypatch.setattr(store_module, "PURGE_EVERY", 0.0)  # "a day later"
        assert get_run(store, "old") is None


def test_the_store_never_shows_a_database_password() -> None:
    shown = repr(Store("postgresql+psycopg://fs:hunter2-secret@db.example:5432/history"))
    assert "hunter2" not in shown and "db.example" in shown


def test_database_size_counts_the_file_and_its_wal(store: Store) -> None:
    empty = store.database_size()
    for i in range(50):
        store.add(sample_run(input_text=f"text {i} " * 300))
    size = store.database_size()
    assert size > empty > 0
    if store.dialect == "sqlite":
        path = Path(store.engine.url.database or "")
        wal = path.with_name(path.name + "-wal")
        assert size == path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_the_default_store_is_a_wal_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(env={"FIELDSTREAM_DATA_DIR": str(tmp_path / "data")},
                             cwd=tmp_path, home=tmp_path)
    with open_store(settings) as store:
        store.add(sample_run())
        assert (tmp_path / "data" / "history.db").exists()
        with store.reading() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


# -- API keys -------------------------------------------------------------------------------

KEY = "sk-fieldstream-TEST-9f3c1a7e5b2d4c6a8e0f"


def test_an_api_key_never_reaches_the_database_or_an_export(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("FIELDSTREAM_DATABASE_URL", db_url)
    with open_store(load_settings(cwd=tmp_path, home=tmp_path)) as store:
        run = sample_run(
            status="running", base_url_host=f"https://user:{KEY}@api.example.com/v1?key={KEY}",
            input_text=f"pasted by mistake: {KEY}", result=None,
        )
        store.start(run)
        run.status, run.result = "error", {"topic": f"echo {KEY}"}
        run.field_errors = {"": [f"401 Incorrect API key provided: {KEY}"]}
        half = len(KEY) // 2  # a key split across two chunks is still found
        run.timeline = [(1.0, f"x{KEY[:half]}"), (2.0, f"{KEY[half:]}y")]
        store.finish(run)
        stored = get_run(store, run.id)
        assert stored is not None and stored.base_url_host == "api.example.com"
        assert [text for _, text in stored.timeline] == ["x" + "*" * half,
                                                         "*" * (len(KEY) - half) + "y"]
        exports = tmp_path / "runs.csv", tmp_path / "runs.jsonl"
        with exports[0].open("w", newline="") as out:
            export_csv(store, out)
        with exports[1].open("w") as out:
            export_jsonl(store, out)
        dumped = _dump_every_table(store)
    assert KEY not in dumped and "api.example.com" in dumped
    for path in exports:
        assert KEY not in path.read_text() and "api.example.com" in path.read_text()
    if db_url.startswith("sqlite"):
        for path in tmp_path.glob("history.db*"):  # the file, its WAL and shm, byte for byte
            assert KEY.encode() not in path.read_bytes()


def _dump_every_table(store: Store) -> str:
    """Every value of every table (FTS shadow tables too), timelines unpacked."""
    meta = MetaData()
    with store.reading() as conn:
        names = inspect(conn).get_table_names()
        meta.reflect(conn, only=[n for n in names if not n.endswith("_fts")])
        parts = []
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(_readable(name, value) for name, value in row._mapping.items())
    return "\n".join(parts)


def _readable(name: str, value: object) -> str:
    if name == "timeline" and isinstance(value, bytes):
        return "".join(text for _, text in unpack(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
