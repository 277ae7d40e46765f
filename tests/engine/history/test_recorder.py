"""The recorder keeps nothing the import would refuse, on SQLite and Postgres: a run recorded
live, whatever its server sent, never breaks the history's export or its import."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engine.history import export_csv, export_jsonl, get_run, import_jsonl
from engine.history.recorder import Recorder
from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.store import Store
from engine.stream.json_stream import MAX_DEPTH
from engine.testing.replay_server import ReplayServer, Reply
from tests.engine.history.test_importer import nested
from tests.engine.runs.test_hooks import custom
from tests.support import isolate

pytest_plugins = ["tests.postgres"]

pytestmark = pytest.mark.timeout(120)


class Anything(BaseModel):
    data: Any = None


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


def record(store: Store, reply: Reply) -> str:
    recorder = Recorder(store).register()
    try:
        with ReplayServer() as srv:
            srv.queue(reply)
            prov = custom(srv)
            runner = start_run(RunSpec.for_provider("a note", "Anything", Anything, prov, "m",
                                                    "json_schema"), prov)
            assert runner.wait(20)
    finally:
        recorder.unregister()
    return runner.run_id


def exports_and_imports_again(store: Store) -> None:
    export_csv(store, io.StringIO(newline=""))
    out = io.StringIO()
    count = export_jsonl(store, out)
    with store.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM runs")
    assert import_jsonl(store, io.StringIO(out.getvalue())).imported == count == 1


@pytest.mark.parametrize("usage", [{"deep": nested(900)}, {"n": 1e400}],
                         ids=["nested-900", "infinite"])
def test_a_servers_usage_the_import_would_refuse_is_not_recorded(
    store: Store, usage: dict[str, Any]
) -> None:
    reply = Reply.content(['{"data": ', json.dumps(nested(40)), "}"])
    reply.events[-1]["usage"].update(usage)  # the server's own report, parsed by its client
    run = get_run(store, record(store, reply))
    assert run is not None and run.status == "done" and run.result == {"data": nested(40)}
    assert run.usage is None  # the rest of the run is kept
    exports_and_imports_again(store)


def test_a_result_deeper_than_the_parser_takes_leaves_an_exportable_partial(
    store: Store,
) -> None:
    too_deep = MAX_DEPTH + 100
    run = get_run(store, record(store, Reply.content(
        ['{"data": ', "[" * too_deep, "]" * too_deep, "}"])))
    assert run is not None and run.status == "invalid"
    exports_and_imports_again(store)


def test_a_store_handed_to_install_is_written_through_and_left_open() -> None:
    """The app hands the recorder the store its pages read: one Store, which the recorder's
    uninstall leaves open (the app still holds it)."""
    from engine.history import recorder
    from engine.store import load_settings

    settings = load_settings()
    with Store.from_settings(settings).open() as store:
        try:
            installed = recorder.install(settings, store=store)
            assert installed is not None and installed.store is store
            assert recorder.install(settings, store=store) is installed  # kept while it holds
            with ReplayServer() as srv:
                srv.queue(Reply.content(['{"data": 1}']))
                prov = custom(srv)
                runner = start_run(RunSpec.for_provider("a note", "Anything", Anything, prov, "m",
                                                        "json_schema"), prov)
                assert runner.wait(20)
            assert get_run(store, runner.run_id) is not None
        finally:
            recorder.uninstall()
        assert store._engine is not None  # not closed by the recorder
