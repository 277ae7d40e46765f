"""Streamlit's upload limit and the reader's size limit are one setting: `make run` passes
`--server.maxUploadSize` from `python -m engine.documents upload-mb`, which reads
FIELDSTREAM_MAX_FILE_MB as `settings.max_file_bytes` does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import settings
from engine.documents.__main__ import upload_mb

ROOT = Path(__file__).resolve().parents[3]


def _run_recipe() -> str:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "the Makefile has a run target"
    return recipe.group(1)


def _upload_mb(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FIELDSTREAM_MAX_FILE_MB"}
    if value is not None:
        env["FIELDSTREAM_MAX_FILE_MB"] = value
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "engine.documents", "upload-mb"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_make_run_passes_the_upload_limit_from_the_setting() -> None:
    recipe = _run_recipe()
    assert 'mb="$$($(BIN)/python -m engine.documents upload-mb)" &&' in recipe
    assert '--server.maxUploadSize "$$mb"' in recipe


@pytest.mark.parametrize(("value", "mb"), [(None, 50), ("200", 200), ("0.5", 1), ("7.2", 8)])
def test_the_flag_and_the_setting_agree(value: str | None, mb: int) -> None:
    done = _upload_mb(value)
    assert (done.returncode, done.stdout) == (0, f"{mb}\n")
    env = {} if value is None else {"FIELDSTREAM_MAX_FILE_MB": value}
    assert upload_mb(env) == mb
    # Streamlit's limit (whole MB) lets through every file the reader accepts, and at most
    # one MB more, which the reader then refuses with its own message.
    assert 0 <= mb * 2**20 - settings.max_file_bytes(env) < 2**20


def test_a_bad_setting_stops_make_run_with_its_message() -> None:
    done = _upload_mb("lots")
    assert done.returncode == 1 and done.stdout == ""
    assert "FIELDSTREAM_MAX_FILE_MB must be a positive number of MB, got 'lots'" in done.stderr
