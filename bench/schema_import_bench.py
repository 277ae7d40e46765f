"""Schema import benchmark (issue "Hardening II"): documents under the 5 MB limit that could
make an import expensive, each read as `fieldstream schemas import` reads a file
(`engine.schemas.commands.read_document`: the JSON, then the definition or the JSON Schema).

Each case runs in a child process of its own, so its peak memory is its own: the figures are
the wall time of the read (with what a save does before it writes: the checks and the
canonical JSON's fingerprint) and the growth of the child's peak resident memory (ru_maxrss) over
what it held before the read. A child is stopped at `--timeout` seconds and runs under an
address-space limit of `--limit-mb`, so an old revision's worst cases cannot take the machine.
Targets: a `$ref` fan-out under 10 KB refused in <= 50 ms and <= 20 MB; any document under
5 MB accepted or refused in <= 1 s.

    python bench/schema_import_bench.py [--cases fanout-20,legit-4.5mb] [--timeout 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.schema_docs import fan_out, shared  # noqa: E402


def ref_chain(hops: int = 30) -> dict[str, Any]:
    defs: dict[str, Any] = {f"A{i}": {"$ref": f"#/$defs/A{i + 1}"} for i in range(hops)}
    defs[f"A{hops}"] = {"type": "string"}
    return {"type": "object", "$defs": defs,
            "properties": {f"p{i}": {"$ref": "#/$defs/A0"} for i in range(450)}}


def long_ref() -> dict[str, Any]:
    """A `$ref` of 1 MB (a pointer through a deep key path), shared by 400 fields."""
    return shared({"$ref": "#/$defs/" + "x/" * 500_000})


def deep_objects(depth: int = 120) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        node = {"type": "object", "properties": {"a": node}}
    return node


def legit(size_mb: float = 4.5) -> dict[str, Any]:
    """500 fields of every supported kind, each with a long description: accepted."""
    per = int(size_mb * 1024 * 1024 / 500)
    kinds = [{"type": "string"}, {"type": "integer"}, {"type": ["number", "null"]},
             {"type": "string", "format": "date"}, {"enum": ["low", "mid", "high"]},
             {"type": "array", "items": {"type": "string"}}]
    props = {f"field {i}": {**kinds[i % len(kinds)], "description": f"{i} " + "d" * per}
             for i in range(500)}
    return {"type": "object", "title": "Legit", "properties": props}


def definition_file(fields: int = 250_000) -> dict[str, Any]:
    """A definition (not a JSON Schema) listing far more fields than the cap."""
    return {"name": "Many", "fields": [{"name": f"{i}"} for i in range(fields)]}


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "fanout-20": lambda: fan_out(20),
    "fanout-30": lambda: fan_out(30),
    "fanout-60": lambda: fan_out(60),
    "fanout-20x4": lambda: fan_out(20, levels=4),
    "wide-200k": lambda: {"type": "object",
                          "properties": {f"{i}": {"type": "string"} for i in range(200_000)}},
    "deep-120": deep_objects,
    "ref-chain-30x450": ref_chain,
    "ref-1mb-x400": long_ref,
    "anyof-200k-x400": lambda: shared({"anyOf": [{"type": "string"}] * 200_000}),
    "enum-400k-x400": lambda: shared({"enum": [f"v{i}" for i in range(400_000)]}),
    "type-list-500k-x400": lambda: shared({"type": ["string"] * 500_000}),
    "required-400k-x240": lambda: shared({"type": "object", "properties": {"a": {
        "type": "string"}}, "required": [f"r{i}" for i in range(400_000)]}, count=240),
    "description-4mb-x400": lambda: shared({"type": "string", "description": "d" * 4_000_000}),
    "choice-10kb-x400x400": lambda: shared({"enum": [f"{i}" + "c" * 10_000
                                                     for i in range(400)]}),
    "name-1mb-x400": lambda: shared({"type": "object",
                                     "properties": {"n" * 1_000_000: {"type": "string"}}}),
    "definition-250k": definition_file,
    "legit-4.5mb": legit,
}


def child(path: str) -> None:
    """Read one document file; print one JSON line: ms, peak MB over the start, outcome."""
    from engine.schemas.commands import read_document
    from engine.schemas.definition import (
        SchemaDefinitionError,
        count_fields,
        fingerprint,
        validate_definition,
    )

    text = Path(path).read_bytes()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        defn = read_document(text)
        # What saving does before it writes the row: the checks, the canonical JSON's hash.
        problems, mark = validate_definition(defn), fingerprint(defn)
        outcome = f"accepted ({count_fields(defn.fields)} fields)" if not problems \
            else f"refused on save: {problems[0][:60]}"
        assert mark
    except SchemaDefinitionError as exc:
        outcome = f"refused: {exc.problems[0][:70]}"
    ms = (time.perf_counter() - start) * 1000
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps({"kb": len(text) / 1024, "ms": ms, "mb": peak, "outcome": outcome}))


def run(case: str, timeout: float, limit_mb: int, folder: Path) -> str:
    # Written here, so the child's peak memory before the read is only the text's bytes.
    path = folder / f"{case}.json"
    path.write_text(json.dumps(CASES[case](), ensure_ascii=False), encoding="utf-8")

    def limit() -> None:
        cap = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True,
                              text=True, timeout=timeout, preexec_fn=limit, env=env)
    except subprocess.TimeoutExpired:
        return f"{case:<22} {'':>9} > {timeout * 1000:>8.0f} ms  (stopped at the timeout)"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{case:<22} {'':>9}   failed: {last[:90]}"
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return (f"{case:<22} {r['kb']:>7.1f} KB {r['ms']:>10.1f} ms {r['mb']:>8.1f} MB  "
            f"{r['outcome']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--limit-mb", type=int, default=4096)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"{'case':<22} {'size':>10} {'time':>13} {'peak':>11}  outcome")
    with tempfile.TemporaryDirectory() as folder:
        for case in args.cases.split(","):
            print(run(case, args.timeout, args.limit_mb, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
