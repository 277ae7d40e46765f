"""The server child's side: load the model, announce the address, serve until the parent goes
away. Runs in its own process (`python -m engine.local serve MODEL ...`), started by
`engine.local.server`: llama.cpp's threads, memory and any crash stay out of the app.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from engine.local.server import ServerSettings


def serve(argv: list[str]) -> int:
    """Child side: load the model, announce the address, serve until the parent goes away."""
    import xllamacpp  # only the child loads llama.cpp

    ap = argparse.ArgumentParser(prog="python -m engine.local serve")
    ap.add_argument("model")
    ap.add_argument("--alias", required=True)
    ap.add_argument("--ctx", type=int, default=ServerSettings.ctx, help="tokens per slot")
    ap.add_argument("--parallel", type=int, default=ServerSettings.parallel)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--threads-batch", type=int, default=1)
    args = ap.parse_args(argv)
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]  # loopback only; port 0 lets the OS pick a free port
    params.port = 0
    # One private KV cache of `ctx` tokens per slot (llama.cpp splits n_ctx evenly between
    # the slots when the cache is not unified): a slot can never run out because another is busy.
    params.n_ctx = args.ctx * args.parallel
    params.n_parallel = args.parallel
    params.kv_unified = False
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads_batch
    # Sleep rather than spin while waiting for sibling threads: spinning burns the very core
    # the app needs when the machine is busy (measured: fewer collapses under load).
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    params.verbosity = 0
    server = xllamacpp.Server(params)
    print("LISTENING", server.listening_address, flush=True)
    parent = os.getppid()
    stdin_closed = threading.Event()

    def wait_stdin() -> None:
        sys.stdin.buffer.read()
        stdin_closed.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    # Exit when the parent closes our stdin or dies (we get re-parented), even on SIGKILL.
    while not stdin_closed.wait(1.0) and os.getppid() == parent:
        pass
    os._exit(0)  # skip llama.cpp teardown: the OS frees everything at once
