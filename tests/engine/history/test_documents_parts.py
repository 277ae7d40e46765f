"""Documents and split runs in the history (#19), on SQLite and a real Postgres server
(tests/postgres.py): migration 0008 adds `runs.document` and `run_parts` and takes them away
again, rows surviving up, down and up; the recorder keeps a run's document (its metadata even
when inputs are not kept) and a split run's parts with its ending; deleting or purging a run
deletes its parts; an ending parked in the pending folder keeps its parts; JSON Lines carry
both and older files still import; a split run's parts replay with their recorded timing."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, inspect

from engine.documents.model import DocumentInfo
from engine.errors import ProviderError, Truncated
from engine.grounding import EXACT, Grounding, Span
from engine.history import delete_run, export_csv, export_jsonl, get_run, import_jsonl
from engine.history.importer import ImportFormatError, parse_line
from engine.history.recorder import Recorder
from engine.history.replay import part_factories
from engine.runs.hooks import PartEnd, RunEnd, RunStart, RunTimings
from engine.runs.spec import RunSpec
from engine.runs.status import RunStatus
from engine.schemas.library import MeetingInfo
from engine.store import PENDING, SAVED, Store, StoredRun
from engine.store import db as store_db
from engine.store.records import StoredPart
from engine.store.tables import runs
from tests.engine.history.test_run_groups import FIXTURES, downgrade
from tests.engine.store.test_pending import locked, pending_files
from tests.support import MEETING, chunks, isolate

pytest_plugins = ["tests.postgres"]

KEY = "sk-fieldstream-PARTS-5c1e9a7b3d2f"
TEXT = "Page one: John Doe meets.\n\nPage two: the budget is 50000.\n\nPage three: the end."
PAGE_STARTS = (0, TEXT.index("Page two"), TEXT.index("Page three"))
DOCUMENT = DocumentInfo(name="contract.pdf", type="pdf", size=48_213, sha256="ab" * 32,
                        pages=3, chars=len(TEXT), page_starts=PAGE_STARTS)
FIRST = {**MEETING, "budget": 1000}
SECOND = {**MEETING, "users": [], "location": "Hall B"}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    isolate(monkeypatch, tmp_path)  # the stores' pending folders in tmp_path
    yield


def answer_log(answer: dict[str, Any], step: float = 4.0) -> list[tuple[float, str]]:
    return [(step * (n + 1), piece) for n, piece in enumerate(chunks(json.dumps(answer), 9))]


def part_end(index: int, answer: dict[str, Any], *, offset: float, status: RunStatus,
             error: BaseException | None = None) -> PartEnd:
    start, end = (0, PAGE_STARTS[2]) if index == 0 else (PAGE_STARTS[1], len(TEXT))
    name = TEXT.index("John Doe")
    log = answer_log(answer)
    return PartEnd(
        index=index, kind="chunk", start=start, end=end, first_page=DOCUMENT.page_at(start),
        last_page=DOCUMENT.page_at(end - 1), status=status,
        result=answer if status == RunStatus.DONE else None,
        partial=None if status == RunStatus.DONE else answer, error=error,
        usage={"completion_tokens": 40 + index, "prompt_tokens": 300},
        timings=RunTimings(started_at=0.0, ended_at=0.0, total=0.5 + index, first_token=0.004,
                           first_done=0.02),
        offset=offset, chunks=tuple((int(ms), delta) for ms, delta in log),
        grounding={"users[0].name": Grounding(EXACT, (Span(name, name + 8),))},
    )  # fmt: skip


def split_end(run_id: str, spec: RunSpec, started: float) -> RunEnd:
    parts = (part_end(0, FIRST, offset=0.01, status=RunStatus.DONE),
             part_end(1, SECOND, offset=0.06, status=RunStatus.TRUNCATED,
                      error=Truncated(f"cut off, key {KEY}")))
    return RunEnd(run_id=run_id, spec=spec, status=RunStatus.DONE, result=MEETING,
                  partial=None, field_errors={}, error=None, usage=None, finish_reason=None,
                  timings=RunTimings(started_at=started, ended_at=started + 1.5, total=1.5),
                  chunks=(), parts=parts)


def spec(text: str = TEXT) -> RunSpec:
    return RunSpec(text=text, schema_name="MeetingInfo", schema=MeetingInfo,
                   provider="Custom server", base_url=None, model="m", mode="json_schema",
                   document=DOCUMENT)


def record_split(store: Store, run_id: str = "split-1") -> StoredRun:
    """A split run recorded through the recorder's hooks, as the Runner calls them."""
    recorder = Recorder(store, owns_store=False)
    started = time.time()
    recorder.on_start(RunStart(run_id, spec(), started))
    recorder.on_end(split_end(run_id, spec(), started))
    assert recorder.recording(run_id) == SAVED
    run = get_run(store, run_id)
    assert run is not None
    return run


def check_parts(run: StoredRun) -> None:
    assert run.document == DOCUMENT and run.timeline == []
    first, second = run.parts
    assert (first.idx, first.kind, first.span_start, first.span_end, first.first_page,
            first.last_page) == (0, "chunk", 0, PAGE_STARTS[2], 1, 2)
    assert (second.first_page, second.last_page, second.status) == (2, 3, "truncated")
    assert (first.status, first.error_type, first.error_message) == ("done", None, None)
    assert second.error_type == "Truncated" and "cut off" in (second.error_message or "")
    assert (first.offset_ms, second.offset_ms, first.ttft_ms, first.total_ms) == (
        10.0, 60.0, 4.0, 500.0)
    assert (first.tokens, second.tokens) == (40, 41) and first.usage["prompt_tokens"] == 300
    assert (first.answer, second.answer) == (FIRST, SECOND)
    assert first.groundings()["users[0].name"].spans[0].start == TEXT.index("John Doe")
    assert "".join(d for _, d in first.timeline) == json.dumps(FIRST)
    assert first.timeline[0] == (4.0, json.dumps(FIRST)[:9])


# --- migration 0008 -------------------------------------------------------------------------


def part_tables(engine: Engine) -> tuple[bool, bool]:
    found = inspect(engine)
    return ("document" in {c["name"] for c in found.get_columns("runs")},
            "run_parts" in found.get_table_names())


def test_migration_0008_adds_documents_and_parts_up_down_and_up(db_url: str) -> None:
    engine = store_db.connect(db_url)
    try:
        store_db.migrate(engine, "0007")
        assert part_tables(engine) == (False, False)
        old = sa.table("runs", sa.column("id"), sa.column("started_at", sa.DateTime(True)),
                       sa.column("status"), sa.column("schema_name"),
                       sa.column("schema_fingerprint"), sa.column("provider"),
                       sa.column("model"), sa.column("source"), sa.column("input_text"))
        with engine.begin() as conn:
            conn.execute(sa.insert(old), [{
                "id": "old", "started_at": datetime(2026, 11, 30, tzinfo=UTC), "status": "done",
                "schema_name": "MeetingInfo", "schema_fingerprint": "f", "provider": "p",
                "model": "m", "source": "page", "input_text": "an older run"}])
        store_db.migrate(engine)
        assert part_tables(engine) == (True, True)
        with Store(db_url) as store:
            before = get_run(store, "old")
            assert before is not None and before.document is None and before.parts == []
            check_parts(record_split(store))
        downgrade(engine, "0007")
        assert part_tables(engine) == (False, False)
        with engine.connect() as conn:  # both runs stay, the split one with its merge
            rows = dict(conn.execute(sa.text("SELECT id, status FROM runs")).all())
        assert rows == {"old": "done", "split-1": "done"}
        store_db.migrate(engine)
        with Store(db_url) as store:
            again = get_run(store, "split-1")
            assert again is not None and again.result == MEETING
            assert (again.document, again.parts) == (None, [])  # dropped by the downgrade
            check_parts(record_split(store, "split-2"))
    finally:
        engine.dispose()


# --- recording, deleting -----------------------------------------------------------------


def test_the_recorder_keeps_the_document_and_the_parts(store: Store) -> None:
    store.add_secret(KEY)
    run = record_split(store)
    check_parts(run)
    assert run.input_text == TEXT and run.result == MEETING
    assert KEY not in (run.parts[1].error_message or "")  # masked like the run's own data
    assert store.run_parts("split-1") == run.parts and store.run_parts("nothing") == []


def test_without_kept_inputs_the_document_metadata_stays_but_not_its_text(
    db_url: str, tmp_path: Path
) -> None:
    with Store(db_url, keep_input=False, data_dir=tmp_path) as store:
        run = record_split(store)
    assert run.input_text is None and run.document == DOCUMENT and len(run.parts) == 2


def test_a_pasted_texts_run_has_no_document(store: Store) -> None:
    recorder = Recorder(store, owns_store=False)
    pasted = RunSpec(text="a note", schema_name="MeetingInfo", schema=MeetingInfo,
                     provider="p", base_url=None, model="m", mode="json_schema")
    recorder.on_start(RunStart("pasted", pasted, time.time()))
    run = get_run(store, "pasted")
    assert run is not None and run.document is None and run.parts == []


def test_deleting_or_purging_a_run_deletes_its_parts(store: Store) -> None:
    record_split(store, "kept")
    record_split(store, "deleted")
    old = record_split(store, "old")
    with store.transaction() as conn:
        conn.execute(sa.update(runs).where(runs.c.id == "old")
                     .values(started_at=old.started_at - timedelta(days=40)))
    assert delete_run(store, "deleted")
    assert store.purge(30) == 1
    with store.reading() as conn:
        left = conn.execute(sa.text("SELECT DISTINCT run_id FROM run_parts")).scalars().all()
    assert left == ["kept"] and len(store.run_parts("kept")) == 2


def test_a_parked_ending_keeps_its_parts_until_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    url, data = f"sqlite:///{tmp_path / 'history.db'}", tmp_path / "data"
    with Store(url, data_dir=data, secrets={KEY}, pending_retry=(600.0,)) as store:
        recorder = Recorder(store, owns_store=False)
        started = time.time()
        recorder.on_start(RunStart("parked", spec(), started))
        end = split_end("parked", spec(), started)
        # The model echoed the key, split across two chunks of a part.
        leaky = replace(end.parts[0], chunks=((1, f"a {KEY[:8]}"), (2, KEY[8:])))
        with locked(tmp_path / "history.db"):
            recorder.on_end(replace(end, parts=(leaky, end.parts[1])))
            assert recorder.recording("parked") == PENDING
        [kept] = pending_files(data)
        held = json.loads(kept.read_text())["run"]
        assert [p["idx"] for p in held["parts"]] == [0, 1] and KEY not in kept.read_text()
        assert held["document"]["name"] == "contract.pdf"
        assert store.write_pending()
        run = get_run(store, "parked")
    assert run is not None and run.document == DOCUMENT and len(run.parts) == 2
    assert "".join(d for _, d in run.parts[0].timeline) == "a " + "*" * len(KEY)


# --- export and import --------------------------------------------------------------------


def test_json_lines_carry_the_document_and_the_parts(store: Store) -> None:
    run = record_split(store)
    out = io.StringIO()
    assert export_jsonl(store, out) == 1
    line = json.loads(out.getvalue())
    assert line["document"]["page_starts"] == list(PAGE_STARTS) and len(line["parts"]) == 2
    assert delete_run(store, run.id)
    assert import_jsonl(store, io.StringIO(out.getvalue())).imported == 1
    back = get_run(store, run.id)
    assert back is not None and back.to_dict() == run.to_dict()
    check_parts(back)
    assert import_jsonl(store, io.StringIO(out.getvalue())).skipped == 1  # parts not doubled
    assert len(store.run_parts(run.id)) == 2
    sheet = io.StringIO(newline="")
    export_csv(store, sheet)
    [row] = csv.DictReader(io.StringIO(sheet.getvalue()))
    assert row["document"] == "contract.pdf"  # a spreadsheet gets the file's name


def test_an_export_from_before_documents_imports_without_them(store: Store) -> None:
    lines = (FIXTURES / "runs-0006.jsonl").read_text().splitlines()
    assert all('"parts"' not in line and '"document"' not in line for line in lines)
    assert import_jsonl(store, lines).imported == 4
    for line in lines:
        run = get_run(store, json.loads(line)["id"])
        assert run is not None and (run.document, run.parts) == (None, [])


def sample(**changes: Any) -> str:
    run = StoredRun(id="x", schema_name="MeetingInfo", provider="p", model="m", status="done",
                    document=DOCUMENT, parts=[StoredPart(idx=0, answer=FIRST),
                                              StoredPart(idx=1, span_start=5, span_end=9)])
    data = run.to_dict()
    for path, value in changes.items():
        target, _, name = path.rpartition("__")
        holder = data
        for step in filter(None, target.split("__")):
            holder = holder[int(step)] if isinstance(holder, list) else holder[step]
        holder[name] = value
    return json.dumps(data)


@pytest.mark.parametrize(("changes", "said"), [
    ({"parts__1__idx": 0}, "'parts'[1]: 'idx' 0 is already a part of this run"),
    ({"parts__0__kind": "slice"}, "'parts'[0]: 'kind' must be one of chunk, pass"),
    ({"parts__0__status": "running"}, "'parts'[0]: 'status' must be one of"),
    ({"parts__1__span_start": 10}, "'parts'[1]: 'span_start' is after 'span_end'"),
    ({"parts__0__timeline": [[1, 2]]}, "'parts'[0]: 'timeline' must be a list"),
    ({"parts__0__tokens": 2**40}, "'parts'[0]: 'tokens' must be a count"),
    ({"parts__0__grounding": {"a": {"status": "exact", "spans": "x"}}}, "'grounding' of 'a'"),
    ({"parts__0__secret": 1}, "'parts'[0]: unknown field(s): secret"),
    ({"parts": {"0": {}}}, "'parts' must be a list"),
    ({"document__pages": "3"}, "'document' 'pages' must be a count"),
    ({"document__page_starts": [0, 50, 20]}, "'document' 'page_starts' must be offsets"),
    ({"document__bytes": "JVBERi0x"}, "'document' has unknown field(s): bytes"),
    ({"document": "contract.pdf"}, "'document' is not a JSON object"),
])  # fmt: skip
def test_a_bad_part_or_document_is_named(changes: dict[str, Any], said: str) -> None:
    with pytest.raises(ImportFormatError) as caught:
        parse_line(3, sample(**changes))
    assert caught.value.line == 3 and said in caught.value.reason


def test_a_bad_part_imports_nothing_of_the_file(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path) as store:
        good = sample()
        with pytest.raises(ImportFormatError, match="line 2: 'parts'"):
            import_jsonl(store, [good.replace('"x"', '"y"', 1), sample(parts__0__kind="?")])
        assert get_run(store, "y") is None and store.run_parts("y") == []
        assert import_jsonl(store, [good]).imported == 1 and len(store.run_parts("x")) == 2


# --- replaying a split run's parts ----------------------------------------------------------


def drain(factory: Any, cancel: threading.Event | None = None) -> list[Any]:
    return list(factory(cancel or threading.Event()))


def stored_split() -> StoredRun:
    first = StoredPart(idx=0, status="done", answer=FIRST, offset_ms=0.0,
                       timeline=answer_log(FIRST, 1.0))
    second = StoredPart(idx=1, status="truncated", error_type="Truncated",
                        error_message="cut off at the token limit", offset_ms=150.0,
                        answer=SECOND, timeline=answer_log(SECOND, 1.0)[:-1])
    failed = StoredPart(idx=2, status="error", error_type="APIConnectionError",
                        error_message="The server could not be reached.", offset_ms=0.0)
    return StoredRun(id="s", schema_name="MeetingInfo", provider="p", model="m",
                     status="done", result=MEETING, parts=[first, second, failed])


def test_each_parts_factory_yields_that_parts_answer_with_its_ending() -> None:
    run = stored_split()
    (first, f1), (second, f2), (failed, f3) = part_factories(run, run.parts, speed=50.0)
    assert (first, second, failed) == tuple(run.parts)
    done = drain(f1)[-1]
    assert done.error is None and done.final.model_dump(mode="json") == FIRST
    cut = drain(f2)[-1]
    assert isinstance(cut.error, Truncated) and str(cut.error) == "cut off at the token limit"
    assert cut.partial is not None
    kept = cut.partial.model_dump(mode="json", exclude_none=True)
    assert kept["users"] == [] and kept["location"] == SECOND["location"]
    with pytest.raises(ProviderError, match="could not be reached"):
        drain(f3)


def test_parts_replay_at_their_recorded_offsets_on_one_clock() -> None:
    run = stored_split()
    (_, f1), (_, f2) = part_factories(run, run.parts[:2], speed=1.0)
    begun = time.perf_counter()
    first_of = {}
    threads = [threading.Thread(target=lambda f=f, n=n: first_of.setdefault(
        n, (next(iter(f(threading.Event()))), time.perf_counter() - begun)))
        for n, f in ((1, f1), (2, f2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert first_of[1][1] < 0.1 and 0.15 <= first_of[2][1] < 0.6  # part 2: 150 ms later
    cancel = threading.Event()
    cancel.set()
    (_, late), *_ = part_factories(run, run.parts[1:2])
    assert drain(late, cancel) == []  # Stop while it waits for its turn: nothing, at once


def test_a_replay_needs_a_schema_it_can_find_and_a_positive_speed() -> None:
    run = stored_split()
    with pytest.raises(ValueError, match="speed"):
        part_factories(run, run.parts, speed=0)
    run.schema_name = "NoSuchSchema"
    with pytest.raises(ValueError, match="neither in the library nor saved"):
        part_factories(run, run.parts)
