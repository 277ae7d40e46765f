"""`fieldstream`: structured extraction from the command line, field by field.

    fieldstream extract --schema MeetingInfo --provider local < note.txt
    fieldstream providers            # what is configured, and whether it answers
    fieldstream models --provider "My vLLM"
    fieldstream prepare              # join and verify the local model's weights
    fieldstream schemas import invoice.json   # a definition or a JSON Schema, saved versioned
    fieldstream schemas list | show NAME | export NAME --as json-schema
    fieldstream batch start --schema Invoice invoices/   # many documents, a progress bar
    fieldstream batch status ID | list | resume ID | retry ID | stop ID
    fieldstream batch export ID --as csv|jsonl|xlsx
    fieldstream worker               # run queued batch documents here until Ctrl-C
    fieldstream eval run SET --lane schema=Invoice@3,provider=local --min-f1 0.8
    fieldstream eval list | show ID | sets import|list|export|starter

`--schema` names a library schema, a `module:Class`, or a saved schema (library names win; a
saved schema's name and version are printed on stderr).

`extract` prints each field on stderr the moment it is complete, then the final JSON on stdout
(so `> out.json` keeps only the JSON), then a line with the run's status and timings on stderr,
and one saying how many values were found in the text and which were not (`--quiet` keeps only
the not-found warning).
Exit codes: 0 done, 1 the extraction failed (the partial JSON is still printed), 2 bad
arguments, a text too long for the model, or an unusable provider (one that sent nothing for
FIELDSTREAM_READ_TIMEOUT seconds, too). Messages never contain the API key in use. With the
local model, a run waits (and says so) while its slots are all busy.

A run here is a run like any other: the same Runner as the app's pages, so the same statuses,
the same timings and the same run hooks (`engine.runs.hooks`; source `cli`).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import importlib
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from engine.batch.commands import CommandError
from engine.errors import ProviderError
from engine.grounding import Grounding
from engine.llm.modes import MODES
from engine.runs.display import format_seconds, grounding_summary, json_text
from engine.runs.runner import WAIT_SLOT, WAIT_TURN, Runner, StreamFactory
from engine.runs.spec import SOURCE_CLI, RunSpec
from engine.runs.status import RunStatus
from engine.schemas.definition import SchemaDefinitionError
from engine.store.db import StoreUnavailable
from engine.stream.changes import Done, Invalid
from engine.stream.snapshot import Snapshot
from engine.stream.terminal import escape, escape_json

if TYPE_CHECKING:
    from engine.documents import Document, DocumentInfo

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="fieldstream", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="extract a schema from text on stdin (or --file)")
    ex.add_argument("--schema", required=True,
                    help="a library schema name, module:Class, or a saved schema's name")
    ex.add_argument("--provider", default=None, help="provider name or kind (default: local)")
    ex.add_argument("--model", default=None, help="model id (default: the provider's)")
    ex.add_argument("--mode", default=None, help=" | ".join(MODES))
    ex.add_argument("--max-tokens", type=int, default=None)
    ex.add_argument("--file", default=None,
                    help="read the text from this document (PDF, Word .docx, HTML, e-mail .eml, "
                         "Markdown, plain text), not stdin")
    ex.add_argument("--chunking", choices=("auto", "always"), default=None,
                    help="split the text only when it does not fit the model (auto, the "
                         "default; FIELDSTREAM_CHUNKING) or always")
    ex.add_argument("--passes", type=int, default=0, metavar="N",
                    help="a split text: read it N more times for the values still missing")
    ex.add_argument("--quiet", action="store_true", help="print only the final JSON")
    ex.add_argument("--no-history", action="store_true",
                    help="do not record this run in the history")
    ex.add_argument("--by", default=None, metavar="NAME",
                    help="who ran it, for the history (default: the OS user)")
    sub.add_parser("providers", help="list providers and whether they are usable")
    models = sub.add_parser("models", help="list a provider's models")
    models.add_argument("--provider", default=None)
    prep = sub.add_parser("prepare", help="join and verify the local model's weights")
    prep.add_argument("models", nargs="*")
    _schemas_parser(sub)
    from engine.batch.commands import add_parsers
    from engine.evaluate.commands import add_parsers as add_eval_parsers

    add_parsers(sub)
    add_eval_parsers(sub)
    return ap


def _schemas_parser(sub: Any) -> None:
    sch = sub.add_parser("schemas", help="saved schema definitions: list, show, import, export")
    ops = sch.add_subparsers(dest="op", required=True)
    ops.add_parser("list", help="the library schemas and the newest version of each saved one")
    for op in ("show", "export"):
        one = ops.add_parser(op, help=f"{op} a saved schema")
        one.add_argument("name")
        one.add_argument("--version", type=int, default=None)
        if op == "export":
            one.add_argument("--as", dest="form", default="definition",
                             choices=("definition", "json-schema", "pydantic"))
    imp = ops.add_parser("import", help="save a definition or JSON Schema file (a new version)")
    imp.add_argument("file")
    imp.add_argument("--name", default=None, help="the schema's name (default: the file's)")
    imp.add_argument("--by", default=None, metavar="NAME", help="author (default: the OS user)")


class UsageError(Exception):
    """Bad input on the command line: an unknown schema, no text, a mode the provider lacks."""


def load_schema(name: str, err: TextIO | None = None) -> Any:
    """A schema from the library (case-insensitive), `package.module:ClassName`, or the saved
    schemas (the newest version, named on `err`)."""
    return resolve_schema(name, err)[0]


class Resolved(NamedTuple):
    schema: Any
    name: str  # what a run records: the library's or the stored spelling, else as given
    system: str | None = None  # a saved schema's own instruction
    version: str | None = None  # a saved schema's version, recorded with the run


def resolve_schema(name: str, err: TextIO | None = None) -> Resolved:
    """A `--schema` argument: `module:Class`, else `engine.schemas.resolve`'s rules (a library
    name in any case wins; else the newest saved version)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return Resolved(getattr(importlib.import_module(module), attr), name)
        except (ImportError, AttributeError) as exc:
            raise UsageError(f"Cannot load schema {name!r}: {exc}") from None
    from engine.schemas.resolve import UnknownSchema

    try:
        choice = _resolved(name)
    except UnknownSchema:
        from engine.schemas.library import SCHEMAS

        raise UsageError(f"Unknown schema {name!r}. Library schemas: {', '.join(SCHEMAS)}; "
                         f"saved: `fieldstream schemas list`.") from None
    if choice.version is not None and err is not None:
        print(f"# schema {escape(choice.name)} v{choice.version} (saved)", file=err, flush=True)
    return Resolved(choice.schema, choice.name, choice.system, choice.version)


def _resolved(name: str) -> Any:
    """The schema `name` (a `SchemaChoice`); the store is opened only for a saved one."""
    from engine.schemas.resolve import library_name, resolve_schema

    if library_name(name) is not None:
        return resolve_schema(None, name)
    from engine.store import open_store

    with open_store() as store:
        return resolve_schema(store, name)


def _provider(name: str | None) -> Any:
    from engine import providers

    listed = providers.available_providers(detect=name is not None and name != "local")
    return providers.find_provider(listed, name) if name else providers.default_provider(listed)


def pick_provider(name: str | None, model: str | None, mode: str | None) -> tuple[Any, str, str]:
    """The provider (`--provider`, else the default), its model (`--model`, else its own, else
    the first it lists) and mode (`--mode`, else its first)."""
    provider = _provider(name)
    picked = provider.pick_mode(mode)
    if mode and picked != mode:
        raise UsageError(f"{provider.name} does not support mode {mode!r}.")
    return provider, model or provider.default_model or _first_model(provider), picked


def _is_leaf(value: Any) -> bool:
    # Containers (objects, lists, nested models) are reported through their leaves.
    return value is None or isinstance(value, str | int | float | bool)


def _show(value: Any) -> str:
    return escape_json(json.dumps(value, ensure_ascii=False, default=str))


def _first_model(provider: Any) -> str:
    """A server configured without a model: take the first it lists (most serve just one)."""
    from engine.providers import list_models

    models = list_models(provider)
    if not models:
        raise ProviderError(f"{provider.name} lists no models: pass --model.")
    return models[0]


def _who() -> str | None:
    """The OS user running the CLI (the run's `who`), when the system says."""
    with contextlib.suppress(Exception):  # no user name (a container's odd uid) is no error
        return getpass.getuser()
    return None


def run_extract(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    resolved = resolve_schema(args.schema, err)
    if args.passes < 0:
        raise UsageError("--passes takes 0 or more.")
    document = _read_document(args.file, err, quiet=args.quiet) if args.file else None
    text = document.text if document is not None else stdin.read()
    if not text.strip():
        raise UsageError("No text to extract from: pipe it on stdin or pass --file.")
    provider, model, mode = pick_provider(args.provider, args.model, args.mode)
    if not args.quiet:
        print(escape(f"# {provider.name} · {model} · {mode}"), file=err, flush=True)
    with _history(args, err):
        runner = _start(args, text, resolved, provider, model, mode, err,
                        document.info if document is not None else None)
        try:
            runner.wait()
        except KeyboardInterrupt:
            runner.stop(wait=2.0)  # close the request; the end hooks still see the run
            raise
        _say_if_pending(runner, err)
    return _finish(runner, out, err, quiet=args.quiet)


def _read_document(path: str, err: TextIO, *, quiet: bool) -> Document:
    """The file as a document (its text, pages); a file that cannot be read is a usage
    problem with its plain message (exit 2), never a traceback."""
    from engine.documents import DocumentError, read_path_document

    def progress(done: int, total: int, what: str) -> None:
        if not quiet and total > 1:
            print(escape(f"# reading {Path(path).name}: {done} of {total} {what}"), file=err,
                  flush=True)

    try:
        document = read_path_document(path, on_progress=progress)
    except DocumentError as exc:
        raise UsageError(str(exc)) from None
    if not quiet:
        print(escape(f"# {document.name} · {document.type} · {_pages(document.pages)} · "
                     f"{len(document.text):,} characters"), file=err, flush=True)
    return document


def _pages(count: int) -> str:
    return "1 page" if count == 1 else f"{count} pages"


@contextlib.contextmanager
def _history(args: argparse.Namespace, err: TextIO) -> Iterator[None]:
    """Record the run in the history (unless --no-history or FIELDSTREAM_HISTORY=off); a
    history that cannot be opened is reported and the run goes on unrecorded."""
    if args.no_history:
        yield
        return
    from engine.history import recorder

    try:
        recorder.install()
    except Exception as exc:
        print(escape(f"# history off for this run: {type(exc).__name__}: {exc}"), file=err,
              flush=True)
    try:
        yield
    finally:
        recorder.uninstall()


def _say_if_pending(runner: Runner, err: TextIO) -> None:
    """The history could not take the run's ending: the store keeps it in the data folder
    and the next fieldstream that opens the history writes it (this process exits now)."""
    from engine.history import recorder
    from engine.store import PENDING

    current = recorder.current()
    if current is not None and current.recording(runner.run_id) == PENDING:
        print("# history not reachable: this run will be saved when it is (the next "
              "fieldstream command or the app writes it)", file=err, flush=True)


def _start(
    args: argparse.Namespace, text: str, resolved: Resolved, provider: Any, model: str,
    mode: str, err: TextIO, document: DocumentInfo | None = None,
) -> Runner:  # fmt: skip
    """The run, as the page starts one (same path, same hooks), printing as it goes: each
    field as it is done, or, for a text split into parts, each part as it ends."""
    from engine.runs.start import start_run
    from engine.settings import chunking

    spec = RunSpec.for_provider(text, resolved.name, resolved.schema, provider, model, mode,
                                args.max_tokens, source=SOURCE_CLI, who=args.by or _who(),
                                schema_version=resolved.version, system=resolved.system,
                                document=document, chunking=args.chunking or chunking(),
                                passes=args.passes)
    if args.quiet:
        return start_run(spec, provider)
    return start_run(spec, provider, wrap=lambda f: _printing(f, err),
                     on_wait=lambda what: _say_waiting(what, err),
                     on_part=lambda line: print(escape(f"# {line}"), file=err, flush=True))


def _printing(factory: StreamFactory, err: TextIO) -> StreamFactory:
    """The same stream, printing each field on `err` the moment it is complete."""

    def printed(cancel: threading.Event) -> Iterator[Snapshot]:
        snaps = factory(cancel)
        try:
            for snap in snaps:
                _print_changes(snap, err)
                yield snap
        finally:
            close = getattr(snaps, "close", None)  # the runner closes us: close the request
            if close is not None:
                close()

    return printed


def _say_waiting(what: str | None, err: TextIO) -> None:
    if what == WAIT_SLOT:
        print("# waiting for a free slot on the local model…", file=err, flush=True)
    elif what == WAIT_TURN:
        print("# waiting for a turn: this provider's limit of runs at once is reached…",
              file=err, flush=True)


def _print_changes(snap: Snapshot, err: TextIO) -> None:
    for change in snap.changes:
        if isinstance(change, Done) and _is_leaf(change.value):
            print(f"  ✓ {escape(change.path or '(root)')} = {_show(change.value)}", file=err,
                  flush=True)
        elif isinstance(change, Invalid):
            print(escape(f"  ✗ {change.path}: {change.error}"), file=err, flush=True)


def _finish(runner: Runner, out: TextIO, err: TextIO, *, quiet: bool) -> int:
    """Print how the run ended: the JSON (the result, or what arrived) on `out`, the rest on
    `err`. A provider that sent nothing is a usage problem (exit 2), raised for `main`."""
    report = runner.report()
    if not quiet:
        t = report.timings
        print(f"# {report.status} · first field {format_seconds(t.first_done)} · total "
              f"{format_seconds(t.total)}", file=err, flush=True)
    error = report.error  # already redacted with the run's key
    if isinstance(error, ProviderError) and not report.chunks:
        raise error
    done = report.status is RunStatus.DONE
    data = report.result if done else report.partial
    print(escape_json(json_text(data)), file=out, flush=True)  # reads back the same
    _say_grounding(report.grounding, data, err, quiet=quiet)
    if report.spec is not None and report.spec.document is not None and not quiet:
        _say_pages(report.grounding, report.spec.document, err)
    if error is not None:
        _say_error(error, err)
    return EXIT_OK if done else EXIT_FAILED


def _say_grounding(grounding: dict[str, Grounding], data: Any, err: TextIO, *, quiet: bool) -> None:
    """After the result: where the values stand in the text; the not-found ones (the likely
    inventions) are named with their values, even with `--quiet`."""
    line = grounding_summary(grounding, data)
    missing = any(not g.found for g in grounding.values())
    if line and (missing or not quiet):
        print(escape(f"# {line}"), file=err, flush=True)


def _say_pages(grounding: dict[str, Grounding], document: DocumentInfo, err: TextIO) -> None:
    """Which page of the document each value found stands on (its first occurrence)."""
    found = [f"{path} p.{document.page_at(g.spans[0].start)}"
             for path, g in grounding.items() if g.found and g.spans]
    if found:
        print(escape(f"# pages: {' · '.join(found)}"), file=err, flush=True)


def _say_error(exc: BaseException, err: TextIO) -> None:
    """An error and its hint; messages quote names and server text, so escaped."""
    print(escape(f"error: {exc}"), file=err)
    hint = getattr(exc, "hint", "")
    if hint:
        print(escape(f"hint: {hint}"), file=err)


def run_providers(out: TextIO) -> int:
    from engine import providers

    for p in providers.available_providers():
        status = providers.check(p) or "ready"
        key = f" (key from {p.key_source})" if p.key_source else ""
        where = p.base_url or "embedded"
        print(escape(f"{p.name}: {where} · modes {', '.join(p.modes)}{key} · {status}"),
              file=out)
    return EXIT_OK


def run_models(args: argparse.Namespace, out: TextIO) -> int:
    from engine.providers import list_models

    for model in list_models(_provider(args.provider)):
        print(escape(model), file=out)
    return EXIT_OK


def main(
    argv: list[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    args = _parser().parse_args(argv)
    stdin, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        if args.command == "extract":
            return run_extract(args, stdin, out, err)
        if args.command == "providers":
            return run_providers(out)
        if args.command == "models":
            return run_models(args, out)
        if args.command == "batch":
            from engine.batch.console import run_batch  # loads the queue: only here

            return run_batch(args, out, err, pick=pick_provider, who=_who())
        if args.command == "eval":
            from engine.evaluate.console import run_eval  # loads the queue: only here

            return run_eval(args, out, err, pick=pick_provider, who=_who())
        if args.command == "worker":
            from engine.batch.console import run_worker

            return run_worker(args, err)
        if args.command == "schemas":
            from engine.schemas.commands import run_schemas

            return run_schemas(args, out, err)
        from engine.local.commands import main as local_main

        return local_main(["prepare", *args.models])
    except (UsageError, ProviderError, SchemaDefinitionError, LookupError,
            StoreUnavailable, CommandError) as exc:
        _say_error(exc, err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
