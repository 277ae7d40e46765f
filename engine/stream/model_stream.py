"""Typed streams: text chunks -> Snapshots of a Partial model, field by field.

The text is cleaned on the way in so that every output can be encoded: a lone UTF-16
surrogate (from a `\\ud800` escape in the JSON, or a literal one in a chunk, which is what the
openai client makes of an SSE payload holding `\\ud800`) becomes U+FFFD in values, in
`snap.text`, in the partial and in the final model. A valid pair still makes its character,
also when it is split across two chunks (the high half waits for the next chunk).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from engine.errors import ExtractionError, JSONStreamError, ValidationFailed
from engine.stream.changes import STREAMING, Change, Done
from engine.stream.json_stream import JsonStream
from engine.stream.nodes import LIST, MODEL, new_partial, root_node
from engine.stream.snapshot import FinalSnapshot, LiveView, Snapshot, Timings
from engine.stream.typed_builder import TypedBuilder

__all__ = ["ModelStream", "clean_surrogates", "stream_items", "stream_model"]

_CONTAINERS = (BaseModel, list, dict)
_make = Snapshot.make
_make_final = FinalSnapshot.make
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_surrogates(text: str) -> str:
    """Pairs joined, lone halves replaced: UTF-16 with surrogatepass sees them as code units."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class ModelStream:
    """Push interface: `feed(text) -> Snapshot` per chunk, `close(error=None) -> FinalSnapshot`.

    `schema` is a pydantic model class or a list type such as `list[User]`.
    """

    def __init__(self, schema: Any, *, track_times: bool = False,
                 clock: Callable[[], float] = time.perf_counter,
                 started: float | None = None) -> None:
        self.schema = schema
        node = root_node(schema)
        self._builder = TypedBuilder(node)
        if node.kind == MODEL:
            self._builder.partial = new_partial(node)
        elif node.kind == LIST:
            self._builder.partial = []
        root = "{" if node.kind == MODEL else "[" if node.kind == LIST else "any"
        self.texts: list[str] = []
        self._high: str | None = None  # a high surrogate that ended the last chunk
        self._parser = JsonStream(self._builder, root=root, history=self.texts,
                                  replace_surrogates=True)
        #: The live Partial instance (a list for list schemas), filled in place.
        self.partial: Any = self._builder.partial
        self.total_leaves = node.nleaves or 1
        self._clock = clock
        self.track_times = track_times
        self.timings = Timings(started=clock() if started is None else started)
        self.error: ExtractionError | None = None
        #: What this stream's snapshots read: its live state, nothing else of the stream.
        self.view = LiveView(self._builder, self._parser.state, self.texts, self.total_leaves,
                             self.timings if track_times else None)

    # -- the live state -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.view.closed

    @property
    def raw(self) -> Any:
        return self.view.raw

    @property
    def done_order(self) -> dict[str, int]:
        return self.view.done_order

    @property
    def errors(self) -> dict[str, str]:
        return self._builder.errors

    @property
    def result(self) -> Any:
        return self.view.result

    @property
    def text(self) -> str:
        return self.view.text_upto(len(self.texts))

    @property
    def progress(self) -> float:
        return self._builder.finished / self.total_leaves

    def state(self, path: str) -> str:
        return self.view.state(path)

    def mark_first_token(self) -> None:
        """The first token of the answer arrived now. For a caller that sees tokens before
        they reach `feed` (an unwrapped or not yet parsable prefix); once only."""
        t = self.timings
        if t.first_token is None:
            t.first_token = self._clock() - t.started

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, text: str) -> Snapshot:
        """Parse one chunk. A malformed answer stops the parsing (the error is kept for the
        final snapshot); the text is still recorded, so nothing is lost."""
        if self._high is not None or not text.isascii():
            text = self._clean(text)
        self.texts.append(text)
        try:
            changes = self._parser.feed(text)  # raises again after an error or close()
        except JSONStreamError as exc:
            changes = self._builder.out if self.error is None else []
            self.error = self.error or exc
        if self.track_times:
            self._record_times(changes)
        b = self._builder  # made here, in one C call: this runs after every chunk
        return _make((self.view, changes, len(b.done), len(self.texts), b.errors, b.finished,
                      self.partial))

    def _clean(self, text: str) -> str:
        """Lone surrogates -> U+FFFD; a high one at the end waits for its pair's other half."""
        if self._high is not None:  # its pair's other half may start this chunk
            text, self._high = self._high + text, None
        if _SURROGATE.search(text) is None:  # accents, CJK, emoji: the usual non-ASCII text
            return text
        if "\ud800" <= text[-1] <= "\udbff":
            text, self._high = text[:-1], text[-1]
        return clean_surrogates(text)

    def close(self, error: ExtractionError | None = None, *, usage: dict[str, Any] | None = None,
              finish_reason: str | None = None) -> FinalSnapshot:
        """End of the stream: finish parsing and return the final snapshot. `error` is how
        the stream ended when it ended badly (truncated, refused, dropped, cancelled);
        `usage` and `finish_reason` are the server's, given to the final snapshot as they are."""
        changes: list[Change] = []
        if self._high is not None and not self.closed:  # a high surrogate whose pair never came
            self._high = None
            changes = list(self.feed("\ufffd").changes)
        if not self.closed:
            self.view.closed = True
            if self.error is None:
                changes += self._close_parser(error)
            if self.error is None and error is not None and not self._builder.root_valid:
                self.error = error
            if self.error is None and not self._builder.root_valid:
                self.error = self._validation_failed()
            if self.error is not None:
                self._attach(self.error)
            if self.track_times:
                self._record_times(changes)
        b = self._builder
        return _make_final((self.view, changes, len(b.done), len(self.texts), b.errors,
                            b.finished, self.partial, self.error, usage, finish_reason))

    def _close_parser(self, error: ExtractionError | None) -> list[Change]:
        try:
            return self._parser.close()
        except JSONStreamError as exc:
            # A stream that ended for a known reason explains the broken JSON better.
            self.error = error if error is not None else exc
            return self._builder.out

    def _validation_failed(self) -> ValidationFailed:
        errors = self._builder.errors
        fields = ", ".join(p or "(whole answer)" for p in errors) or "(unknown)"
        return ValidationFailed(f"the answer does not match the schema: {fields}")

    def _attach(self, error: ExtractionError) -> None:
        """Keep what arrived on the error, so a failure loses nothing."""
        if error.partial is None:
            error.partial = self._builder.partial
        error.errors = {**self._builder.errors, **error.errors}

    def _record_times(self, changes: list[Change]) -> None:
        t = self.timings
        now = self._clock() - t.started
        t.elapsed = now
        fields = t.fields
        for ch in changes:
            span = fields.get(ch.path)
            if span is None:
                fields[ch.path] = span = [now, None]
            if ch.state != STREAMING:
                span[1] = now
                if t.first_done is None and not isinstance(ch.value, _CONTAINERS):
                    t.first_done = now


def stream_model(schema: Any, chunks: Iterable[str], *,
                 track_times: bool = False) -> Iterator[Snapshot]:
    """One Snapshot per chunk, then a final one (`snap.final`: the validated model, or raises
    an ExtractionError carrying `.partial` and `.errors`)."""
    ms = ModelStream(schema, track_times=track_times)
    for chunk in chunks:
        yield ms.feed(chunk)
    yield ms.close()


def stream_items(schema: Any, chunks: Iterable[str], *, path: str = "") -> Iterator[Any]:
    """Each element of a list as soon as it is complete and valid: the list at `path`
    (`""` for a `list[Item]` schema, `"users"` for MeetingInfo.users). Raises the final
    ExtractionError, if any, after the valid items."""
    snap = None
    for snap in stream_model(schema, chunks):
        for ch in snap.changes:
            if type(ch) is Done and _is_item_of(ch.path, path):
                yield ch.value
    if snap is not None:
        snap.final  # noqa: B018 - raises the stream's error, if it failed


def _is_item_of(child: str, parent: str) -> bool:
    n = len(parent)
    return (child.startswith(parent) and child.endswith("]") and len(child) > n + 2
            and child[n] == "[" and child[n + 1 : -1].isdigit())
