"""Grounding stored with each run, on SQLite and Postgres: the migration (older runs keep
NULL), the recorder writes what the run grounded, the History filter for runs with values not
in the text, and the JSON Lines export and import (old lines without grounding still import)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import bindparam, inspect, text

from engine.grounding import EXACT, NOT_FOUND, Grounding, Span
from engine.history import RunFilters, export_csv, export_jsonl, get_run, list_runs
from engine.history.importer import ImportFormatError, import_jsonl
from engine.history.recorder import Recorder
from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.schemas.library import MeetingInfo
from engine.store import Store, StoredRun
from engine.store import db as store_db
from engine.store.records import utcnow
from engine.store.textsafe import UTCDateTime
from engine.testing.replay_server import ReplayServer, Reply
from tests.engine.runs.test_hooks import custom
from tests.engine.runs.test_runner_grounding import ANSWER, NOTE
from tests.engine.store.test_store import FIRST_REVISION_ROW, sample_run
from tests.support import chunks, isolate

pytest_plugins = ["tests.postgres"]

pytestmark = pytest.mark.timeout(120)

FOUND = Grounding(EXACT, (Span(4, 9), Span(20, 25))).to_json()
MISSING = Grounding(NOT_FOUND).to_json()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


def grounded_run(run_id: str, missing: int, **overrides: object) -> StoredRun:
    grounding = {"topic": FOUND, **{f"attendees[{i}]": MISSING for i in range(missing)}}
    return sample_run(id=run_id, grounding=grounding, **overrides)


def test_older_runs_keep_null_and_new_ones_store_their_grounding(db_url: str) -> None:
    engine = store_db.connect(db_url)
    store_db.migrate(engine, "0003")
    with engine.begin() as conn:
        started = bindparam("started", utcnow() - timedelta(hours=1), type_=UTCDateTime())
        conn.execute(text(FIRST_REVISION_ROW).bindparams(started))
    engine.dispose()
    with Store(db_url) as upgraded:
        old = get_run(upgraded, "old-run")
        assert old is not None and (old.grounding, old.not_found) == (None, None)
        assert old.groundings() == {}
        upgraded.add(grounded_run("new-run", 1))
        new = get_run(upgraded, "new-run")
        assert new is not None and new.not_found == 1
        assert new.groundings() == {"topic": Grounding.from_json(FOUND),
                                    "attendees[0]": Grounding(NOT_FOUND)}
        [summary_new, summary_old] = list_runs(upgraded).rows
        assert (summary_new.not_found, summary_old.not_found) == (1, None)
    engine = store_db.connect(db_url)
    with engine.begin() as conn:  # and back down again
        cfg = store_db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    columns = {c["name"] for c in inspect(engine).get_columns("runs")}
    assert not {"grounding", "not_found"} & columns and "timeline" in columns
    engine.dispose()


def test_the_recorder_stores_what_the_run_grounded(store: Store) -> None:
    recorder = Recorder(store).register()
    try:
        with ReplayServer() as srv:
            srv.queue(Reply.content(chunks(json.dumps(ANSWER), 9)))
            prov = custom(srv)
            runner = start_run(RunSpec.for_provider(NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                                    "json_schema"), prov)
            assert runner.wait(10)
    finally:
        recorder.unregister()
    stored = get_run(store, runner.run_id)
    assert stored is not None and stored.status == "done"
    assert stored.groundings() == runner.grounding and len(stored.groundings()) == 10
    assert stored.not_found == 1 and stored.grounding is not None
    assert stored.grounding["users[1].email"] == {"status": NOT_FOUND, "spans": []}
    assert list_runs(store, RunFilters(not_found=True)).rows[0].id == runner.run_id


def test_the_filter_finds_runs_with_values_not_in_the_text(store: Store) -> None:
    store.add(sample_run(id="before-grounding"))  # recorded before: not_found NULL
    store.add(grounded_run("all-found", 0))
    store.add(grounded_run("one-missing", 1))
    store.add(grounded_run("two-missing", 2, schema_name="Invoice"))

    def found(**filters: object) -> set[str]:
        return {row.id for row in list_runs(store, RunFilters(**filters)).rows}  # type: ignore[arg-type]

    assert found(not_found=True) == {"one-missing", "two-missing"}
    assert found(not_found=False) == {"before-grounding", "all-found"}
    assert found(not_found=None) == found()
    assert found(not_found=True, schema="Invoice") == {"two-missing"}
    assert list_runs(store, RunFilters(not_found=True))[1] == 2  # the count agrees


def test_the_export_carries_grounding_and_the_import_reads_it_back(
    store: Store, tmp_path: Path
) -> None:
    store.add(grounded_run("g-run", 1))
    store.add(sample_run(id="plain-run"))
    out = io.StringIO()
    assert export_jsonl(store, out) == 2
    lines = out.getvalue().splitlines()
    by_id = {json.loads(line)["id"]: json.loads(line) for line in lines}
    assert by_id["g-run"]["grounding"]["attendees[0]"] == MISSING
    assert by_id["g-run"]["not_found"] == 1 and by_id["plain-run"]["not_found"] is None
    table = io.StringIO()
    export_csv(store, table, RunFilters(not_found=True))
    [header, row] = list(csv.reader(io.StringIO(table.getvalue())))
    assert row[header.index("not_found")] == "1" and row[header.index("id")] == "g-run"

    with Store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        old_line = dict(by_id["plain-run"], id="old-line")
        del old_line["grounding"], old_line["not_found"]  # a line exported before grounding
        no_count = dict(by_id["g-run"], id="no-count")
        del no_count["not_found"]  # the count follows from the grounding
        result = import_jsonl(other, [*lines, json.dumps(old_line), json.dumps(no_count)])
        assert (result.imported, result.skipped) == (4, 0)
        back = get_run(other, "g-run")
        assert back is not None and back.groundings() == get_run(store, "g-run").groundings()
        assert get_run(other, "no-count").not_found == 1
        assert get_run(other, "old-line").grounding is None


def test_a_bad_grounding_line_names_its_line_and_imports_nothing(store: Store) -> None:
    good = json.dumps(grounded_run("fine", 0).to_dict())
    bad = grounded_run("bad", 0).to_dict()
    bad["grounding"] = {"topic": {"spans": [[1, 2]]}}  # no status
    with pytest.raises(ImportFormatError, match="line 2: 'grounding' of 'topic'"):
        import_jsonl(store, [good, json.dumps(bad)])
    assert list_runs(store)[1] == 0
