"""Spike for issue #20: DBOS Transact as the batch queue (figures: docs/decisions/batch-queue.md).

Not part of the app or the tests: DBOS is not a dependency yet. Run it in a scratch venv:

    python3 -m venv /tmp/dbos-venv && /tmp/dbos-venv/bin/pip install dbos 'psycopg[binary]'
    /tmp/dbos-venv/bin/python bench/batch_queue_spike.py all            # SQLite and Postgres
    /tmp/dbos-venv/bin/python bench/batch_queue_spike.py all --no-pg    # SQLite only

Postgres: a throwaway cluster started by tests/postgres.py (`PostgresCluster`) in a child
process run with the project's venv (`/work/main/.venv/bin/python`, or $FIELDSTREAM_PYTHON), so
the scratch venv needs no project code. Everything listens on 127.0.0.1 and is removed at the end.

Parts (each prints one JSON line; `all` runs them in order):
  startup     DBOS(config) + DBOS.launch(): time, memory, threads, signal handlers, serializer
              (what the system database stores), launch/destroy three times in one process.
  throughput  1,000 trivial workflows through a queue of global concurrency 2, in one process:
              enqueue time, drain time, first-start latency for two polling intervals.
  durability  worker processes (`worker` subcommand) SIGKILLed mid-batch: restart with the same
              executor id; a second live worker (does it take over? after an explicit
              recovery call?); requests seen = calls of the model step.
  limits      two workers: worker_concurrency / global_concurrency and the limiter, measured
              from the step's start and end times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dbos import DBOS, DBOSClient, DBOSConfig, DBOSPortableJSONSerializer, SetWorkflowID

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
APP = "fieldstream"
VERSION = "0.0.0-spike"
QUEUE = "docs"

# The worker's model call: how long it takes and where each call is logged: START_LOG when it
# starts (one line per request "seen by the replay server"), REQUEST_LOG when it ends (doc id,
# executor, start, end), DONE_LOG when the result is saved.
SLEEP = float(os.environ.get("SPIKE_SLEEP", "0"))
REQUEST_LOG = os.environ.get("SPIKE_REQUEST_LOG", "")
DONE_LOG = os.environ.get("SPIKE_DONE_LOG", "")
START_LOG = os.environ.get("SPIKE_START_LOG", "")


def _append(path: str, line: str) -> None:
    if path:  # O_APPEND: lines from several processes do not interleave
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@DBOS.step(name="load_text")
def load_text(doc_id: str) -> int:
    return len(doc_id)  # stands for reading the stored converted text by id


@DBOS.step(name="call_model")
def call_model(doc_id: str) -> dict:
    start = time.time()
    _append(START_LOG, f"{doc_id} {DBOS.executor_id} {start:.3f}")
    if SLEEP:
        time.sleep(SLEEP)
    _append(REQUEST_LOG, f"{doc_id} {DBOS.executor_id} {start:.3f} {time.time():.3f}")
    return {"doc": doc_id, "by": DBOS.executor_id}


@DBOS.step(name="save_result")
def save_result(doc_id: str, result: dict) -> None:
    _append(DONE_LOG, f"{doc_id} {result['by']} {time.time():.3f}")


@DBOS.workflow(name="process_doc")
def process_doc(doc_id: str) -> dict:
    load_text(doc_id)
    result = call_model(doc_id)
    save_result(doc_id, result)
    return result


def config(url: str, executor: str, schema: str | None = None) -> DBOSConfig:
    """The settings the issue asks for, under their names in dbos 3.4.0 (_dbos_config.py)."""
    cfg: DBOSConfig = {
        "name": APP,
        "system_database_url": url,
        "executor_id": executor,
        "application_version": VERSION,
        "serializer": DBOSPortableJSONSerializer(),
        "log_level": "WARNING",
    }
    if schema:
        cfg["dbos_system_schema"] = schema
    return cfg


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def emit(part: str, **figures: object) -> None:
    print(json.dumps({"part": part, **figures}), flush=True)


# ---------- in-process parts (each run in a fresh child: DBOS is a process singleton) ----------

def part_startup(url: str) -> None:
    handlers_before = {s.name: repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM)}
    threads_before = {t.name for t in threading.enumerate()}
    rss0 = rss_mb()
    times = []
    for round_ in range(3):
        t0 = time.perf_counter()
        DBOS(config=config(url, "app"))
        DBOS.launch()
        queue = DBOS.register_queue(QUEUE, global_concurrency=2)
        times.append(time.perf_counter() - t0)
        if round_ == 0:
            rss1 = rss_mb()
            threads = sorted(t.name for t in threading.enumerate() if t.name not in threads_before)
            handlers_after = {s.name: repr(signal.getsignal(s))
                              for s in (signal.SIGINT, signal.SIGTERM)}
            with SetWorkflowID("batch1:doc-1"):
                handle = queue.enqueue(process_doc, "doc-1")
            result = handle.get_result()
            stored = stored_rows(url, "batch1:doc-1")
            try:  # JSON, not pickle: an argument JSON cannot hold is refused at enqueue
                queue.enqueue(process_doc, object())  # type: ignore[arg-type]
                refused = "accepted"
            except TypeError as error:
                refused = f"TypeError: {error}"
        DBOS.destroy(destroy_registry=False)
    left = sorted(t.name for t in threading.enumerate()
                  if t.name not in threads_before and t.is_alive())
    emit("startup", launch_s=[round(t, 3) for t in times], rss_before_mb=round(rss0, 1),
         rss_after_launch_mb=round(rss1, 1), threads_started=threads,
         threads_left_after_destroy=left, signal_handlers_before=handlers_before,
         signal_handlers_after=handlers_after, result=result, stored=stored,
         non_json_argument=refused)


def stored_rows(url: str, workflow_id: str) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    prefix = "" if url.startswith("sqlite") else "dbos."
    with engine.connect() as conn:
        status = conn.execute(sa.text(
            f"SELECT s.serialization, i.inputs, o.output, s.application_version, s.executor_id "
            f"FROM {prefix}workflow_status s JOIN {prefix}workflow_input i USING (workflow_uuid) "
            f"JOIN {prefix}workflow_output o USING (workflow_uuid) "
            f"WHERE workflow_uuid = :id"), {"id": workflow_id}
        ).mappings().first()
        steps = conn.execute(sa.text(
            f"SELECT function_name, output FROM {prefix}operation_outputs "
            f"WHERE workflow_uuid = :id ORDER BY function_id"), {"id": workflow_id}).all()
    engine.dispose()
    return {**dict(status or {}), "steps": [list(map(str, s)) for s in steps]}


def part_throughput(url: str, n: int, polling: float, schema: str | None) -> None:
    DBOS(config=config(url, "app", schema))
    t0 = time.perf_counter()
    DBOS.launch()
    launch_s = time.perf_counter() - t0
    queue = DBOS.register_queue(QUEUE, global_concurrency=2, polling_interval_sec=polling)
    time.sleep(1.5)  # the queue thread picks up new queues once a second
    # First-start latency on an idle queue: what a page sees after Start. (get_result polls
    # once a second by default: ask it to look often, or it measures itself.)
    firsts = []
    for i in range(5):
        t0 = time.perf_counter()
        with SetWorkflowID(f"warm{i}"):
            queue.enqueue(process_doc, "warm").get_result(polling_interval_sec=0.01)
        firsts.append(time.perf_counter() - t0)
        time.sleep(polling * 1.3)
    first_s = sum(firsts) / len(firsts)
    t0 = time.perf_counter()
    handles = []
    for i in range(n):
        with SetWorkflowID(f"b:{i}"):
            handles.append(queue.enqueue(process_doc, f"doc-{i}"))
    enqueue_s = time.perf_counter() - t0
    for handle in handles:
        handle.get_result(polling_interval_sec=0.05)
    drain_s = time.perf_counter() - t0
    emit("throughput", db=url.split(":")[0], n=n, polling_interval_sec=polling,
         launch_s=round(launch_s, 2), first_start_s=round(first_s, 2),
         enqueue_s=round(enqueue_s, 2), enqueue_per_s=round(n / enqueue_s),
         drain_s=round(drain_s, 2), workflows_per_s=round(n / drain_s, 1),
         peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    DBOS.destroy()


# ---------- worker processes ----------

def worker(url: str, executor: str, schema: str | None, control: str, queue_args: str) -> None:
    """Runs queued documents until killed. Writes a heartbeat file each second; when the
    control file names executors, recovers their pending workflows (the call a peer would
    make once their heartbeat is stale)."""
    DBOS(config=config(url, executor, schema))
    DBOS.launch()
    DBOS.register_queue(QUEUE, **json.loads(queue_args))
    from dbos._dbos import _get_dbos_instance
    from dbos._recovery import recover_pending_workflows

    done: set[str] = set()
    while True:
        Path(control, f"{executor}.alive").write_text(f"{time.time():.3f}")
        ask = Path(control, f"{executor}.recover")
        if ask.exists():
            ids = [i for i in ask.read_text().split() if i not in done]
            if ids:
                handles = recover_pending_workflows(_get_dbos_instance(), ids)
                done.update(ids)
                _append(str(Path(control, "recovered.log")),
                        f"{executor} {time.time():.3f} {len(handles)}")
        time.sleep(0.2)


class Lab:
    """A folder of logs and worker processes on one system database."""

    def __init__(self, url: str, schema: str | None, queue_args: dict, sleep: float) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dbos-spike-"))
        self.url, self.schema, self.sleep = url, schema, sleep
        self.queue_args = queue_args
        self.procs: dict[str, subprocess.Popen] = {}
        self.requests = self.dir / "requests.log"
        self.done = self.dir / "done.log"
        self.started = self.dir / "started.log"

    def start(self, executor: str) -> None:
        env = {**os.environ, "SPIKE_SLEEP": str(self.sleep),
               "SPIKE_REQUEST_LOG": str(self.requests), "SPIKE_DONE_LOG": str(self.done),
               "SPIKE_START_LOG": str(self.started)}
        cmd = [sys.executable, str(HERE), "worker", "--url", self.url, "--id", executor,
               "--control", str(self.dir), "--queue", json.dumps(self.queue_args)]
        if self.schema:
            cmd += ["--schema", self.schema]
        err = open(self.dir / f"{executor}.err", "a")  # noqa: SIM115 - lives with the process
        self.procs[executor] = subprocess.Popen(cmd, env=env, stderr=err,
                                                stdout=subprocess.DEVNULL)
        alive = self.dir / f"{executor}.alive"
        deadline = time.monotonic() + 60
        while not alive.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self, executor: str) -> None:
        proc = self.procs.pop(executor)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        (self.dir / f"{executor}.alive").unlink(missing_ok=True)

    def enqueue(self, prefix: str, n: int) -> None:
        client = DBOSClient(system_database_url=self.url, dbos_system_schema=self.schema or "dbos",
                            serializer=DBOSPortableJSONSerializer(), application_name=APP)
        for i in range(n):
            client.enqueue({"workflow_name": "process_doc", "queue_name": QUEUE,
                            "workflow_id": f"{prefix}:{i}", "app_version": VERSION},
                           f"{prefix}-{i}")
        client.destroy()

    def lines(self, path: Path) -> list[list[str]]:
        return [ln.split() for ln in path.read_text().splitlines()] if path.exists() else []

    def wait_done(self, n: int, timeout: float) -> float | None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if len({ln[0] for ln in self.lines(self.done)}) >= n:
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    def wait_in_flight(self, executor: str, done: int, timeout: float = 60) -> list[str]:
        """Wait until `done` documents are done and `executor` has model calls in flight."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ended = {ln[0] for ln in self.lines(self.requests)}
            flying = [ln[0] for ln in self.lines(self.started)
                      if ln[1] == executor and ln[0] not in ended]
            if flying and len(self.lines(self.done)) >= done:
                return flying
            time.sleep(0.02)
        return []

    def errors(self) -> list[str]:
        found = []
        for err in self.dir.glob("*.err"):
            found += [ln[:160] for ln in err.read_text().splitlines()
                      if "locked" in ln or "Error" in ln or "Exception" in ln]
        return found[:5]

    def close(self) -> None:
        for executor in list(self.procs):
            self.kill(executor)
        shutil.rmtree(self.dir, ignore_errors=True)


def part_durability(places: list[tuple[str, str | None]], label: str) -> None:
    """10 documents of 1 s, worker_concurrency 2; kill -9 once 3 are done and the worker has
    a model call in flight. `places`: two system databases (url, schema), one per scenario."""
    n, queue_args = 10, {"worker_concurrency": 2, "polling_interval_sec": 0.5}
    figures: dict[str, object] = {}
    # (a) the same executor id restarts
    lab = Lab(*places[0], queue_args, sleep=1.0)
    try:
        lab.start("w1")
        lab.enqueue("a", n)
        flying = lab.wait_in_flight("w1", 3)
        lab.kill("w1")
        done_at_kill = len(lab.lines(lab.done))
        t0 = time.monotonic()
        lab.start("w1")
        restart_s = time.monotonic() - t0
        took = lab.wait_done(n, 60)
        figures["restart_same_id"] = {
            "done_at_kill": done_at_kill, "in_flight_at_kill": flying,
            "all_done_s_after_restart": took and round(took, 1),
            "worker_start_s": round(restart_s, 2), "requests": len(lab.lines(lab.started)),
            "done_rows": len(lab.lines(lab.done)),
            "distinct_done": len({ln[0] for ln in lab.lines(lab.done)})}
    finally:
        lab.close()
    # (b) another live worker: does it take over by itself? then after recover_pending_workflows
    lab = Lab(*places[1], queue_args, sleep=1.0)
    try:
        lab.start("w1")
        lab.start("w2")
        lab.enqueue("b", n)
        flying = lab.wait_in_flight("w1", 3)
        lab.kill("w1")
        killed_at = time.monotonic()
        lab.wait_done(n, 20)  # w2 finishes the queued ones; w1's in-flight ones stay PENDING
        alone = len({ln[0] for ln in lab.lines(lab.done)})
        Path(lab.dir, "w2.recover").write_text("w1")
        t0 = time.monotonic()
        took = lab.wait_done(n, 60)
        figures["other_worker"] = {
            "in_flight_at_kill": flying,
            "distinct_done_20s_after_kill_without_recovery": alone,
            "all_done_s_after_recover_call": took and round(took, 1),
            "seconds_since_kill": round(time.monotonic() - killed_at, 1),
            "requests": len(lab.lines(lab.started)), "done_rows": len(lab.lines(lab.done)),
            "distinct_done": len({ln[0] for ln in lab.lines(lab.done)}),
            "errors": lab.errors()}
    finally:
        lab.close()
    emit("durability", db=label, **figures)


def max_in_flight(rows: list[list[str]], who: str | None = None) -> int:
    events = []
    for _doc, executor, start, end in rows:
        if who is None or executor == who:
            events += [(float(start), 1), (float(end), -1)]
    level = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def part_limits(url: str, schema: str | None, label: str) -> None:
    out: dict[str, object] = {}
    # Per-worker slots (the local model) under a global cap: two workers, 2 each, global 3.
    lab = Lab(url, schema, {"worker_concurrency": 2, "global_concurrency": 3,
                            "polling_interval_sec": 0.2}, sleep=0.5)
    try:
        lab.start("w1")
        lab.start("w2")
        lab.enqueue("c", 24)
        took = lab.wait_done(24, 120)
        rows = lab.lines(lab.requests)
        out["concurrency"] = {"drain_s": took and round(took, 1),
                              "max_in_flight_all": max_in_flight(rows),
                              "max_in_flight_w1": max_in_flight(rows, "w1"),
                              "max_in_flight_w2": max_in_flight(rows, "w2"),
                              "requests": len(rows), "errors": lab.errors()}
    finally:
        lab.close()
    # Rate limit across workers: at most 4 starts per 2 s.
    lab = Lab(url, schema, {"limiter": {"limit": 4, "period": 2.0},
                            "polling_interval_sec": 0.2}, sleep=0.0)
    try:
        lab.start("w1")
        lab.start("w2")
        lab.enqueue("d", 16)
        took = lab.wait_done(16, 120)
        starts = sorted(float(r[2]) for r in lab.lines(lab.requests))
        worst = max(sum(1 for s in starts if t <= s < t + 2.0) for t in starts)
        out["limiter"] = {"drain_s": took and round(took, 1), "max_starts_in_any_2s": worst,
                          "by_worker": {w: sum(1 for r in lab.lines(lab.requests) if r[1] == w)
                                        for w in ("w1", "w2")}}
    finally:
        lab.close()
    emit("limits", db=label, **out)


def part_two_on_sqlite(url: str) -> None:
    """Two workers on one SQLite file, 400 short documents (20 ms)."""
    lab = Lab(url, None, {"worker_concurrency": 8, "polling_interval_sec": 0.2}, sleep=0.02)
    try:
        lab.start("w1")
        lab.start("w2")
        t0 = time.monotonic()
        lab.enqueue("e", 400)
        enq = time.monotonic() - t0
        took = lab.wait_done(400, 300)
        rows = lab.lines(lab.requests)
        emit("two_processes_sqlite", enqueue_s=round(enq, 2), drain_s=took and round(took, 1),
             requests=len(rows), distinct=len({r[0] for r in rows}),
             by_worker={w: sum(1 for r in rows if r[1] == w) for w in ("w1", "w2")},
             errors=lab.errors())
    finally:
        lab.close()


# ---------- Postgres through tests/postgres.py ----------

PG_CHILD = """
import sys
from tests.postgres import PostgresCluster
c = PostgresCluster(); c.start()
c.admin("CREATE ROLE fs_app LOGIN NOCREATEDB")
c.admin('CREATE DATABASE history OWNER fs_app')
print(c.port, flush=True)
sys.stdin.read()
c.stop()
"""


def start_pg() -> tuple[subprocess.Popen, int]:
    python = os.environ.get("FIELDSTREAM_PYTHON", "/work/main/.venv/bin/python")
    proc = subprocess.Popen([python, "-c", PG_CHILD], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def pg_databases(port: int) -> list[str]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as c:
        return sorted(r[0] for r in c.execute("SELECT datname FROM pg_database"))


def pg_schemas(port: int) -> list[str]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="history") as c:
        return sorted(r[0] for r in c.execute(
            "SELECT schema_name FROM information_schema.schemata "
            "WHERE schema_name NOT LIKE 'pg_%' AND schema_name <> 'information_schema'"))


def child(*args: str) -> None:
    done = subprocess.run([sys.executable, str(HERE), *args], capture_output=True, text=True,
                          timeout=900)
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            print(line, flush=True)
    if done.returncode:
        print(json.dumps({"part": args[0], "failed": done.stderr[-1500:]}), flush=True)


def run_all(pg: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dbos-spike-sqlite-"))
    try:
        child("startup", "--url", f"sqlite:///{tmp / 'startup.db'}")
        # At the default 1 s poll a queue of concurrency 2 starts 2 workflows a second: 1,000
        # take ~8.5 min (measured once), so the default is measured on 200.
        for polling, n in ((1.0, 200), (0.1, 1000)):
            child("throughput", "--url", f"sqlite:///{tmp / f'tp{polling}.db'}",
                  "--polling", str(polling), "-n", str(n))
        part_durability([(f"sqlite:///{tmp / 'dur-a.db'}", None),
                         (f"sqlite:///{tmp / 'dur-b.db'}", None)], "sqlite")
        part_limits(f"sqlite:///{tmp / 'limits.db'}", None, "sqlite")
        part_two_on_sqlite(f"sqlite:///{tmp / 'two.db'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not pg:
        return
    proc, port = start_pg()
    try:
        url = f"postgresql://fs_app@127.0.0.1:{port}/history"
        before = pg_databases(port)
        child("throughput", "--url", url, "--schema", "fieldstream_queue", "--polling", "1.0",
              "-n", "200")
        emit("postgres_schema", databases_before=before, databases_after=pg_databases(port),
             schemas_in_history=pg_schemas(port))
        child("throughput", "--url", url, "--schema", "fs_queue_fast", "--polling", "0.1")
        part_durability([(url, "fs_queue_dur_a"), (url, "fs_queue_dur_b")], "postgres")
        part_limits(url, "fs_queue_limits", "postgres")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["all", "startup", "throughput", "worker"])
    parser.add_argument("--url")
    parser.add_argument("--schema")
    parser.add_argument("--id")
    parser.add_argument("--control")
    parser.add_argument("--queue", default="{}")
    parser.add_argument("--polling", type=float, default=1.0)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    if args.part == "all":
        run_all(pg=not args.no_pg)
    elif args.part == "startup":
        part_startup(args.url)
    elif args.part == "throughput":
        part_throughput(args.url, args.n, args.polling, args.schema)
    else:
        worker(args.url, args.id, args.schema, args.control, args.queue)


if __name__ == "__main__":
    main()
