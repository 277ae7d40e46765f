"""A throwaway PostgreSQL server for the history store tests (and bench/history_bench.py).

Debian's `postgresql` package provides the binaries; this never uses a cluster the package
may have started on port 5432. Each session makes its own cluster in a temporary folder
(initdb as the postgres user when run as root), listening on 127.0.0.1 and a free port, and
removes it at the end. Each test gets a fresh database in it.

Fixtures: `pg_cluster` (session), `pg_password_role` (session: a role that must give its
password), `db_url` (parametrized: a SQLite file and a Postgres database) and `store` (a
`Store` on `db_url` with a fast heartbeat). Test modules load them with
`pytest_plugins = ["tests.postgres"]`.

Every test that needs the cluster carries the `postgres` marker (`make check` leaves them out):
those using `pg_cluster` or `pg_password_role` get it here at collection, and so does the
Postgres parameter of `db_url` (its SQLite parameter stays in `make check`). A test that starts
a cluster of its own, or asks for `pg_cluster` inside a fixture's parameter, says so itself
with `pytest.mark.postgres`. Without the binaries these tests are skipped with the reason
(tests/tiers.py); with CI=true that fails the run.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from engine.store import Store

MISSING = "PostgreSQL not installed: apt-get install postgresql, or make test"
#: Fixtures that start the cluster: a test using one of them is marked `postgres`.
CLUSTER_FIXTURES = frozenset({"pg_cluster", "pg_password_role"})
# Fast settings for tests only: durability on a crash of the test server does not matter.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def pg_bin() -> Path | None:
    """The bin folder of the newest installed PostgreSQL, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """initdb + pg_ctl start in a temporary folder; `stop()` removes everything. `halt()` and
    `resume()` take a server down and up again as an outage does (`durable`: so that what
    was committed surely survives it)."""

    def __init__(self, *, durable: bool = False) -> None:
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError(MISSING)
        self.bin = bin_dir
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="fieldstream-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def start(self) -> None:
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        for _attempt in range(3):  # the free port may be taken between probe and start
            self.port = free_port()
            if self._pg_start():
                atexit.register(self.stop)
                return
        log = self.dir / "server.log"
        raise RuntimeError(f"PostgreSQL did not start; see {log}:\n{log.read_text()[-2000:]}")

    def halt(self) -> None:
        """Stop the server as an outage would (clients cut off), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the halted server again, on the same port (the same URL)."""
        if not self._pg_start():
            log = self.dir / "server.log"
            raise RuntimeError(f"PostgreSQL did not restart:\n{log.read_text()[-2000:]}")

    def _pg_start(self) -> bool:
        options = [] if self.durable else [f"-c {setting}" for setting in FAST]
        server = " ".join([f"-p {self.port}", f"-k {self.dir}",
                           "-c listen_addresses=127.0.0.1", *options])
        return self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                         "-w", "-t", "60", "-o", server, "start", check=False) == 0

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def password_role(self, name: str, password: str) -> None:
        """A role that must give its password (scram-sha-256 over TCP): the cluster trusts
        everyone else, so this is how a test meets a wrong password."""
        self.admin(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
        hba = self.data / "pg_hba.conf"  # the first matching line wins
        hba.write_text(f"host all {name} 127.0.0.1/32 scram-sha-256\n{hba.read_text()}")
        self.admin("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10  # the server reloads its rules asynchronously
        while time.monotonic() < deadline:
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user=name, dbname="postgres",
                                password="not-" + password, connect_timeout=5).close()
            except psycopg.OperationalError:
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not start asking {name} for a password")

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _run(self, tool: str, *args: str, check: bool = True) -> int:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.returncode


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    if pg_bin() is None:  # tests/tiers.py skips marked tests first: this is an unmarked one
        pytest.fail(f"{MISSING} (and mark the test `postgres`)", pytrace=False)
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a new database on the test cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = f"fs_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    yield url
    with contextlib.suppress(psycopg.Error):
        cluster.drop_database(name)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url, heartbeat_every=0.2) as opened:
        yield opened


@pytest.fixture(scope="session")
def pg_password_role(pg_cluster: PostgresCluster) -> tuple[str, str]:
    """A role of the test cluster that must give its password: (name, the right password)."""
    name, password = "fs_with_password", "right-Passw0rd-9d2e"
    pg_cluster.password_role(name, password)
    return name, password
