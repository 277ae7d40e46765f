"""A document about three times the local model's context (#19): the embedded model with
2,048-token slots (FIELDSTREAM_LOCAL_CTX) reads a 12-page PDF of ~24,500 characters through the
CLI, split into parts, each part said as it ends, the values merged and each traced to its
page. The full-size run (100,000 characters on the default context) is bench/long_document_bench.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.documents.make_documents import pdf
from tests.long_document import EXPECTED, meeting_pages

PAGES = 12


def meeting_pdf(path: Path) -> dict[str, int]:
    """The long meeting record as a PDF (lines of 80 characters, Helvetica 12, 40 a page);
    the page each fact stands on."""
    texts, where = meeting_pages(22_000, PAGES)  # ~24,500 characters
    pages = []
    for text in texts:
        lines = [line for block in text.split("\n\n") for line in [*textwrap.wrap(block, 80), ""]]
        assert len(lines) <= 40, "a page that would run off its paper"
        pages.append(lines)
    path.write_bytes(pdf(pages))
    return where


@pytest.mark.local_model
def test_a_pdf_three_contexts_long_extracts_on_the_local_model(tmp_path: Path) -> None:
    where = meeting_pdf(tmp_path / "minutes.pdf")
    env = {**os.environ, "FIELDSTREAM_LOCAL_CTX": "2048", "FIELDSTREAM_DATA_DIR": str(tmp_path),
           "FIELDSTREAM_WARM_LOCAL": "0"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fieldstream"), "extract", "--schema", "MeetingInfo",
         "--provider", "local", "--file", str(tmp_path / "minutes.pdf"), "--no-history"],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    err = done.stderr
    assert f"# minutes.pdf · pdf · {PAGES} pages" in err, err
    parts = re.findall(r"^# chunk (\d+) of (\d+) \(pages? [\d–]+\): (\w+)", err, re.M)
    assert len(parts) >= 3, err  # ~24,000 characters do not fit 2,048 tokens: split
    total = int(parts[0][1])
    assert sorted(int(k) for k, _, _ in parts) == list(range(1, total + 1))
    result = json.loads(done.stdout)
    # A 0.5B model reads each part on its own: the facts it finds in every trial are the
    # plainly written date and budget (the people on page 2 it finds in some, and it lists
    # groups from the minutes as people: #22's work); each is traced to its page.
    assert result["date"] == EXPECTED["date"], err
    assert result["budget"] == EXPECTED["budget"], err
    said = dict(re.findall(r"([\w\[\].]+) p\.(\d+)", err.split("# pages: ")[1].splitlines()[0]))
    assert int(said["date"]) == where["date"] and int(said["budget"]) == where["budget"], err
