"""The history database's URL: how it is read (`normalize`), where it is in words safe to show
on a page, in an error, a log line or a repr (`location`, `server`), and what of it a driver's
message must not show (`scrub`).

A server URL can carry secrets in its userinfo (`fs:pw@host`) and in its query, where psycopg
accepts any libpq parameter (`?password=`, `sslpassword`, `passfile`, `sslkey`, ...). So the
location is rebuilt from the parts that say where and are not secret (user, host, port,
database) instead of printing the URL with some parts masked: a parameter nobody thought of
stays hidden too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

DEFAULT_PORTS = {"postgresql": 5432}
#: libpq parameters that say where the database is; every other query value stays hidden.
PLACE = ("host", "port", "user", "dbname")
MASK = "***"
_MIN_MASKED = 3  # shorter query values would mask ordinary words (and digits) of a message
# A password in a URL's userinfo, or a secret-looking key=value in a conninfo string or query.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^\s/?#]*@", re.IGNORECASE)
_PAIR = re.compile(r"\b(\w*(?:password|passfile|sslkey|secret|token)\w*)"
                   r"(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


@dataclass(frozen=True)
class _Parts:
    scheme: str
    userinfo: str | None  # as written (percent-encoded)
    hostport: str
    path: str  # after the netloc, without the query
    query: str


def normalize(url: str) -> str:
    """`postgres://` and bare `postgresql://` mean psycopg 3 (psycopg2 is not a dependency).
    A userinfo holding a raw `@` (`fs:p@ss@host`) is percent-encoded: SQLAlchemy would end it
    at the first `@`, connect to host `ss@host` and show `ss` in every message about it."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
            break
    parts = _split(url)
    if parts is None or parts.userinfo is None or "@" not in parts.userinfo:
        return url
    user, colon, password = parts.userinfo.partition(":")
    userinfo = _encode(user) + colon + _encode(password)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{userinfo}@{parts.hostport}{parts.path}{query}"


def location(url: str) -> str:
    """Where the history lives: the SQLite file's path, or `postgresql://user@host:port/db`;
    never a password nor any query value other than host, port, user and dbname."""
    parts = _split(url)
    if parts is None:
        return "(a database URL that cannot be read)"
    backend = _backend(parts)
    database = _database(parts)
    if backend == "sqlite":
        return database or ":memory:"
    user = _user(parts)
    return f"{backend}://{user + '@' if user else ''}{_server(parts)}/{database}"


def server(url: str) -> str:
    """host:port of a database server (the SQLite file's path for SQLite), safe to show."""
    parts = _split(url)
    if parts is None or _backend(parts) == "sqlite":
        return location(url)
    return _server(parts)


def backend(url: str) -> str:
    """`sqlite`, `postgresql` (`postgres` too), ...: the URL's scheme without its driver."""
    parts = _split(url)
    return "" if parts is None else _backend(parts)


def scrub(text: str, url: str) -> str:
    """A driver's or SQLAlchemy's message about `url` without what `location` leaves out: the
    URL itself, its password, its query values; any userinfo password or password-like
    `key=value` it quotes is masked too (a DSN, another URL)."""
    parts = _split(url)
    if parts is not None:
        for whole in sorted({url, normalize(url)}, key=len, reverse=True):
            text = text.replace(whole, location(url))
        for secret in sorted(_secrets(parts), key=len, reverse=True):
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def _split(url: str) -> _Parts | None:
    """The URL's parts as SQLAlchemy reads them, but with the userinfo ending at the last `@`
    of the netloc (where a browser, urllib and libpq end it)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return None
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    return _Parts(scheme, userinfo if at else None, hostport, slash + path, query)


def _backend(parts: _Parts) -> str:
    backend = parts.scheme.split("+", 1)[0].lower()
    return "postgresql" if backend == "postgres" else backend


def _query(parts: _Parts) -> list[tuple[str, str]]:
    return parse_qsl(parts.query, keep_blank_values=True)


def _place(parts: _Parts, name: str) -> str:
    """A location parameter given in the query (`?host=/run/postgresql&port=5433`)."""
    return ",".join(value for key, value in _query(parts) if key == name)


def _user(parts: _Parts) -> str:
    """As written: a user name holding `@` stays encoded (`a%40b@host`), so it reads right."""
    if parts.userinfo:
        return parts.userinfo.partition(":")[0]
    return quote(_place(parts, "user"), safe="")


def _database(parts: _Parts) -> str:
    return unquote(parts.path[1:]) or _place(parts, "dbname")


def _server(parts: _Parts) -> str:
    if re.search(r":\d+$", parts.hostport):  # host:port, [::1]:port, h1:5432,h2:5433
        return parts.hostport
    host = parts.hostport.rstrip(":") or _place(parts, "host") or "localhost"
    return host + _port(parts)


def _port(parts: _Parts) -> str:
    port = _place(parts, "port") or DEFAULT_PORTS.get(_backend(parts))
    return f":{port}" if port else ""


def _secrets(parts: _Parts) -> set[str]:
    """The URL's password and query values (the location's own parameters aside), as written
    and decoded, long enough to be masked without masking ordinary words."""
    written = [pair.partition("=") for pair in parts.query.split("&") if pair]
    values = [value for key, _, value in written if unquote_plus(key) not in PLACE]
    if parts.userinfo and ":" in parts.userinfo:
        values.append(parts.userinfo.partition(":")[2])
    found = {v for value in values for v in (value, unquote(value), unquote_plus(value))}
    return {value for value in found if len(value) >= _MIN_MASKED}


def _encode(part: str) -> str:
    """A userinfo part percent-encoded once (what was already encoded stays as it was)."""
    return quote(unquote(part), safe="")
