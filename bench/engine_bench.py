"""Engine benchmark: MeetingInfo answers with 5, 50, 200 and 1,000 users in 1-6-char chunks.

For each size, in the same run, the CPU time for one whole stream with a typed snapshot read
after every chunk:
  engine   - fieldstream's incremental stream_model
  reparse  - what other libraries do: jiter.from_json(buffer, partial_mode="trailing-strings")
             + validation of the partial model on every chunk
  floor    - parsing and validating the finished document once (jiter + model_validate)
Prints us/chunk, totals, both ratios, the growth exponent, early/late per-chunk cost, peak
memory, and the end of the stream (the last chunk, which closes the root and runs the full
validation, plus close()) timed apart from the per-chunk figures.
Targets (issue #2): engine <= 50x floor, >= 100x faster than reparse at 1,000 users,
exponent <= 1.05, late/early <= 1.2, memory O(answer).

Then one long string field (issue #7): 1 MB and 2 MB in 4-character chunks, 50 MB in
20-character chunks, with the typed snapshot and the chunk's changes read after every chunk,
as a UI does. Prints the time and the time per MB: linear parsing keeps s/MB flat for a
given chunk size (it was 3.3 s for 1 MB and 11.9 s for 2 MB; 50 MB did not finish).

    python bench/engine_bench.py [--sizes 5,50,200,1000] [--repeat 5] [--long 1:4,2:4,50:20]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import tracemalloc
from pathlib import Path

import jiter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import ModelStream, Partial, stream_model
from engine.schemas.library import MeetingInfo
from engine.stream.changes import Grew


def answer(n_users: int) -> str:
    users = [
        {"name": f"Person {i} Example", "email": f"person{i}@example.com",
         "twitter": f"@handle_{i}"}
        for i in range(n_users)
    ]
    doc = {"users": users, "date": "March 15th, 2024", "location": "Grand Tech Arena, "
           "4521 Innovation Drive", "budget": 50000, "deadline": "February 20th"}
    return json.dumps(doc)


def chunked(text: str, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        k = rnd.randint(1, 6)
        out.append(text[i : i + k])
        i += k
    return out


def run_engine(chunks: list[str]) -> object:
    snap = None
    for snap in stream_model(MeetingInfo, chunks):
        _ = snap.partial  # the typed snapshot a UI would read
    return snap.final  # type: ignore[union-attr]


def run_reparse(chunks: list[str]) -> object:
    partial_cls = Partial[MeetingInfo]
    buf = ""
    obj = None
    for chunk in chunks:
        buf += chunk
        obj = partial_cls.model_validate(
            jiter.from_json(buf.encode(), partial_mode="trailing-strings"))
    return obj


def run_floor(text: str) -> object:
    return MeetingInfo.model_validate(jiter.from_json(text.encode()))


def best(fn, arg, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn(arg)
        times.append(time.process_time() - t0)
    return min(times)


def early_late(chunks: list[str], repeat: int) -> tuple[float, float, float]:
    """Per-chunk time over the first and the last 10% of the stream (best of `repeat` runs),
    and the end-of-stream close (final validation), timed apart."""
    clock = time.perf_counter
    tenth = max(1, len(chunks) // 10)
    marks = {tenth, len(chunks) - tenth, len(chunks) - 1}
    early = late = end = math.inf
    for _ in range(repeat):
        ms = ModelStream(MeetingInfo)
        stamps = {0: clock()}
        for i, chunk in enumerate(chunks[:-1], 1):
            _ = ms.feed(chunk).partial
            if i in marks:
                stamps[i] = clock()
        t0 = clock()
        _ = ms.feed(chunks[-1]).partial  # closes the root: validates the whole model
        ms.close()
        end = min(end, clock() - t0)
        early = min(early, (stamps[tenth] - stamps[0]) / tenth)
        late = min(late, (stamps[len(chunks) - 1] - stamps[len(chunks) - tenth]) / (tenth - 1))
    return early, late, end


def run_long(mb: float, size: int) -> tuple[int, float]:
    """One `location` of `mb` megabytes in `size`-character chunks: (chunks, CPU seconds).

    The field and the chunk's changes are read after every chunk but not kept: a string kept
    by the caller across chunks must be copied by each append (str is immutable)."""
    n = int(mb * 1_000_000)
    text = '{"users": [], "date": "d", "location": "' + "x" * n + '", "budget": 1, "deadline": "e"}'
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    del text
    t0 = time.process_time()
    read = 0
    snap = None
    for snap in stream_model(MeetingInfo, chunks):
        read += len(snap.partial.location or "")  # what a UI reads after every chunk
        read += sum(len(ch.value) for ch in snap.changes if type(ch) is Grew)
    elapsed = time.process_time() - t0
    assert len(snap.final.location) == n and read > n  # type: ignore[union-attr]
    return len(chunks), elapsed


def peak_memory(chunks: list[str]) -> int:
    tracemalloc.start()
    run_engine(chunks)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="5,50,200,1000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reparse-repeat", type=int, default=1)
    ap.add_argument("--long", default="1:4,2:4,50:20",
                    help="long-string cases MB:chunk-size ('' to skip)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    run_engine(chunked(answer(5)))  # build the schema's nodes and partial classes once
    rows = []
    print(f"{'users':>6} {'KB':>6} {'chunks':>7} {'engine ms':>10} {'us/chunk':>9} "
          f"{'reparse ms':>11} {'floor ms':>9} {'eng/floor':>10} {'reparse/eng':>12} "
          f"{'late/early':>10} {'end ms':>7} {'peak KB':>8}")
    for n in sizes:
        text = answer(n)
        chunks = chunked(text)
        assert run_engine(chunks) == run_floor(text)
        eng = best(run_engine, chunks, args.repeat)
        rep = best(run_reparse, chunks, args.reparse_repeat)
        flo = best(run_floor, text, 200)  # cheap and noisy: take the best of many
        early, late, end = early_late(chunks, args.repeat)
        peak = peak_memory(chunks)
        rows.append((n, len(chunks), eng))
        print(f"{n:>6} {len(text) / 1000:>6.1f} {len(chunks):>7} {eng * 1e3:>10.2f} "
              f"{eng / len(chunks) * 1e6:>9.2f} {rep * 1e3:>11.1f} {flo * 1e3:>9.3f} "
              f"{eng / flo:>10.1f} {rep / eng:>12.1f} {late / early:>10.2f} "
              f"{end * 1e3:>7.2f} {peak / 1000:>8.0f}")
    (n0, c0, t0), (n1, c1, t1) = rows[0], rows[-1]
    if c1 != c0:  # one size alone has no growth
        exponent = math.log(t1 / t0) / math.log(c1 / c0)
        print(f"growth exponent (engine time vs chunks, {n0} -> {n1} users): {exponent:.3f}")
    if args.long:
        print(f"\n{'string MB':>9} {'chunk':>6} {'chunks':>9} {'seconds':>8} {'s/MB':>7} "
              f"{'us/chunk':>9}")
    for case in filter(None, args.long.split(",")):
        mb, size = float(case.split(":")[0]), int(case.split(":")[1])
        count, secs = run_long(mb, size)
        print(f"{mb:>9g} {size:>6} {count:>9} {secs:>8.2f} {secs / mb:>7.3f} "
              f"{secs / count * 1e6:>9.2f}")


if __name__ == "__main__":
    main()
