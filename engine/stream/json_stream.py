"""Incremental JSON: a push parser that looks at every character once.

`feed(text)` any number of times, then `close()`. Work per chunk is proportional to the chunk:
the parser keeps only a stack of open containers and the token in progress, never the text
that came before (numbers and literals accumulate until a delimiter). A string in progress
lives in one place, where the builder shows it (a dict, a list, a model's `__dict__`), and
grows there in place: nothing else keeps a reference to it (a change reads it from there),
so appending a chunk costs the chunk, not the string. What it builds is decided by a
*builder* (the second stage of the pipeline, as in ijson): the plain one here makes dicts and
lists; `engine.stream.model_stream` makes typed partial models.

Text around the JSON is tolerated and kept: a prose preamble or a ```json fence before it
(`prose`), anything after the root value (`trailing`).

Limits and rules (an LLM answer is untrusted input):
- Nesting deeper than `MAX_DEPTH` (512) arrays/objects is a JSONStreamError: every open
  container keeps its path, so unbounded depth would cost memory quadratic in the depth.
- A number longer than `MAX_NUMBER_CHARS` (4,300, Python's limit for int()) is a
  JSONStreamError as soon as it gets that long, and so is one that overflows a float (1e999).
- A member name that appears twice in one object: the first value is kept (a done value never
  changes); the second is parsed and dropped, and reported as an `Invalid` change on its path.
- Lone UTF-16 surrogates from `\\ud800`-style escapes are kept, as `json.loads` does, unless
  `replace_surrogates=True` (typed streams), which turns them into U+FFFD; a valid pair
  escape (`\\ud83d\\ude00`), even split across chunks, is always one character.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from engine.errors import JSONStreamError
from engine.stream import paths
from engine.stream.changes import DONE, PENDING, STREAMING, Change, Done, Invalid, Started, grew_at

__all__ = [
    "MAX_DEPTH", "MAX_NUMBER_CHARS", "Builder", "JsonStream", "PlainBuilder", "child_path",
    "stream_json",
]

MAX_DEPTH = 512  # nested arrays/objects
MAX_NUMBER_CHARS = 4300  # sys.get_int_max_str_digits() by default: longer ints cannot convert
DUPLICATE = "appears twice in this object; the first value is kept"

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
_INF = float("inf")
_COPY_BELOW = 1024  # strings shorter than this are copied when they grow (bounded, cheaper)


# How a path is built and quoted is decided in `engine.stream.paths`; the parser caches each
# member name's segments from there (`_key_path`). The old names stay importable from here.
key_segments = paths.key_segments
child_path = paths.child


class Builder:
    """Second pipeline stage: receives structure events, builds values, emits changes.

    `pctx` is the parent container's context (whatever `open` returned for it; None at the
    root) and `key` the member name or array index (None at the root). A scalar is announced
    once with `begin` (a string: `begin_str`), whose return value (the builder's handle on that
    slot) is passed to the later calls for it. `begin_str` also says where the string's text
    lives, `at` = (container, key): the parser grows it there in place, so the builder must
    not keep other references to it (a `Grew` reads it through `at`); and, as `grew`, the path
    under which the parser may report its later growth itself as `Grew` changes (the hot path:
    no call per chunk), or None to have `partial_str` called instead. Implementations append
    `Change`s to `self.out` and record done paths in `self.done` (path -> order).
    """

    out: list[Change]
    done: dict[str, int]
    root: Any

    def open(self, pctx: Any, key: Any, path: str, is_obj: bool) -> Any: ...
    def close(self, pctx: Any, key: Any, path: str, ctx: Any) -> None: ...
    def begin(self, pctx: Any, key: Any, path: str) -> Any: ...
    def begin_str(self, pctx: Any, key: Any,
                  path: str) -> tuple[Any, tuple[Any, Any], str | None]: ...
    def scalar(self, slot: Any, value: Any) -> None: ...
    def partial_str(self, slot: Any, at: tuple[Any, Any], text: str, delta: str,
                    first: bool) -> None: ...
    def partial_scalar(self, slot: Any) -> None: ...


class _Sink:
    """Where the value of a duplicate member goes: parsed, then dropped."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __len__(self) -> int:
        return 0


_SKIP = _Sink()


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

    def _duplicate(self, pctx: Any, key: Any, path: str) -> bool:
        """A member seen before in this object: report it; its value will be dropped."""
        if type(pctx) is not dict or key not in pctx:
            return False
        self.out.append(Invalid(path, pctx[key], DUPLICATE))
        return True

    def open(self, pctx: Any, key: Any, path: str, is_obj: bool) -> Any:
        if pctx is _SKIP or self._duplicate(pctx, key, path):
            return _SKIP
        ctx: Any = {} if is_obj else []
        self._put(pctx, key, ctx)
        self.out.append(Started(path, ctx))
        return ctx

    def close(self, pctx: Any, key: Any, path: str, ctx: Any) -> None:
        if ctx is _SKIP:
            return
        self.done[path] = len(self.done)
        self.out.append(Done(path, ctx))

    def begin(self, pctx: Any, key: Any, path: str) -> Any:
        if pctx is not _SKIP and self._duplicate(pctx, key, path):
            return _SKIP, key, path
        return pctx, key, path

    def begin_str(self, pctx: Any, key: Any,
                  path: str) -> tuple[Any, tuple[Any, Any], str | None]:
        slot = self.begin(pctx, key, path)
        pctx = slot[0]
        if pctx is _SKIP:
            return slot, ([""], 0), None
        self._put(pctx, key, "")
        if pctx is None:
            return slot, (self.__dict__, "root"), path
        return slot, (pctx, key), path

    def scalar(self, slot: Any, value: Any) -> None:
        pctx, key, path = slot
        if pctx is _SKIP:
            return
        self._put(pctx, key, value)
        self.done[path] = len(self.done)
        self.out.append(Done(path, value))

    def partial_str(self, slot: Any, at: tuple[Any, Any], text: str, delta: str,
                    first: bool) -> None:
        if slot[0] is _SKIP:
            return
        self.out.append(Started(slot[2], text) if first else
                        grew_at(slot[2], len(text), delta, at))

    def partial_scalar(self, slot: Any) -> None:
        if slot[0] is not None and slot[0] is not _SKIP:  # a root number: shown when complete
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
    character: what an LLM answer for an object or a list looks like). `replace_surrogates`:
    lone surrogates from escapes become U+FFFD (text that can be encoded and shown)."""

    def __init__(self, builder: Builder | None = None, *, root: str = "any",
                 history: list[str] | None = None, replace_surrogates: bool = False) -> None:
        self.builder = builder if builder is not None else PlainBuilder()
        self._root = root
        self._st = _START if root == "any" else _SEEK
        self._stack: list[_Frame] = []
        self._kbox = [""]  # the member name in progress
        self._khold = (self._kbox, 0)
        self._hold: tuple[Any, Any] = self._khold  # (container, key): the string in progress
        self._grew: str | None = None  # its path when the parser reports its Grew changes
        self._replace = replace_surrogates
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
            size = len(chunk)
            self._consumed += size
            if size:
                at = self._hold
                h, k = at
                text = h[k]
                size += len(text)
                if size < _COPY_BELOW:  # short: a copy costs less than growing in place
                    h[k] = text = text + chunk
                else:
                    h[k] = None  # `text` is now its only reference: += appends in place
                    text += chunk
                    h[k] = text
                path = self._grew
                if path is not None:  # `_fresh` is False here: `_run` began the string
                    out.append(grew_at(path, size, chunk, at))
                else:
                    self.builder.partial_str(self._slot, at, text, chunk, False)
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
        self._consumed += len(chunk)
        if self._carry:  # an escape cut by the chunk's end is counted with the next chunk
            self._consumed -= len(self._carry)
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
            try:
                self._finish_token(self._tok, "", 0)
            except JSONStreamError as exc:
                self._error = exc
                raise
            st = self._st
        if st == _END:
            return out
        if st in (_START, _SEEK):
            self._error = JSONStreamError(
                "no JSON found in the text", offset=self._consumed, near=self._near(None, 0))
        else:
            where = _abbrev(self._stack[-1].path) if self._stack else ""
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
        mark = len(self._hold[0][self._hold[1]]) if st == _STR else 0
        while True:  # not `while i < n`: its long jumps would keep the comparison generic
            if i >= n:
                break
            if st == _STR or st == _KEY_STR:
                q = s.find('"', i)
                e = q if q >= 0 else n
                b = s.find("\\", i, e)
                if b < 0:
                    h, k = self._hold
                    t = h[k]
                    if q < 0:  # it goes on in the next chunk: grow it in place (`_add`)
                        h[k] = None
                        t += s[i:]
                        h[k] = t
                        break
                    st = self._end_string(st, t + s[i:q])  # the builder stores the whole
                    i = q + 1
                    continue
                if b > i:
                    self._add(s[i:b])
                i = self._escape(s, b, n)
                continue
            if st == _NUM or st == _LIT:
                m = (_NUM_CHARS if st == _NUM else _LIT_CHARS).match(s, i)
                j = m.end()
                self._tok += s[i:j]
                if st == _LIT and not self._literal_prefix():
                    st = self._not_literal(s, j)
                    i = j
                    continue
                if j == n:  # the token goes on in the next chunk
                    if len(self._tok) > MAX_NUMBER_CHARS:  # never grows without bound
                        self._too_long(s, j)
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
                    self._hold = self._khold
                    self._kbox[0] = ""
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
            at = self._hold
            text = at[0][at[1]]
            if self._fresh:
                self.builder.partial_str(slot, at, text, text, True)
            elif len(text) > mark:
                path = self._grew
                if path is not None:
                    self.builder.out.append(grew_at(path, len(text), text[mark:], at))
                else:
                    self.builder.partial_str(slot, at, text, text[mark:], False)
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
            return self._open(c == "{", s, i)
        if c == '"':
            self._begin_scalar(True)
            return _STR
        if c in _NUMBER_START or c in "tfn":
            self._tok_at = self._consumed + i
            self._begin_scalar(False)
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

    def _begin_scalar(self, is_str: bool) -> None:
        stack = self._stack
        if stack:  # the child's place: inlined `_slot_for_child`, once per value
            f = stack[-1]
            pctx = f.ctx
            if f.is_obj:
                key = f.key
                path = self._key_path(f.path, key)
            else:
                key = f.count
                f.count = key + 1
                path = f"{f.path}[{key}]"
        else:
            pctx = key = None
            path = ""
        if is_str:
            self._slot, self._hold, self._grew = self.builder.begin_str(pctx, key, path)
        else:
            self._slot = self.builder.begin(pctx, key, path)
        self._vpath = path
        self._fresh = True

    def _add(self, piece: str) -> None:
        """Append to the string in progress, in place: while `text` is its only reference,
        CPython's `+=` extends it instead of copying it."""
        h, k = self._hold
        text = h[k]
        h[k] = None
        text += piece
        h[k] = text

    def _open(self, is_obj: bool, s: str, i: int) -> int:
        if len(self._stack) >= MAX_DEPTH:
            self._fail(f"more than {MAX_DEPTH} nested arrays/objects", s, i, got=False,
                       kind="JSON nested too deeply")
        pctx, key, path = self._slot_for_child()
        ctx = self.builder.open(pctx, key, path, is_obj)
        self._stack.append(_Frame(ctx, path, is_obj, pctx, key))
        return _KEY_OR_END if is_obj else _VALUE_OR_END

    def _close_container(self) -> int:
        f = self._stack.pop()
        self.builder.close(f.pctx, f.pkey, f.path, f.ctx)
        return _AFTER if self._stack else _END

    def _end_string(self, st: int, text: str) -> int:
        if st == _KEY_STR:
            self._stack[-1].key = text
            return _COLON
        slot, self._slot, self._vpath = self._slot, None, None
        self.builder.scalar(slot, text)  # stored where it grew (a `Grew` may still read it)
        return _AFTER if self._stack else _END

    def _finish_token(self, tok: str, s: str, i: int) -> int:
        if tok[0] in "tfn":
            if tok not in _LITERALS:
                self._fail(f"invalid literal {tok!r}", s, i, at=self._tok_at)
            value = _LITERALS[tok]
        else:
            m = _NUMBER.fullmatch(tok)
            if m is None:
                self._fail(f"invalid number {_abbrev(tok)!r}", s, i, at=self._tok_at)
            if len(tok) > MAX_NUMBER_CHARS:
                self._too_long(s, i)
            try:
                value = float(tok) if m.group(1) or m.group(2) else int(tok)  # type: ignore[union-attr]
            except ValueError:  # more digits than sys.get_int_max_str_digits() allows
                self._fail(f"{len(tok)} digits (Python's limit is lower)", s, i,
                           at=self._tok_at, got=False, kind="number too long")
            if value == _INF or value == -_INF:
                self._fail(f"{_abbrev(tok)} is beyond the largest float", s, i,
                           at=self._tok_at, got=False, kind="number out of range")
        slot, self._slot, self._vpath = self._slot, None, None
        self._tok = ""
        self.builder.scalar(slot, value)
        self._st = _AFTER if self._stack else _END
        return self._st

    def _not_literal(self, s: str, j: int) -> int:
        """Letters that cannot become true/false/null: an error inside the JSON, prose before
        a root (`the answer is ...` is not `true`)."""
        if self._stack or self._root != "any":
            self._fail(f"invalid literal {_abbrev(self._tok)!r}", s, j, at=self._tok_at)
        return self._to_prose()

    def _too_long(self, s: str, j: int) -> None:
        self._fail(f"more than {MAX_NUMBER_CHARS} characters", s, j, at=self._tok_at,
                   got=False, kind="number too long")

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
            self._add(ch)  # type: ignore[arg-type]
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
                self._add(chr(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)))
                return b + 12
        lone = 0xD800 <= cp <= 0xDFFF
        self._add("\ufffd" if lone and self._replace else chr(cp))
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
        self._st = self._open(s[j] == "{", s, j)
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

    def _fail(self, what: str, s: str, i: int, at: int | None = None, got: bool = True,
              kind: str = "invalid JSON") -> None:
        """Raise with the offset (of the bad token's start when given) and nearby text."""
        offset = self._consumed + i if at is None else at
        near = self._near(s, i)
        if got:
            what += ", got " + (repr(s[i]) if i < len(s) else "the end of the text")
        raise JSONStreamError(
            f"{kind} at offset {offset}: {what} near {near!r}", offset=offset, near=near)


def _abbrev(text: str, limit: int = 60) -> str:
    """Keep messages short: a path 512 levels deep or a 4,000-digit number is cut."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}…{text[-(limit // 2 - 1):]}"


def stream_json(*, root: str = "any") -> JsonStream:
    """A push parser building plain Python values: `feed(text)` -> changes, `.value`,
    `.state(path)`, `close()`."""
    return JsonStream(PlainBuilder(), root=root)
