"""Evaluation scorer benchmark (#21): 1,000 documents × 20 fields × 4 lanes scored.

Each document is an invoice-like gold answer of 20 field keys: 12 leaves (text, numbers,
dates), an address of 3, a list of 3-5 tags and a list of 2-6 line items of 4 fields each. Each
lane's answer is the gold with its own rate of changes (a value respelled in case or spacing,
a wrong value, a missing one, an extra one, items shuffled, an item dropped or added). The
answers are made before the clock starts; the time is `score_many` per lane, then each lane's
figures, without and with fuzzy matching. Target (issue #21): ≤ 2 s.

    python bench/score_bench.py [--documents 1000] [--lanes 4] [--repeat 3] [--seed 21]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluate.score import score_many

WORDS = ("acme", "widget", "bolt", "steel", "north", "river", "supply", "express", "global",
         "paper", "blue", "service", "consulting", "hours", "licence", "support")


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).title()


def gold_document(rng: random.Random) -> dict[str, Any]:
    return {
        "invoice_number": f"INV-{rng.randint(1, 99999)}",
        "issue_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "due_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "seller": words(rng, 3), "buyer": words(rng, 2),
        "seller_vat": f"DE{rng.randint(10**8, 10**9)}",
        "currency": rng.choice(["EUR", "USD", "GBP"]), "subtotal": rng.randint(100, 90000),
        "tax": round(rng.uniform(0, 5000), 2), "total": rng.randint(100, 99000),
        "po_number": rng.choice([None, f"PO-{rng.randint(1, 999)}"]), "notes": words(rng, 6),
        "address": {"street": f"{rng.randint(1, 200)} {words(rng, 2)} St",
                    "city": words(rng, 1), "zip": f"{rng.randint(10000, 99999)}"},
        "tags": [rng.choice(WORDS) for _ in range(rng.randint(3, 5))],
        "items": [{"sku": f"S{rng.randint(100, 999)}", "description": words(rng, 3),
                   "quantity": rng.randint(1, 20), "amount": round(rng.uniform(1, 900), 2)}
                  for _ in range(rng.randint(2, 6))],
    }


def change(rng: random.Random, value: Any, rate: float) -> Any:
    """The value as a lane with this error rate might answer it."""
    if isinstance(value, dict):
        out = {k: change(rng, v, rate) for k, v in value.items() if rng.random() > rate / 3}
        if rng.random() < rate / 3:
            out["extra"] = words(rng, 1)
        return out
    if isinstance(value, list):
        items = [change(rng, v, rate) for v in value if rng.random() > rate / 3]
        rng.shuffle(items)
        if rng.random() < rate / 3 and value:
            items.append(change(rng, copy.deepcopy(rng.choice(value)), 1.0))
        return items
    roll = rng.random()
    if roll < rate / 2:
        return words(rng, 2) if isinstance(value, str) else rng.randint(0, 10**5)
    if roll < rate and isinstance(value, str):
        return "  " + value.upper() + " "  # the normaliser's business
    if roll < rate and isinstance(value, int):
        return f"{value:,}"
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    golds = [gold_document(rng) for _ in range(args.documents)]
    rates = [0.05 + 0.1 * lane for lane in range(args.lanes)]
    lanes = [[(change(rng, g, rate), g) for g in golds] for rate in rates]
    fields = score_many((g, g) for g in golds).by_field()  # the gold's own field keys
    print(f"{args.documents} documents × {len(fields)} fields × "
          f"{args.lanes} lanes; median of {args.repeat}")
    for fuzzy in (None, 0.85):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            results = [score_many(pairs, fuzzy=fuzzy).totals() for pairs in lanes]
            times.append(time.perf_counter() - start)
        print(f"fuzzy={fuzzy}: {statistics.median(times):.3f} s (target ≤ 2 s)")
        for rate, t in zip(rates, results, strict=True):
            print(f"  lane error rate {rate:.2f}: micro F1 {t.micro_f1:.3f}, "
                  f"macro F1 {t.macro_f1:.3f}, exact {t.exact_rate:.1%}")


if __name__ == "__main__":
    main()
