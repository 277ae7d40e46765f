"""The wheel holds the whole engine: build it, install it into a fresh virtual environment (the
checkout out of sight) and run the CLI and a short typed stream from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STREAM = textwrap.dedent("""
    import engine
    from pydantic import BaseModel
    from engine import stream_model

    class City(BaseModel):
        name: str
        people: int

    snaps = list(stream_model(City, ['{"name": "Pa', 'ris", "peo', 'ple": 2100000}']))
    print(engine.__file__)
    print(snaps[-1].final.model_dump_json())
""")


def _run(cmd: list[str], cwd: Path) -> str:
    # Without PYTHONPATH: a checkout on it (as when running the suite from a worktree) would
    # put its `engine` before the wheel's.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    # Built from a copy: setuptools reuses an in-tree build/ folder, whose stale modules would
    # end up in the wheel (and the checkout would get a build/ folder).
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tools", "build", "*.egg-info", "__pycache__", ".hypothesis",
        ".ruff_cache", "test-artifacts"))
    # The fresh venv's own pip builds the wheel: the project's venv (made by uv) has no pip.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    _run([str(venv / "bin" / "python"), "-m", "pip", "wheel", "-q", "--no-deps", "-w",
          str(tmp_path / "dist"), str(src)], tmp_path)
    wheel = next((tmp_path / "dist").glob("fieldstream-*.whl"))
    packaged = {Path(name).parent.as_posix() for name in zipfile.ZipFile(wheel).namelist()}
    on_disk = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "engine").rglob("*.py")}
    assert on_disk <= packaged, f"missing from the wheel: {sorted(on_disk - packaged)}"

    # The dependencies come from this environment's site-packages, added as a plain path: its
    # .pth files (the editable install of the checkout) are not processed, so `engine` can only
    # come from the wheel.
    site = Path(_run([str(venv / "bin" / "python"), "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path)
                .strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
         tmp_path)

    assert "extract" in _run([str(venv / "bin" / "fieldstream"), "--help"], tmp_path)
    out = _run([str(venv / "bin" / "python"), "-c", STREAM], tmp_path).splitlines()
    assert out[0].startswith(str(venv)), out[0]
    assert out[1] == '{"name":"Paris","people":2100000}'
