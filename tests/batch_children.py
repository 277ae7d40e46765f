"""Processes of the multi-process batch tests (#20), and the test side that starts them.

A child is this module run as a program, each launching its own queue runtime (DBOS is one per
process):

    python -m tests.batch_children worker --id w1   # `engine.batch.worker.serve`
    python -m tests.batch_children app --id app-x   # the queue as role "app", serving every queue

Each reads everything from its environment (`child_env`): the data folder, the history
database (FIELDSTREAM_DATABASE_URL for Postgres), the Custom server pointing at the test's
replay server, a quick poll and heartbeat. It prints one line when it is on the queue
(`READY`); the test waits for it (`Child.wait_ready`), and kills it with SIGKILL as a crash
would.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "# child ready"
#: Variables the parent's environment must not hand down (a real provider, another history).
_DROP = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FIELDSTREAM_BASE_URL", "FIELDSTREAM_MODEL",
         "FIELDSTREAM_API_KEY", "FIELDSTREAM_DEFAULT_PROVIDER", "FIELDSTREAM_READ_TIMEOUT",
         "FIELDSTREAM_HISTORY", "FIELDSTREAM_KEEP_INPUT", "FIELDSTREAM_DATABASE_URL",
         "FIELDSTREAM_EXECUTOR_ID")


# --- the child ----------------------------------------------------------------------------------


def _open_store():
    from engine.providers import detect
    from engine.store import Store, load_settings

    detect.LOCAL_SERVER_PORTS = {}  # never probe the machine's own model servers
    return Store.from_settings(load_settings()).open()


def run_worker(executor_id: str) -> int:
    from engine.batch import worker

    store = _open_store()

    def say(line: str) -> None:
        print(line, flush=True)
        if line.startswith("# worker "):
            print(READY, flush=True)

    return worker.serve(store, executor_id, say=say)


def run_app(executor_id: str) -> int:
    """The app's side of the queue without its pages: launched as role "app" (serving every
    queue; its own unfinished documents resume at launch), the Custom server's queue
    registered, then up until killed."""
    from engine.batch import queue
    from engine.history import recorder
    from engine.providers import available_providers

    store = _open_store()
    recorder.install(store=store)
    queue.launch(store, executor_id=executor_id, role="app")
    for provider in available_providers(detect=False):
        if provider.name == "Custom server":
            queue.register(provider)
    print(READY, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    queue.shutdown(hand_back=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.batch_children")
    parser.add_argument("role", choices=["worker", "app"])
    parser.add_argument("--id", required=True)
    args = parser.parse_args(argv)
    return run_worker(args.id) if args.role == "worker" else run_app(args.id)


# --- the test's side ----------------------------------------------------------------------------


def child_env(data_dir: Path, base_url: str, *, database_url: str | None = None,
              **extra: str) -> dict[str, str]:
    """A child's environment: this checkout importable, HOME and the data folder the test's,
    the Custom server at `base_url`, a poll of 0.1 s and a heartbeat of 1 s (a silent process
    is taken over after 3 s)."""
    from tests.ui_support import custom_server_env

    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(custom_server_env(base_url))
    env.update({
        "PYTHONPATH": str(ROOT), "HOME": str(data_dir.parent), "FIELDSTREAM_DATA_DIR":
        str(data_dir), "FIELDSTREAM_QUEUE_POLL": "0.1", "FIELDSTREAM_WORKER_HEARTBEAT": "1",
        "FIELDSTREAM_WARM_LOCAL": "0", "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    if database_url:
        env["FIELDSTREAM_DATABASE_URL"] = database_url
    env.update(extra)
    return env


class Child:
    """One child process (`role` worker or app, `--id executor_id`), its output in a file."""

    def __init__(self, role: str, executor_id: str, env: Mapping[str, str], logs: Path) -> None:
        self.role, self.executor_id, self.env = role, executor_id, dict(env)
        logs.mkdir(parents=True, exist_ok=True)
        self.log = logs / f"{role}-{executor_id}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.batch_children", self.role, "--id",
                 self.executor_id], env=self.env, cwd=str(Path(self.env["HOME"])),
                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> Child:
        deadline = time.monotonic() + timeout
        while READY not in self.output():
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.role} {self.executor_id} did not start "
                                     f"(exit {self.proc.poll()}):\n{self.output()[-3000:]}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing runs in the child after it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (a worker hands back what it holds), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


if __name__ == "__main__":
    sys.exit(main())
