"""Shared test data: the recorded OpenAI streams and the schemas of the requests that made them
(tests/fixtures/openai-sse/README.md), a MeetingInfo answer, a client helper, and helpers for
concurrent writers (`all_at_once`, `racing`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from openai import OpenAI
from pydantic import BaseModel
from sqlalchemy import event

from engine.testing.replay_server import ReplayServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "openai-sse"


class Location(BaseModel):
    city: str
    temperature: float
    units: Literal["c", "f"]


class GetWeatherArgs(BaseModel):
    """Get the temperature for the given country/city combo"""

    city: str
    country: str
    units: Literal["c", "f"] = "c"


class GetStockPrice(BaseModel):
    ticker: str
    exchange: str


#: A MeetingInfo answer (the seed's meeting, two people).
MEETING = {
    "users": [
        {"name": "John Doe", "email": "johndoe@email.com", "twitter": "@TechGuru44"},
        {"name": "Jane Smith", "email": "janesmith@email.com", "twitter": "@DigitalDiva88"},
    ],
    "date": "March 15th, 2024",
    "location": "Grand Tech Arena, 4521 Innovation Drive",
    "budget": 50000,
    "deadline": "February 20th",
}


def openai_client(srv: ReplayServer, key: str = "test-key") -> OpenAI:
    """The real openai client, pointed at a local ReplayServer, no retries."""
    return OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)


#: Variables that would point a test at a real provider; `isolate` clears them.
PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FIELDSTREAM_BASE_URL", "FIELDSTREAM_MODEL",
                "FIELDSTREAM_API_KEY", "FIELDSTREAM_DEFAULT_PROVIDER", "FIELDSTREAM_READ_TIMEOUT")


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, home: bool = False) -> None:
    """No provider from the environment, a data folder of the test's own, no probing of the
    usual local ports; `home`: HOME and the working folder in tmp_path too (no secrets files)."""
    from engine.providers import detect

    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path / "data"))
    if home:
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(detect, "LOCAL_SERVER_PORTS", {})


#: The history's own switches, unset so a test gets the defaults (history on, inputs kept).
HISTORY_ENV = ("FIELDSTREAM_HISTORY", "FIELDSTREAM_KEEP_INPUT", "FIELDSTREAM_DATABASE_URL")


@contextlib.contextmanager
def app_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
               key: str) -> Iterator[ReplayServer]:  # fmt: skip
    """A replay server as the app's preselected "Custom server" (with `key`), the history on
    in a data folder of the test's own, no project secrets.toml; the app's recorder and
    cached store are dropped afterwards."""
    from engine.history import recorder
    from tests.ui_support import custom_server_env

    with ReplayServer() as srv:
        isolate(monkeypatch, tmp_path)
        for name, value in custom_server_env(srv.base_url, key=key).items():
            monkeypatch.setenv(name, value)
        for name in HISTORY_ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.chdir(tmp_path)
        try:
            yield srv
        finally:
            stop_app_queue()
            recorder.uninstall()
            from ui import context

            context._store.clear()


def stop_app_queue() -> None:
    """Leave the batch queue the app's pages launched in this process (one per process) and
    forget it, so the next test's app launches its own."""
    from engine.batch import queue
    from ui import context

    queue.shutdown(hand_back=False)
    context._batch_queue.clear()
    context._resumed.clear()


def chunks(text: str, size: int = 6) -> list[str]:
    """`text` cut into pieces of `size` characters."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def app_page(script: str, timeout: float = 30) -> Any:
    """An AppTest started from app.py, as a user starts, then switched to `script`."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"),
                           default_timeout=timeout)
    at.run()
    at.switch_page(script).run()
    assert not at.exception, at.exception
    return at


def page_texts(at: Any) -> str:
    """Everything an AppTest page shows as text (markdown, text, captions, alerts, code)."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.text]
    parts += [e.value for e in at.caption] + [e.value for e in at.code]
    parts += [e.value for kind in (at.success, at.error, at.warning, at.info) for e in kind]
    return "\n".join(str(p) for p in parts).replace("\\", "")


# --- concurrent writers ------------------------------------------------------------------


@contextlib.contextmanager
def racing(store: Any, table: str, parties: int) -> Iterator[None]:
    """Hold each saving thread's first INSERT INTO `table` until every one of them has got
    that far (so all have looked the name up and found nothing): the race, every time. On
    Postgres only: SQLite takes the write lock at BEGIN, so there the others cannot get that
    far while one waits (which is why SQLite never split a name)."""
    if store.dialect != "postgresql":
        yield
        return
    barrier, held = threading.Barrier(parties, timeout=20), threading.local()

    def hold(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(f"INSERT INTO {table} ") and not getattr(held, "done", False):
            held.done = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

    event.listen(store.engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        event.remove(store.engine, "before_cursor_execute", hold)


def all_at_once(saves: list[Callable[[], object]]) -> list[object]:
    """Run the saves in threads released together; any error is raised here."""
    start, results, errors = threading.Barrier(len(saves)), [], []

    def run(save: Callable[[], object]) -> None:
        start.wait()
        try:
            results.append(save())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(save,)) for save in saves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


#: Names an older version saved before control and invisible characters were refused: a
#: terminal title (OSC), a colour, a bell, a forged `list` line; a zero-width space and a
#: right-to-left override in field names that look like others.
OLD_SCHEMA_NAME = "Evil\x1b]0;owned\x07\x1b[31m\nInvoice\tlibrary"
OLD_FIELD_NAMES = ("Total", "Total\u200b", "\u202eeman")


def save_unchecked(store: Any, defn: Any, author: str | None = None) -> Any:
    """Save `defn` without today's checks, as a version saved under older rules is stored."""
    from engine.schemas import saved

    return saved.save_versioned(store, lambda conn: saved._save(conn, defn, author))


def old_definition() -> Any:
    from engine.schemas.definition import FieldDef, SchemaDefinition

    return SchemaDefinition(name=OLD_SCHEMA_NAME, description="Line one\nline two \x1b[2J",
                            fields=[FieldDef(name=n) for n in OLD_FIELD_NAMES])
