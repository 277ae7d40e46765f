"""Incremental JSON: a push parser that looks at every character once.

`feed(text)` any number of times, then `close()`. Work per chunk is proportional to the chunk:
the parser keeps only a stack of open containers and the token in progress, never the text
that came before (strings grow in place; numbers and literals accumulate until a delimiter).
What it builds is decided by a *builder* (the second stage of the pipeline, as in ijson): the
plain one here makes dicts and lists; `engine.stream.model_stream` makes typed partial models.

Text around the JSON is tolerated and kept: a prose preamble or a ```json fence before it
(`prose`), anything after the root value (`trailing`).
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

from engine.stream.changes import DONE, PENDING, STREAMING, Change, Done, Grew, Started
from engine.stream.errors import JSONStreamError

__all__ = ["Builder", "JsonStream", "PlainBuilder", "child_path", "stream_json"]

# Parser states. Ints compared with `==` keep the hot loop cheap.
_START, _SEEK, _VALUE, _VALUE_OR_END, _KEY, _KEY_OR_END, _COLON, _AFTER = range(8)
_STR, _KEY_STR, _NUM, _LIT, _END, _DEAD = range(8, 14)  # _DEAD: after an error or close()

_WHITESPACE = " \t\n\r"
_SKIP_WS = re.compile(r"[ \t\n\r]*")
_NUM_CHARS = re.compile(r"[0-9eE.+\-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_LIT_CHARS = re.compile(r"[a-zA-Z]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_LOW_SURROGATE = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_LOW_PREFIX = re.compile(r"(\\(u([dD]([c-fC-F][0-9a-fA-F]{0,2})?)?)?)?")
_ANY_OPEN = re.compile(r"[{\[]")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}
_NUMBER_START = "-0123456789"


_PLAIN_KEY = re.compile(r"[^.\[\]\"]+")


def key_segments(key: str) -> tuple[str, str]:
    """How a member name extends a path: (below a parent, at the root). Names with `.`, `[`,
    `]` or `"`, and the empty name, are quoted (`a["x.y"]`) so that paths stay unambiguous."""
    if _PLAIN_KEY.fullmatch(key):
        return "." + key, key
    quoted = f"[{json.dumps(key, ensure_ascii=False)}]"
    return quoted, quoted


def child_path(parent: str, key: str | int) -> str:
    """`users` + 0 -> `users[0]`; `users[0]` + `email` -> `users[0].email`; root is ``""``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    below, at_root = key_segments(key)
    return parent + below if parent else at_root


class Builder:
    """Second pipeline stage: receives structure events, builds values, emits changes.

    `pctx` is the parent container's context (whatever `open` returned for it; None at the
    root) and `key` the member name or array index (None at the root). A scalar is announced
    once with `begin`, whose return value (the builder's handle on that slot) is passed to the
    later calls for it. Implementations append `Change`s to `self.out` and record done paths in
    `self.done` (path -> order).
    """

    out: list[Change]
    done: dict[str, int]
    root: Any

    def open(self, pctx: Any, key: Any, path: str, is_obj: bool) -> Any: ...
    def close(self, pctx: Any, key: Any, path: str, ctx: Any) -> None: ...
    def begin(self, pctx: Any, key: Any, path: str) -> Any: ...
    def scalar(self, slot: Any, value: Any) -> None: ...
    def partial_str(self, slot: Any, text: str, delta: str, first: bool) -> None: ...
    def partial_scalar(self, slot: Any) -> None: ...


class PlainBuilder(Builder):
    """Builds plain Python values (dict, list, str, int, float, bool, None)."""

    def __init__(self) -> None:
        self.out = []
        self.done = {}
        self.root: Any = None

    def _put(self, pctx: Any, key: Any, value: Any) -> None:
        if pctx is None:
            self.root = value
        elif type(pctx) is dict or key < len(pctx):
            pctx[key] = value
        else:
            pctx.append(value)

    def open(self, pctx: Any, key: Any, path: str, is_obj: bool) -> Any:
        ctx: Any = {} if is_obj else []
        self._put(pctx, key, ctx)
        self.out.append(Started(path, ctx))
        return ctx

    def close(self, pctx: Any, key: Any, path: str, ctx: Any) -> None:
        self.done[path] = len(self.done)
        self.out.append(Done(path, ctx))

    def begin(self, pctx: Any, key: Any, path: str) -> Any:
        return pctx, key, path

    def scalar(self, slot: Any, value: Any) -> None:
        pctx, key, path = slot
        self._put(pctx, key, value)
        self.done[path] = len(self.done)
        self.out.append(Done(path, value))

    def partial_str(self, slot: Any, text: str, delta: str, first: bool) -> None:
        pctx, key, path = slot
        self._put(pctx, key, text)
        self.out.append(Started(path, text) if first else Grew(path, text, delta))

    def partial_scalar(self, slot: Any) -> None:
        if slot[0] is not None:  # a root number shows up when complete, with no prelude
            self.out.append(Started(slot[2], None))


class _Frame:
    """One open container: its builder context, path, and where it sits in its parent."""

    __slots__ = ("count", "ctx", "is_obj", "key", "path", "pctx", "pkey")

    def __init__(self, ctx: Any, path: str, is_obj: bool, pctx: Any, pkey: Any) -> None:
        self.ctx = ctx
        self.path = path
        self.is_obj = is_obj
        self.pctx = pctx
        self.pkey = pkey
        self.key: Any = None
        self.count = 0


class JsonStream:
    """Push parser. `root` says where the JSON starts: "any" (a JSON value of any kind; text
    that cannot start one is prose before the first `{` or `[`), "{" or "[" (prose until that
    character: what an LLM answer for an object or a list looks like)."""

    def __init__(self, builder: Builder | None = None, *, root: str = "any",
                 history: list[str] | None = None) -> None:
        self.builder = builder if builder is not None else PlainBuilder()
        self._root = root
        self._st = _START if root == "any" else _SEEK
        self._stack: list[_Frame] = []
        self._buf = ""  # string value or key in progress
        self._tok = ""  # number or literal in progress
        self._tok_at = 0  # where it started
        self._carry = ""  # an escape split across chunks, re-read with the next chunk
        self._slot: Any = None  # the builder's handle on the scalar in progress
        self._vpath: str | None = None  # its path
        self._fresh = False  # the scalar in progress started in this chunk
        self._consumed = 0  # characters fed before the current chunk
        # The text fed so far, for error context only: a caller that keeps it anyway passes
        # its list (`history`, appended before each feed); otherwise the last chunks are kept.
        self._history = history
        self._recent: deque[str] = deque(maxlen=8)
        self._error: JSONStreamError | None = None
        self._closed = False
        self._prose: list[str] = []
        self._segments: dict[str, tuple[str, str]] = {}
        self._trailing: list[str] = []

    # -- public -------------------------------------------------------------------------

    @property
    def value(self) -> Any:
        """The current partial value (complete once the root is done)."""
        return self.builder.root

    @property
    def prose(self) -> str:
        """Text before the JSON (a preamble, a ```json fence)."""
        return "".join(self._prose)

    @property
    def trailing(self) -> str:
        """Text after the root value (a closing fence, remarks)."""
        return "".join(self._trailing)

    @property
    def finished(self) -> bool:
        """The root value is complete."""
        return self._st == _END

    def state(self, path: str) -> str:
        """"pending", "streaming" or "done" for a path like `users[0].email`."""
        if path in self.builder.done:
            return DONE
        if self._vpath == path:
            return STREAMING
        if any(f.path == path for f in self._stack):
            return STREAMING
        return PENDING

    def feed(self, chunk: str) -> list[Change]:
        """Parse one chunk; return the changes it made (possibly none)."""
        if self._st == _STR and '"' not in chunk and "\\" not in chunk and not self._carry:
            # Most chunks only extend the string in progress: skip the state machine.
            out = self.builder.out = []
            if self._history is None:
                self._recent.append(chunk)
            self._consumed += len(chunk)
            if chunk:
                self._buf += chunk
                self.builder.partial_str(self._slot, self._buf, chunk, self._fresh)
                self._fresh = False
            return out
        if self._error is not None:
            raise self._error
        if self._closed:
            raise JSONStreamError("feed() after close()", offset=self._consumed)
        out = self.builder.out = []
        if self._history is None:
            self._recent.append(chunk)
        if self._carry:  # `_consumed` already stops where the carried escape starts
            chunk = self._carry + chunk
            self._carry = ""
        try:
            self._run(chunk)
        except JSONStreamError as exc:
            self._error = exc
            self._st = _DEAD
            raise
        self._consumed += len(chunk) - len(self._carry)
        return out

    def close(self) -> list[Change]:
        """End of text. Finishes a number at the root; raises if the text ended inside a value
        or held no JSON at all."""
        if self._error is not None:
            raise self._error
        out = self.builder.out = []
        if self._closed:
            return out
        self._closed = True
        st = self._st
        if st != _END:
            self._st = _DEAD
        if st in (_NUM, _LIT) and not self._stack:
            self._finish_token(self._tok, "", 0)
            st = self._st
        if st == _END:
            return out
        if st in (_START, _SEEK):
            self._error = JSONStreamError(
                "no JSON found in the text", offset=self._consumed, near=self._near(None, 0))
        else:
            where = self._stack[-1].path if self._stack else ""
            what = f"inside `{where}`" if where else "inside the JSON value"
            self._error = JSONStreamError(
                f"text ended {what} at offset {self._consumed} (the answer is incomplete)",
                offset=self._consumed, near=self._near(None, 0))
        raise self._error

    # -- the loop ---------------------------------------------------------------------

    def _run(self, s: str) -> None:
        n = len(s)
        i = 0
        st = self._st
        mark = len(self._buf) if st == _STR else 0
        while i < n:
            if st == _STR or st == _KEY_STR:
                q = s.find('"', i)
                e = q if q >= 0 else n
                b = s.find("\\", i, e)
                if b < 0:
                    self._buf += s[i:e]
                    if q < 0:
                        break
                    i = q + 1
                    st = self._end_string(st)
                    continue
                self._buf += s[i:b]
                i = self._escape(s, b, n)
                continue
            if st == _NUM or st == _LIT:
                m = (_NUM_CHARS if st == _NUM else _LIT_CHARS).match(s, i)
                j = m.end()
                self._tok += s[i:j]
                if st == _LIT and not self._literal_prefix():
                    if self._stack or self._root != "any":
                        self._fail(f"invalid literal {self._tok!r}", s, j, at=self._tok_at)
                    st = self._to_prose()  # "the answer is ..." is prose, not `true`
                    i = j
                    continue
                if j == n:
                    break
                i = j
                st = self._finish_token(self._tok, s, i)
                continue
            if st == _SEEK:
                i = self._seek(s, i)
                st = self._st
                continue
            if st == _END:  # trailing text after the root value is kept, not parsed
                self._trailing.append(s[i:])
                break
            c = s[i]
            if c in _WHITESPACE:
                i = _SKIP_WS.match(s, i).end()
                continue
            if st == _AFTER:
                f = self._stack[-1]
                if c == ",":
                    st = _KEY if f.is_obj else _VALUE
                elif c == ("}" if f.is_obj else "]"):
                    st = self._close_container()
                else:
                    self._fail("expected ',' or '" + ("}" if f.is_obj else "]") + "'", s, i)
                i += 1
            elif st == _KEY or st == _KEY_OR_END:
                if c == '"':
                    st = _KEY_STR
                    self._buf = ""
                elif c == "}" and st == _KEY_OR_END:
                    st = self._close_container()
                else:
                    self._fail('expected a member name in double quotes', s, i)
                i += 1
            elif st == _COLON:
                if c != ":":
                    self._fail("expected ':' after the member name", s, i)
                st = _VALUE
                i += 1
            elif st == _VALUE or st == _VALUE_OR_END:
                if c == "]" and st == _VALUE_OR_END:
                    st = self._close_container()
                    i += 1
                else:
                    st = self._begin_value(c, s, i)
                    i += 1
                    if st == _STR:
                        mark = 0
            else:  # _START: the first character decides what the root is
                st = self._start_root(c, s, i)
                if st == _SEEK:
                    continue
                i += 1
                mark = 0
        self._st = st
        slot = self._slot
        if slot is None:
            return
        # A value still open at the chunk's end: report a string's text so far, or the start
        # of a number/literal (whose value appears only when it is complete).
        if st == _STR:
            buf = self._buf
            if self._fresh or len(buf) > mark:
                self.builder.partial_str(slot, buf, buf[mark:], self._fresh)
        elif self._fresh:
            self.builder.partial_scalar(slot)
        self._fresh = False

    # -- values -------------------------------------------------------------------------

    def _slot_for_child(self) -> tuple[Any, Any, str]:
        if not self._stack:
            return None, None, ""
        f = self._stack[-1]
        if f.is_obj:
            key = f.key
            return f.ctx, key, self._key_path(f.path, key)
        key = f.count
        f.count = key + 1
        return f.ctx, key, f"{f.path}[{key}]"

    def _begin_value(self, c: str, s: str, i: int) -> int:
        if c == "{" or c == "[":
            return self._open(c == "{")
        if c == '"':
            self._begin_scalar()
            self._buf = ""
            return _STR
        if c in _NUMBER_START or c in "tfn":
            self._tok_at = self._consumed + i
            self._begin_scalar()
            self._tok = c
            if c in "tfn":
                return _LIT
            return _NUM
        self._fail("expected a JSON value", s, i)
        raise AssertionError  # unreachable: _fail raises

    def _key_path(self, parent: str, key: str) -> str:
        segs = self._segments.get(key)
        if segs is None:  # once per distinct member name
            segs = self._segments[key] = key_segments(key)
        return parent + segs[0] if parent else segs[1]

    def _begin_scalar(self) -> None:
        stack = self._stack
        if stack:  # the child's place: inlined `_slot_for_child`, once per value
            f = stack[-1]
            if f.is_obj:
                key = f.key
                path = self._key_path(f.path, key)
            else:
                key = f.count
                f.count = key + 1
                path = f"{f.path}[{key}]"
            self._slot = self.builder.begin(f.ctx, key, path)
        else:
            path = ""
            self._slot = self.builder.begin(None, None, path)
        self._vpath = path
        self._fresh = True

    def _open(self, is_obj: bool) -> int:
        pctx, key, path = self._slot_for_child()
        ctx = self.builder.open(pctx, key, path, is_obj)
        self._stack.append(_Frame(ctx, path, is_obj, pctx, key))
        return _KEY_OR_END if is_obj else _VALUE_OR_END

    def _close_container(self) -> int:
        f = self._stack.pop()
        self.builder.close(f.pctx, f.pkey, f.path, f.ctx)
        return _AFTER if self._stack else _END

    def _end_string(self, st: int) -> int:
        if st == _KEY_STR:
            self._stack[-1].key = self._buf
            return _COLON
        slot, self._slot, self._vpath = self._slot, None, None
        self.builder.scalar(slot, self._buf)
        return _AFTER if self._stack else _END

    def _finish_token(self, tok: str, s: str, i: int) -> int:
        if tok[0] in "tfn":
            if tok not in _LITERALS:
                self._fail(f"invalid literal {tok!r}", s, i, at=self._tok_at)
            value = _LITERALS[tok]
        else:
            m = _NUMBER.fullmatch(tok)
            if m is None:
                self._fail(f"invalid number {tok!r}", s, i, at=self._tok_at)
            value = float(tok) if m.group(1) or m.group(2) else int(tok)  # type: ignore[union-attr]
        slot, self._slot, self._vpath = self._slot, None, None
        self._tok = ""
        self.builder.scalar(slot, value)
        self._st = _AFTER if self._stack else _END
        return self._st

    def _literal_prefix(self) -> bool:
        tok = self._tok
        return any(lit.startswith(tok) for lit in _LITERALS)

    def _to_prose(self) -> int:
        self._prose.append(self._tok)
        self._tok = ""
        self._slot = self._vpath = None
        self._st = _SEEK
        return _SEEK

    def _escape(self, s: str, b: int, n: int) -> int:
        """Decode the escape at s[b] (a backslash); return where to continue. An escape cut
        off by the chunk's end is carried over to the next chunk."""
        if b + 1 >= n:
            return self._carry_from(s, b, n)
        c = s[b + 1]
        if c != "u":
            ch = _ESCAPES.get(c)
            if ch is None:
                self._fail(f"invalid escape '\\{c}' in a string", s, b)
            self._buf += ch  # type: ignore[operator]
            return b + 2
        if b + 6 > n:
            return self._carry_from(s, b, n)
        cp = self._hex4(s, b + 2)
        if 0xD800 <= cp <= 0xDBFF:  # high surrogate: combine with a following low one
            rest = s[b + 6 : b + 12]
            if len(rest) < 6 and _LOW_PREFIX.fullmatch(rest):
                return self._carry_from(s, b, n)  # cannot tell yet: wait for more text
            if _LOW_SURROGATE.fullmatch(rest):
                low = int(rest[2:], 16)
                self._buf += chr(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00))
                return b + 12
        self._buf += chr(cp)
        return b + 6

    def _hex4(self, s: str, i: int) -> int:
        h = s[i : i + 4]
        if _HEX4.fullmatch(h) is None:
            self._fail(f"invalid unicode escape '\\u{h}'", s, i)
        return int(h, 16)

    def _carry_from(self, s: str, b: int, n: int) -> int:
        self._carry = s[b:]
        return n

    # -- the root -----------------------------------------------------------------------

    def _start_root(self, c: str, s: str, i: int) -> int:
        if c == "{" or c == "[" or c == '"' or c in "tfn" or (
            c in _NUMBER_START and (c != "-" or s[i + 1 : i + 2] in ("", *"0123456789"))
        ):
            if c in "tfn" and not self._looks_literal(s, i):
                self._st = _SEEK
                return _SEEK
            return self._begin_value(c, s, i)
        self._st = _SEEK
        return _SEEK

    @staticmethod
    def _looks_literal(s: str, i: int) -> bool:
        word = _LIT_CHARS.match(s, i).group()
        return any(lit.startswith(word) or word == lit for lit in _LITERALS)

    def _seek(self, s: str, i: int) -> int:
        """Prose before the JSON: skip to the first `{` / `[` (or the one `root` names)."""
        if self._root == "any":
            m = _ANY_OPEN.search(s, i)
            j = m.start() if m else -1
        else:
            j = s.find(self._root, i)
        if j < 0:
            self._prose.append(s[i:])
            return len(s)
        if j > i:
            self._prose.append(s[i:j])
        self._st = self._open(s[j] == "{")
        return j + 1

    # -- errors -------------------------------------------------------------------------

    def _near(self, s: str | None, i: int) -> str:
        """About 30 characters either side of the current position."""
        if self._history is not None:
            text = "".join(self._history[-64:])
            pos = len(text) - (len(s) - i) if s is not None else len(text)
        else:
            text = "".join(self._recent)
            pos = len(text) - (len(s) - i) if s is not None else len(text)
        return text[max(0, pos - 30) : pos + 30]

    def _fail(self, what: str, s: str, i: int, at: int | None = None) -> None:
        """Raise with the offset (of the bad token's start when given) and nearby text."""
        offset = self._consumed + i if at is None else at
        near = self._near(s, i)
        got = repr(s[i]) if i < len(s) else "the end of the text"
        raise JSONStreamError(
            f"invalid JSON at offset {offset}: {what}, got {got} near {near!r}",
            offset=offset, near=near)


def stream_json(*, root: str = "any") -> JsonStream:
    """A push parser building plain Python values: `feed(text)` -> changes, `.value`,
    `.state(path)`, `close()`."""
    return JsonStream(PlainBuilder(), root=root)
