"""History store benchmark: SQLite file vs Postgres, side by side.

Fills each database with N runs (default 100,000; inputs of about 2.5 KB, results of about
1 KB, timelines of about 300 chunks; bulk-inserted), then times (median of --repeat):
  page          - the History page's filtered query: schema + status + last 30 days, 50 rows
                  and the total
  page (all)    - the first page without filters, with the total
  search hit    - a word in about 1% of the runs; also a word in most of them (its total is
                  counted up to the cap, 5,000, and shown as "5,000+")
  search miss   - a word in none
  csv 10k       - CSV export of 10,000 runs
  record        - one run recorded as the app does: start row + end update with timeline
Targets (issue #9): page and each search <= 200 ms; recording a run <= 5 ms.

Postgres is a throwaway cluster (tests/postgres.py) with default durability settings.

    python bench/history_bench.py [--runs 100000] [--repeat 5] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from engine.history import RunFilters, export_csv, list_runs
from engine.store import Store, StoredRun
from tests.postgres import PostgresCluster

RARE, COMMON, ABSENT = "okonkwo", "committee", "quokkaphant"
NOW = datetime.now(UTC)
SCHEMAS = ("MeetingInfo", "Invoice", "Contract", "Resume", "Ticket")
MODELS = (("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("local", "qwen2.5-coder-0.5b"))
BATCH = 1000


def vocabulary(rnd: random.Random, size: int = 4000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "an", "or", "el", "us"]
    return ["".join(rnd.choices(syllables, k=rnd.randint(2, 4))) for _ in range(size)]


def make_run(i: int, n: int, rnd: random.Random, words: list[str]) -> StoredRun:
    """Run i of n: the n runs are spread over the last 90 days, newest first."""
    body = rnd.choices(words, k=380)
    if i % 100 == 7:
        body[rnd.randrange(len(body))] = RARE.capitalize()
    if i % 5:
        body[rnd.randrange(len(body))] = COMMON
    text_in = " ".join(body)[:2500]
    people = [{"name": f"{rnd.choice(words).title()} {rnd.choice(words).title()}",
               "email": f"{rnd.choice(words)}@example.com"} for _ in range(12)]
    result = {"topic": " ".join(rnd.choices(words, k=6)), "attendees": people,
              "location": " ".join(rnd.choices(words, k=5)), "budget": rnd.randint(1, 10**6)}
    schema, (provider, model) = SCHEMAS[i % len(SCHEMAS)], MODELS[i % len(MODELS)]
    return StoredRun(
        schema_name=schema, provider=provider, model=model, status=_status(i),
        json_schema={"title": schema, "type": "object", "properties": {
            k: {"type": "string"} for k in ("topic", "attendees", "location", "budget")}},
        started_at=NOW - timedelta(days=90 * i / n),
        ended_at=NOW, base_url_host="api.openai.com", mode="tools", input_text=text_in,
        result=result, usage={"prompt_tokens": 700, "completion_tokens": 300},
        ttft_ms=200.0, first_field_ms=300.0, total_ms=3000.0, timeline=timeline_of(result, rnd),
    )


def _status(i: int) -> str:
    return "done" if i % 10 else ("invalid", "error", "cancelled", "truncated")[i // 10 % 4]


def timeline_of(result: dict, rnd: random.Random) -> list[tuple[float, str]]:
    doc, out, pos, ms = json.dumps(result), [], 0, 200.0
    step = max(1, len(doc) // 300)
    while pos < len(doc):
        out.append((round(ms, 3), doc[pos : pos + step]))
        pos, ms = pos + step, ms + rnd.uniform(2.0, 15.0)
    return out


def runs(n: int, seed: int = 9) -> Iterator[list[StoredRun]]:
    rnd = random.Random(seed)
    words = vocabulary(rnd)
    batch = []
    for i in range(n):
        batch.append(make_run(i, n, rnd, words))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(store: Store, n: int) -> float:
    """Bulk load (Postgres: GIN indexes dropped during the load and rebuilt, as a restore
    would); returns seconds."""
    begun = time.perf_counter()
    pg = store.dialect == "postgresql"
    if pg:
        with store.transaction() as conn:
            for column in ("input_text", "result"):
                conn.execute(text(f"DROP INDEX ix_runs_{column}_trgm"))
    for batch in runs(n):
        with store.transaction() as conn:
            store.insert_many(conn, batch)
    if pg:
        with store.transaction() as conn:
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            for column in ("input_text", "result"):
                conn.execute(text(f"CREATE INDEX ix_runs_{column}_trgm ON runs "
                                  f"USING gin ({column} gin_trgm_ops)"))
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    else:
        with store.transaction() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - begun


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: caches, prepared plans
    times = []
    for _ in range(repeat):
        begun = time.perf_counter()
        fn()
        times.append((time.perf_counter() - begun) * 1000)
    return statistics.median(times)


def record_ms(store: Store, count: int = 200) -> float:
    """Median cost of recording one run the way the app does: start, then finish."""
    rnd = random.Random(5)
    words = vocabulary(rnd)
    times = []
    for i in range(count):
        run = make_run(i, count, rnd, words)
        final, chunks = run.result, run.timeline
        run.result, run.timeline, run.status = None, [], "running"
        begun = time.perf_counter()
        store.start(run)
        run.status, run.result, run.timeline = "done", final, chunks
        store.finish(run)
        times.append((time.perf_counter() - begun) * 1000)
    return statistics.median(times)


def measure(store: Store, n: int, repeat: int) -> dict[str, float]:
    page = RunFilters(schema="Invoice", status="done", started_from=NOW - timedelta(days=30))
    for word in (RARE, COMMON, ABSENT):
        found = list_runs(store, RunFilters(search=word))
        shown = f"{found.total:,}" + ("" if found.exact else "+ (capped count)")
        print(f"  [{store.dialect}] {word!r}: {shown} runs", flush=True)
    return {
        "page (filtered)": median_ms(lambda: list_runs(store, page, limit=50), repeat),
        "page (all)": median_ms(lambda: list_runs(store, limit=50), repeat),
        "search hit ~1%": median_ms(lambda: list_runs(store, RunFilters(search=RARE)), repeat),
        "search hit ~80%": median_ms(
            lambda: list_runs(store, RunFilters(search=COMMON)), repeat),
        "search miss": median_ms(lambda: list_runs(store, RunFilters(search=ABSENT)), repeat),
        f"csv {min(n, 10_000):,} runs": median_ms(
            lambda: export_csv(store, io.StringIO(), limit=10_000), max(1, repeat // 2)),
        "record a run": record_ms(store),
        "size MB": store.database_size() / 1e6,
    }


def bench(dialect: str, n: int, repeat: int) -> tuple[dict[str, float], float]:
    with tempfile.TemporaryDirectory(prefix="fieldstream-bench-") as tmp:
        cluster = None
        if dialect == "sqlite":
            url = f"sqlite:///{tmp}/history.db"
        else:
            cluster = PostgresCluster(durable=True)
            cluster.start()
            url = cluster.create_database("bench")
        try:
            with Store(url) as store:
                load = fill(store, n)
                print(f"  [{dialect}] loaded {n:,} runs in {load:.0f} s", flush=True)
                return measure(store, n, repeat), load
        finally:
            if cluster is not None:
                cluster.stop()


TARGETS = {"page (filtered)": 200, "page (all)": 200, "search hit ~1%": 200,
           "search hit ~80%": 200, "search miss": 200, "record a run": 5}


def report(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    print(f"\n{'':22}" + "".join(f"{name:>14}" for name in names) + f"{'target':>10}")
    for metric in next(iter(results.values())):
        unit = "" if metric == "size MB" else " ms"
        cells = "".join(f"{results[name][metric]:>11.1f}{unit:3}" for name in names)
        target = TARGETS.get(metric)
        print(f"{metric:22}{cells}{'<= ' + str(target) + ' ms' if target else '':>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    results = {}
    for dialect in args.db.split(","):
        print(f"{dialect}: filling {args.runs:,} runs ...", flush=True)
        results[dialect] = bench(dialect, args.runs, args.repeat)[0]
    report(results)


if __name__ == "__main__":
    main()
