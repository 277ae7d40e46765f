"""The grounding index of texts that are not prose (Hardening II #12): 1 MB each of `a` x 10^6,
random letters, base64 and the grounding bench's meeting notes. For each, the index's build
time (best of `--repeat`, not traced), its peak and kept memory (tracemalloc, one more build)
and the mean time of a few look-ups once warm (a piece of the text, its start, an invented
name); then
the peak of `--lanes` Compare lanes indexing the same no-space text at once (each in a thread
of its own, as runs do: one index each before, one shared by all after). Targets: peak <= 40
MB and build <= 1.5 s for each text.

With `--old REV`, the same figures for that revision (its files unpacked with `git archive`
into a temporary folder), side by side; every measurement runs in a fresh process.

    python bench/grounding_index_bench.py [--old REV] [--repeat 3] [--lanes 4]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = 1_000_000
TEXTS = ("a x 10^6", "random letters", "base64", "prose")
TARGETS = "targets: peak <= 40 MB, build <= 1.5 s"


def text_of(kind: str) -> str:
    rnd = random.Random(12)
    if kind == "a x 10^6":
        return "a" * SIZE
    if kind == "random letters":
        return "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=SIZE))
    if kind == "base64":
        return base64.b64encode(rnd.randbytes(SIZE * 3 // 4)).decode()[:SIZE]
    from grounding_bench import build  # after the engine of the tree measured is imported

    return build(SIZE, 12)[0][:SIZE]


def measure(tree: str, kind: str, repeat: int, lanes: int) -> dict[str, Any]:
    """One text's figures with the engine of `tree` (run in a process of its own)."""
    sys.path.insert(0, tree)
    import engine
    from engine.grounding import TextIndex

    assert engine.__file__.startswith(tree), engine.__file__
    text = text_of(kind)
    if lanes:
        return {"lanes_peak": _lanes_peak(text, lanes)}
    builds = []
    for _ in range(repeat):
        start = time.perf_counter()
        index = TextIndex(text)
        builds.append(time.perf_counter() - start)
        del index
    tracemalloc.start()
    index = TextIndex(text)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    values = [text[SIZE // 2 : SIZE // 2 + 20], text[:12], "Zebulon Quackenbush"]
    index.ground_many(values)  # the first fuzzy look-up builds its tables: not counted
    start = time.perf_counter()
    for _ in range(5):
        index.ground_many(values)
    lookup = (time.perf_counter() - start) / (5 * len(values))
    return {"build": min(builds), "peak": peak, "kept": kept, "lookup": lookup}


def _lanes_peak(text: str, lanes: int) -> float:
    """Peak memory of `lanes` threads each asking for the text's index, as the lanes' runs
    do: shared when the engine can share one (`SharedIndexes`), else one each."""
    from engine.grounding import TextIndex
    from engine.runs import runner

    shared = runner.SharedIndexes() if hasattr(runner, "SharedIndexes") else None
    held: list[Any] = []

    def lane() -> None:
        held.append(TextIndex(text) if shared is None else shared.get(text, TextIndex))

    tracemalloc.start()
    threads = [threading.Thread(target=lane) for _ in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _run(tree: Path, kind: str, args: argparse.Namespace, lanes: int = 0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--measure", kind, "--tree", str(tree),
           "--repeat", str(args.repeat), "--lanes", str(lanes)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def _unpack(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def _cols(got: list[dict[str, Any]], key: str, scale: float, width: int = 8) -> str:
    """One figure per tree, side by side."""
    return " |".join(f"{g[key] * scale:{width}.{1 if scale != 1 else 2}f}" for g in got)


def report(trees: dict[str, Path], args: argparse.Namespace) -> None:
    print(f"1 MB texts; columns: {' | '.join(trees)}; {TARGETS}")
    for kind in TEXTS:
        got = [_run(tree, kind, args) for tree in trees.values()]
        print(f"{kind:>15}: build s {_cols(got, 'build', 1, 6)}   "
              f"peak MB {_cols(got, 'peak', 1e-6)}   kept MB {_cols(got, 'kept', 1e-6)}   "
              f"look-up us {_cols(got, 'lookup', 1e6)}", flush=True)
    if args.lanes:
        got = [_run(tree, "random letters", args, args.lanes) for tree in trees.values()]
        print(f"{args.lanes} lanes indexing the random letters at once: peak MB "
              f"{_cols(got, 'lanes_peak', 1e-6)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="a revision to measure beside this checkout")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # one measurement (a child process)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.tree, args.measure, args.repeat, args.lanes)))
        return
    if not args.old:
        report({"this checkout": ROOT}, args)
        return
    with tempfile.TemporaryDirectory(prefix="fieldstream-old-") as tmp:
        _unpack(args.old, Path(tmp))
        report({f"before ({args.old})": Path(tmp), "this checkout": ROOT}, args)


if __name__ == "__main__":
    main()
