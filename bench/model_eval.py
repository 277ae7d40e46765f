"""The embedded models on the evaluation sets: F1, seconds and tokens per document (#22).

    python bench/model_eval.py [--models 0.5b 1.5b] [--sets invoices meetings long]
                               [--limit N] [--env FIELDSTREAM_FIELD_GUIDE=1] [--out figures.json]

Each (set, model) pair is one `fieldstream eval run` in a fresh data folder (the starter sets
installed, the long-document set of `bench/data/long-documents/` imported with its schema), one
lane on the local provider, so the figures are what a user gets from the CLI: micro F1 over
every field, seconds per document (two documents run at a time on the server's two slots) and
completion tokens per document; then each field's F1. `--env` passes a switch to the runs
(`FIELDSTREAM_FIELD_GUIDE=1`, `FIELDSTREAM_COMPACT_JSON=1`), so a change is measured against
the default in the same way. The README's "Which model" table is this script's output;
`--reference` also writes the figures the Evaluate page shows (`engine/evaluate/reference.json`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONG = ROOT / "bench" / "data" / "long-documents"
REFERENCE = ROOT / "engine" / "evaluate" / "reference.json"
MODELS = {"0.5b": "qwen2.5-coder-0.5b-instruct-q4_k_m", "1.5b": "qwen2.5-coder-1.5b-instruct"}
CLI = [sys.executable, "-m", "engine.cli"]


def _cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a lane under --min-f1 (none is given here)
        raise SystemExit(f"fieldstream {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def prepare(env: dict[str, str], sets: list[str], limit: int | None) -> dict[str, str]:
    """Install the sets in the data folder; set name -> (installed name, schema)."""
    chosen: dict[str, str] = {}
    for name in sets:
        if name == "long":
            schema = json.loads((LONG / "schema.json").read_text(encoding="utf-8"))["name"]
            _cli(["schemas", "import", str(LONG / "schema.json")], env)
            _cli(["eval", "sets", "import", "long-documents", "--schema", schema,
                  "--answers", str(LONG / "answers.jsonl"),
                  *map(str, sorted(LONG.glob("*.txt")))], env)
            chosen[name] = f"long-documents\t{schema}"
        else:
            extra = ["--limit", str(limit)] if limit else []
            _cli(["eval", "sets", "starter", name, *extra], env)
            schema = {"invoices": "Invoice", "meetings": "MeetingInfo"}[name]
            installed = f"starter-{name}" + (f"-{limit}" if limit else "")
            chosen[name] = f"{installed}\t{schema}"
    return chosen


def run_one(env: dict[str, str], installed: str, schema: str, model: str, label: str,
            chunking: str = "auto") -> dict:
    lane = f"schema={schema},provider=local,model={model},label={label},chunking={chunking}"
    out = _cli(["eval", "run", installed, "--lane", lane, "--json", "--timeout", "900"], env)
    data = json.loads(out.strip().splitlines()[-1])
    return data["lanes"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--sets", nargs="+", default=["invoices", "meetings", "long"],
                        choices=["invoices", "meetings", "long"])
    parser.add_argument("--limit", type=int, default=None, help="starter sets: first N docs")
    parser.add_argument("--chunking", default="auto", choices=["auto", "always"],
                        help="always: split every document into parts (the lane's chunking)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the runs")
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--keep", type=Path, help="keep each model's data folder under here "
                        "(its history: the answers, to read with the app or the CLI)")
    parser.add_argument("--reference", action="store_true",
                        help=f"write the figures the Evaluate page shows ({REFERENCE})")
    args = parser.parse_args()
    rows = []
    for model in args.models:
        with tempfile.TemporaryDirectory(prefix="fs-model-eval-") as tmp:
            data = str(args.keep / model) if args.keep else tmp
            env = {**os.environ, "FIELDSTREAM_DATA_DIR": data,
                   **dict(pair.split("=", 1) for pair in args.env)}
            for name, pair in prepare(env, args.sets, args.limit).items():
                installed, schema = pair.split("\t")
                lane = run_one(env, installed, schema, MODELS[model], model, args.chunking)
                rows.append({"set": name, "model": model, **lane})
                print(f"{name:9} {model:5} F1 {lane['micro_f1']:.3f}  P {lane['precision']:.3f}"
                      f"  R {lane['recall']:.3f}  {lane['seconds_per_doc'] or 0:6.1f} s/doc"
                      f"  {lane['tokens_per_doc'] or 0:6.0f} tok/doc  docs {lane['documents']}"
                      f"  {lane['counts']}", flush=True)
                fields = "  ".join(f"{k} {v['f1']:.2f}" for k, v in lane["fields"].items())
                print(f"          fields: {fields}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if args.reference:
        write_reference(rows)


def write_reference(rows: list[dict]) -> None:
    """The figures `engine.evaluate.advice.reference()` reads (starter sets only), each with
    when and where it was measured; rows of other (set, model) pairs already there are kept."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    measured = f"{datetime.date.today().isoformat()}, {os.cpu_count()} CPU cores, {commit or '?'}"
    keep = ("set", "model", "micro_f1", "precision", "recall", "seconds_per_doc",
            "tokens_per_doc", "documents")
    new = [{**{k: row[k] for k in keep}, "measured": measured,
            "fields": {name: f["f1"] for name, f in row["fields"].items()}}
           for row in rows if row["set"] != "long"]
    old = json.loads(REFERENCE.read_text(encoding="utf-8"))["rows"] if REFERENCE.exists() else []
    done = {(r["set"], r["model"]) for r in new}
    merged = [r for r in old if (r["set"], r["model"]) not in done] + new
    merged.sort(key=lambda r: (r["set"], r["model"]))
    REFERENCE.write_text(json.dumps({"rows": merged}, indent=1) + "\n", encoding="utf-8")

if __name__ == "__main__":
    main()
