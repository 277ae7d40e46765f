"""A document about three times the local model's context, split and merged (#19).

    python bench/long_document_bench.py [--chars 100000] [--pages 12] [--model ...]

Builds a self-written meeting record (tests/long_document.py: the MeetingInfo facts on known
pages, ordinary minutes between them) and runs, on the embedded model with its default
settings (two slots of FIELDSTREAM_LOCAL_CTX tokens each):

1. its first part alone, as a run of its own (the part the split run starts with);
2. the whole document through `start_run`, which splits it (engine.runs.chunked).

Prints the number of parts, first done field and total for both, the ratio of the first done
fields (target <= 1.2), the total (target <= 6 min on 2 cores), and which expected values the
merge found, each with its page. Figures are wall-clock seconds from the run's start.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.documents.model import Document
from engine.providers import local_provider
from engine.runs.chunked import plan_parts
from engine.runs.runner import Runner
from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.schemas.library import MeetingInfo
from engine.stream.changes import DONE
from tests.long_document import EXPECTED, meeting_pages

TARGET_RATIO, TARGET_TOTAL = 1.2, 360.0


def watch(runner: Runner) -> tuple[float | None, float]:
    """Seconds from now to the first done value and to the end, polled like a view."""
    start, first = time.perf_counter(), None
    while True:
        update = runner.next_update(timeout=0.2)
        if first is None and any(d.cell.state == DONE or any(c.state == DONE for c in d.items)
                                 for d in update.leaves.values()):
            first = time.perf_counter() - start
        if update.ended:
            return first, time.perf_counter() - start


def found(result: Any) -> dict[str, bool]:
    data = result if isinstance(result, dict) else {}
    out = {k: data.get(k) == v or (isinstance(v, str) and v in str(data.get(k)))
           for k, v in EXPECTED.items() if k != "users"}  # "Riverside Library, room 4" counts
    got = {u.get("email") for u in data.get("users") or [] if isinstance(u, dict)}
    for user in EXPECTED["users"]:
        out[f"user {user['email']}"] = user["email"] in got
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    pages, where = meeting_pages(args.chars, args.pages)
    document = Document.from_pages("minutes.pdf", "pdf", b"bench", pages)
    provider = local_provider(args.model)
    model = provider.default_model
    spec = RunSpec.for_provider(document.text, "MeetingInfo", MeetingInfo, provider, model,
                                "json_schema", document=document.info)
    t0 = time.perf_counter()
    parts = plan_parts(spec, provider)  # starts the model and counts its tokens
    print(f"model {model}: {len(document.text):,} characters, {document.pages} pages -> "
          f"{len(parts)} parts of <= {max(p.end - p.start for p in parts):,} characters "
          f"(planned in {time.perf_counter() - t0:.1f} s, the model's start included)")

    first = parts[0]
    alone = RunSpec.for_provider(document.text[first.start:first.end], "MeetingInfo",
                                 MeetingInfo, provider, model, "json_schema")
    alone_first, alone_total = watch(start_run(alone, provider))
    print(f"first part alone:  first done field {alone_first:.1f} s, total {alone_total:.1f} s")

    runner = start_run(spec, provider)
    split_first, split_total = watch(runner)
    report = runner.report()
    print(f"whole document:    first done field {split_first:.1f} s, total {split_total:.1f} s, "
          f"status {report.status}, {len(report.parts)} parts")
    if alone_first and split_first:
        ratio = split_first / alone_first
        print(f"first done field ratio {ratio:.2f} (target <= {TARGET_RATIO}) "
              f"{'OK' if ratio <= TARGET_RATIO else 'MISSED'}")
    print(f"total {split_total:.0f} s (target <= {TARGET_TOTAL:.0f} s) "
          f"{'OK' if split_total <= TARGET_TOTAL else 'MISSED'}")
    data = report.result if report.result is not None else report.partial
    hits = found(data)
    print(f"expected values found: {sum(hits.values())} of {len(hits)}")
    for path, grounding in sorted(report.grounding.items()):
        if grounding.spans:
            page = document.page_at(grounding.spans[0].start)
            print(f"  {path:<18} {grounding.status:<10} page {page}")
    print(f"pages the facts are on: {where}")


if __name__ == "__main__":
    main()
