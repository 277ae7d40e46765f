"""How long after a chunk leaves the server is it visible in the browser?

Streams a 2,000-chunk answer at 200 chunks/s from the local ReplayServer into the real app
(`streamlit run app.py`, headless Debian Chromium through Playwright). Every content chunk adds
a numbered word (`w0001 `, `w0002 `, ...) to the Report's `summary` field; a MutationObserver
in the page notes when each number first shows. Lag = first seen (browser clock) - sent
(server clock); both are this machine's wall clock.

    .venv/bin/python bench/ui_latency.py [--chunks 2000] [--rate 200] [--json out.json]

Prints p50/p95/max lag and whether lag grows over the stream (target: p95 <= 100 ms, no
growth). Exit code 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.testing.replay_server import ReplayServer, Reply  # noqa: E402
from tests.ui_support import (  # noqa: E402
    box_selector,
    chromium_page,
    fill_text,
    open_extract,
    screenshot,
    select_option,
    streamlit_app,
)

HEAD = '{"title": "Latency run", "summary": "'
TAIL = '", "conclusion": "Lag measured."}'

OBSERVE_JS = r"""
(selector) => {
  window.__seen = [];
  let last = 0;
  const scan = () => {
    const el = document.querySelector(selector);
    if (!el) return;
    const m = el.innerText.match(/w(\d{4})\s*$/) || el.innerText.match(/w(\d{4})(?![\s\S]*w\d{4})/);
    if (!m) return;
    const n = parseInt(m[1], 10);
    if (n > last) { last = n; window.__seen.push([Date.now(), n]); }
  };
  new MutationObserver(scan).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
}
"""


def words(count: int) -> list[str]:
    return [f"w{i:04d} " for i in range(1, count + 1)]


def lags(sent: list[tuple[float, str]], seen: list[tuple[float, int]], count: int) -> list[float]:
    """Seconds from each word's send to the first time the browser showed it (or a later one)."""
    sent_at = {}
    for t, delta in sent:
        if delta.startswith("w") and delta[1:5].isdigit():
            sent_at[int(delta[1:5])] = t
    out = []
    j = 0
    for n in range(1, count + 1):
        while j < len(seen) and seen[j][1] < n:
            j += 1
        if j == len(seen) or n not in sent_at:
            continue
        out.append(seen[j][0] / 1000.0 - sent_at[n])
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def growth(values: list[float]) -> tuple[float, float, float]:
    """(median lag of the first quarter, of the last quarter, slope in ms per 1000 chunks)."""
    quarter = max(1, len(values) // 4)
    first = statistics.median(values[:quarter])
    last = statistics.median(values[-quarter:])
    xs = list(range(len(values)))
    slope = statistics.linear_regression(xs, values).slope if len(values) > 2 else 0.0
    return first, last, slope * 1000 * 1000


def run(count: int, rate: float) -> dict[str, float | int | bool]:
    chunks = [HEAD[:20], HEAD[20:], *words(count - 3), TAIL]
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks, pace=1.0 / rate))
        env = {
            "FIELDSTREAM_BASE_URL": srv.base_url,
            "FIELDSTREAM_MODEL": "replay-model",
            "FIELDSTREAM_DEFAULT_PROVIDER": "Custom server",
        }
        with streamlit_app(env) as url, chromium_page() as page:
            open_extract(page, url)
            select_option(page, "Schema", "Report")
            fill_text(page, "A long report, streamed fast.")
            page.wait_for_timeout(1000)
            page.evaluate(OBSERVE_JS, box_selector("summary"))
            page.get_by_role("button", name="Extract").click()
            page.get_by_text("every field arrived").wait_for(timeout=count / rate * 1000 + 60_000)
            seen = page.evaluate("window.__seen")
            screenshot(page, "bench-ui-latency")
        values = lags(list(srv.sent), seen, count - 3)
    first, last, slope = growth(values)
    p95 = percentile(values, 0.95)
    grows = last - first > 0.05 or slope > 20
    return {
        "chunks": count, "rate": rate, "measured": len(values),
        "p50_ms": statistics.median(values) * 1000, "p95_ms": p95 * 1000,
        "max_ms": max(values) * 1000, "first_quarter_ms": first * 1000,
        "last_quarter_ms": last * 1000, "slope_ms_per_1000_chunks": slope,
        "grows": grows, "ok": p95 <= 0.100 and not grows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="chunks per second")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.chunks, args.rate)
    print(f"UI latency, {result['measured']} of {args.chunks} chunks at {args.rate:.0f}/s "
          f"(run took {time.perf_counter() - started:.1f} s)")
    print(f"  lag p50 {result['p50_ms']:.1f} ms  p95 {result['p95_ms']:.1f} ms  "
          f"max {result['max_ms']:.1f} ms")
    print(f"  first quarter {result['first_quarter_ms']:.1f} ms, last quarter "
          f"{result['last_quarter_ms']:.1f} ms, slope "
          f"{result['slope_ms_per_1000_chunks']:+.1f} ms per 1000 chunks -> "
          f"{'GROWS' if result['grows'] else 'no growth'}")
    print(f"  target p95 <= 100 ms and no growth: {'met' if result['ok'] else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
