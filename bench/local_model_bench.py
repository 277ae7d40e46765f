"""Benchmark the embedded local model on the seed's meeting note (MeetingInfo, json_schema).

    python bench/local_model_bench.py [--runs 5] [--concurrent]

For each run: time to first token, time to the first finished field, total time, generation
speed (completion tokens / time after the first token) and prompt size. "cold" runs disable
llama.cpp's prompt cache (every token of the prompt is read again, as for a new document);
"warm" runs reuse it (the same document again, or a second document sharing the system prompt).
Peak memory: this process and the server process (VmHWM). Targets on 2 cores: total <= 10 s,
first finished field <= 3 s.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import extract
from engine.local import server as lm
from engine.providers import client_for, local_provider
from engine.schemas.library import MEETING_NOTE, MeetingInfo

TARGET_TOTAL, TARGET_FIRST_DONE = 10.0, 3.0


@dataclass
class Run:
    ttft: float
    first_done: float
    total: float
    completion_tokens: int
    prompt_tokens: int
    fields: int

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / max(self.total - self.ttft, 1e-9)


def one_run(client: object, model: str, cache: bool) -> Run:
    extra = {} if cache else {"extra_body": {"cache_prompt": False}}
    *_, snap = extract(MEETING_NOTE, MeetingInfo, client=client, model=model, **extra)
    assert snap.error is None, snap.error
    t, usage = snap.timings, snap.usage or {}
    return Run(
        ttft=t.first_token,
        first_done=t.first_done,
        total=t.elapsed,
        completion_tokens=usage.get("completion_tokens", 0),
        prompt_tokens=usage.get("prompt_tokens", 0),
        fields=len(snap.done),
    )


def _row(label: str, r: Run) -> str:
    return (
        f"{label:<8} ttft {r.ttft:5.2f}s  first field {r.first_done:5.2f}s  total {r.total:5.2f}s"
        f"  {r.tokens_per_s:5.1f} tok/s  ({r.prompt_tokens} prompt, {r.completion_tokens} out)"
    )


def _median(runs: list[Run]) -> Run:
    pick = statistics.median
    return Run(
        ttft=pick(r.ttft for r in runs),
        first_done=pick(r.first_done for r in runs),
        total=pick(r.total for r in runs),
        completion_tokens=int(pick(r.completion_tokens for r in runs)),
        prompt_tokens=int(pick(r.prompt_tokens for r in runs)),
        fields=int(pick(r.fields for r in runs)),
    )


def concurrent_pair(client: object, model: str) -> list[Run]:
    """Two sessions extracting at the same moment (the server's two slots)."""
    results: list[Run] = []
    threads = [
        threading.Thread(target=lambda: results.append(one_run(client, model, cache=False)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _mb(value: int | None) -> str:
    return f"{value / 2**20:,.0f} MB" if value else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrent", action="store_true", help="also time two at once")
    args = ap.parse_args()

    started = time.perf_counter()
    provider = local_provider()
    client = client_for(provider)  # verifies the weights, starts the server
    server = lm.running_servers()[0]
    settings = lm.ServerSettings.from_env()
    print(f"model      {provider.default_model}  (mode {provider.best_mode})")
    print(
        f"server     started in {time.perf_counter() - started:.1f}s  pid {server.pid}  "
        f"threads {settings.threads}/{settings.threads_batch} (gen/prompt)  "
        f"slots {settings.parallel}  ctx {settings.ctx} tokens each"
    )
    # the first request after start-up: slower than the rest (its own row, not in the medians)
    print(_row("first", one_run(client, provider.default_model, cache=True)), flush=True)

    results: dict[str, list[Run]] = {"cold": [], "warm": []}
    for i in range(args.runs):
        for kind in ("cold", "warm"):
            run = one_run(client, provider.default_model, cache=kind == "warm")
            results[kind].append(run)
            print(_row(f"{kind} {i + 1}", run), flush=True)

    print("\nmedians over", args.runs, "runs")
    for kind, runs in results.items():
        print(_row(kind, _median(runs)))
    if args.concurrent:
        pair = concurrent_pair(client, provider.default_model)
        for i, run in enumerate(pair, start=1):
            print(_row(f"pair {i}", run))

    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"\npeak memory: server {_mb(server.peak_rss())}, this process {_mb(own_peak)}")
    cold = _median(results["cold"])
    ok = cold.total <= TARGET_TOTAL and cold.first_done <= TARGET_FIRST_DONE
    print(
        f"targets (cold median): total {cold.total:.2f}s <= {TARGET_TOTAL:.0f}s, "
        f"first field {cold.first_done:.2f}s <= {TARGET_FIRST_DONE:.0f}s: "
        + ("met" if ok else "NOT met")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
