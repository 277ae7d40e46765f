"""The work of `fieldstream eval …` (its arguments and what each does:
`engine.evaluate.commands`)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from engine.batch import records
from engine.batch.commands import CommandError, PickProvider
from engine.batch.console import hand_back, on_queue
from engine.batch.model import NEEDS_KEY, queue_name
from engine.compare.lanes import LaneSpec
from engine.evaluate import advice
from engine.evaluate import evaluations as ev
from engine.evaluate.lanes_cli import lanes_from_file, parse_lanes
from engine.evaluate.model import Evaluation
from engine.store import Store
from engine.stream.terminal import escape

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
WATCH_EVERY = 0.25  # seconds between looks at the lanes' counts
SAY_EVERY = 2.0  # seconds between progress lines (when something ended)


def run_eval(args: argparse.Namespace, out: TextIO, err: TextIO, *, pick: PickProvider,
             who: str | None = None) -> int:
    try:
        with _store() as store:
            if args.op == "run":
                return _run(store, args, out, err, pick, who)
            if args.op == "list":
                return _list(store, args, out)
            if args.op == "show":
                return _show(store, args, out)
            return _sets(store, args, out, err, who)
    except ValueError as exc:  # the engine's messages for bad input, shown as they are
        raise CommandError(str(exc)) from None


@contextmanager
def _store() -> Iterator[Store]:
    from engine.store import load_settings

    history = load_settings()
    if not history.enabled:
        raise CommandError("Labelled sets and evaluations are kept in the history database, "
                           "which is off (FIELDSTREAM_HISTORY=off): turn it on to evaluate.")
    store = Store.from_settings(history).open()
    try:
        yield store
    finally:
        store.close()


def _say(err: TextIO, line: str) -> None:
    print(escape(f"# {line}"), file=err, flush=True)


# --- run ---------------------------------------------------------------------------------------


def _run(store: Store, args: argparse.Namespace, out: TextIO, err: TextIO, pick: PickProvider,
         who: str | None) -> int:
    for flag, value in (("--min-f1", args.min_f1), ("--fuzzy", args.fuzzy)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise CommandError(f"{flag} takes a number from 0 to 1, not {value:g}.")
    if args.timeout is not None and args.timeout <= 0:
        raise CommandError("--timeout takes a number of seconds above 0.")
    from engine.evaluate import sets

    if sets.get_set(store, args.set, args.version) is None:  # said before the queue starts
        which = f" version {args.version}" if args.version is not None else ""
        raise CommandError(f"No labelled set {args.set!r}{which}: `fieldstream eval sets "
                           "list` shows them.")
    lanes, providers = _lanes(args, pick)
    queues = [queue_name(provider.name) for provider in providers.values()]
    with on_queue(store, queues):
        evaluation = ev.start_evaluation(store, args.set, lanes, providers,
                                         version=args.version, who=who, name=args.name,
                                         fuzzy=args.fuzzy)
        size = records.get(store, evaluation.lanes[0].batch_id)
        _say(err, f"evaluation {evaluation.id} · set {evaluation.set_name} "
                  f"v{evaluation.set_version} · {size.total if size else '?'} documents × "
                  f"{len(evaluation.lanes)} lanes")
        ended = _watch(store, evaluation, err, args.timeout)
    figures = _settled(store, evaluation)
    if args.json:
        print(json.dumps(results_json(figures, min_f1=args.min_f1), ensure_ascii=True),
              file=out, flush=True)
    else:
        print_results(figures, out)
    if ended == "interrupted":
        print(f"stopped: see `fieldstream eval show {evaluation.id}`", file=out, flush=True)
        return EXIT_INTERRUPTED
    for lane, text in advice.for_results(figures).items():
        _say(err, f"lane {lane}: {text}")
    failing = below(figures, args.min_f1)
    for lane in failing:
        unscored = len(lane.documents) - lane.totals.documents
        why = (f"{unscored} of {len(lane.documents)} documents not scored" if unscored else
               f"micro F1 {lane.totals.micro_f1:.3f} is under --min-f1 {args.min_f1:g}")
        print(escape(f"error: lane {lane.spec.lane} ({lane.spec.label}): {why}"),
              file=err, flush=True)
    if ended == "timed out":
        print(f"error: stopped after --timeout {args.timeout:g} s; documents that did not "
              "run are not scored", file=err, flush=True)
        return EXIT_FAILED
    return EXIT_FAILED if failing else EXIT_OK


def _lanes(args: argparse.Namespace, pick: PickProvider
           ) -> tuple[list[LaneSpec], dict[str, Any]]:
    """The lanes asked for, and the providers they run on (by name)."""
    providers: dict[str, Any] = {}

    def remember(name: str | None, model: str | None, mode: str | None
                 ) -> tuple[Any, str, str]:
        provider, model, mode = pick(name, model, mode)
        providers[provider.name] = provider
        return provider, model, mode

    if args.lane:
        return parse_lanes(args.lane, pick=remember), providers
    lanes = []
    for lane in lanes_from_file(args.lanes):
        provider, model, mode = remember(lane.provider, lane.model, lane.mode)
        lanes.append(LaneSpec(lane.lane, lane.label, lane.schema_name, lane.schema_version,
                              provider.name, model, mode, lane.chunking))
    return lanes, providers


def _watch(store: Store, evaluation: Evaluation, err: TextIO, timeout: float | None) -> str:
    """Wait until no lane has a document queued or running: "done", "timed out" (the
    evaluation stopped), or "interrupted" (Ctrl-C stopped it; twice leaves at once)."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    try:
        if _wait(store, evaluation, err, deadline):
            return "done"
        _say(err, f"--timeout {timeout:g} s reached: stopping the evaluation…")
        ev.stop_evaluation(store, evaluation)
        _wait(store, evaluation, err, None)
        return "timed out"
    except KeyboardInterrupt:
        _say(err, "stopping: queued documents are cancelled, running ones end keeping what "
                  "arrived (Ctrl-C again leaves at once)…")
        try:
            ev.stop_evaluation(store, evaluation)
            _wait(store, evaluation, err, None)
        except KeyboardInterrupt:
            hand_back()
        return "interrupted"


#: Seconds to wait, once no document is left, for the last runs' rows: a document's queue item
#: can end a moment before its run's row has its answer (a chunked or invalid run ends last).
SETTLE = 30.0


def _settled(store: Store, evaluation: Evaluation) -> ev.Results:
    """The evaluation's results once every ended document's answer is in (`finished`), so the
    figures printed count them all; as they are after `SETTLE` seconds otherwise."""
    deadline = time.monotonic() + SETTLE
    while True:
        figures = ev.results(store, evaluation)
        if figures.finished or time.monotonic() >= deadline:
            return figures
        time.sleep(0.2)


def _wait(store: Store, evaluation: Evaluation, err: TextIO, deadline: float | None) -> bool:
    """Poll the lanes' counts, a progress line now and then; False at the deadline."""
    said: tuple[int, float] | None = None
    while True:
        counts = [records.counts(store, lane.batch_id) for lane in evaluation.lanes]
        ended, total = sum(c.ended for c in counts), sum(c.total for c in counts)
        left = sum(c.left for c in counts)
        now = time.monotonic()
        if said is None or left == 0 or (ended != said[0] and now - said[1] >= SAY_EVERY):
            _say(err, f"{ended} of {total} documents ended")
            said = (ended, now)
        if left == 0:
            return True
        if deadline is not None and now >= deadline:
            return False
        time.sleep(WATCH_EVERY)


def below(figures: ev.Results, min_f1: float | None) -> list[ev.LaneResult]:
    """The lanes whose micro F1 is under the threshold, or that left documents unscored (a
    stopped lane proves nothing)."""
    if min_f1 is None:
        return []
    return [lane for lane in figures.lanes.values()
            if lane.totals.micro_f1 < min_f1 or lane.totals.documents < len(lane.documents)]


# --- the table -----------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def print_results(figures: ev.Results, out: TextIO) -> None:
    """The lanes' figures, then each field's F1 per lane, then the documents without an
    answer."""
    evaluation = figures.evaluation
    fuzzy = f"fuzzy ≥ {evaluation.fuzzy:g}" if evaluation.fuzzy is not None else "fuzzy off"
    state = "finished" if figures.finished else "still running"
    print(escape(f"evaluation {evaluation.id} · set {evaluation.set_name} "
                 f"v{evaluation.set_version} · {fuzzy} · {state}"), file=out)
    head = ("lane", "micro F1", "macro F1", "exact", "not in text", "s/doc", "tokens/doc",
            "cost", "label")
    rows = []
    for lane in figures.lanes.values():
        t = lane.totals
        exact = f"{t.exact}/{t.documents} {t.exact_rate:.0%}" if t.documents else "—"
        cost = f"${lane.cost:,.4f}" if lane.cost is not None else "—"
        rows.append((lane.spec.lane, _f(t.micro_f1), _f(t.macro_f1), exact,
                     str(lane.not_in_text), _f(lane.seconds_per_doc, 2),
                     _f(lane.tokens_per_doc, 1), cost, escape(lane.spec.label)))
    _table(out, head, rows)
    print(file=out)
    names = list(figures.lanes)
    field_rows = []
    for name in figures.fields:
        scores = [figures.lanes[lane].by_field.get(name) for lane in names]
        field_rows.append((escape(name), *(_f(s.f1) if s else "—" for s in scores)))
    _table(out, ("field", *names), field_rows)
    for lane in figures.lanes.values():
        for doc in lane.documents.values():
            if doc.no_answer or not doc.scored:
                why = doc.reason if doc.reason and doc.reason != NEEDS_KEY else doc.status
                how = "scored as an empty answer" if doc.no_answer else "not scored"
                print(escape(f"  {lane.spec.lane}  {doc.name}: {doc.status}, {how} ({why})"),
                      file=out)
    out.flush()


def _table(out: TextIO, head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell: names left-aligned, figures right."""
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    left = {0, *(i for i, name in enumerate(head) if name == "label")}
    for row in (head, *rows):
        cells = [cell.ljust(w) if i in left else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip(), file=out)


def results_json(figures: ev.Results, *, min_f1: float | None = None) -> dict[str, Any]:
    evaluation = figures.evaluation
    failing = {lane.spec.lane for lane in below(figures, min_f1)}
    lanes = []
    for lane in figures.lanes.values():
        t = lane.totals
        lanes.append({
            **lane.spec.to_json(), "batch_id": lane.batch_id, "micro_f1": t.micro_f1,
            "macro_f1": t.macro_f1, "precision": t.micro.precision, "recall": t.micro.recall,
            "documents": t.documents, "exact": t.exact, "not_in_text": lane.not_in_text,
            "seconds_per_doc": lane.seconds_per_doc, "tokens_per_doc": lane.tokens_per_doc,
            "cost": lane.cost, "counts": dict(lane.counts.by_status),
            "passed": lane.spec.lane not in failing,
            "fields": {name: {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision,
                              "recall": s.recall, "f1": s.f1}
                       for name, s in lane.by_field.items()},
        })  # fmt: skip
    return {"id": evaluation.id, "name": evaluation.name, "set": evaluation.set_name,
            "set_version": evaluation.set_version, "fuzzy": evaluation.fuzzy,
            "created_at": evaluation.created_at.isoformat(), "finished": figures.finished,
            "min_f1": min_f1, "fields": figures.fields, "lanes": lanes}


# --- list, show --------------------------------------------------------------------------------


def _evaluation(store: Store, ident: str) -> Evaluation:
    found = ev.get_evaluation(store, ident.strip())
    if found is None:
        raise CommandError(f"No evaluation {ident!r}: `fieldstream eval list` shows the "
                           "recent ones.")
    return found


def _list(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    found = ev.recent(store, args.set, max(1, args.limit))
    if not found:
        print("no evaluations yet: `fieldstream eval run SET --lane schema=S,provider=P`",
              file=out)
    for evaluation in found:
        figures = ev.results(store, evaluation)
        scores = " ".join(f"{name} {lane.totals.micro_f1:.3f}"
                          for name, lane in figures.lanes.items())
        print("\t".join((
            evaluation.id, f"{evaluation.created_at:%Y-%m-%d %H:%M}",
            escape(f"{evaluation.set_name} v{evaluation.set_version}"),
            "finished" if figures.finished else "running", f"micro F1 {scores}",
            escape(evaluation.name or ""),
        )), file=out)  # fmt: skip
    return EXIT_OK


def _show(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    evaluation = _evaluation(store, args.id)
    figures = ev.results(store, evaluation)
    before = ev.earlier(store, evaluation)
    changes = ev.compare(figures, ev.results(store, before)) if before is not None else None
    if args.json:
        data = results_json(figures)
        data["earlier"] = before.id if before is not None else None
        data["changes"] = [{"lane": c.lane, "field": c.field, "before": c.before,
                            "after": c.after, "verdict": c.verdict} for c in changes or ()]
        print(json.dumps(data, ensure_ascii=True), file=out)
        return EXIT_OK
    print_results(figures, out)
    if before is None or changes is None:
        print("\nno earlier evaluation of this set to compare with", file=out)
        return EXIT_OK
    versions = (f"set v{before.set_version} → v{evaluation.set_version}"
                if before.set_version != evaluation.set_version else
                f"set v{evaluation.set_version}")
    print(f"\ncompared with evaluation {before.id} ({before.created_at:%Y-%m-%d %H:%M}, "
          f"{versions}):", file=out)
    moved = [c for c in changes if c.verdict != "unchanged"]
    for c in moved:
        print(escape(f"  {c.verdict:<9} {c.lane} · {c.field}: {_f(c.before)} → {_f(c.after)}"),
              file=out)
    print(f"  {len(changes) - len(moved)} unchanged", file=out)
    return EXIT_OK


# --- sets ------------------------------------------------------------------------------------


def _sets(store: Store, args: argparse.Namespace, out: TextIO, err: TextIO,
          who: str | None) -> int:
    if args.sets_op == "import":
        return _import(store, args, out, err, who)
    if args.sets_op == "list":
        return _list_sets(store, out)
    if args.sets_op == "export":
        return _export(store, args, err)
    return _starter(store, args, out, who)


def _schema_arg(text: str) -> tuple[str, str | None]:
    """`Invoice` or `Invoice@3` (a saved schema's version after the last `@`)."""
    name, at, version = text.rpartition("@")
    if at and version.strip().isdigit() and name.strip():
        return name.strip(), version.strip()
    return text.strip(), None


def _import(store: Store, args: argparse.Namespace, out: TextIO, err: TextIO,
            who: str | None) -> int:
    from engine.evaluate import sets
    from engine.evaluate.importer import import_set, read_import
    from engine.schemas.resolve import resolve_schema

    schema, version = _schema_arg(args.schema)
    choice = resolve_schema(store, schema, version)  # an unknown schema: said before reading
    answers = Path(args.answers)
    try:
        given = (answers.name, answers.read_bytes())
    except OSError as exc:
        raise CommandError(f"{escape(args.answers)} cannot be read: {exc.strerror or exc}."
                           ) from None
    documents = [(name, path.read_bytes()) for path, name in _document_files(args.documents)]
    plan = read_import(documents, given, check=lambda gold: sets.check_gold(
        store, choice.name, choice.version, gold))
    for message in plan.messages:
        print(escape(f"problem: {message}"), file=err)
    labelled = import_set(store, args.name, choice.name, plan, schema_version=version, who=who)
    print(escape(f"{labelled.name} v{labelled.version}: {labelled.size} documents "
                 f"({len(plan.examples)} imported, {len(plan.problems)} problems)"), file=out)
    return EXIT_FAILED if plan.problems else EXIT_OK


def _document_files(paths: list[str]) -> list[tuple[Path, str]]:
    """(path, name) of each file argument, or of a folder's files (recursively, names
    relative to it, hidden ones skipped); a ZIP is one file (the importer opens it)."""
    found: list[tuple[Path, str]] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found += [(p, p.relative_to(path).as_posix()) for p in sorted(path.rglob("*"))
                      if p.is_file() and not any(part.startswith(".")
                                                 for part in p.relative_to(path).parts)]
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise CommandError(f"No such file or folder: {escape(text)}")
    return found


def _list_sets(store: Store, out: TextIO) -> int:
    from engine.evaluate import sets

    found = sets.list_sets(store)
    if not found:
        print("no labelled sets yet: `fieldstream eval sets import NAME --schema S --answers "
              "FILE DOCS…` or `fieldstream eval sets starter`", file=out)
    for labelled in found:
        schema = labelled.schema_name + (f" v{labelled.schema_version}"
                                         if labelled.schema_version else "")
        print("\t".join(escape(cell) for cell in (
            labelled.name, f"v{labelled.version}", schema, f"{labelled.size} documents",
            f"{labelled.created_at:%Y-%m-%d %H:%M}", labelled.note or "")), file=out)
    return EXIT_OK


def _export(store: Store, args: argparse.Namespace, err: TextIO) -> int:
    import os
    from contextlib import suppress

    from engine.evaluate.importer import export_set

    path = Path(args.out)
    if path.exists() and not args.force:
        raise CommandError(f"{escape(str(path))} exists: pass --force to overwrite it.")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            count = export_set(store, args.name, args.version, handle)
        os.replace(partial, path)
    finally:
        with suppress(FileNotFoundError):
            partial.unlink()
    _say(err, f"{count} documents written to {path}")
    return EXIT_OK


def _starter(store: Store, args: argparse.Namespace, out: TextIO, who: str | None) -> int:
    """The starter set NAME, or every starter set when none is named (as the Evaluate page's
    "Try the starter set" does); one installed already is shown as it is."""
    try:
        from engine.evaluate import starter
    except ImportError:
        raise CommandError("This Fieldstream has no starter sets.") from None
    if args.name is not None and args.name not in starter.STARTER_SETS:
        raise CommandError(f"No starter set {args.name!r}: {', '.join(starter.STARTER_SETS)}.")
    for name in [args.name] if args.name is not None else starter.STARTER_SETS:
        labelled = starter.install_starter(store, name, limit=args.limit, who=who)
        print(escape(f"{labelled.name} v{labelled.version}: {labelled.size} documents "
                     f"(schema {labelled.schema_name})"), file=out)
    return EXIT_OK
