"""The work of `fieldstream batch …` and `fieldstream worker` (their arguments:
`engine.batch.commands`, whose docstring says what each does)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TextIO

from engine import settings
from engine.batch import executors, queue, records, service
from engine.batch.commands import CommandError, PickProvider
from engine.batch.model import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    INVALID,
    QUEUED,
    RUNNING,
    STATUSES,
    Batch,
    BatchSpec,
    Counts,
    queue_name,
)
from engine.documents.batch_input import CSV_SUFFIXES, InputItem, iter_inputs
from engine.documents.model import DocumentError
from engine.store import Store
from engine.stream.terminal import escape

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FINISH_SECONDS = 3600  # leaving: how long the documents in hand may take to end
SETTLE_SECONDS = 3.0  # leaving: how long the last workflows may take to write their end
WATCH_EVERY = 0.25  # seconds between looks at the batch's counts while waiting
PLAIN_EVERY = 5.0  # without a terminal: seconds between progress lines


# --- entry points ----------------------------------------------------------------------------


def run_batch(args: argparse.Namespace, out: TextIO, err: TextIO, *, pick: PickProvider,
              who: str | None = None) -> int:
    with _store() as store:
        if args.op == "start":
            return _start(store, args, out, err, pick, who)
        if args.op == "list":
            return _list(store, args.limit, out)
        batch = _batch(store, args.id)
        if args.op == "status":
            return _status(store, batch, out, as_json=args.json)
        if args.op == "export":
            return _export(store, batch, args, err)
        if args.op == "stop":
            return _stop(store, batch, err)
        return _again(store, batch, args, out, err, pick)


def run_worker(args: argparse.Namespace, err: TextIO) -> int:
    from engine.batch.worker import serve

    executor = args.id or settings.executor_id() or queue.default_executor("worker")
    with _store() as store:
        return serve(store, executor, say=lambda line: print(escape(line), file=err,
                                                             flush=True))


@contextmanager
def _store() -> Iterator[Store]:
    """The history database (batches live there); StoreUnavailable says why it cannot be."""
    from engine.store import load_settings

    history = load_settings()
    if not history.enabled:
        raise CommandError("Batches are kept in the history database, which is off "
                           "(FIELDSTREAM_HISTORY=off): turn it on to run batches.")
    store = Store.from_settings(history).open()
    try:
        yield store
    finally:
        store.close()


def _batch(store: Store, batch_id: str) -> Batch:
    batch = records.get(store, batch_id.strip())
    if batch is None:
        raise CommandError(f"No batch {batch_id!r}: `fieldstream batch list` shows the "
                           "recent ones.")
    return batch


# --- start -----------------------------------------------------------------------------------


def _start(store: Store, args: argparse.Namespace, out: TextIO, err: TextIO,
           pick: PickProvider, who: str | None) -> int:
    if args.passes < 0:
        raise CommandError("--passes takes 0 or more.")
    schema_name, version = _schema(store, args.schema, args.schema_version)
    provider, model, mode = pick(args.provider, args.model, args.mode)
    if provider.needs_key:
        raise CommandError(f"{provider.name} needs an API key: set it in the environment or "
                           "secrets.toml (a key typed in the app's browser stays there).")
    docs = list(service.inputs_from(gather(args.inputs, text_column=args.text_column)))
    spec = BatchSpec(schema_name, provider.name, model, mode, schema_version=version,
                     chunking=args.chunking or settings.chunking(), passes=args.passes,
                     who=who, reuse=args.reuse)
    _say(err, f"{provider.name} · {model} · {mode} · {schema_name}"
              f"{f' v{version}' if version else ''} · {len(docs)} documents")
    with on_queue(store, None if args.no_wait else queue_name(provider.name)):
        batch = service.start_batch(store, spec, docs, provider, name=args.name)
        if args.no_wait:
            return _queued_only(store, batch, out, err)
        return _watch_and_sum_up(store, batch, out, err)


def _schema(store: Store, name: str, version: str | None) -> tuple[str, str | None]:
    """The schema's name and version as the batch pins them (workers look it up by name, so
    a `module:Class` cannot be a batch's schema)."""
    from engine.schemas.library import SCHEMAS
    from engine.schemas.resolve import resolve_schema

    if ":" in name:
        raise CommandError(f"A batch's schema must be a library or saved schema (each worker "
                           f"looks it up by name), not {name!r}: save it first with "
                           "`fieldstream schemas import`.")
    try:
        choice = resolve_schema(store, name, version)
    except ValueError as exc:
        raise CommandError(f"{exc} Library schemas: {', '.join(SCHEMAS)}; saved: "
                           "`fieldstream schemas list`.") from None
    return choice.name, str(choice.version) if choice.version is not None else None


def gather(paths: Sequence[str], *, text_column: str | None = None) -> Iterator[InputItem]:
    """The documents of these files and folders, in order: a folder's files recursively,
    sorted, hidden ones skipped; duplicates found across all of them (one shared `seen`). A
    file that cannot be read is an item with its reason; a path that does not exist, or a
    folder with no file, is a `CommandError` (before anything is stored)."""
    files = [f for path in paths for f in _files(Path(path))]
    max_bytes = settings.max_file_bytes()
    seen: MutableMapping[str, str] = {}
    for path, name in files:
        data = _read(path, name, max_bytes)
        if isinstance(data, DocumentError):
            yield InputItem(name, name, error=data)
            continue
        column = text_column if path.suffix.lower() in CSV_SUFFIXES else None
        yield from iter_inputs(name, data, text_column=column, seen=seen)


def _files(path: Path) -> list[tuple[Path, str]]:
    """(path, shown name) of a file argument, or of a folder's files (names relative to it)."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not found:
            raise CommandError(f"The folder {escape(str(path))} has no files (hidden files "
                               "are skipped).")
        return [(p, p.relative_to(path).as_posix()) for p in found]
    if not path.exists():
        raise CommandError(f"No such file or folder: {escape(str(path))}")
    return [(path, path.name)]


def _read(path: Path, name: str, max_bytes: int) -> bytes | DocumentError:
    """The file's bytes, or why they cannot be had (a file over the limit is not read; an
    archive or a CSV is checked member by member, row by row, by `iter_inputs`)."""
    try:
        size = path.stat().st_size
        if size > max_bytes and path.suffix.lower() not in (".zip", *CSV_SUFFIXES):
            return DocumentError(name, f"the file is {size / 2**20:.1f} MB; the limit is "
                                       f"{max_bytes / 2**20:.0f} MB.")
        return path.read_bytes()
    except OSError as exc:
        return DocumentError(name, f"cannot be read: {exc.strerror or exc}.")


@contextmanager
def on_queue(store: Store, serve: str | Sequence[str] | None) -> Iterator[None]:
    """This process on the batch queue for one command. `serve`: the queue (or queues: an
    evaluation's lanes) whose documents it runs (recording their runs) while the command
    waits; None: it takes none (it only queues or cancels). Leaving, it finishes what it
    holds (Ctrl-C then: hands them back now)."""
    from engine.history import recorder

    executor = settings.executor_id() or f"cli-{socket.gethostname()}-{os.getpid()}"
    queues = [serve] if isinstance(serve, str) else list(dict.fromkeys(serve or ()))
    waiting = bool(queues)
    if waiting:
        recorder.install(store=store)
    queue.launch(store, executor_id=executor, role="cli", listen=queues)
    try:
        yield
    finally:
        try:
            _leave(executor, waiting)
        except KeyboardInterrupt:
            hand_back()
        finally:
            if waiting:
                recorder.uninstall()


def _leave(executor: str, waiting: bool) -> None:
    """Off the queue. The last documents' workflows are still writing their end for a moment
    (their rows already say done): give them `SETTLE_SECONDS`, looking often (DBOS's own
    wait looks once a second). Holding none then: leave at once, handing back, so that one
    taken in the meantime is run by the others rather than lost. Still holding some (another
    batch's, from the same queue): finish them first."""
    if not waiting:
        queue.shutdown(hand_back=False)
        return
    from dbos import DBOS

    def holding() -> bool:
        return bool(DBOS.list_workflows(status="PENDING", executor_id=executor, limit=1,
                                        load_input=False, load_output=False))

    deadline = time.monotonic() + SETTLE_SECONDS
    while (held := holding()) and time.monotonic() < deadline:
        time.sleep(0.05)
    queue.shutdown(finish_seconds=FINISH_SECONDS if held else 0, hand_back=not held)


def hand_back() -> None:
    """Leave now: the documents in hand are taken over by the others at their next beat."""
    runtime = queue.current()
    if runtime is not None and runtime.heartbeat is not None:
        runtime.heartbeat.stop(hand_back=True)
    os._exit(EXIT_INTERRUPTED)  # the requests in flight die with us; their documents run again


def _queued_only(store: Store, batch: Batch, out: TextIO, err: TextIO) -> int:
    print(batch.id, file=out, flush=True)
    mine = queue.current()
    others = [who for who, _ in executors.alive(store, within=_stale_after())
              if mine is None or who != mine.executor_id]
    if not others:
        _say(err, "no worker or app is running: start `fieldstream worker` (or the app) to "
                  "run this batch")
    _say(err, f"queued; see `fieldstream batch status {batch.id}`")
    return EXIT_OK


def _stale_after() -> float:
    return settings.worker_heartbeat() * settings.STALE_BEATS


# --- waiting -----------------------------------------------------------------------------------


def _watch_and_sum_up(store: Store, batch: Batch, out: TextIO, err: TextIO) -> int:
    """Run until the batch has nothing queued or running, with a progress bar; the summary.
    Ctrl-C: stop the batch, wait for the running ones, say how to resume."""
    started = time.monotonic()
    try:
        counts = watch(store, batch, err)
    except KeyboardInterrupt:
        _say(err, "stopping: queued documents are cancelled, running ones end keeping what "
                  "arrived (Ctrl-C again leaves at once)…")
        try:
            service.stop(store, batch.id)
            counts = watch(store, batch, err)
        except KeyboardInterrupt:
            hand_back()
        summary(store, batch, counts, time.monotonic() - started, out)
        print(f"stopped: go on with `fieldstream batch resume {batch.id}`", file=out,
              flush=True)
        return EXIT_INTERRUPTED
    summary(store, batch, counts, time.monotonic() - started, out)
    return EXIT_OK if counts.total == sum(counts[s] for s in FINISHED) else EXIT_FAILED


def watch(store: Store, batch: Batch, err: TextIO, *, every: float = WATCH_EVERY) -> Counts:
    """Poll the batch's counts until none is queued or running, drawing them on `err` (a tqdm
    bar on a terminal, a line every few seconds elsewhere)."""
    bar = _Bar(err, batch.total)
    try:
        while True:
            counts = records.counts(store, batch.id)
            bar.show(counts)
            if counts.left == 0:
                return counts
            time.sleep(every)
    finally:
        bar.close()


class _Bar:
    def __init__(self, err: TextIO, total: int) -> None:
        from tqdm import tqdm

        self.err, self.started = err, time.monotonic()
        self.tty = bool(getattr(err, "isatty", lambda: False)())
        self.bar = tqdm(total=total, file=err, unit="doc", dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {postfix}") \
            if self.tty else None
        self.last: tuple[int, float] | None = None

    def show(self, counts: Counts) -> None:
        minutes = max(time.monotonic() - self.started, 1.0) / 60
        rate = f"{counts.ended / minutes:.1f} docs/min" if counts.ended else "—"
        line = (f"done {counts[DONE]} · failed {counts[FAILED]} · running {counts[RUNNING]} · "
                f"{rate}")
        if self.bar is not None:
            self.bar.n = counts.ended
            self.bar.set_postfix_str(line, refresh=True)
            return
        now = time.monotonic()
        if self.last is None or counts.left == 0 or (
                counts.ended != self.last[0] and now - self.last[1] >= PLAIN_EVERY):
            _say(self.err, f"{counts.ended} of {counts.total} ended · {line}")
            self.last = (counts.ended, now)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary(store: Store, batch: Batch, counts: Counts, seconds: float, out: TextIO) -> None:
    """What the batch came to: its counts, the failed ones with why, the duplicates, its
    time and tokens, and what to run next."""
    print(f"batch {batch.id}: {counts.total} documents · "
          f"{' · '.join(f'{s} {counts[s]}' for s in (DONE, INVALID, FAILED, CANCELLED))}",
          file=out)
    for item in records.items(store, batch.id, statuses=[FAILED]):
        print(f"  failed  {escape(item.name)}: {escape(item.reason or 'no reason given')}",
              file=out)
    names = {i.idx: i.name for i in records.items(store, batch.id)}
    for item in records.items(store, batch.id):
        if item.duplicate_of is not None:
            print(f"  same as {escape(names.get(item.duplicate_of, '?'))}: "
                  f"{escape(item.name)} (run once)", file=out)
    print(f"time {_seconds(seconds)} · tokens {counts.tokens:,}", file=out)
    print(f"next: fieldstream batch export {batch.id} --as csv   (or jsonl, xlsx)", file=out)
    if counts[FAILED]:
        print(f"      fieldstream batch retry {batch.id}   (the failed ones again)", file=out)
    if counts[CANCELLED]:
        print(f"      fieldstream batch resume {batch.id}", file=out)
    out.flush()


def _seconds(value: float) -> str:
    minutes, secs = divmod(value, 60)
    return f"{int(minutes)} min {secs:.0f} s" if minutes else f"{secs:.1f} s"


def _say(err: TextIO, line: str) -> None:
    print(escape(f"# {line}"), file=err, flush=True)


# --- resume, retry, stop ---------------------------------------------------------------------


def _again(store: Store, batch: Batch, args: argparse.Namespace, out: TextIO, err: TextIO,
           pick: PickProvider) -> int:
    """`resume` / `retry`: queue the documents again on the batch's provider, then wait."""
    if batch.spec.session_key:
        raise CommandError("This batch's API key was typed in a browser: resume it on the "
                           "app's Batch page, where the key is typed again.")
    provider, _, _ = pick(batch.spec.provider, batch.spec.model, None)
    if provider.name != batch.spec.provider:
        raise CommandError(f"This machine has no provider named {batch.spec.provider!r} "
                           "(providers.json, environment): `fieldstream providers` lists "
                           "them.")
    with on_queue(store, None if args.no_wait else batch.spec.queue()):
        if args.op == "resume":
            count = service.resume(store, batch.id, provider)
            _say(err, f"{count} documents queued again")
        else:
            count = service.retry_failed(store, batch.id, provider)
            _say(err, f"{count} failed documents queued again")
        if args.no_wait:
            return _queued_only(store, batch, out, err)
        return _watch_and_sum_up(store, batch, out, err)


def _stop(store: Store, batch: Batch, err: TextIO) -> int:
    # On the queue (taking nothing) so the queued documents leave it, not only their rows.
    with on_queue(store, None):
        count = service.stop(store, batch.id)
    _say(err, f"stopped: {count} queued documents cancelled; running ones end within a second "
              f"keeping what arrived. Go on with `fieldstream batch resume {batch.id}`")
    return EXIT_OK


# --- reading -----------------------------------------------------------------------------------


def _status(store: Store, batch: Batch, out: TextIO, *, as_json: bool) -> int:
    figures = service.progress(store, batch)
    counts = figures.counts
    failed = [{"document": i.name, "reason": i.reason}
              for i in records.items(store, batch.id, statuses=[FAILED])]
    if as_json:
        spec = json.loads(batch.spec.to_json())
        print(json.dumps({
            "id": batch.id, "name": batch.name, "state": batch.state,
            "created_at": batch.created_at.isoformat(), "created_by": batch.created_by,
            "spec": spec, "total": counts.total,
            "counts": {s: counts[s] for s in STATUSES}, "left": counts.left,
            "per_minute": figures.per_minute, "eta_seconds": figures.eta_seconds,
            "tokens": counts.tokens, "prompt_tokens": counts.prompt_tokens,
            "completion_tokens": counts.completion_tokens, "cost": figures.cost,
            "failed": failed,
        }, ensure_ascii=False), file=out)  # fmt: skip
        return EXIT_OK
    spec = batch.spec
    name = f" “{escape(batch.name)}”" if batch.name else ""
    by = f" by {escape(batch.created_by)}" if batch.created_by else ""
    print(f"batch {batch.id}{name} · {batch.state} · created "
          f"{batch.created_at:%Y-%m-%d %H:%M}{by}", file=out)
    print(escape(f"{spec.schema_name}{f' v{spec.schema_version}' if spec.schema_version else ''}"
                 f" · {spec.provider} · {spec.model} · {spec.mode} · chunking {spec.chunking}"),
          file=out)
    print(f"{counts.total} documents: "
          f"{' · '.join(f'{s} {counts[s]}' for s in (QUEUED, *STATUSES[1:]))}", file=out)
    rate = f"{figures.per_minute:.1f} docs/min" if figures.per_minute else "—"
    eta = _seconds(figures.eta_seconds) if figures.eta_seconds else "—"
    cost = f" · cost ${figures.cost:,.4f}" if figures.cost is not None else ""
    print(f"throughput {rate} · ETA {eta} · tokens {counts.tokens:,} (read "
          f"{counts.prompt_tokens:,}, written {counts.completion_tokens:,}){cost}", file=out)
    for row in failed:
        print(f"  failed  {escape(row['document'])}: {escape(row['reason'] or '—')}",
              file=out)
    return EXIT_OK


def _list(store: Store, limit: int, out: TextIO) -> int:
    found = records.recent(store, max(1, limit))
    if not found:
        print("no batches yet: `fieldstream batch start --schema NAME FOLDER`", file=out)
    for batch in found:
        counts = records.counts(store, batch.id)
        print("\t".join((
            batch.id, f"{batch.created_at:%Y-%m-%d %H:%M}", batch.state,
            escape(batch.spec.schema_name), escape(batch.spec.provider),
            f"{counts[DONE] + counts[INVALID]}/{counts.total} done",
            f"{counts[FAILED]} failed", f"{counts.left} left", escape(batch.name or ""),
        )), file=out)  # fmt: skip
    return EXIT_OK


def _export(store: Store, batch: Batch, args: argparse.Namespace, err: TextIO) -> int:
    target = args.output or f"batch-{batch.id}.{args.kind}"
    if target == "-":
        stream = _stdout_bytes()
        service.export(store, batch, args.kind, stream)
        stream.flush()
        return EXIT_OK
    path = Path(target)
    if path.exists() and not args.force:
        raise CommandError(f"{escape(str(path))} exists: pass --force to overwrite it, or "
                           "-o another file.")
    # Written beside it, then moved in place: a failed export leaves no half file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            count = service.export(store, batch, args.kind, handle)
        os.replace(partial, path)
    finally:
        with suppress(FileNotFoundError):
            partial.unlink()
    _say(err, f"{count} rows written to {path}")
    return EXIT_OK


def _stdout_bytes() -> BinaryIO:
    import sys

    return sys.stdout.buffer

