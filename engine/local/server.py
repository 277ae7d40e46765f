"""The embedded model's server: one xllamacpp child process per model and per parent process,
on a free loopback port.

A child process (not an in-process server) keeps llama.cpp's threads, memory and any crash out
of the app, lets us measure its memory on its own, and makes "stop" a clean exit.
`ensure_server(model)` verifies the weights (`engine.local.weights`) and starts the child
(`engine.local.child`) once per process. Runs beyond its slots wait in line before their request
(`engine.runs.limits`, one limiter per model with as many places as slots), not in the server.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import ProviderError
from engine.local.weights import Progress, WeightSet, cache_dir, prepare, resolve
from engine.settings import child_env, local_sizing
from engine.stream import document


@dataclass(frozen=True)
class ServerSettings:
    """Sizing measured on 2 CPU cores with the 0.5B model (see bench/local_model_bench.py).

    Two slots let two sessions stream at once (each at about half speed) instead of the second
    waiting for the first. `ctx` is the context of EACH slot (FIELDSTREAM_LOCAL_CTX, tokens per
    slot): the server gets `parallel * ctx` tokens in all, split into one private KV cache per
    slot, so a run that fits alone still fits while another one runs (a shared cache let two
    long documents push each other out: "Context size has been exceeded"). The 0.5B model's KV
    cache is ~12 KiB per token, so 2 x 8192 tokens cost ~192 MiB.
    Threads: see `default_threads`.
    """

    ctx: int = 8192  # tokens per slot
    parallel: int = 2
    threads: int = field(default_factory=lambda: default_threads())
    threads_batch: int = field(default_factory=lambda: min(_cpus(), 8))

    @property
    def total_ctx(self) -> int:
        """Tokens of KV cache the server allocates: one full context per slot."""
        return self.ctx * self.parallel

    @classmethod
    def from_env(cls) -> ServerSettings:
        """FIELDSTREAM_LOCAL_CTX (tokens per slot), _PARALLEL (slots), _THREADS, _THREADS_BATCH
        (`engine.settings.local_sizing`); what is not set keeps the default above."""
        base, given = cls(), local_sizing()
        return cls(
            ctx=given.ctx or base.ctx,
            parallel=given.parallel or base.parallel,
            threads=given.threads or base.threads,
            threads_batch=given.threads_batch or base.threads_batch,
        )


def default_threads() -> int:
    """One core fewer than available (at least one), at most eight.

    Measured on 2 cores: llama.cpp with 2 threads makes ~37 tokens/s on an idle machine but
    collapses to 1-11 tokens/s as soon as anything else wants a core (its threads wait on each
    other at every step), and the app itself (Streamlit, the browser) does want one while the
    answer streams. One thread makes a steady ~22-26 tokens/s either way. Reading the prompt
    (`threads_batch`) uses every core: the app is idle then, waiting for the first token.
    """
    return max(1, min(_cpus() - 1, 8))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


START_TIMEOUT = 180.0  # loading from a cold disk cache can be slow; the 1.5B model is 1.1 GB


class LocalServer:
    """A running xllamacpp child process serving one model over OpenAI-compatible HTTP.

    `slots` requests run at once, each with its own `slot_ctx` tokens of context (further runs
    wait in line in `engine.runs.limits`, never inside the server).
    """

    def __init__(
        self,
        ws: WeightSet,
        proc: subprocess.Popen[bytes],
        address: str,
        log: Path,
        *,
        slots: int = 1,
        slot_ctx: int = 0,
    ):
        self.weights = ws
        self.proc = proc
        self.address = address  # http://127.0.0.1:PORT
        self.log_path = log
        self.slots = max(1, slots)  # parallel slots the server has
        self.slot_ctx = slot_ctx  # tokens of context EACH slot has (its own, not shared)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Exact prompt tokens of a chat request with these messages, chat template included.

        The server renders the template (/apply-template) and tokenizes the result the way a
        chat request does (/tokenize with special tokens added and parsed).
        """
        rendered = self._post("/apply-template", {"messages": messages})
        prompt = rendered.get("prompt")
        if not isinstance(prompt, str):
            raise ProviderError("The local model server did not render the chat template.")
        body = {"content": prompt, "add_special": True, "parse_special": True}
        tokens = self._post("/tokenize", body).get("tokens")
        if not isinstance(tokens, list):
            raise ProviderError("The local model server did not return the prompt's tokens.")
        return len(tokens)

    def _post(self, path: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        request = urllib.request.Request(
            self.address + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                answer = document.load(resp.read())
        except urllib.error.HTTPError as exc:
            raise ProviderError(
                f"The local model server could not count the tokens (HTTP {exc.code} on {path})."
            ) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ProviderError(
                f"The local model server could not count the tokens ({reason})."
            ) from None
        if not isinstance(answer, dict):
            raise ProviderError(f"The local model server gave an unexpected answer on {path}.")
        return answer

    @property
    def base_url(self) -> str:
        return self.address + "/v1"

    @property
    def model(self) -> str:
        return self.weights.key

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def peak_rss(self) -> int | None:
        """Peak resident memory of the server process in bytes (Linux), or None."""
        return _proc_status_kb(self.pid, "VmHWM")

    def rss(self) -> int | None:
        return _proc_status_kb(self.pid, "VmRSS")

    def stop(self, timeout: float = 5.0) -> None:
        """Closing the child's stdin asks it to exit; terminate/kill only if it does not."""
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        for action in (None, self.proc.terminate, self.proc.kill):
            if action:
                with contextlib.suppress(OSError):
                    action()
            try:
                self.proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.proc.stdout:
            self.proc.stdout.close()


def _proc_status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


_servers: dict[str, LocalServer] = {}
_server_lock = threading.Lock()


def ensure_server(model: str | None = None, progress: Progress | None = None) -> LocalServer:
    """The process-wide server for `model`, started (after verification) on first use.

    Thread-safe: concurrent Streamlit sessions block on the lock and then share one server.
    A server that died is replaced on the next call.
    """
    ws = resolve(model)
    with _server_lock:
        server = _servers.get(ws.key)
        if server is not None and server.alive():
            return server
        path = prepare(ws, progress)
        server = _spawn(ws, path, ServerSettings.from_env())
        _servers[ws.key] = server
        return server


def start_in_background(model: str | None = None) -> threading.Thread:
    """Verify and start the server without waiting, e.g. when the app opens, so the first
    extraction does not pay for it. Errors are left for `ensure_server` to raise later."""

    def start() -> None:
        with contextlib.suppress(Exception):
            ensure_server(model)

    thread = threading.Thread(target=start, name="fieldstream-local-start", daemon=True)
    thread.start()
    return thread


def running_servers() -> list[LocalServer]:
    return [s for s in _servers.values() if s.alive()]


def stop_servers() -> None:
    """Stop every server this process started (also registered with atexit)."""
    with _server_lock:
        for server in _servers.values():
            server.stop()
        _servers.clear()


atexit.register(stop_servers)


def _spawn(ws: WeightSet, path: Path, settings: ServerSettings) -> LocalServer:
    env = child_env()  # never hand the app's secrets to the child: it needs none
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    cmd = [
        sys.executable, "-m", "engine.local", "serve", str(path), "--alias", ws.key,
        "--ctx", str(settings.ctx), "--parallel", str(settings.parallel),
        "--threads", str(settings.threads), "--threads-batch", str(settings.threads_batch),
    ]  # fmt: skip
    log, log_path = _open_log(ws)
    try:
        with log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env
            )
    except OSError as exc:
        raise ProviderError(
            f"Cannot start the local model server: {exc.strerror or exc}."
        ) from None
    try:
        address = _read_address(proc, log_path)
        _wait_healthy(address, proc, log_path)
        slots, slot_ctx = _slot_sizes(address, settings)
    except BaseException:
        LocalServer(ws, proc, "", log_path).stop(timeout=2)
        raise
    return LocalServer(ws, proc, address, log_path, slots=slots, slot_ctx=slot_ctx)


def _open_log(ws: WeightSet) -> tuple[BinaryIO, Path]:
    """The server's log file: next to the weights, or in the temp folder when the cache folder
    is read-only (the weights can still be read from there); a plain error if neither works."""
    path = cache_dir() / f"{ws.key}.server.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("wb"), path
    except OSError as first:
        try:
            # mkstemp: a fresh private file, never someone else's file or symlink in /tmp
            fd, name = tempfile.mkstemp(prefix=f"fieldstream-{ws.key}.", suffix=".server.log")
        except OSError as exc:
            raise ProviderError(
                f"Cannot write the local model server's log in {path.parent} "
                f"({first.strerror or first}) nor in the temp folder ({exc.strerror or exc}). "
                "Point FIELDSTREAM_CACHE_DIR at a writable folder."
            ) from None
        return os.fdopen(fd, "wb"), Path(name)


def _slot_sizes(address: str, settings: ServerSettings) -> tuple[int, int]:
    """Slots and per-slot context as the server reports them (GET /props): llama.cpp may round
    the context, and the gate and the token budget must use what it really has."""
    try:
        with urllib.request.urlopen(address + "/props", timeout=5) as resp:
            props = document.load(resp.read())
        slots = int(props["total_slots"])
        slot_ctx = int(props["default_generation_settings"]["n_ctx"])
    except (OSError, ValueError, KeyError, TypeError):
        return settings.parallel, settings.ctx
    return slots, slot_ctx


def _read_address(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """The child prints `LISTENING http://127.0.0.1:PORT` once the model is loaded."""
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.5):
                if proc.poll() is not None:
                    break
                continue
            line = proc.stdout.readline().decode(errors="replace").strip()
            if line.startswith("LISTENING "):
                return line.split(" ", 1)[1]
            if not line and proc.poll() is not None:
                break
    raise ProviderError(_start_failure(proc, log_path))


def _wait_healthy(address: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(address + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass  # 503 while loading, or not accepting yet
        time.sleep(0.1)
    raise ProviderError(_start_failure(proc, log_path))


def _start_failure(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    tail = ""
    with contextlib.suppress(OSError):
        lines = log_path.read_text(errors="replace").strip().splitlines()
        tail = " | ".join(lines[-5:])
    state = "exited" if proc.poll() is not None else "did not become ready"
    return f"The local model server {state} (log: {log_path})." + (
        f" Last log lines: {tail}" if tail else ""
    )
