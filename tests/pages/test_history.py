"""The History page (AppTest) and the recorder behind it: runs through the Extract page and the
CLI against a local ReplayServer (127.0.0.1) leave rows; the page lists, filters, shows,
replays, compares, deletes, exports and imports them. Each test has its own SQLite file
(FIELDSTREAM_DATA_DIR in tmp_path)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine import cli
from engine.history import ImportFormatError, import_bytes, list_runs, recorder, stats
from engine.history.queries import RunFilters, delete_run, get_run
from engine.runs.status import RunStatus
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.store import Store, StoredRun, load_settings, open_store
from engine.store import db as store_db
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
EXTRACT, HISTORY = "pages/1_Extract.py", "pages/2_History.py"
KEY = "sk-fieldstream-RECOGNISABLE-7f3a9c"
ANSWER = json.dumps(MEETING)


def chunks(text: str, size: int = 7) -> list[str]:
    return support.chunks(text, size)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, KEY) as srv:
        yield srv


@pytest.fixture
def store(server: ReplayServer) -> Iterator[Store]:
    with open_store(load_settings()) as st:
        yield st


def page(name: str, timeout: float = 30) -> AppTest:
    return support.app_page(name, timeout)


def texts(at: AppTest) -> str:
    return support.page_texts(at)


def run_on_extract(srv: ReplayServer, who: str | None = None) -> AppTest:
    srv.queue(Reply.content(chunks(ANSWER), pace=0.002))
    at = page(EXTRACT)
    if who:
        at.text_input(key="fs_who").input(who).run()
    at.button(key="fs_extract").click().run()
    assert not at.exception, at.exception
    return at


def seeded(i: int, **kw: Any) -> StoredRun:
    base: dict[str, Any] = dict(
        schema_name="MeetingInfo", provider="Custom server", model=f"model-{i % 2}",
        json_schema=MeetingInfo.model_json_schema(), status="done", mode="json_schema",
        input_text=f"note number {i}", result={**MEETING, "budget": 1000 + i},
        started_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i),
        ended_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i, seconds=2),
        first_field_ms=120.0 + i, total_ms=900.0 + i,
        timeline=[(float(n * 5), c) for n, c in enumerate(chunks(ANSWER))],
    )  # fmt: skip
    base.update(kw)
    return StoredRun(**base)


def select(at: AppTest, *rows: int) -> AppTest:
    at.session_state["fs_hist_table"] = {"selection": {"rows": list(rows), "columns": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest) -> Any:
    return next(df for df in at.dataframe if "status" in df.value.columns).value


# --- the recorder ----------------------------------------------------------------------


def test_a_run_on_the_extract_page_leaves_its_row(server: ReplayServer, store: Store) -> None:
    run_on_extract(server, who="Ann")
    rows, total = list_runs(store)
    assert total == 1
    run = get_run(store, rows[0].id)
    assert run is not None and run.status == "done" and run.result == MEETING
    assert run.ran_by == "Ann" and run.source == "page" and run.model == "replay-model"
    assert "".join(delta for _, delta in run.timeline) == ANSWER
    assert [d for _, d in run.timeline] == [d for _, d in server.sent if d]
    assert run.input_text == MEETING_NOTE and run.first_field_ms and run.total_ms
    assert run.base_url_host == server.base_url.split("//")[1].split("/")[0]


def test_a_stopped_run_ends_cancelled_with_its_partial(server: ReplayServer,
                                                       store: Store) -> None:
    from engine.providers.registry import available_providers
    from engine.runs.spec import RunSpec
    from engine.runs.start import start_run

    recorder.install()
    server.queue(Reply.content(chunks(ANSWER, 2), pace=0.03))
    provider = next(p for p in available_providers() if p.name == "Custom server")
    runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, provider,
                                            "replay-model", "json_schema"), provider)
    deadline = time.monotonic() + 10
    while len(server.sent) < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    runner.stop(wait=5)
    assert runner.status is RunStatus.CANCELLED
    run = get_run(store, runner.run_id)
    assert run is not None and run.status == "cancelled"
    assert run.result["users"][0]["name"] == "John Doe"  # the partial is kept
    assert run.timeline and ANSWER.startswith("".join(d for _, d in run.timeline))


def test_the_cli_records_its_runs_and_no_history_does_not(server: ReplayServer,
                                                          store: Store) -> None:
    for extra in (["--by", "ci-bot"], ["--no-history"]):
        server.queue(Reply.content(chunks(ANSWER), pace=0.001))
        code = cli.main(["extract", "--schema", "MeetingInfo", "--provider", "custom", *extra],
                        stdin=io.StringIO(MEETING_NOTE), stdout=io.StringIO(),
                        stderr=io.StringIO())
        assert code == cli.EXIT_OK
    rows, total = list_runs(store)
    assert total == 1 and rows[0].source == "cli" and rows[0].ran_by == "ci-bot"
    assert recorder.current() is None  # the CLI took its recorder away again


def test_the_extract_page_says_when_the_history_cannot_take_the_run(
    server: ReplayServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELDSTREAM_PENDING_RETRY", "0.3")
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)  # the page's store: fail fast
    assert list_runs(store).total == 0  # the file exists, migrated
    path = load_settings().url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the file past the busy timeout
    try:
        at = run_on_extract(server)
        assert [w.value for w in at.warning] == [
            "History is not reachable: this run will be saved when it is."]
        assert list_runs(store).total == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    deadline = time.monotonic() + 20  # free again: the recorder's store writes it on schedule
    while list_runs(store).total == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    rows, total = list_runs(store)
    assert total == 1 and rows[0].status == "done"


def test_history_off_records_nothing(server: ReplayServer, store: Store,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSTREAM_HISTORY", "off")
    at = run_on_extract(server)
    assert list_runs(store).total == 0
    at.switch_page(HISTORY).run()
    assert "Recording is off" in texts(at)


def test_no_api_key_in_the_database_or_the_exports(server: ReplayServer, store: Store) -> None:
    run_on_extract(server)
    server.queue(Reply.content(chunks(ANSWER), pace=0.001))
    cli.main(["extract", "--schema", "MeetingInfo", "--provider", "custom"],
             stdin=io.StringIO(MEETING_NOTE), stdout=io.StringIO(), stderr=io.StringIO())
    assert list_runs(store).total == 2
    store.close()  # checkpoint the WAL into the file
    data_dir = Path(load_settings().url.removeprefix("sqlite:///")).parent
    for path in data_dir.iterdir():
        assert KEY.encode() not in path.read_bytes(), path
    for fmt in ("csv", "jsonl"):
        assert KEY.encode() not in stats.export_bytes(store, None, fmt)


# --- the page --------------------------------------------------------------------------


def test_the_list_is_newest_first_and_filters(server: ReplayServer, store: Store) -> None:
    for i in range(6):
        store.add(seeded(i, status="done" if i % 3 else "error",
                         schema_name="MeetingInfo" if i < 4 else "Invoice"))
    at = page(HISTORY)
    frame = table(at)
    assert len(frame) == 6 and frame["input"].iloc[0] == "note number 5"
    assert "6 runs" in texts(at) and "Database:" in texts(at)
    at.selectbox(key="fs_hist_schema").select("Invoice").run()
    assert list(table(at)["input"]) == ["note number 5", "note number 4"]
    at.selectbox(key="fs_hist_schema").select("All").run()
    at.multiselect(key="fs_hist_status").select("error").run()
    assert list(table(at)["input"]) == ["note number 3", "note number 0"]
    at.multiselect(key="fs_hist_status").unselect("error").run()
    at.text_input(key="fs_hist_search").input("number 2").run()
    assert list(table(at)["input"]) == ["note number 2"]
    at.text_input(key="fs_hist_search").input("").run()
    at.selectbox(key="fs_hist_model").select("model-1").run()
    assert len(table(at)) == 3
    at.date_input(key="fs_hist_from").set_value(datetime(2025, 1, 2).date()).run()
    assert "No runs match." in texts(at)


def test_pages_are_cut_by_the_database(server: ReplayServer, store: Store) -> None:
    for i in range(120):
        store.add(seeded(i))
    at = page(HISTORY)
    assert len(table(at)) == 50 and "120 runs · 3 pages" in texts(at)
    at.number_input(key="fs_hist_page").set_value(3).run()
    assert list(table(at)["input"]) == [f"note number {i}" for i in range(19, -1, -1)]
    for run in list_runs(store, limit=20, offset=100).rows:  # the third page empties
        delete_run(store, run.id)
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="fs_hist_page").value == 1 and len(table(at)) == 50


def test_one_run_in_detail(server: ReplayServer, store: Store) -> None:
    store.add(seeded(1, status="invalid", input_text="<b>not bold</b> **nor this**",
                     field_errors={"users[0].email": "value is not a valid email"}))
    at = select(page(HISTORY), 0)
    shown = texts(at)
    assert "<b>not bold</b> **nor this**" in [t.value for t in at.text]  # as text
    assert json.loads(at.code[0].value)["budget"] == 1001
    assert "What arrived (partial)" in shown and "users[0].email" in str(at.dataframe[1].value)
    assert any(m.label == "Time to first done field" and m.value == "0.12 s" for m in at.metric)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the field timeline


def test_replay_streams_the_recorded_chunks_and_records_nothing(server: ReplayServer,
                                                                store: Store) -> None:
    run_on_extract(server)
    at = select(page(HISTORY), 0)
    at.button(key="fs_hist_replay4").click().run()
    assert not at.exception, at.exception
    _, runner, speed = at.session_state["fs_replay_run"]
    assert speed == 4.0 and runner.status is RunStatus.DONE and runner.result is not None
    assert runner.spec is None and list_runs(store).total == 1  # no row for a replay
    assert "Replay" in texts(at) and "John Doe" in texts(at)


def test_delete_asks_first(server: ReplayServer, store: Store) -> None:
    store.add(seeded(1))
    store.add(seeded(2))
    at = select(page(HISTORY), 0)
    at.button(key="fs_hist_delete").click().run()
    assert "cannot be undone" in texts(at) and list_runs(store).total == 2
    at.button(key="fs_hist_delete_no").click().run()
    assert list_runs(store).total == 2
    at.button(key="fs_hist_delete").click().run()
    at.button(key="fs_hist_delete_yes").click().run()
    assert not at.exception, at.exception
    assert [r.input_preview for r in list_runs(store).rows] == ["note number 1"]
    assert "The run was deleted." in texts(at) and len(table(at)) == 1


def test_two_runs_side_by_side(server: ReplayServer, store: Store) -> None:
    store.add(seeded(1, result={**MEETING, "budget": "50,000", "date": "march 15TH,  2024"}))
    store.add(seeded(2, result={**MEETING, "deadline": "March 1st", "location": None}))
    at = select(page(HISTORY), 0, 1)
    frame = next(df.value for df in at.dataframe if "field" in df.value.columns)
    verdict = dict(zip(frame["field"], frame[""], strict=True))
    assert verdict["budget"] == "same" and verdict["date"] == "same"
    assert verdict["deadline"] == "different" and verdict["location"] == "only in B"
    assert verdict["users[1].twitter"] == "same"
    assert [h.value for h in at.subheader] == ["Two runs side by side"]


def test_open_in_extract_prefills_the_run(server: ReplayServer, store: Store) -> None:
    store.add(seeded(1, schema_name="Invoice", model="replay-model", mode="tools",
                     input_text="Invoice 42 from ACME"))
    at = select(page(HISTORY), 0)
    at.button(key="fs_hist_open").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="fs_text").value == "Invoice 42 from ACME"
    assert at.selectbox(key="fs_schema").value == "Invoice"
    assert at.selectbox(key="fs_provider").value == "Custom server"
    assert at.selectbox(key="fs_model").value == "replay-model"
    assert at.selectbox(key="fs_mode").value == "tools"


def test_open_in_extract_asks_for_a_text_not_kept(server: ReplayServer, store: Store) -> None:
    store.add(seeded(1, input_text=None))
    at = select(page(HISTORY), 0)
    assert "The input was not kept" in texts(at)
    at.button(key="fs_hist_open").click().run()
    assert at.text_area(key="fs_text").value == ""
    assert "paste the text again" in texts(at)


def test_exports_hold_the_filtered_runs(server: ReplayServer, store: Store) -> None:
    for i in range(4):
        store.add(seeded(i, status="done" if i % 2 else "error"))
    at = page(HISTORY)
    assert len(at.get("download_button")) == 2  # CSV and JSON Lines
    only_done = RunFilters(status="done")
    lines = stats.export_bytes(store, only_done, "jsonl").decode().splitlines()
    assert [json.loads(line)["input_text"] for line in lines] == ["note number 3",
                                                                 "note number 1"]
    csv_text = stats.export_bytes(store, only_done, "csv").decode()
    assert csv_text.count("\n") == 3 and "budget" in csv_text.splitlines()[0]


def test_import_reports_a_bad_line_and_imports_nothing(server: ReplayServer,
                                                       store: Store) -> None:
    good = json.dumps(seeded(1).to_dict())
    at = page(HISTORY)
    assert at.get("file_uploader")
    bad = f"{good}\n{{not json\n".encode()
    with pytest.raises(ImportFormatError, match="line 2"):
        import_bytes(store, bad)
    assert list_runs(store).total == 0
    script = AppTest.from_function(_import_script, args=(bad,), default_timeout=30).run()
    assert not script.exception, script.exception
    assert any("line 2" in e.value and "Nothing was imported" in e.value for e in script.error), [
        e.value for e in script.error]
    script = AppTest.from_function(_import_script, args=(f"{good}\n{good}\n".encode(),)).run()
    assert any("Imported 1 runs; skipped 1" in s.value for s in script.success)
    assert list_runs(store).total == 1
    script = AppTest.from_function(_import_script, args=(b"\xff\xfe",)).run()
    assert any("not UTF-8" in e.value.replace("\\", "") for e in script.error)


@pytest.mark.parametrize(("raw", "field"), [
    ({"result": "[" * 100_000 + "]" * 100_000}, "'result'"),
    ({"started_at": '"0001-01-01T00:00:00+01:00"'}, "'started_at'"),
    ({"not_found": str(2**70)}, "'not_found'"),
    ({"ttft_ms": "9" * 401}, "'ttft_ms'"),
    ({"timeline": '[[Infinity, "x"]]'}, "'timeline'"),
    ({"timeline": '[[1e300, "x"]]'}, "'timeline'"),
])
def test_a_hostile_line_is_named_on_the_page(server: ReplayServer, store: Store,
                                             raw: dict[str, str], field: str) -> None:
    from tests.engine.history.test_export import raw_line

    bad = f"{json.dumps(seeded(1).to_dict())}\n{raw_line(**raw)}\n".encode()
    script = AppTest.from_function(_import_script, args=(bad,), default_timeout=30).run()
    assert not script.exception, script.exception  # not a traceback
    (error,) = [e.value.replace("\\", "") for e in script.error]  # less the Markdown escapes
    assert error.startswith(f"Nothing was imported: line 2: {field}"), error
    assert list_runs(store).total == 0


def _import_script(data: bytes) -> None:
    from ui.context import history_store
    from ui.history_view import show_import

    show_import(history_store(), data)


def test_charts_per_day_and_per_model(server: ReplayServer, store: Store) -> None:
    for i in range(30):
        store.add(seeded(i, status="done" if i % 4 else "error"))
    per_day = stats.runs_per_day(store)
    assert sum(r["runs"] for r in per_day) == 30
    assert {r["day"] for r in per_day} == {"2025-01-01", "2025-01-02"}
    by_model = {r["model"]: r for r in stats.timings_by_model(store)}
    assert by_model["model-0"]["runs"] == 15 and by_model["model-0"]["total_s"] == 0.914
    at = page(HISTORY)
    assert not at.exception


def test_the_name_is_remembered_in_a_cookie(server: ReplayServer) -> None:
    at = page(EXTRACT)
    at.text_input(key="fs_who").input("Zoë <b>").run()
    frames = [e for e in at.get("iframe") if "document.cookie" in e.proto.srcdoc]
    assert len(frames) == 1
    script = frames[0].proto.srcdoc
    assert "fieldstream_who=" in script and "Zo%C3%AB%20%3Cb%3E" in script  # encoded, no tag
    at.run()  # written once, when the name changed
    assert not [e for e in at.get("iframe") if "document.cookie" in e.proto.srcdoc]
