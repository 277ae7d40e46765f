"""engine.documents.pdf: PDFs built by hand (tests/fixtures/documents/make_documents.py: a few
objects, no library), read with pypdfium2 (docs/decisions/pdf-reader.md).
bench/pdf_reader_bench.py covers passwords, columns and tables."""

from __future__ import annotations

import pytest

from engine.documents import DocumentError, read_bytes
from engine.documents.pdf import SCAN
from tests.fixtures.documents.make_documents import pdf as make_pdf


def test_a_pdf_gives_its_pages_text_and_page_map() -> None:
    data = make_pdf([["Agreement between Northwind and Contoso"], ["Total: EUR 12,500"],
                     ["Signed on 3 December 2026"]])
    doc = read_bytes("contract.pdf", data)
    assert (doc.type, doc.pages, doc.size) == ("pdf", 3, len(data))
    assert doc.page_at(doc.text.index("EUR 12,500")) == 2
    assert doc.page_at(doc.text.index("3 December")) == 3
    assert "\r" not in doc.text


def test_a_scan_is_said_plainly() -> None:
    with pytest.raises(DocumentError, match=SCAN):
        read_bytes("scan.pdf", make_pdf([[], []]))


@pytest.mark.parametrize("data", [
    b"%PDF-1.4\n" + b"garbage " * 100,
    make_pdf([["one"], ["two"]])[:300],  # truncated: an upload cut short
])
def test_a_damaged_or_truncated_pdf_is_said_plainly(data: bytes) -> None:
    with pytest.raises(DocumentError, match="damaged or incomplete"):
        read_bytes("broken.pdf", data)
