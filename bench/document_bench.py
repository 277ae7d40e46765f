"""Document conversion bench (#19): a 100-page text-layer PDF to text with its page map.

Builds the PDF with tests/fixtures/documents/make_documents.py's `pdf()` (contract-like pages,
30 lines each; nothing fetched), then measures:

- pages/s through `read_document` (the conversion child process, its start included) and
  through `read_bytes` in this process (best of --repeat);
- the child's own cost: `read_document` on a one-page PDF and on a one-page HTML file, against
  `read_bytes` in process (why plain text and Markdown stay in process: engine/documents/
  convert.py);
- peak memory increase of a read against the file size: the child's peak resident set (its
  VmHWM, reported by the child) minus the same child's peak on a one-page PDF (the interpreter,
  `engine` and pypdfium2 imported), so the increase is what the 100 pages cost.

Targets (issue #19): >= 50 pages/s on 2 cores; peak increase <= 10 x the file size + 30 MB.

    PYTHONPATH=$PWD .venv/bin/python bench/document_bench.py [--pages 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.documents import read_bytes
from engine.documents.convert import convert
from tests.fixtures.documents.make_documents import pdf


def pages(count: int) -> list[list[str]]:
    return [[f"{n}.{i} The Supplier shall deliver the services in Schedule {n} within {i + 5} "
             f"days; fee EUR {n * 100 + i},00." for i in range(30)] for n in range(1, count + 1)]


def best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data, one = pdf(pages(args.pages)), pdf(pages(1))
    html = b"<p>" + b"A one-page HTML file. " * 100 + b"</p>"
    print(f"{args.pages}-page PDF: {len(data) / 2**20:.2f} MB; {os.cpu_count()} cores; "
          f"Python {sys.version.split()[0]}")

    child = best(args.repeat, lambda: convert("bench.pdf", data))
    local = best(args.repeat, lambda: read_bytes("bench.pdf", data))
    print(f"read_document (child):  {args.pages / child:8.0f} pages/s  ({child * 1000:.0f} ms)  "
          "target >= 50")
    print(f"read_bytes (in process): {args.pages / local:7.0f} pages/s  ({local * 1000:.0f} ms)")

    one_child = best(args.repeat, lambda: convert("one.pdf", one))
    one_local = best(args.repeat, lambda: read_bytes("one.pdf", one))
    html_child = best(args.repeat, lambda: convert("one.html", html))
    html_local = best(args.repeat, lambda: read_bytes("one.html", html))
    text_local = best(args.repeat, lambda: convert("one.txt", html))
    print(f"one page: PDF child {one_child * 1000:.0f} ms vs in process {one_local * 1000:.1f} ms;"
          f" HTML child {html_child * 1000:.0f} ms vs in process {html_local * 1000:.1f} ms; "
          f"text (in process) {text_local * 1000:.1f} ms")

    base = convert("one.pdf", one).peak_kb
    peak = convert("bench.pdf", data).peak_kb
    increase = (peak - base) / 1024
    target = 10 * len(data) / 2**20 + 30
    print(f"child peak: {peak / 1024:.1f} MB, one-page child {base / 1024:.1f} MB: increase "
          f"{increase:.1f} MB for a {len(data) / 2**20:.2f} MB file  target <= {target:.1f} MB")
    ok = args.pages / child >= 50 and increase <= target
    print("targets met" if ok else "TARGET MISSED")


if __name__ == "__main__":
    main()
