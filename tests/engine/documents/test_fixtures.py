"""The shipped test documents (tests/fixtures/documents): each reads through `read_document`
with the facts of expected.json on their pages, and `make_documents.py` rebuilds them exactly."""

from __future__ import annotations

import json

import pytest

from engine.documents import DocumentError, read_document
from tests.fixtures.documents import make_documents

HERE = make_documents.HERE
EXPECTED = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
READABLE = [name for name, entry in EXPECTED["files"].items() if "error" not in entry]


@pytest.mark.parametrize("name", READABLE)
def test_each_format_carries_the_same_facts_on_their_pages(name: str) -> None:
    entry = EXPECTED["files"][name]
    doc = read_document(name, (HERE / name).read_bytes())
    assert (doc.type, doc.pages, doc.size, doc.sha256) == (
        entry["type"], entry["pages"], entry["size"], entry["sha256"])
    for field, quote in EXPECTED["quotes"].items():
        assert doc.text.count(quote) >= 1, (name, field)
        assert doc.page_at(doc.text.index(quote)) == entry["fact_pages"][field], (name, field)
    for decoy in entry.get("absent", []):
        assert decoy not in doc.text, (name, decoy)
    for attachment in entry.get("attachments", []):
        assert any(attachment in note for note in doc.notes)


def test_the_scan_is_said_to_be_a_scan() -> None:
    with pytest.raises(DocumentError) as caught:
        read_document("scan.pdf", (HERE / "scan.pdf").read_bytes())
    assert str(caught.value) == EXPECTED["files"]["scan.pdf"]["error"]


def test_the_script_rebuilds_the_shipped_files_byte_for_byte() -> None:
    files = make_documents.build()
    assert sorted(files) == sorted(EXPECTED["files"])
    for name, data in files.items():
        assert data == (HERE / name).read_bytes(), f"{name} differs: run make_documents.py"
    assert make_documents.expected(files) == EXPECTED
