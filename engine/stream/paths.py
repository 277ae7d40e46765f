"""Paths: how the engine names a place in a JSON value, built, quoted and parsed in one place.

A path is a string of segments: a member name (`.email`, or `email` at the root) or an array
index (`[0]`). A name that is empty or holds `.`, `[`, `]` or `"` is written as a JSON string
in brackets (`meta["a.b"]`, `["my tags[]"][0]`) so that every path parses back to exactly the
segments it was built from. The root is the empty path ``""``.

Every module that builds or reads a path (the parser, the typed builder, validation errors,
the form's field tree, the runner's placeholders) goes through here.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from json.decoder import scanstring  # type: ignore[attr-defined]

__all__ = ["child", "join", "key_segments", "leaf_key", "parse"]

Segment = str | int

_PLAIN_KEY = re.compile(r"[^.\[\]\"]+")
_INDEX = re.compile(r"\[(0|[1-9][0-9]*)\]")


def key_segments(key: str) -> tuple[str, str]:
    """How a member name extends a path: (below a parent, at the root). The parser caches
    this per distinct name, so its hot path costs one dict lookup and one concatenation."""
    if _PLAIN_KEY.fullmatch(key):
        return "." + key, key
    quoted = f"[{json.dumps(key, ensure_ascii=False)}]"
    return quoted, quoted


def child(parent: str, key: Segment) -> str:
    """`users` + 0 -> `users[0]`; `users[0]` + `email` -> `users[0].email`; root is ``""``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    below, at_root = key_segments(key)
    return parent + below if parent else at_root


def join(segments: Iterable[Segment]) -> str:
    """The path of these segments: `join(("users", 0, "email")) == "users[0].email"`."""
    path = ""
    for seg in segments:
        path = child(path, seg)
    return path


@functools.lru_cache(maxsize=4096)  # the runner parses the same few paths chunk after chunk
def parse(path: str) -> tuple[Segment, ...]:
    """The segments of a path: `parse('users[0]["a.b"]') == ("users", 0, "a.b")`.
    Raises ValueError for a string no `child`/`join` could have built."""
    if '"' not in path and "[" not in path and "]" not in path:  # the common case: names only
        segs = tuple(path.split(".")) if path else ()
        if "" in segs:
            raise ValueError(f"not a path: {path!r}")
        return segs
    out: list[Segment] = []
    i, n = 0, len(path)
    while i < n:
        c = path[i]
        if c == "[":
            i = _bracket(path, i, out)
            continue
        if c == ".":
            if not out:
                raise ValueError(f"not a path: {path!r} (starts with '.')")
            i += 1
        elif out:
            raise ValueError(f"not a path: {path!r} (a name must follow '.' at {i})")
        m = _PLAIN_KEY.match(path, i)
        if m is None:
            raise ValueError(f"not a path: {path!r} (expected a name at {i})")
        out.append(m.group())
        i = m.end()
    return tuple(out)


def _bracket(path: str, i: int, out: list[Segment]) -> int:
    """One `[3]` or `["name"]` segment starting at `i`; returns where the next one starts."""
    if path.startswith('["', i):
        try:
            key, end = scanstring(path, i + 2)
        except ValueError as exc:
            raise ValueError(f"not a path: {path!r} (bad quoted name at {i})") from exc
        if not path.startswith("]", end) or _PLAIN_KEY.fullmatch(key):
            raise ValueError(f"not a path: {path!r} (bad quoted name at {i})")
        out.append(key)
        return end + 1
    m = _INDEX.match(path, i)
    if m is None:
        raise ValueError(f"not a path: {path!r} (bad index at {i})")
    out.append(int(m.group(1)))
    return m.end()


@functools.lru_cache(maxsize=4096)
def leaf_key(path: str) -> str:
    """The placeholder of a path: its names up to the first index. A form has one placeholder
    per leaf field (`users`, `address.city`, `["my tags[]"]`); `users[3].name` -> `users`."""
    if '"' not in path:  # no quoted name: the first `[` is the first index
        cut = path.find("[")
        return path if cut < 0 else path[:cut]
    segs = parse(path)
    for n, seg in enumerate(segs):
        if isinstance(seg, int):
            return join(segs[:n])
    return path
