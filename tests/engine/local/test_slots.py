"""The embedded model under load: a private context per slot, exact token counts
and a server log that survives a read-only cache folder (issue #7, items 8, 9, 11c)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from engine.errors import ProviderError
from engine.local import server as lm
from engine.local import weights as lw

SLOT_CTX = 1024  # small, so the long prompts below are quick to read on two cores
SMALL = lm.ServerSettings(ctx=SLOT_CTX, parallel=2, threads=1, threads_batch=2)


@pytest.fixture(scope="module")
def server() -> Iterator[lm.LocalServer]:
    """A server of our own (not the process-wide one), started by the module's spawning code."""
    ws = lw.QWEN_05B
    srv = lm._spawn(ws, lw.prepare(ws), SMALL)
    yield srv
    srv.stop()


def _client(server: lm.LocalServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0, timeout=120)


def _long_messages(i: int) -> list[dict[str, str]]:
    lines = [f"Line {n}: order {i}-{n} ships {n * 3} crates to dock {n % 7}." for n in range(40)]
    return [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": "\n".join(lines) + "\nWhich dock gets the most crates?"},
    ]


@pytest.mark.local_model
def test_each_slot_has_its_own_full_context(server: lm.LocalServer):
    """Two prompts that each need more than half of one slot's context, at the same time: with
    one context shared by both slots the second overflows it ("Context size has been
    exceeded"); with a private context per slot both complete."""
    client, start = _client(server), threading.Barrier(2)
    results: dict[int, object] = {}

    def run(i: int) -> None:
        start.wait()
        try:
            answer = client.chat.completions.create(
                model=server.model, messages=_long_messages(i), max_tokens=8, temperature=0
            )
            results[i] = answer.usage.prompt_tokens
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert all(isinstance(n, int) for n in results.values()), results
    assert (server.slots, server.slot_ctx) == (2, SLOT_CTX)
    sizes = [server.count_tokens(_long_messages(i)) for i in range(2)]
    assert all(SLOT_CTX // 2 < n < SLOT_CTX - 32 for n in sizes), sizes  # the premise holds
    assert results == {0: sizes[0], 1: sizes[1]}


@pytest.mark.local_model
def test_count_tokens_is_what_the_server_bills(server: lm.LocalServer):
    messages = [
        {"role": "system", "content": "Extract the meeting information as JSON."},
        {"role": "user", "content": "Zoë meets 李雷 at 9:30 <b>sharp</b> — budget €5,000.\n\n"},
    ]
    answer = _client(server).chat.completions.create(
        model=server.model, messages=messages, max_tokens=1, temperature=0
    )
    assert server.count_tokens(messages) == answer.usage.prompt_tokens
    assert server.count_tokens(messages[:1]) < answer.usage.prompt_tokens


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """No new files in `folder`, for root too (root ignores the mode bits: make it immutable)."""
    folder.chmod(0o555)
    immutable = os.geteuid() == 0
    try:
        if immutable:
            if not shutil.which("chattr"):
                pytest.fail("running as root without chattr: cannot make a folder read-only")
            subprocess.run(["chattr", "+i", str(folder)], check=True, capture_output=True)
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False, capture_output=True)
        folder.chmod(0o755)


@pytest.mark.local_model
def test_read_only_cache_folder_puts_the_log_elsewhere(tmp_path: Path, monkeypatch):
    """Verified weights in a read-only cache folder still serve; the log goes to a temp file."""
    ws = lw.QWEN_05B
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ws.filename).symlink_to(lw.prepare(ws))
    monkeypatch.setenv("FIELDSTREAM_CACHE_DIR", str(cache))
    with _read_only(cache):
        with pytest.raises(OSError):
            (cache / "probe").write_text("")  # really read-only
        srv = lm._spawn(ws, lw.prepare(ws), lm.ServerSettings(ctx=256, parallel=1, threads=1))
    try:
        assert srv.log_path.parent != cache and srv.log_path.is_file()
        assert srv.count_tokens([{"role": "user", "content": "hi"}]) > 1
    finally:
        srv.stop()
        srv.log_path.unlink(missing_ok=True)
    with pytest.raises(ProviderError, match="could not count the tokens"):
        srv.count_tokens([{"role": "user", "content": "hi"}])  # gone: a plain message
