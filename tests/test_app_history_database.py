"""The pages (AppTest) and the history database: History shows where it is but never a password
(a real Postgres from tests/postgres.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from streamlit.testing.v1 import AppTest

from engine.testing.replay_server import ReplayServer
from tests import support

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
