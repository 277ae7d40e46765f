"""The local server's prompt cache across a batch (#22): 20 short invoices, one schema, two at a
time as a batch runs them on the server's two slots.

    python bench/prefix_cache_bench.py [--docs 20]

Each slot keeps the prompt it last read; a request whose prompt starts the same way reads only
what differs. The prompt is the system message (instruction, and with the field guide the
schema's fields and their descriptions), then the document: documents 1 and 2 (one per slot)
read all of it, documents 3-20 only their own text when the prefix is reused. Documents shorter
than the prefix, so the reuse shows. Measured in one run, each on a freshly started server:
the default request, and the request with `FIELDSTREAM_FIELD_GUIDE=1` (a longer prefix).
Per configuration: prompt tokens, first-token time of document 1 and the median of documents
3-20, and their ratio (target <= 0.5). The documents are made up (`invoice()` below).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import extract
from engine.llm.request import RequestSpec, build_request
from engine.local import server as lm
from engine.providers import client_for, local_provider
from engine.schemas.library import Invoice

TARGET = 0.5
NAMES = ["Acme Tools", "Birch & Co", "Cobalt Print", "Delta Freight", "Elm Office Supply",
         "Fjord Design", "Granite IT", "Harbor Foods"]
ITEMS = ["Paper A4", "Toner", "Desk lamp", "Cable", "Consulting hour", "Pallet", "Label roll"]


def invoice(rng: random.Random, n: int) -> str:
    """A short made-up invoice (~60-90 tokens)."""
    lines = [(rng.choice(ITEMS), rng.randint(1, 9), rng.randint(5, 90)) for _ in range(2)]
    body = "\n".join(f"{item}: {qty} x {price}.00 = {qty * price}.00" for item, qty, price in lines)
    total = sum(q * p for _, q, p in lines)
    return (f"INVOICE INV-2025-{100 + n}\nFrom: {rng.choice(NAMES)}\nTo: {rng.choice(NAMES)}\n"
            f"Date: 2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}\n{body}\nTotal: {total}.00 EUR")


def prompt_tokens(text: str, guide: bool) -> tuple[int, int]:
    """(tokens of the system message, of the whole prompt) as the server counts them."""
    server = lm.running_servers()[0]
    messages = build_request(RequestSpec(text, Invoice, "m", field_guide=guide))["messages"]
    return server.count_tokens(messages[:1]), server.count_tokens(messages)


def system_message(guide: bool) -> str:
    """The system message the app sends (with the field guide when asked)."""
    return build_request(RequestSpec("", Invoice, "m", field_guide=guide))["messages"][0][
        "content"]


def run(docs: list[str], guide: bool) -> tuple[list[float], tuple[int, int]]:
    """First-token seconds per document, two at a time, on a freshly started server."""
    lm.stop_servers()
    provider = local_provider()
    client = client_for(provider)
    system = system_message(guide)

    def one(text: str) -> float:  # the first token is all this measures
        *_, snap = extract(text, Invoice, client=client, model=provider.default_model,
                           system=system, max_tokens=8)
        return snap.timings.first_token or float("nan")

    with ThreadPoolExecutor(2) as pool:  # a batch's two workers
        times = list(pool.map(one, docs))
    return times, prompt_tokens(docs[0], guide)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20)
    args = ap.parse_args()
    rng = random.Random(22)
    docs = [invoice(rng, n) for n in range(args.docs)]
    for guide in (False, True):
        times, (system, whole) = run(docs, guide)
        first, rest = times[0], statistics.median(times[2:])
        ratio = rest / first
        print(f"field guide {'on ' if guide else 'off'}: prompt {whole} tokens "
              f"(system {system}, document ~{whole - system})  doc 1 {first:.2f} s  "
              f"doc 2 {times[1]:.2f} s  median docs 3-{len(docs)} {rest:.2f} s  "
              f"ratio {ratio:.2f} (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})",
              flush=True)
    lm.stop_servers()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
