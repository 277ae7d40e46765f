"""The pages (AppTest) and the history database: History shows where it is but never a password,
and a database that cannot be used (a newer Fieldstream's, not a database file, a wrong
password, a server that is down; SQLite and a real Postgres from tests/postgres.py) is one
plain message on every page that needs it, while Schemas, Compare and Extract go on without
it. Runs go to a local ReplayServer (127.0.0.1)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from streamlit.testing.v1 import AppTest

from engine.store import Store, load_settings
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING

if TYPE_CHECKING:  # imported for real by pytest_plugins
    from tests.postgres import PostgresCluster

pytest_plugins = ["tests.postgres"]

EXTRACT, HISTORY = "pages/1_Extract.py", "pages/2_History.py"
SCHEMAS, COMPARE = "pages/3_Schemas.py", "pages/4_Compare.py"
SECRET = "hunter2-SECRET"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, "sk-fieldstream-RECOGNISABLE-31aa") as srv:
        yield srv


def shown(at: AppTest) -> str:
    assert not at.exception, at.exception
    return support.page_texts(at)


# --- where the database is ---------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["query", "raw @"])
def test_history_shows_where_the_database_is_but_never_its_password(
    server: ReplayServer, pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch,
    spelling: str,
) -> None:  # fmt: skip
    name = f"fs_{uuid.uuid4().hex[:12]}"
    pg_cluster.create_database(name)  # the cluster trusts the role: any password will do
    where = f"127.0.0.1:{pg_cluster.port}"
    url = {"query": f"postgresql://postgres@{where}/{name}?password={SECRET}"
                    f"&passfile=/home/fs/{SECRET}&application_name={SECRET}",
           "raw @": f"postgresql://postgres:p@ss{SECRET}@{where}/{name}"}[spelling]
    monkeypatch.setenv("FIELDSTREAM_DATABASE_URL", url)
    at = support.app_page(HISTORY)
    caption = next(c.value for c in at.caption if c.value.startswith("Database"))
    assert f"` postgresql://postgres@{where}/{name} `" in caption  # as a code span
    assert SECRET not in shown(at)


# --- a database that cannot be used --------------------------------------------------------------


@pytest.fixture(params=["newer", "not a database",
                        pytest.param("wrong password", marks=pytest.mark.postgres),
                        "server down"])
def unusable(request: pytest.FixtureRequest, server: ReplayServer,
             monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the app's history database unusable in one way; the message every page shows."""
    url = load_settings().url  # the SQLite file in the test's data folder
    path = Path(url.removeprefix("sqlite:///"))
    if request.param == "newer":
        with Store(url) as store, store.transaction() as conn:
            conn.exec_driver_sql("UPDATE fieldstream_alembic_version SET version_num = "
                                 "'0099_future'")
        return "This history was written by a newer Fieldstream (0099_future)"
    if request.param == "not a database":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"a spreadsheet, saved under the wrong name\n" * 100)
        return f"The history file {path} is not a database file"
    if request.param == "wrong password":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        user, _ = request.getfixturevalue("pg_password_role")
        where = f"127.0.0.1:{cluster.port}"
        monkeypatch.setenv("FIELDSTREAM_DATABASE_URL",
                           f"postgresql://{user}@{where}/postgres?password={SECRET}")
        return (f"Could not reach the history database at {where}: password authentication "
                f'failed for user "{user}"')
    from tests.postgres import free_port

    where = f"127.0.0.1:{free_port()}"  # nobody listens there
    monkeypatch.setenv("FIELDSTREAM_DATABASE_URL", f"postgresql://fs:{SECRET}@{where}/fs")
    return f"Could not reach the history database at {where}: Connection refused"


def test_every_page_says_why_and_those_that_can_work_without_it_do(
    server: ReplayServer, unusable: str
) -> None:
    at = support.app_page(HISTORY)
    assert unusable in "\n".join(e.value for e in at.error).replace("\\", "")
    assert SECRET not in shown(at)

    at.switch_page(SCHEMAS).run()
    assert unusable in shown(at) and "The built-in schemas still work" in shown(at)
    assert "built-in · MeetingInfo" in at.selectbox(key="fs_sch_open").options
    at.radio(key="fs_sch_section").set_value("Builder").run()
    assert at.button(key="fs_sch_save").disabled and SECRET not in shown(at)

    at.switch_page(COMPARE).run()
    assert unusable in shown(at) and "without being recorded" in shown(at)
    assert SECRET not in shown(at)

    at.switch_page(EXTRACT).run()
    assert unusable in shown(at) and "without being recorded" in shown(at)
    server.queue(Reply.content(support.chunks(json.dumps(MEETING)), pace=0.001))
    at.button(key="fs_extract").click().run()
    assert any("every field arrived" in s.value for s in at.success), shown(at)
    assert SECRET not in shown(at)
