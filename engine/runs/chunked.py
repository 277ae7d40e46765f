"""A run over a text too long for one request: split into parts, merged live into one answer.

The text is split at paragraph or sentence boundaries with an overlap
(`engine.documents.chunks.split_text`), each part sized to the model's context minus the
instruction, the schema and the answer's room (`engine.llm.budget.part_chars`; the local model
counts its own tokens). Each part is an ordinary `Runner` of its own request (its own
grounding, on its own text), started through the provider's limiter (`runs.limits`): parts run
in parallel up to the provider's limit (the local model's slots) and wait in line holding no
thread. A `ChunkedRunner` is the one run a view and the history see: whenever a part's values
change it merges what every part has done so far (`engine.runs.merge`) into its own form
cells, so each field fills in as the parts complete. Stop stops every part and keeps what was
merged; a failed part is named (`PartsFailed`) and the others still merge. Optional extra
passes (`RunSpec.passes`) read the parts again, asking for the fields still empty.

The parts are not runs of their own for the hooks (`Runner.announce`): the run's report carries
them (`RunEnd.parts`), and the history keeps them as the run's parts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.documents.chunks import TextChunk, split_text
from engine.errors import (
    ExtractionError,
    PartsFailed,
    ProviderError,
    StreamInterrupted,
    ValidationFailed,
)
from engine.grounding import Grounding
from engine.llm.request import DEFAULT_SYSTEM
from engine.runs.display import json_text
from engine.runs.hooks import PartEnd, RunEnd
from engine.runs.limits import Limiter
from engine.runs.merge import PartValues, merge, missing
from engine.runs.runner import Runner, StreamFactory
from engine.runs.spec import RunSpec
from engine.runs.state import WAIT_TURN, LeafData, PartsProgress
from engine.runs.status import RunStatus
from engine.schemas.fields import FieldNode
from engine.stream import paths
from engine.stream.changes import DONE

KIND_CHUNK, KIND_PASS = "chunk", "pass"
#: Characters two neighbouring parts share (a value cut at a boundary is whole in one of
#: them); at most a tenth of a part.
OVERLAP_CHARS = 300
#: Merges a second at most: a merge reads every part's cells.
MERGE_HZ = 10.0
#: How long the report waits for stopped parts to close their requests.
PART_CLOSE_WAIT = 2.0
#: Said to the model on an extra pass: the fields the first reading left empty.
PASS_HINT = ("An earlier reading of this text found no value for: {fields}. Read it again "
             "carefully and fill those in if the text states them; leave the rest as they are.")

#: The stream of one part: its spec (the part's text; passes their hint) -> a factory.
PartFactory = Callable[[RunSpec], StreamFactory]
#: Plans the parts (in the run's thread: it may start the local model to count tokens).
Planner = Callable[[], Sequence[TextChunk]]


@dataclass
class _Part:
    index: int
    kind: str
    chunk: TextChunk
    runner: Runner


class ChunkedRunner(Runner):
    """One run over a split text (see the module's doc). `plan` gives the parts' spans,
    `part_factory` each part's stream; `limiter` / `waits_for` are the provider's (each part
    takes its place there; this run takes none); `on_part(line)` hears each part end;
    `stagger`: the other parts start once the first has a value (`_await_first_value`);
    `announce=False`: the hooks hear nothing of it (a replay is not a run)."""

    def __init__(
        self, leaves: list[FieldNode], spec: RunSpec, *, plan: Planner,
        part_factory: PartFactory, limiter: Limiter | None = None,
        waits_for: str = WAIT_TURN, secret: str | None = None,
        on_part: Callable[[str], None] | None = None, stagger: bool = False,
        announce: bool = True, run_id: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(leaves, _no_stream, secret=secret, spec=spec, announce=announce,
                         run_id=run_id)
        self.spec: RunSpec = spec
        self._nodes = leaves
        self._plan = plan
        self._part_factory = part_factory
        self._limiter, self._waits_for = limiter, waits_for
        self._parts: list[_Part] = []
        self._wake_parts = threading.Event()
        self._first_request: float | None = None  # perf_counter when a part's request began
        self._on_part = on_part
        self._stagger = stagger
        self._told: set[int] = set()  # the parts whose end on_part has heard
        self.cancel.on_set(self._stop_parts)

    def start(self, limiter: Limiter | None = None, waits_for: str = WAIT_TURN) -> Runner:
        """Start at once: the parts take their places with the limiter, not this run."""
        return super().start(None)

    # --- the run's thread ---------------------------------------------------------------

    def _stream(self) -> None:
        self._announce_start()
        self._grounder.start(None)  # each part grounds its own text; the merge shifts it
        try:
            chunks = list(self._plan())
            self._run_parts([(KIND_CHUNK, c, None) for c in chunks])
            for _ in range(self.spec.passes):
                if self.cancel.is_set() or not self._extra_pass():
                    break
            if not self.cancel.is_set():
                self._finish_merge()
        except (ExtractionError, ProviderError) as exc:
            self._finish_error(exc)
        except Exception as exc:  # a bug: say it, keep what was merged
            self._finish_error(StreamInterrupted(f"{type(exc).__name__}: {exc}"))
        finally:
            self._stop_parts()
            self._finish_unended()
            self._report_end()

    def _run_parts(self, wanted: list[tuple[str, TextChunk, str | None]]) -> None:
        """Start these parts (kind, span, the pass's hint) and merge until all have ended."""
        if not wanted:
            return
        started = [self._start_part(*wanted[0])]
        if len(wanted) > 1:
            if self._stagger:
                self._await_first_value(started[0])
            started += [self._start_part(kind, chunk, hint) for kind, chunk, hint in wanted[1:]]
        while not self.cancel.is_set():
            self._merge_when_changed()
            if all(p.runner.ended for p in started):
                for part in started:
                    part.runner.wait(PART_CLOSE_WAIT)  # its last values grounded
                self._remerge()
                return
            time.sleep(1.0 / MERGE_HZ)  # coalesce: many parts change many times a second

    def _await_first_value(self, first: _Part) -> None:
        """The other parts wait until the first has a value (or has ended): on a model that
        reads every prompt on the same cores (the local model's slots), a second prompt read
        beside the first would halve its speed, and a person waits for the first field."""
        while not self.cancel.is_set() and not first.runner.ended:
            self._merge_when_changed()
            if any(d.cell.state == DONE or d.items for d in first.runner.leaves_copy().values()):
                return

    def _merge_when_changed(self) -> None:
        """Wait until a part's values change (at most half a second), then merge."""
        self._wake_parts.wait(0.5)
        self._wake_parts.clear()
        self._remerge()

    def _start_part(self, kind: str, chunk: TextChunk, hint: str | None) -> _Part:
        text = self.spec.text[chunk.start:chunk.end]
        # No words about being a part: on the 0.5B model they cost the meeting's chair (a
        # 24,500-character test document: Anna Berg no longer found) and gained nothing.
        system = self.spec.system
        if hint:
            system = f"{system or DEFAULT_SYSTEM}\n\n{hint}"
        part_spec = dataclasses.replace(self.spec, text=text, system=system, group=None,
                                        document=None, chunking="auto", passes=0,
                                        schema=part_schema(self.spec.schema))
        runner = Runner(self._nodes, self._part_factory(part_spec), secret=self._state.secret,
                        spec=part_spec, announce=False)
        with self._lock:
            part = _Part(len(self._parts), kind, chunk, runner)
            self._parts.append(part)
            self._state.parts = self._progress()
        runner.subscribe(self._wake_parts)
        if self.cancel.is_set():
            runner.stop()
        else:
            runner.start(self._limiter, self._waits_for)
        return part

    def _extra_pass(self) -> bool:
        """Read every chunk again for the fields still empty; False when none is."""
        with self._lock:
            empty = missing(self._state.leaves)
            chunks = [p.chunk for p in self._parts if p.kind == KIND_CHUNK]
        if not empty:
            return False
        hint = PASS_HINT.format(fields=", ".join(empty))
        self._run_parts([(KIND_PASS, c, hint) for c in chunks])
        return True

    def _remerge(self) -> None:
        with self._lock:
            parts = list(self._parts)
        views = [PartValues(p.index, p.chunk.start, p.runner.leaves_copy()) for p in parts]
        merged = merge(self._nodes, views)
        now = time.perf_counter()
        with self._lock:
            state = self._state
            if state.status.ended:
                return  # stopped: keep exactly what the view was told
            self._note_parts(parts)
            changed = state.put_leaves(merged, now, self._first_request)
            ended = [p for p in parts if p.runner.ended and p.index not in self._told]
            self._told.update(p.index for p in ended)
            if changed:
                self._grounder.adopt(groundings(state.leaves))
            state.answer = answers(parts)
            state.answer_dirty = True
            state.parts = self._progress()
        self._signal()
        for part in ended:
            self._tell(part, len(parts))

    def _tell(self, part: _Part, total: int) -> None:
        if self._on_part is None:
            return
        status = part.runner.status
        values = sum(1 for d in part.runner.leaves_copy().values() if d.cell.state == DONE)
        line = f"{self.part_name(part, total)}: {status}"
        line += f" · {values} values" if status is RunStatus.DONE else f" · {part.runner.error}"
        with contextlib.suppress(Exception):  # a listener never breaks the run
            self._on_part(line)

    def _note_parts(self, parts: list[_Part]) -> None:
        """The run's numbers from its parts' (lock held)."""
        metrics = self._state.metrics
        firsts, chunks, tokens = [], 0, 0
        for part in parts:
            m = part.runner.metrics_copy()
            chunks += m.chunks
            tokens += m.completion_tokens or 0
            if m.wait is not None and m.first_token is not None:
                firsts.append(part.runner.started + m.wait + m.first_token)
            if m.wait is not None and (m.chunks or part.runner.ended):
                begun = part.runner.started + m.wait
                if self._first_request is None or begun < self._first_request:
                    self._first_request = begun
        metrics.chunks = chunks
        metrics.completion_tokens = tokens or None
        if self._first_request is not None:
            metrics.wait = max(0.0, self._first_request - self._state.started)
            if firsts:
                metrics.first_token = max(0.0, min(firsts) - self._first_request)

    def _progress(self) -> PartsProgress:
        """How far the parts are (lock held)."""
        done = failed = running = 0
        for part in self._parts:
            status = part.runner.status
            if status is RunStatus.DONE:
                done += 1
            elif status.ended:
                failed += 1
            elif part.runner.waiting is None and part.runner.begun:
                running += 1
        return PartsProgress(len(self._parts), done, failed, running)

    def _finish_merge(self) -> None:
        """Every part has ended: the merged answer is the run's, checked against the schema;
        failed parts are named."""
        with self._lock:
            parts = list(self._parts)
            value = self._state.mirror()
        failed = [p for p in parts if _failed(p.runner.status)]
        error: ExtractionError | None = None
        result: Any = None
        if failed:
            error = self._parts_failed(failed, len(parts), value)
        else:
            result, error = _validated(self.spec.schema, value)
        with self._lock:
            state = self._state
            if state.status.ended:
                return
            state.result = result
            state.value = value
            state.json, state.json_dirty = json_text(value), True
            state.settle(error, time.perf_counter())
            if error is not None and isinstance(error, ExtractionError) and error.errors:
                state.errors = dict(error.errors)
            self._ended_at = time.time()
        self._signal()

    def _parts_failed(self, failed: list[_Part], total: int, value: Any) -> PartsFailed:
        names = tuple(f"{self.part_name(p, total)}: {p.runner.error}" for p in failed)
        kept = total - len(failed)
        message = (f"{len(failed)} of {total} parts failed ({'; '.join(names)}). "
                   f"What the other {kept} found is merged and kept.")
        return PartsFailed(message, failed=names, partial=value)

    def part_name(self, part: _Part, total: int) -> str:
        """"chunk 3 of 7 (pages 5–6)": how a person finds the part in the document."""
        name = f"{part.kind} {part.index + 1} of {total}"
        document = self.spec.document
        if document is not None and document.pages > 1:
            first, last = document.pages_of(part.chunk.start, part.chunk.end)
            name += f" (page {first})" if first == last else f" (pages {first}–{last})"
        return name

    def _stop_parts(self) -> None:
        with self._lock:
            parts = list(self._parts)
        for part in parts:
            part.runner.stop()

    # --- what it leaves behind ----------------------------------------------------------

    def _report_end(self) -> None:
        with self._lock:
            parts = list(self._parts)
        for part in parts:
            part.runner.wait(PART_CLOSE_WAIT)
        super()._report_end()

    def report(self) -> RunEnd:
        end = super().report()
        with self._lock:
            parts = list(self._parts)
        return dataclasses.replace(end, chunks=(), parts=tuple(self._part_end(p)
                                                               for p in parts))

    def _part_end(self, part: _Part) -> PartEnd:
        own = part.runner.report()
        start, end = part.chunk.start, part.chunk.end
        document = self.spec.document
        first, last = document.pages_of(start, end) if document is not None else (1, 1)
        offset = own.timings.started_at - self._started_at + (own.timings.wait or 0.0)
        return PartEnd(
            index=part.index, kind=part.kind, start=start, end=end, first_page=first,
            last_page=last, status=own.status, result=own.result, partial=own.partial,
            error=own.error, usage=own.usage, timings=own.timings, offset=max(0.0, offset),
            chunks=own.chunks,
            grounding={path: g.shifted(start) for path, g in own.grounding.items()},
        )  # fmt: skip

    def timeline(self) -> list[dict[str, Any]]:
        """One bar per part, from its request's start to its end (seconds from the first
        part's request), for the same chart a run's fields get: where the time of a split
        run went."""
        with self._lock:
            parts = list(self._parts)
            origin = self._first_request
            now = time.perf_counter()
        rows = []
        for part in parts:
            m = part.runner.metrics_copy()
            if m.wait is None:
                continue  # still in line: no request yet
            begun = part.runner.started + m.wait
            base = origin if origin is not None else begun
            ended = part.runner.ended
            end = part.runner.started + m.elapsed if ended else now
            rows.append({"field": self.part_name(part, len(parts)),
                         "start": round(begun - base, 4), "end": round(end - base, 4),
                         "state": "done" if part.runner.status is RunStatus.DONE
                         else "unfinished"})
        return rows

    @property
    def parts(self) -> list[tuple[str, TextChunk, RunStatus]]:
        """Each part's kind, span and status, in order."""
        with self._lock:
            return [(p.kind, p.chunk, p.runner.status) for p in self._parts]


@functools.lru_cache(maxsize=64)
def part_schema(schema: Any) -> Any:
    """What a part is asked for: the schema with each top-level field optional (null when
    the part does not mention it), so a part that lacks a value need not invent one to fill
    a required field; the merged answer is checked against `schema` itself. Nested models and
    list items keep their own rules (their paths, and so the form's cells, are the same)."""
    from pydantic import BaseModel, Field, create_model

    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return schema  # a list root: its items are the parts' own finds already
    fields: dict[str, Any] = {
        name: (info.annotation | None, Field(None, description=info.description,
                                             title=info.title, alias=info.alias))
        for name, info in schema.model_fields.items()}
    return create_model(schema.__name__, __doc__=schema.__doc__, **fields)


def _no_stream(cancel: threading.Event) -> Any:
    raise AssertionError("a split run streams through its parts")  # never called


def _failed(status: RunStatus) -> bool:
    """A part that gave nothing to merge (an invalid one still has its done values)."""
    return status.ended and status not in (RunStatus.DONE, RunStatus.INVALID)


def _validated(schema: Any, value: Any) -> tuple[Any, ExtractionError | None]:
    """The merged answer as the schema's type, or why it is not one (by path)."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(schema).validate_python(value), None
    except ValidationError as exc:
        errors = {paths.join(err["loc"]): err["msg"] for err in exc.errors()}
        fields = ", ".join(p or "(whole answer)" for p in errors)
        return None, ValidationFailed(f"the merged answer does not match the schema: {fields}",
                                      partial=value, errors=errors)


def groundings(leaves: dict[str, LeafData]) -> dict[str, Grounding]:
    """Path -> grounding of every merged value that has one (the form's own paths)."""
    out: dict[str, Grounding] = {}
    for key, data in leaves.items():
        if data.cell.grounding is not None:
            out[key] = data.cell.grounding
        for i, cell in enumerate(data.items):
            if cell.grounding is not None:
                out[f"{key}[{i}]"] = cell.grounding
        for i, row in enumerate(data.cells):
            for column, cell in row.items():
                if cell.grounding is not None:
                    out[paths.child(f"{key}[{i}]", column)] = cell.grounding
    return out


def answers(parts: list[_Part]) -> str:
    """The parts' own answers, one after another, each under its name (the Raw tab)."""
    blocks = []
    total = len(parts)
    for part in parts:
        text = part.runner.answer
        if text:
            blocks.append(f"--- {part.kind} {part.index + 1} of {total} ---\n{text}")
    return "\n\n".join(blocks)


def plan_parts(spec: RunSpec, provider: Any) -> list[TextChunk]:
    """The parts of `spec`'s text for `provider`: each part's text sized to the model's
    context (the local model counts the instruction, the schema and a sample of the text in
    its own tokens; other models are estimated). Starts the local model when needed."""
    from engine import settings
    from engine.llm.budget import (
        SPLIT_CHARS_PER_TOKEN,
        UNKNOWN_WINDOW,
        check_length,
        context_window,
        estimate_tokens,
        part_chars,
        prompt_chars,
    )
    from engine.llm.extract import build_request
    from engine.runs.limits import local_server

    check_length(spec.text, settings.max_text_chars())
    empty = build_request(dataclasses.replace(spec.request, text=""))
    server = local_server(provider, spec.model)
    if server is not None:
        window = int(server.slot_ctx)
        overhead = server.count_tokens(empty["messages"])
        per_token = _chars_per_token(server, spec.text)
    else:
        window = context_window(provider.kind, spec.model) or UNKNOWN_WINDOW
        overhead = estimate_tokens(prompt_chars(empty))
        per_token = SPLIT_CHARS_PER_TOKEN
    size = part_chars(overhead, window, spec.max_tokens, per_token)
    return split_text(spec.text, size, min(OVERLAP_CHARS, size // 10))


#: Characters of the text the local model tokenizes to learn its characters per token.
SAMPLE_CHARS = 12_000


def _chars_per_token(server: Any, text: str) -> float:
    sample = text[:SAMPLE_CHARS]
    base = server.count_tokens([{"role": "user", "content": ""}])
    tokens = server.count_tokens([{"role": "user", "content": sample}]) - base
    return len(sample) / max(tokens, 1)


def split_needed(spec: RunSpec, provider: Any) -> bool:
    """Whether `spec` runs split: chunking `always`, or a text that does not fit the model
    (judged on its length, without starting the local model: `budget.needs_split`)."""
    from engine.llm.budget import context_window, needs_split
    from engine.llm.extract import build_request
    from engine.settings import CHUNKING_ALWAYS

    if spec.chunking == CHUNKING_ALWAYS:
        return True
    local_ctx = None
    if provider.kind == "local":
        from engine.local.server import ServerSettings

        local_ctx = ServerSettings.from_env().ctx
    window = context_window(provider.kind, spec.model, local_ctx)
    if window is None:
        return False  # a server that does not say its context: its own error says too long
    return needs_split(build_request(spec.request), window, spec.max_tokens)


