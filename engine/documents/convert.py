"""A file's conversion to text in a child process, with a time and a memory limit (#19).

PDFium (C), lxml (C) and html.parser run on bytes a stranger may have crafted: in a child
process a crash, a hang or a runaway allocation costs that process, not the app. The parent
(`convert`) sends the bytes on the child's stdin and reads one JSON object from its stdout;
the child says its progress on stderr as lines `progress <done> <total> <what>`, which the
parent turns into `on_progress(done, total, what)` calls in the caller's own thread (Streamlit
can only draw from there).

Limits (engine.settings): `convert_timeout` seconds from spawn to answer, then the child is
killed; `convert_memory_bytes` of address space (`RLIMIT_AS`), which the child sets on itself
first thing. Not `preexec_fn`: Streamlit's server has threads, and Python documents
`preexec_fn` as unsafe in a threaded parent (the child may deadlock before `exec`). What the
interpreter and the readers' imports already hold (about 60 MB) counts against the limit.

The child's environment has no secrets (`settings.child_env`): it needs none.

Plain text and Markdown are read in the calling process (`IN_PROCESS`): a child costs about
0.25 s (interpreter start and `engine`'s imports: measured in `bench/document_bench.py`) against
about 1 ms for a page of text read in place, and their reading is bounded: a decode and a
detection over at most `max_file_bytes`, no parser, no C library, nothing a file can make loop
or allocate beyond a few times its size. HTML (a pure-Python parser walking untrusted markup),
e-mail (MIME trees, nested HTML), PDF and Word go to the child."""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine import settings
from engine.documents.model import Document, DocumentError, Progress
from engine.documents.read import precheck, read_bytes

#: Read in the caller's process (see the module's docstring).
IN_PROCESS = frozenset({".txt", ".text", ".log", ".csv", ".md", ".markdown"})
#: The project root: the child imports `engine` from where this process did.
ROOT = Path(__file__).resolve().parents[2]
CRASHED = ("reading it failed unexpectedly ({detail}). Choose another file, or copy its text "
           "into the text box.")


@dataclass(frozen=True)
class Converted:
    document: Document
    #: The child's peak resident memory (Linux VmHWM, kB; 0 when read in process).
    peak_kb: int = 0
    in_process: bool = False


def convert(name: str, data: bytes, *, env: settings.Env | None = None,
            on_progress: Progress | None = None) -> Converted:
    """The document in `data`, read in a child process under the limits; one `DocumentError`
    for anything that goes wrong (the child's own, or a time limit, memory, a crash)."""
    max_bytes = settings.max_file_bytes(env)
    if precheck(name, data, max_bytes) in IN_PROCESS:  # size, name, emptiness: no process yet
        return Converted(read_bytes(name, data, max_bytes=max_bytes), in_process=True)
    timeout = settings.convert_timeout(env)
    memory = settings.convert_memory_bytes(env)
    child_env = settings.child_env()
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), child_env.get("PYTHONPATH", "")) if p)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.documents.convert", name, str(max_bytes), str(memory)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env,
        cwd=str(ROOT), close_fds=True, start_new_session=True)
    try:
        out, err = _talk(proc, data, started + timeout, on_progress)
    except BaseException as exc:  # the time limit, or the caller stopped (a rerun, Ctrl-C)
        proc.kill()
        proc.wait()
        if not isinstance(exc, TimeoutError):
            raise
        raise DocumentError(name, f"reading it took longer than {timeout:g} s, the limit "
                                  "(FIELDSTREAM_CONVERT_TIMEOUT). Choose a smaller file, or "
                                  "copy its text into the text box.") from None
    finally:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    return _answer(name, proc.wait(), out, err, memory)


def _talk(proc: subprocess.Popen[bytes], data: bytes, deadline: float,
          on_progress: Progress | None) -> tuple[bytes, list[bytes]]:
    """Feed stdin, collect stdout, pass progress on, until the child closes both outputs or
    the deadline passes (TimeoutError). Threads move the bytes; the caller's thread calls
    `on_progress`."""
    events: queue.Queue[tuple[str, bytes | None]] = queue.Queue()

    def feed() -> None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:  # the child died or stopped reading: its exit says why
            pass

    def drain_out() -> None:
        assert proc.stdout is not None
        events.put(("out", proc.stdout.read()))

    def drain_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            events.put(("err", line))
        events.put(("err-end", None))

    for target in (feed, drain_out, drain_err):
        threading.Thread(target=target, daemon=True, name=f"convert-{target.__name__}").start()
    out, err, open_streams = b"", [], 2
    while open_streams:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        try:
            kind, chunk = events.get(timeout=left)
        except queue.Empty:
            raise TimeoutError from None
        if kind == "out":
            out, open_streams = chunk or b"", open_streams - 1
        elif kind == "err-end":
            open_streams -= 1
        elif chunk is not None and not _progress(chunk, on_progress):
            err.append(chunk)
            del err[:-50]  # a tail is enough to say what happened
    if proc.poll() is None:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
    return out, err


def _progress(line: bytes, on_progress: Progress | None) -> bool:
    parts = line.split()
    if len(parts) != 4 or parts[0] != b"progress":
        return False
    if on_progress:
        on_progress(int(parts[1]), int(parts[2]), parts[3].decode("ascii", "replace"))
    return True


def _answer(name: str, code: int, out: bytes, err: list[bytes], memory: int) -> Converted:
    try:
        answer = json.loads(out) if out.strip() else {}
    except ValueError:
        answer = {}
    tail = b"".join(err).decode("utf-8", "replace")
    if answer.get("memory") or "MemoryError" in tail or code == -signal.SIGKILL:
        raise DocumentError(name, f"reading it needs more memory than the {memory / 2**20:g} "
                                  "MB allowed (FIELDSTREAM_CONVERT_MEMORY_MB). Choose a smaller "
                                  "file, or copy its text into the text box.")
    if "error" in answer:
        raise DocumentError(name, str(answer["error"]))
    if "document" in answer and code == 0:
        fields = answer["document"]
        fields["page_starts"] = tuple(fields["page_starts"])
        fields["notes"] = tuple(fields["notes"])
        return Converted(Document(**fields), peak_kb=int(answer.get("peak_kb") or 0))
    if code < 0:
        detail = f"the reader stopped on signal {signal.Signals(-code).name}"
    else:
        detail = str(answer.get("crash") or f"the reader ended with code {code}")
    raise DocumentError(name, CRASHED.format(detail=detail))


# --- the child ---------------------------------------------------------------------------------

def _peak_kb() -> int:
    """This process's peak resident memory (VmHWM: C memory included; not ru_maxrss, which
    keeps the forking parent's peak across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _say_progress(done: int, total: int, what: str) -> None:
    sys.stderr.write(f"progress {done} {total} {what}\n")
    sys.stderr.flush()


def main(argv: list[str]) -> int:
    """`python -m engine.documents.convert NAME MAX_BYTES MEMORY_BYTES`, the file's bytes on
    stdin: one JSON object on stdout (`document`, `error`, `memory` or `crash`)."""
    name, max_bytes, memory = argv[0], int(argv[1]), int(argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        data = sys.stdin.buffer.read()
        document = read_bytes(name, data, max_bytes=max_bytes, on_progress=_say_progress)
        del data
        answer: dict[str, object] = {"document": asdict(document), "peak_kb": _peak_kb()}
    except MemoryError:
        answer = {"memory": True}
    except DocumentError as exc:
        answer = {"error": exc.problem}
    except Exception as exc:  # any other failure: said once, by its kind
        answer = {"crash": type(exc).__name__}
    sys.stdout.buffer.write(json.dumps(answer).encode("ascii"))  # whatever the locale
    sys.stdout.buffer.flush()
    return 0 if "document" in answer else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
