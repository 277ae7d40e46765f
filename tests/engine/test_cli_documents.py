"""`fieldstream extract --file`: the shipped documents (tests/fixtures/documents) read, extracted
and each value traced to its page; a document split with `--chunking always`, each part said as
it ends; a file that cannot be read is one message (exit 2), never a traceback."""

from __future__ import annotations

import datetime
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engine import cli
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import isolate

DOCUMENTS = Path(__file__).resolve().parents[1] / "fixtures" / "documents"
EXPECTED = json.loads((DOCUMENTS / "expected.json").read_text(encoding="utf-8"))
SCHEMA = f"{__name__}:Contract"


class Contract(BaseModel):
    party_a: str | None = None
    party_b: str | None = None
    signed_on: datetime.date | None = None
    amount: str | None = None
    city: str | None = None


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path, home=True)


def respond(body: dict[str, Any]) -> Reply:
    """A careful model: the values the part it reads states, null for the others."""
    text = body["messages"][-1]["content"]
    answer = {name: (value if EXPECTED["quotes"][name] in text else None)
              for name, value in EXPECTED["values"].items()}
    data = json.dumps(answer)
    return Reply.content([data[i:i + 9] for i in range(0, len(data), 9)])


def extract(argv: list[str], srv: ReplayServer,
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["extract", "--schema", SCHEMA, "--provider", "custom", "--model", "m",
                     "--no-history", *argv], stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", ["contract.pdf", "contract.docx", "contract.html",
                                  "contract.eml"])
def test_a_document_extracts_with_each_value_on_its_page(
    name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    facts = EXPECTED["files"][name]
    with ReplayServer(models=["m"]) as srv:
        srv.responder = respond
        code, out, err = extract(["--file", str(DOCUMENTS / name)], srv, monkeypatch)
    assert code == cli.EXIT_OK, err
    assert json.loads(out) == EXPECTED["values"]
    pages = facts.get("pages", 1)
    assert f"# {name} · {facts['type']} · {pages} page" in err
    said = dict(re.findall(r"(\w+) p\.(\d+)", err.split("# pages: ")[1].splitlines()[0]))
    where = facts.get("fact_pages") or dict.fromkeys(EXPECTED["values"], 1)
    assert {k: int(v) for k, v in said.items()} == where


def test_a_split_document_says_each_part_and_merges_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ReplayServer(models=["m"]) as srv:
        srv.responder = respond
        code, out, err = extract(["--file", str(DOCUMENTS / "contract.pdf"), "--chunking",
                                  "always"], srv, monkeypatch)
        asked = len(srv.requests)
    assert code == cli.EXIT_OK, err
    assert json.loads(out) == EXPECTED["values"]
    parts = re.findall(r"^# chunk (\d+) of (\d+).*: done · \d+ values$", err, re.M)
    assert len(parts) == asked >= 1
    assert "# pages: party_a p.1" in err and "signed_on p.4" in err


@pytest.mark.parametrize(("name", "said"), [
    ("scan.pdf", "This PDF has no text layer — it is a scan."),
    ("missing.pdf", "cannot be opened"),
])
def test_a_file_that_cannot_be_read_is_one_message(
    name: str, said: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ReplayServer(models=["m"]) as srv:
        code, out, err = extract(["--file", str(DOCUMENTS / name)], srv, monkeypatch)
        assert srv.requests == []
    assert code == cli.EXIT_USAGE and out == ""
    assert said in err and "Traceback" not in err


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDSTREAM_MAX_FILE_MB", "1")
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)
    with ReplayServer(models=["m"]) as srv:
        code, _, err = extract(["--file", str(big)], srv, monkeypatch)
    assert code == cli.EXIT_USAGE
    assert "big.txt: the file is 1.4 MB; the limit is 1 MB." in err


def test_a_big_file_says_how_far_its_reading_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fixtures.documents.make_documents import pdf

    path = tmp_path / "long.pdf"
    path.write_bytes(pdf([[f"Clause {n}: Northwind Traders Ltd supplies."] for n in range(25)]))
    with ReplayServer(models=["m"]) as srv:
        srv.responder = respond
        code, _, err = extract(["--file", str(path)], srv, monkeypatch)
    assert code == cli.EXIT_OK, err
    assert "# reading long.pdf: 10 of 25 pages" in err
    assert "# reading long.pdf: 25 of 25 pages" in err
