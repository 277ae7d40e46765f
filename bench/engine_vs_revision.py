"""The engine benchmark's 1,000-user stream, this checkout against an older revision, side by
side in one run: each tree in its own process, alternating, best of 7 per process, medians.

    python bench/engine_vs_revision.py --old 979e893 [--rounds 7]

The old revision is checked out into a temporary git worktree (removed afterwards); both trees
must have bench/engine_bench.py with `answer`, `chunked` and `run_engine`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from revision import ROOT, revision_tree

CODE = r"""
import gc, sys, time
sys.path[:0] = [{tree!r}, {tree!r} + "/bench"]
import engine, engine_bench as b
assert engine.__file__.startswith({tree!r}), engine.__file__
chunks = b.chunked(b.answer(1000))
b.run_engine(chunks)
times = []
for _ in range(7):
    gc.collect()
    t = time.perf_counter()
    b.run_engine(chunks)
    times.append(time.perf_counter() - t)
print(min(times) * 1000, len(chunks))
"""


def _one(tree: Path) -> tuple[float, str]:
    cmd = [sys.executable, "-c", CODE.format(tree=str(tree))]
    done = subprocess.run(cmd, cwd=tempfile.gettempdir(), capture_output=True, text=True,
                          check=True)
    out = done.stdout.split()
    return float(out[0]), out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the revision to compare with")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with revision_tree(args.old) as old:
        trees = {f"old {args.old}": old, "this checkout": ROOT}
        results: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                ms, chunks = _one(tree)
                results[name].append(ms)
    for name, values in results.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:>22}: median {statistics.median(values):6.2f} ms ({chunks} chunks; {runs})")
    old_ms, new_ms = (statistics.median(v) for v in results.values())
    print(f"this checkout / old = {new_ms / old_ms:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
