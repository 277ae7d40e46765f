"""Searching the history by a document's file name (#19), on SQLite and a real Postgres server
(tests/postgres.py): migration 0009 adds `runs.document_name`, fills it in from the stored
documents and indexes it, and takes it away again; the store writes it wherever it writes the
document (a run's start, its ending, an ending written without its start, an import), masked
like the document; search finds a run by a word of the name, by a term shorter than a trigram
(scanned) and by a non-ASCII one, newest-first paging included, and never a pasted run."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, inspect

from engine.documents.model import DocumentInfo
from engine.history import RunFilters, export_jsonl, get_run, import_jsonl, list_runs
from engine.history.recorder import Recorder
from engine.runs.hooks import RunStart
from engine.runs.spec import RunSpec
from engine.schemas.library import MeetingInfo
from engine.store import Store, StoredRun
from engine.store import db as store_db
from engine.store.tables import runs
from engine.store.textsafe import SafeJSON
from tests.engine.history.test_run_groups import downgrade
from tests.support import isolate

pytest_plugins = ["tests.postgres"]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TEXT = "Page one: John Doe meets.\n\nPage two: the budget is 50000."
KEY = "sk-fieldstream-NAME-7a1c3e5b9d"


def document(name: str) -> DocumentInfo:
    return DocumentInfo(name=name, type="pdf", size=1_000, sha256="cd" * 32, pages=2,
                        chars=len(TEXT))


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)  # the stores' pending folders in tmp_path


def found(store: Store, term: str) -> list[str]:
    rows, total = list_runs(store, RunFilters(search=term), limit=100)
    assert total == len(rows)
    return [row.id for row in rows]


def names(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, document_name FROM runs")).all())


# --- migration 0009 ----------------------------------------------------------------------


def has_name_column(engine: Engine) -> bool:
    return "document_name" in {c["name"] for c in inspect(engine).get_columns("runs")}


def search_index(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return set(conn.execute(sa.text(
                "SELECT name FROM sqlite_master WHERE name LIKE 'runs_document_name_fts%'"
                " AND type IN ('table', 'trigger')")).scalars())
    return {i["name"] for i in inspect(engine).get_indexes("runs")} & {
        "ix_runs_document_name_trgm"}


def test_migration_0009_fills_in_indexes_and_removes_the_name(db_url: str) -> None:
    engine = store_db.connect(db_url)
    try:
        store_db.migrate(engine, "0008")
        assert not has_name_column(engine) and search_index(engine) == set()
        old = sa.table("runs", sa.column("id"), sa.column("started_at", sa.DateTime(True)),
                       sa.column("status"), sa.column("schema_name"),
                       sa.column("schema_fingerprint"), sa.column("provider"),
                       sa.column("model"), sa.column("source"), sa.column("input_text"),
                       sa.column("document", SafeJSON()))
        base = {"started_at": T0, "status": "done", "schema_name": "MeetingInfo",
                "schema_fingerprint": "f", "provider": "p", "model": "m", "source": "page",
                "input_text": "an older run"}
        with engine.begin() as conn:
            conn.execute(sa.insert(old), [
                {**base, "id": "doc", "document": document("Contract-Q3.pdf").to_json()},
                {**base, "id": "odd", "document": document("Straße\ue000\udc80.pdf").to_json()},
                {**base, "id": "pasted", "document": None},
                {**base, "id": "no-name", "document": {"type": "pdf"}},
                {**base, "id": "list", "document": ["Contract-Q3.pdf"]},
            ])
            # A row edited by hand into text that is no JSON: the upgrade must not fail on it.
            conn.execute(sa.text("INSERT INTO runs (id, started_at, status, schema_name, "
                                 "schema_fingerprint, provider, model, source, document) "
                                 "VALUES ('broken', :t, 'done', 'S', 'f', 'p', 'm', 'page', "
                                 "'{\"name\": \"contract')"), {"t": T0})
        store_db.migrate(engine)
        assert has_name_column(engine) and search_index(engine)
        assert names(engine) == {"doc": "Contract-Q3.pdf", "odd": "Straße\ue000e\ue000sdc80.pdf",
                                 "pasted": None, "no-name": None, "list": None, "broken": None}
        with Store(db_url) as store:
            assert found(store, "contract") == ["doc"]  # indexed by the upgrade
            assert found(store, "Q3") == ["doc"]  # shorter than a trigram: scanned
            assert found(store, "STRAßE") == ["odd"]
            got = get_run(store, "odd")
            assert got is not None and got.document is not None
            assert got.document.name == "Straße\ue000\udc80.pdf"
        downgrade(engine, "0008")
        assert not has_name_column(engine) and search_index(engine) == set()
        with engine.connect() as conn:  # the document itself stays
            kept = conn.execute(sa.text("SELECT document FROM runs WHERE id = 'doc'")).scalar()
        assert json.loads(kept)["name"] == "Contract-Q3.pdf"
        store_db.migrate(engine)
        with Store(db_url) as store:
            assert found(store, "contract") == ["doc"]
            assert found(store, "ontract-q") == ["doc"]
    finally:
        engine.dispose()


# --- the store writes it; search finds it ---------------------------------------------------


def spec(text: str, doc: DocumentInfo | None) -> RunSpec:
    return RunSpec(text=text, schema_name="MeetingInfo", schema=MeetingInfo,
                   provider="Custom server", base_url=None, model="m", mode="json_schema",
                   document=doc)


def test_a_run_is_found_by_its_documents_name_from_its_start(store: Store) -> None:
    recorder = Recorder(store, owns_store=False)
    recorder.on_start(RunStart("by-file", spec(TEXT, document("contract-Q3 Müller.pdf")),
                               time.time()))
    recorder.on_start(RunStart("pasted", spec("a pasted note on the budget", None),
                               time.time()))
    assert found(store, "contract") == ["by-file"]  # the row written at the start
    assert found(store, "CONTRACT-q3") == ["by-file"]
    assert found(store, "q3") == ["by-file"]  # 2 characters: LIKE / ILIKE
    assert found(store, "MÜLLER") == ["by-file"]  # non-ASCII: FTS on SQLite
    assert found(store, ".pdf") == ["by-file"]
    assert set(found(store, "budget")) == {"by-file", "pasted"}  # the input still is searched
    assert found(store, "note") == ["pasted"]


def test_newest_first_paging_checks_the_name_too(store: Store) -> None:
    for i in range(6):
        doc = document(f"contract-{i}.pdf") if i % 2 else None
        store.add(StoredRun(id=f"r{i}", schema_name="MeetingInfo", provider="p", model="m",
                            status="done", started_at=T0 + timedelta(hours=i),
                            input_text=f"minutes {i}", document=doc))
    want = ["r5", "r3", "r1"]
    for term in ("contract", "Contract-", "ct", "CONT"):
        assert found(store, term) == want
        # Above the count cap the page is read newest first, row by row (row_matches).
        rows, total = list_runs(store, RunFilters(search=term), limit=2, count_cap=1)
        assert [r.id for r in rows] == want[:2] and total >= 1
    assert found(store, "contract-3") == ["r3"]


def test_an_ending_without_its_start_and_an_import_carry_the_name(store: Store) -> None:
    late = StoredRun(id="late", schema_name="MeetingInfo", provider="p", model="m",
                     status="done", input_text="x", document=document("invoice-77.pdf"))
    assert store.finish(late) == "saved"  # no start row: the ending writes the whole row
    assert found(store, "invoice") == ["late"]
    out = io.StringIO()
    assert export_jsonl(store, out) == 1
    line = json.loads(out.getvalue())
    assert "document_name" not in line  # the export has the document; the name is in it
    with store.transaction() as conn:
        conn.execute(sa.delete(runs))
    assert found(store, "invoice") == []  # the delete trigger took it out of the index
    assert import_jsonl(store, io.StringIO(out.getvalue())).imported == 1
    assert found(store, "invoice") == ["late"] and found(store, "77") == ["late"]
    moved = replace(late, id="other", document=document("receipt.pdf"))
    store.add(moved)
    with store.transaction() as conn:  # a name changed in place is re-indexed (the au trigger)
        conn.execute(sa.update(runs).where(runs.c.id == "other")
                     .values(document_name="renamed.pdf"))
    assert found(store, "receipt") == [] and found(store, "renamed") == ["other"]


def test_the_name_is_masked_like_the_document(db_url: str, tmp_path: Path) -> None:
    with Store(db_url, secrets={KEY}, data_dir=tmp_path) as store:
        store.add(StoredRun(id="leaky", schema_name="MeetingInfo", provider="p", model="m",
                            status="done", document=document(f"notes {KEY}.txt")))
        assert found(store, KEY) == [] and found(store, "notes") == ["leaky"]
        with store.reading() as conn:
            name = conn.execute(sa.select(runs.c.document_name)).scalar()
    assert name == "notes " + "*" * len(KEY) + ".txt"
