"""How long after a chunk leaves the server is it visible in the browser?

Streams a 2,000-chunk answer at 200 chunks/s from the local ReplayServer into the real app
(`streamlit run app.py`, headless Debian Chromium through Playwright). Every content chunk adds
a numbered word (`w0001 `, `w0002 `, ...) to the Report's `summary` field; a MutationObserver
in the page notes when each number first shows. Lag = first seen (browser clock) - sent
(server clock); both are this machine's wall clock.

    .venv/bin/python bench/ui_latency.py [--chunks 2000] [--rate 200] [--json out.json]
    .venv/bin/python bench/ui_latency.py --lanes 4 [--chunks 1000] [--rate 200]
    .venv/bin/python bench/ui_latency.py --old REV [--rounds 3] [--lanes 4]

Prints p50/p95/max lag and whether lag grows over the stream (target: p95 <= 100 ms, no
growth). `--lanes N` streams N answers at once (each at `--rate`) into the Compare page's lanes,
each lane's words tagged with its own letter (`a0001 `, `b0001 `, ...), and prints the figures
per lane, plus whether a lane starved (its text stood still for more than half a second while
its words were being sent). Exit code 1 when the target is missed.

`--old REV` measures an older revision beside this checkout in one run: REV is checked out into
a temporary git worktree, and each round runs the app from the old tree and from this one
alternately (the order swaps every round), same chunks, one lane and then `--lanes` lanes (4 by
default); it prints each tree's medians over the rounds and the ratio of the one-lane p95s
(target: this checkout <= old + 10 %), four lanes p95 <= 100 ms in every lane.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.testing.replay_server import ReplayServer, Reply  # noqa: E402
from tests import ui_support  # noqa: E402
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

#: The Compare page's lanes: per lane box, the newest tagged word seen [[t, tag, n], ...].
OBSERVE_LANES_JS = r"""
(selectors) => {
  window.__lanes = {};
  const last = {};
  const scan = () => {
    for (const sel of selectors) {
      const el = document.querySelector(sel);
      if (!el) continue;
      // textContent needs no layout, and the newest word is at the end of the text.
      const all = el.textContent.slice(-64).match(/[a-d]\d{4}/g);
      if (!all) continue;
      const word = all[all.length - 1];
      const n = parseInt(word.slice(1), 10);
      if (n > (last[sel] || 0)) {
        last[sel] = n;
        (window.__lanes[sel] = window.__lanes[sel] || []).push([Date.now(), word[0], n]);
      }
    }
  };
  new MutationObserver(scan).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
}
"""
STARVED_S = 0.5  # a lane whose text stands still this long mid-stream starved

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


def words(count: int, tag: str = "w") -> list[str]:
    return [f"{tag}{i:04d} " for i in range(1, count + 1)]


def lags(sent: list[tuple[float, str]], seen: list[tuple[float, int]], count: int,
         tag: str = "w") -> list[float]:
    """Seconds from each word's send to the first time the browser showed it (or a later one)."""
    sent_at = {}
    for t, delta in sent:
        if delta.startswith(tag) and delta[1:5].isdigit():
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


def figures(values: list[float]) -> dict[str, float | bool]:
    """p50 / p95 / max, first and last quarter, slope, growth (ms)."""
    first, last, slope = growth(values)
    return {
        "p50_ms": statistics.median(values) * 1000, "p95_ms": percentile(values, 0.95) * 1000,
        "max_ms": max(values) * 1000, "first_quarter_ms": first * 1000,
        "last_quarter_ms": last * 1000, "slope_ms_per_1000_chunks": slope,
        "grows": last - first > 0.05 or slope > 20,
    }


def answer(count: int, tag: str = "w") -> list[str]:
    return [HEAD[:20], HEAD[20:], *words(count - 3, tag), TAIL]


@contextlib.contextmanager
def app_tree(tree: Path | None) -> Iterator[None]:
    """`streamlit_app` runs app.py from `tree` (cwd and PYTHONPATH) instead of this checkout."""
    if tree is None:
        yield
        return
    saved, ui_support.ROOT = ui_support.ROOT, tree
    try:
        yield
    finally:
        ui_support.ROOT = saved


def run(count: int, rate: float, tree: Path | None = None,
        shot: str = "bench-ui-latency") -> dict[str, float | int | bool]:
    chunks = answer(count)
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks, pace=1.0 / rate))
        env = {
            "FIELDSTREAM_BASE_URL": srv.base_url,
            "FIELDSTREAM_MODEL": "replay-model",
            "FIELDSTREAM_DEFAULT_PROVIDER": "Custom server",
        }
        with app_tree(tree), streamlit_app(env) as url, chromium_page() as page:
            open_extract(page, url)
            select_option(page, "Schema", "Report")
            fill_text(page, "A long report, streamed fast.")
            page.wait_for_timeout(1000)
            page.evaluate(OBSERVE_JS, box_selector("summary"))
            page.get_by_role("button", name="Extract").click()
            page.get_by_text("every field arrived").wait_for(timeout=count / rate * 1000 + 60_000)
            seen = page.evaluate("window.__seen")
            screenshot(page, shot)
        values = lags(list(srv.sent), seen, count - 3)
    result = {"chunks": count, "rate": rate, "measured": len(values), **figures(values)}
    return {**result, "ok": result["p95_ms"] <= 100 and not result["grows"]}


def run_lanes(count: int, rate: float, lanes: int, tree: Path | None = None,
              shot: str = "bench-ui-latency-lanes") -> dict[str, dict[str, float | int | bool]]:
    """`lanes` answers at `rate` chunks/s each into the Compare page; figures per lane."""
    from ui.compare_view import LANES
    from ui.keys import RunKeys

    names = LANES[:lanes]
    with ReplayServer() as srv:
        srv.queue(*(Reply.content(answer(count, tag), pace=1.0 / rate) for tag in names))
        env = {"FIELDSTREAM_BASE_URL": srv.base_url, "FIELDSTREAM_MODEL": "replay-model",
               "FIELDSTREAM_DEFAULT_PROVIDER": "Custom server", "FIELDSTREAM_HISTORY": "off"}
        with app_tree(tree), streamlit_app(env) as url, chromium_page(width=2000) as page:
            page.goto(url + "/Compare", wait_until="domcontentloaded")
            page.get_by_role("button", name="Run all").wait_for(timeout=30_000)
            for _ in names[2:]:
                page.get_by_role("button", name="Add lane").click()
                page.wait_for_timeout(700)
            for lane in names:
                box = page.locator(f".st-key-fscmp_lane_{lane}")
                box.get_by_role("combobox", name="Schema", exact=True).click()
                page.get_by_role("option", name="Report", exact=True).click()
                page.wait_for_timeout(700)
            fill_text(page, "A long report, streamed fast, in several lanes.")
            page.wait_for_timeout(1000)
            selectors = {lane: "." + "st-key-" + RunKeys(lane).box("summary") for lane in names}
            page.evaluate(OBSERVE_LANES_JS, list(selectors.values()))
            page.get_by_role("button", name="Run all").click()
            page.get_by_text("every field arrived").nth(lanes - 1).wait_for(
                timeout=count / rate * 1000 + 90_000)
            seen = page.evaluate("window.__lanes")
            screenshot(page, shot)
        sent = list(srv.sent)
    out = {}
    for lane, selector in selectors.items():
        marks = seen.get(selector, [])
        tag = marks[-1][1] if marks else lane  # which answer this lane got (requests race)
        values = lags(sent, [(t, n) for t, _, n in marks], count - 3, tag)
        gaps = [(b[0] - a[0]) / 1000 for a, b in itertools.pairwise(marks)]
        result = {"answer": tag, "measured": len(values), "updates": len(marks),
                  "longest_still_s": max(gaps, default=0.0), **figures(values)}
        result["starved"] = result["longest_still_s"] > STARVED_S
        result["ok"] = result["p95_ms"] <= 100 and not result["grows"] and not result["starved"]
        out[lane] = result
    return out


def report_lanes(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    result = run_lanes(args.chunks, args.rate, args.lanes)
    print(f"UI latency, {args.lanes} lanes x {args.chunks} chunks at {args.rate:.0f}/s each "
          f"(run took {time.perf_counter() - started:.1f} s)")
    for lane, r in result.items():
        print(f"  lane {lane} ({r['measured']} words, {r['updates']} redraws): "
              f"p50 {r['p50_ms']:.1f} ms  p95 {r['p95_ms']:.1f} ms  max {r['max_ms']:.1f} ms; "
              f"first quarter {r['first_quarter_ms']:.1f} ms, last {r['last_quarter_ms']:.1f} "
              f"ms -> {'GROWS' if r['grows'] else 'no growth'}; longest still "
              f"{r['longest_still_s'] * 1000:.0f} ms -> {'STARVED' if r['starved'] else 'fed'}")
    ok = all(r["ok"] for r in result.values())
    print(f"  target p95 <= 100 ms per lane, no growth, no lane starved: "
          f"{'met' if ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


def _median(runs: list[dict[str, float | int | bool]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def _line(runs: list[dict[str, float | int | bool]]) -> str:
    p95s = ", ".join(f"{float(r['p95_ms']):.0f}" for r in runs)
    grows = sum(bool(r["grows"]) for r in runs)
    starved = sum(bool(r.get("starved", False)) for r in runs)
    return (f"p50 {_median(runs, 'p50_ms'):5.1f}  p95 {_median(runs, 'p95_ms'):5.1f}  "
            f"max {_median(runs, 'max_ms'):5.1f} ms (p95 per run: {p95s}); "
            f"grows in {grows}/{len(runs)}" + (f", starved in {starved}/{len(runs)}"
                                               if "starved" in runs[0] else ""))


def report_old(args: argparse.Namespace) -> int:
    """This checkout against `args.old`, alternating, medians over `args.rounds` rounds."""
    lanes = args.lanes or 4
    started = time.perf_counter()
    one: dict[str, list] = {"old": [], "new": []}
    many: dict[str, dict[str, list]] = {"old": {}, "new": {}}
    with tempfile.TemporaryDirectory(prefix="fieldstream-ui-old-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old),
                        args.old], check=True)
        try:
            for i in range(args.rounds):
                order = [("old", old), ("new", None)]
                if i % 2:
                    order.reverse()
                for name, tree in order:
                    one[name].append(run(args.chunks, args.rate, tree, f"bench-ui-{name}"))
                for name, tree in order:
                    result = run_lanes(args.chunks, args.rate, lanes, tree,
                                       f"bench-ui-{name}-lanes")
                    for lane, r in result.items():
                        many[name].setdefault(lane, []).append(r)
                print(f"  round {i + 1}/{args.rounds} done "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)
    names = {"old": f"old {args.old}", "new": "this checkout"}
    print(f"UI latency, this checkout against {args.old}, {args.rounds} rounds alternating, "
          f"{args.chunks} chunks at {args.rate:.0f}/s per lane; medians over the rounds "
          f"(run took {time.perf_counter() - started:.0f} s)")
    print("  one lane (Extract):")
    for name in names:
        print(f"    {names[name]:>16}: {_line(one[name])}")
    ratio = _median(one["new"], "p95_ms") / _median(one["old"], "p95_ms")
    ok_one = ratio <= 1.10
    print(f"    p95 this / old = {ratio:.2f} (target <= 1.10): {'met' if ok_one else 'MISSED'}")
    print(f"  {lanes} lanes (Compare), per lane:")
    for name in names:
        for lane, runs in many[name].items():
            print(f"    {names[name]:>16} lane {lane}: {_line(runs)}")
    worst = {name: max(_median(runs, "p95_ms") for runs in many[name].values())
             for name in names}
    bad = any(r["grows"] or r["starved"] for runs in many["new"].values() for r in runs)
    ok_many = worst["new"] <= 100 and not bad
    print(f"    worst lane's median p95: old {worst['old']:.1f} ms, this {worst['new']:.1f} ms "
          f"(target <= 100 ms, no growth, no lane starved): {'met' if ok_many else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({"one": one, "lanes": many}, indent=2))
    return 0 if ok_one and ok_many else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="chunks per second")
    parser.add_argument("--lanes", type=int, default=0,
                        help="stream this many lanes (2-4) into the Compare page at once")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--old", help="also measure this revision, alternating (one lane and "
                                      "--lanes lanes, 4 by default)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds with --old")
    args = parser.parse_args()
    if args.old:
        return report_old(args)
    if args.lanes:
        return report_lanes(args)
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
