"""A history database that cannot be used (engine/store/db.py), on SQLite and a real Postgres
(tests/postgres.py): written by a newer Fieldstream, not a database file, a wrong password, a
server that is down. Each is one `StoreUnavailable` with a plain message that shows no
password, raised when the store opens; the recorder then lets runs go on unrecorded."""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from engine import cli
from engine.history import list_runs
from engine.schemas.library import MEETING_NOTE
from engine.store import Store, StoreUnavailable
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING

if TYPE_CHECKING:  # imported for real by pytest_plugins
    from tests.postgres import PostgresCluster

pytest_plugins = ["tests.postgres"]

WRONG = "wrong-Passw0rd-SECRET"


def failure(url: str) -> StoreUnavailable:
    """What using a store on `url` raises (through a query, as a page would use it)."""
    store = Store(url)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            list_runs(store)
    finally:
        store.close()
    shown = "".join(traceback.format_exception(raised.value))
    assert "sqlalche.me" not in shown, shown  # no driver error chained on (it may hold the URL)
    return raised.value


def stamp(url: str, revision: str) -> None:
    with Store(url) as store, store.transaction() as conn:
        conn.exec_driver_sql(f"UPDATE fieldstream_alembic_version SET version_num = '{revision}'")


def test_a_newer_fieldstreams_database_says_so(db_url: str) -> None:
    stamp(db_url, "0099_future")
    error = failure(db_url)
    assert str(error).startswith(
        "This history was written by a newer Fieldstream (0099_future)"), str(error)
    assert Store(db_url).location in str(error)


def test_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    error = failure(f"sqlite:///{path}")
    assert str(error) == (f"The history file {path} is not a database file (or it is damaged): "
                          "move it aside, or point FIELDSTREAM_DATA_DIR at another folder.")
    path.unlink()  # moved aside: the same store works on its next use
    with Store(f"sqlite:///{path}") as store:
        assert list_runs(store).total == 0


@pytest.mark.parametrize("spelling", ["userinfo", "query", "raw @"])
def test_a_wrong_password_says_the_server_turned_us_away(
    pg_cluster: PostgresCluster, pg_password_role: tuple[str, str], spelling: str
) -> None:
    user, _ = pg_password_role
    where = f"127.0.0.1:{pg_cluster.port}"
    url = {"userinfo": f"postgresql://{user}:{WRONG}@{where}/postgres",
           "query": f"postgresql://{user}@{where}/postgres?password={WRONG}",
           "raw @": f"postgresql://{user}:p@ss{WRONG}@{where}/postgres"}[spelling]
    error = failure(url)
    assert str(error) == (f"Could not reach the history database at {where}: password "
                          f'authentication failed for user "{user}"')


def test_the_right_password_in_the_query_opens_the_store(
    pg_cluster: PostgresCluster, pg_password_role: tuple[str, str]
) -> None:
    user, password = pg_password_role
    pg_cluster.admin(f'CREATE DATABASE fs_owned_{user} OWNER "{user}"')
    url = f"postgresql://{user}@127.0.0.1:{pg_cluster.port}/fs_owned_{user}?password={password}"
    with Store(url) as store:
        assert list_runs(store).total == 0
        assert password not in repr(store) and store.location.endswith(f"/fs_owned_{user}")


def test_a_server_that_is_down_says_so() -> None:
    from tests.postgres import free_port

    where = f"127.0.0.1:{free_port()}"  # nobody listens there
    error = failure(f"postgresql://fs:{WRONG}@{where}/fieldstream")
    assert str(error) == f"Could not reach the history database at {where}: Connection refused"


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, "sk-fieldstream-RECOGNISABLE-0b7e") as srv:
        yield srv


def test_runs_go_on_unrecorded_with_one_plain_warning(
    app_env: ReplayServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.postgres import free_port

    url = f"postgresql://fs:{WRONG}@127.0.0.1:{free_port()}/fieldstream"
    monkeypatch.setenv("FIELDSTREAM_DATABASE_URL", url)
    app_env.queue(Reply.content(support.chunks(json.dumps(MEETING))))
    out = io.StringIO()
    with caplog.at_level(logging.WARNING):
        code = cli.main(["extract", "--schema", "MeetingInfo", "--provider", "custom"],
                        stdin=io.StringIO(MEETING_NOTE), stdout=out, stderr=io.StringIO())
    assert code == cli.EXIT_OK and "John Doe" in out.getvalue()
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert records and all(r.exc_info is None for r in records), [r.exc_info for r in records]
    assert "Could not reach the history database at 127.0.0.1:" in records[-1].getMessage()
    assert WRONG not in caplog.text
