"""`fieldstream`: structured extraction from the command line, field by field.

    fieldstream extract --schema MeetingInfo --provider local < note.txt
    fieldstream providers            # what is configured, and whether it answers
    fieldstream models --provider "My vLLM"
    fieldstream prepare              # join and verify the local model's weights

`extract` prints each field on stderr the moment it is complete, then the final JSON on stdout
(so `> out.json` keeps only the JSON). Exit codes: 0 done, 1 the extraction failed (the partial
JSON is still printed), 2 bad arguments, a text too long for the model, or an unusable provider
(one that sent nothing for FIELDSTREAM_READ_TIMEOUT seconds, too). Messages never contain the
API key in use. With the local model, a run waits (and says so) while its slots are all busy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from engine.llm.failures import redact, redact_error
from engine.llm.modes import MODES
from engine.stream.errors import ExtractionError, ProviderError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="fieldstream", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="extract a schema from text on stdin (or --file)")
    ex.add_argument("--schema", required=True, help="a library schema name or module:Class")
    ex.add_argument("--provider", default=None, help="provider name or kind (default: local)")
    ex.add_argument("--model", default=None, help="model id (default: the provider's)")
    ex.add_argument("--mode", default=None, help=" | ".join(MODES))
    ex.add_argument("--max-tokens", type=int, default=None)
    ex.add_argument("--file", default=None, help="read the text from this file, not stdin")
    ex.add_argument("--quiet", action="store_true", help="print only the final JSON")
    sub.add_parser("providers", help="list providers and whether they are usable")
    models = sub.add_parser("models", help="list a provider's models")
    models.add_argument("--provider", default=None)
    prep = sub.add_parser("prepare", help="join and verify the local model's weights")
    prep.add_argument("models", nargs="*")
    return ap


def load_schema(name: str) -> Any:
    """A schema from the library (case-insensitive) or `package.module:ClassName`."""
    from engine.schemas.library import SCHEMAS

    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ProviderError(f"Cannot load schema {name!r}: {exc}") from None
    for key, schema in SCHEMAS.items():
        if key.casefold() == name.casefold():
            return schema
    raise ProviderError(f"Unknown schema {name!r}. Library schemas: {', '.join(SCHEMAS)}.")


def _provider(name: str | None) -> Any:
    from engine import providers

    listed = providers.available_providers(detect=name is not None and name != "local")
    return providers.find_provider(listed, name) if name else providers.default_provider(listed)


def _is_leaf(value: Any) -> bool:
    # Containers (objects, lists, nested models) are reported through their leaves.
    return value is None or isinstance(value, str | int | float | bool)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _dump(partial: Any) -> Any:
    if hasattr(partial, "model_dump"):
        return partial.model_dump(mode="json")
    if isinstance(partial, list):
        return [_dump(item) for item in partial]
    return partial


def _first_model(provider: Any) -> str:
    """A server configured without a model: take the first it lists (most serve just one)."""
    from engine.providers import list_models

    models = list_models(provider)
    if not models:
        raise ProviderError(f"{provider.name} lists no models: pass --model.")
    return models[0]


def run_extract(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    schema = load_schema(args.schema)
    text = Path(args.file).read_text(encoding="utf-8") if args.file else stdin.read()
    if not text.strip():
        raise ProviderError("No text to extract from: pipe it on stdin or pass --file.")
    provider = _provider(args.provider)
    mode = provider.pick_mode(args.mode)
    if args.mode and mode != args.mode:
        raise ProviderError(f"{provider.name} does not support mode {args.mode!r}.")
    model = args.model or provider.default_model or _first_model(provider)
    if not args.quiet:
        print(f"# {provider.name} · {model} · {mode}", file=err, flush=True)
    key = provider.api_key
    try:
        return _stream(args, text, schema, provider, model, mode, out, err)
    except ProviderError as exc:  # the key in use may have any shape: mask it here too
        raise redact_error(exc, key) from None
    except ExtractionError as exc:
        print(f"error: {redact(exc.message, key)}", file=err)
        return EXIT_FAILED
    except Exception as exc:  # an unexpected client failure: one line, never the key
        print(f"error: {redact(f'{type(exc).__name__}: {exc}', key)}", file=err)
        return EXIT_FAILED


def _stream(
    args: argparse.Namespace, text: str, schema: Any, provider: Any, model: str, mode: str,
    out: TextIO, err: TextIO,
) -> int:  # fmt: skip
    from engine.providers import client_for
    from engine.runs.runner import stream_extraction
    from engine.stream.changes import Done, Invalid

    def waiting() -> None:
        print("# waiting for a free slot on the local model…", file=err, flush=True)

    snap = None
    for snap in stream_extraction(
        text, schema, provider, model, mode, args.max_tokens,
        client=client_for(provider, model), on_wait=None if args.quiet else waiting,
    ):  # fmt: skip
        for change in snap.changes if not args.quiet else ():
            if isinstance(change, Done) and _is_leaf(change.value):
                print(
                    f"  ✓ {change.path or '(root)'} = {_show(change.value)}", file=err, flush=True
                )
            elif isinstance(change, Invalid):
                print(f"  ✗ {change.path}: {change.error}", file=err, flush=True)
    return _finish(snap, out, err, quiet=args.quiet, key=provider.api_key)


def _finish(snap: Any, out: TextIO, err: TextIO, *, quiet: bool, key: str | None = None) -> int:
    if snap is None:
        raise ProviderError("The provider sent no answer.")
    if snap.error is None:
        final = snap.final
        print(json.dumps(_dump(final), ensure_ascii=False, indent=2), file=out, flush=True)
        if not quiet and snap.timings:
            t = snap.timings
            first = f"{t.first_done:.2f}s" if t.first_done is not None else "-"
            print(f"# first field {first} · total {t.elapsed:.2f}s", file=err, flush=True)
        return EXIT_OK
    print(json.dumps(_dump(snap.partial), ensure_ascii=False, indent=2), file=out, flush=True)
    error: ExtractionError = snap.error
    print(f"error: {redact(error.message, key)}", file=err)
    if error.hint:
        print(f"hint: {error.hint}", file=err)
    return EXIT_FAILED


def run_providers(out: TextIO) -> int:
    from engine import providers

    for p in providers.available_providers():
        status = providers.check(p) or "ready"
        key = f" (key from {p.key_source})" if p.key_source else ""
        where = p.base_url or "embedded"
        print(f"{p.name}: {where} · modes {', '.join(p.modes)}{key} · {status}", file=out)
    return EXIT_OK


def run_models(args: argparse.Namespace, out: TextIO) -> int:
    from engine.providers import list_models

    for model in list_models(_provider(args.provider)):
        print(model, file=out)
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
        from engine.local.commands import main as local_main

        return local_main(["prepare", *args.models])
    except ProviderError as exc:
        print(f"error: {exc}", file=err)
        hint = getattr(exc, "hint", "")
        if hint:
            print(f"hint: {hint}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
