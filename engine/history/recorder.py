"""The one writer of the run history: a pair of run hooks (`engine.runs.hooks`).

    recorder = install()          # the CLI (unless --no-history); the app passes its one store
    ...every run is now recorded...
    uninstall()

`on_start` writes the row (status running; the store's heartbeat pump keeps it alive) before the
request is sent; `on_end` writes the ending in the runner's thread once the request is closed,
so recording never holds up a chunk. An ending the database cannot take then is kept by the
store and written when it can be (`engine.store.pending`); `recording(run_id)` tells a view
which happened (`SAVED` or `PENDING`). A run without a `RunSpec` (a replay, a custom stream) is not
recorded. `FIELDSTREAM_HISTORY=off` means no recorder at all.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from engine.runs import hooks
from engine.runs.hooks import PartEnd, RunEnd, RunStart
from engine.runs.spec import SOURCE_BATCH, SOURCE_CLI, SOURCE_COMPARE, RunSpec
from engine.store import (
    HistorySettings,
    Store,
    StoredRun,
    StoreUnavailable,
    fingerprint,
    load_settings,
    open_store,
)
from engine.store.records import (
    JSON_FIELDS,
    MAX_COUNT,
    PART_JSON_FIELDS,
    StoredPart,
    json_problem,
)

log = logging.getLogger(__name__)

_OUTCOMES_KEPT = 256  # recording outcomes remembered, newest runs' (a view asks right away)


@lru_cache(maxsize=64)
def _schema_json(schema: Any) -> tuple[dict[str, Any], str]:
    """The JSON Schema of a schema class and its fingerprint (computed once per class)."""
    from pydantic import TypeAdapter

    json_schema = TypeAdapter(schema).json_schema()
    return json_schema, fingerprint(json_schema)


def schema_json(spec: RunSpec) -> tuple[dict[str, Any], str]:
    try:
        return _schema_json(spec.schema)
    except TypeError:  # an unhashable schema object: no cache
        json_schema = spec.json_schema()
        return json_schema, fingerprint(json_schema)


# The store's `source` for a spec's: the Extract and Schemas pages' runs are "page".
_STORED_SOURCE = {SOURCE_CLI: "cli", SOURCE_COMPARE: "compare", SOURCE_BATCH: "batch"}


def stored_source(spec: RunSpec) -> str:
    return _STORED_SOURCE.get(spec.source, "page")


def stored_run(start: RunStart, spec: RunSpec, who: str | None = None) -> StoredRun:
    """The row a run starts with: what was asked, where, by whom (never a key)."""
    json_schema, print_ = schema_json(spec)
    group = spec.group
    kind, group_id, member = (group.kind, group.id, group.member) if group else (None,) * 3
    return importable(StoredRun(
        id=start.run_id, schema_name=spec.schema_name, provider=spec.provider, model=spec.model,
        json_schema=json_schema, schema_fingerprint=print_, base_url_host=spec.base_url,
        mode=spec.mode, input_text=spec.text, source=stored_source(spec),
        group_kind=kind, group_id=group_id, group_member=member, ran_by=spec.who or who,
        started_at=_when(start.started_at),
        schema_version=spec.schema_version, document=spec.document,
    ))  # fmt: skip


def apply_end(run: StoredRun, end: RunEnd) -> StoredRun:
    """Fill in the ending: status, the result (or the partial), errors, usage, timings, chunks,
    and where each value stands in the text."""
    t = end.timings
    run.status = str(end.status)
    run.result = end.result if end.result is not None else end.partial
    run.field_errors = dict(end.field_errors) or None
    run.usage = end.usage
    run.ttft_ms = ms(t.first_token)
    run.first_field_ms = ms(t.first_done)
    run.total_ms = ms(t.total)
    run.ended_at = _when(t.ended_at)
    run.timeline = [(float(ms), delta) for ms, delta in end.chunks]
    run.set_grounding(end.grounding)
    run.parts = [stored_part(run.id, part) for part in end.parts]
    return importable(run)


def stored_part(run_id: str, part: PartEnd) -> StoredPart:
    """One part of a split run as `run_parts` keeps it (its answer: result, else partial)."""
    t = part.timings
    usage = part.usage
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    stored = StoredPart(
        idx=part.index, kind=part.kind, span_start=part.start, span_end=part.end,
        first_page=part.first_page, last_page=part.last_page, status=str(part.status),
        error_type=type(part.error).__name__ if part.error is not None else None,
        error_message=part.error_message, offset_ms=ms(part.offset),
        ttft_ms=ms(t.first_token), first_field_ms=ms(t.first_done), total_ms=ms(t.total),
        usage=usage,
        tokens=tokens if _count(tokens) else None,
        answer=part.result if part.result is not None else part.partial,
        grounding={path: g.to_json() for path, g in part.grounding.items()},
        timeline=[(float(ms), delta) for ms, delta in part.chunks],
    )  # fmt: skip
    for name in PART_JSON_FIELDS:  # as `importable` does for the run's own
        problem = json_problem(getattr(stored, name))
        if problem:
            log.warning("run %s, part %s: its %s %s; it is not recorded", run_id, part.index,
                        name, problem)
            setattr(stored, name, None)
    return stored


def importable(run: StoredRun) -> StoredRun:
    """Leave out a value the import would refuse (`json_problem`): a server's usage report is
    parsed by its client, not by our stream parser, and may nest 900 deep or hold Infinity.
    Kept, it would make every later JSON Lines export fail or not import again."""
    for name in JSON_FIELDS:
        problem = json_problem(getattr(run, name))
        if problem:
            log.warning("run %s: its %s %s; it is not recorded", run.id, name, problem)
            setattr(run, name, None)
    return run


class Recorder:
    """Writes a row when a run starts and its ending when it ends (see the module doc)."""

    def __init__(self, store: Store, who: str | None = None, *, owns_store: bool = True) -> None:
        self.store = store
        self.who = who
        self.owns_store = owns_store  # False: the app's store, which outlives this recorder
        self._open: dict[str, StoredRun] = {}
        self._outcomes: dict[str, str] = {}  # run id -> what finish() did, oldest first
        self._lock = threading.Lock()
        self._handle: hooks.RunHooks | None = None

    def register(self) -> Recorder:
        if self._handle is None:
            self._handle = hooks.register(on_start=self.on_start, on_end=self.on_end)
        return self

    def unregister(self) -> None:
        if self._handle is not None:
            hooks.unregister(self._handle)
            self._handle = None

    def on_start(self, start: RunStart) -> None:
        if start.spec is None:
            return
        run = stored_run(start, start.spec, self.who)
        with self._lock:
            self._open[run.id] = run
        try:
            self.store.start(run)
        except StoreUnavailable as exc:  # the run goes on; its end is written if the store is back
            log.warning("The start of run %s is not recorded: %s", run.id, exc)

    def on_end(self, end: RunEnd) -> None:
        with self._lock:
            run = self._open.pop(end.run_id, None)
        if run is None:
            if end.spec is None:
                return
            # The start was missed (registered mid-run): finish() writes the whole row.
            run = stored_run(RunStart(end.run_id, end.spec, end.timings.started_at), end.spec,
                             self.who)
        try:
            outcome = self.store.finish(apply_end(run, end))
        except StoreUnavailable as exc:  # one plain line: the message is safe, a trace is noise
            log.warning("Run %s is not recorded: %s", run.id, exc)
            return
        with self._lock:
            self._outcomes[run.id] = outcome
            while len(self._outcomes) > _OUTCOMES_KEPT:
                del self._outcomes[next(iter(self._outcomes))]

    def recording(self, run_id: str) -> str | None:
        """How the run's ending was recorded: `SAVED`, `PENDING` (the database was not
        reachable: it is written when it is), or None (not ended, not recorded, or failed)."""
        with self._lock:
            return self._outcomes.get(run_id)


_current: Recorder | None = None
_current_lock = threading.Lock()


def install(settings: HistorySettings | None = None, *, who: str | None = None,
            store: Store | None = None) -> Recorder | None:
    """Register the process's recorder for these settings (default: the environment), in place
    of any earlier one; None (and nothing registered) when the history is off. `store`: write
    through this one (the app's, which its pages read too) instead of opening one."""
    global _current
    settings = settings or load_settings()
    with _current_lock:
        old = _current
        if old is not None and old.who == who and (
            old.store is store if store is not None else
            old.store.url == settings.url and old.store.keep_input == settings.keep_input
        ):
            return old
        if old is not None:
            old.unregister()
            _current = None
        if not settings.enabled:
            return None
        _current = Recorder(store or open_store(settings), who,
                            owns_store=store is None).register()
        return _current


def uninstall() -> None:
    """Unregister the process's recorder and close its store (unless it was handed one)."""
    global _current
    with _current_lock:
        old, _current = _current, None
    if old is not None:
        old.unregister()
        if old.owns_store:
            old.store.close()


def current() -> Recorder | None:
    return _current


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def ms(seconds: float | None) -> float | None:
    """Seconds as the milliseconds a run row stores (a lane's summary shows the same)."""
    return None if seconds is None else round(seconds * 1000.0, 3)
