"""Self-consistency on the embedded model: is a vote of several answers worth its time? (#22)

    python bench/self_consistency_bench.py [--set meetings] [--samples 3] [--temperature 0.7]

For every document of a starter set, in one run on one server (two documents at a time, as a
batch runs): the greedy answer (temperature 0, the product's default) and `--samples` - 1 more
at `--temperature` with seeds 1, 2, …; the vote (`engine.evaluate.consensus.vote`, the greedy
answer first so a tie keeps it) is scored against the gold beside the greedy answer alone.
Prints micro F1 and seconds per document of each, the gain per extra second, and how often a
field's agreement says the voted value is right (all agree / not all agree).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import extract
from engine.evaluate.consensus import vote
from engine.evaluate.score import score, score_many
from engine.evaluate.starter import starter_examples
from engine.providers import client_for, local_provider
from engine.schemas.library import SCHEMAS

MAX_TOKENS = 1024  # a sampled answer may loop; a starter answer is 100-400 tokens


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="meetings", choices=["meetings", "invoices"])
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    schema_name, examples = starter_examples(args.set, limit=args.limit)
    schema = SCHEMAS[schema_name]
    provider = local_provider()
    client = client_for(provider)

    def answer(text: str, sample: int) -> tuple[dict | None, float]:
        keywords = {} if sample == 0 else {"temperature": args.temperature, "seed": sample}
        *_, snap = extract(text, schema, client=client, model=provider.default_model,
                           max_tokens=MAX_TOKENS, **keywords)
        # a failed answer (e.g. looped to the token limit) counts as none: it agrees with nothing
        value = snap.final.model_dump(mode="json") if snap.error is None else None
        return value, snap.timings.elapsed

    def document(text: str) -> list[tuple[dict | None, float]]:
        return [answer(text, sample) for sample in range(args.samples)]

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # two documents at a time, each its answers in turn
        results = list(pool.map(document, [e.text for e in examples]))
    wall = time.perf_counter() - started
    greedy = [r[0][0] or {} for r in results]
    failed = sum(a is None for r in results for a, _ in r)
    voted = [vote([a for a, _ in r]) for r in results]
    golds = [e.gold for e in examples]
    single = score_many(zip(greedy, golds, strict=True)).totals()
    many = score_many(zip((v.answer for v in voted), golds, strict=True)).totals()
    t_single = statistics.mean(r[0][1] for r in results)
    t_many = statistics.mean(sum(t for _, t in r) for r in results)
    print(f"{args.set}: {len(examples)} documents, {args.samples} answers each "
          f"(temperature 0, then {args.temperature}), {wall:.0f} s in all, {failed} answers "
          "failed")
    print(f"greedy alone   micro F1 {single.micro_f1:.3f}  {t_single:5.1f} s/doc")
    print(f"vote of {args.samples}      micro F1 {many.micro_f1:.3f}  {t_many:5.1f} s/doc")
    gain = (many.micro_f1 - single.micro_f1) * 100
    extra = t_many - t_single
    print(f"gain {gain:+.1f} F1 points for {extra:+.1f} s/doc: "
          f"{gain / extra if extra else 0:+.2f} points per extra second")
    _agreement_report(voted, golds)
    return 0


def _agreement_report(voted: list, golds: list) -> None:
    """Is agreement a confidence? The share of fields voted right, by agreement."""
    right = {True: [0, 0], False: [0, 0]}  # all agree -> [right, fields]
    for v, gold in zip(voted, golds, strict=True):
        for key, share in v.agreement.items():
            cells = [c for c in score({key: v.answer.get(key)}, {key: gold.get(key)})]
            ok = all(c.fp == 0 and c.fn == 0 for c in cells)
            bucket = right[share == 1.0]
            bucket[0] += ok
            bucket[1] += 1
    for unanimous, (ok, n) in right.items():
        label = "all agree    " if unanimous else "not all agree"
        print(f"{label}: {ok}/{n} fields right ({ok / n:.0%})" if n else f"{label}: none")


if __name__ == "__main__":
    raise SystemExit(main())
