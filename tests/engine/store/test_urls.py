"""The history database's URL (engine/store/urls.py): the one displayable location, which never
holds a password or any query value but where the database is, and the scrubbing of drivers'
messages (no database needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine.store import Store, load_settings
from engine.store.urls import location, normalize, scrub, server

SECRET = "hunter2-SECRET"

#: URLs that carry a secret, and where each points (all that may be shown of it).
WITH_SECRETS = [
    (f"postgresql://fs@db.example/history?password={SECRET}",
     "postgresql://fs@db.example:5432/history"),
    (f"postgresql+psycopg://fs:{SECRET}@db.example:5433/history",
     "postgresql://fs@db.example:5433/history"),
    (f"postgres://fs@db.example/h?sslmode=verify-full&sslpassword={SECRET}&sslkey=/k/{SECRET}",
     "postgresql://fs@db.example:5432/h"),
    (f"postgresql://fs@db.example/h?passfile=/home/fs/{SECRET}&application_name={SECRET}",
     "postgresql://fs@db.example:5432/h"),
    (f"postgresql://fs:p@ss{SECRET}@db.example/history",  # a raw `@` in the password
     "postgresql://fs@db.example:5432/history"),
    (f"postgresql://fs:{SECRET}@[::1]:6543/history", "postgresql://fs@[::1]:6543/history"),
    (f"postgresql:///history?host=/run/postgresql&user=fs&password={SECRET}",
     "postgresql://fs@/run/postgresql:5432/history"),
]


@pytest.mark.parametrize(("url", "shown"), WITH_SECRETS)
def test_the_location_is_user_host_port_and_database_only(url: str, shown: str) -> None:
    assert location(url) == shown
    assert location(normalize(url)) == shown


@pytest.mark.parametrize(("url", "shown"), WITH_SECRETS)
def test_the_store_and_its_settings_never_show_a_password(url: str, shown: str,
                                                          tmp_path: Path) -> None:
    settings = load_settings(env={"FIELDSTREAM_DATABASE_URL": url}, cwd=tmp_path, home=tmp_path)
    for text in (repr(Store(url)), repr(Store.from_settings(settings)), repr(settings)):
        assert SECRET not in text and "ss" + SECRET not in text, text
        assert "db.example" in text or "::1" in text or "/run/postgresql" in text


def test_a_raw_at_in_the_password_is_encoded_so_the_host_is_right() -> None:
    url = normalize(f"postgres://fs:p@ss{SECRET}@db.example:5433/history")
    parsed = make_url(url)
    assert (parsed.password, parsed.host, parsed.port) == (f"p@ss{SECRET}", "db.example", 5433)
    assert normalize(url) == url  # once is enough: normalising again changes nothing
    plain = "postgresql+psycopg://fs:p%40ss@db.example/history?sslmode=require"
    assert normalize(plain) == plain


@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:////srv/fs/history.db", "/srv/fs/history.db"),
    ("sqlite:///relative%20folder/history.db?mode=ro", "relative folder/history.db"),
    ("sqlite://", ":memory:"),
    ("not a url", "(a database URL that cannot be read)"),
])  # fmt: skip
def test_a_sqlite_location_is_the_file(url: str, shown: str) -> None:
    assert location(url) == shown == server(url)


def test_the_server_is_host_and_port() -> None:
    assert server(f"postgresql://fs:{SECRET}@db.example/h?port=6000") == "db.example:6000"
    assert server(f"postgresql://fs:{SECRET}@db.example:5433/h") == "db.example:5433"
    assert server("postgresql:///h") == "localhost:5432"


def test_a_drivers_message_is_scrubbed() -> None:
    url = f"postgresql+psycopg://fs:{SECRET}@db.example/h?sslpassword=key-{SECRET}&sslkey=/k.pem"
    message = (f"could not connect with {url}; dsn: host=db.example password='{SECRET}' "
               f"sslpassword=other-pass; also postgresql://someone:another-pw@elsewhere/x; "
               f"decoded key-{SECRET} and /k.pem")
    scrubbed = scrub(message, url)
    for hidden in (SECRET, "other-pass", "another-pw", "/k.pem"):
        assert hidden not in scrubbed, scrubbed
    assert "postgresql://fs@db.example:5432/h" in scrubbed  # the URL, as its location
    assert "postgresql://someone:***@elsewhere/x" in scrubbed
    assert scrub("Connection refused on port 5432", url) == "Connection refused on port 5432"
