"""engine.documents.pdf: PDFs built here by hand (a few objects, no library), read with
pypdfium2 where it is installed (not in uv.lock yet: docs/decisions/pdf-reader.md), else
refused with a message. bench/pdf_reader_bench.py covers passwords, columns and tables."""

from __future__ import annotations

import pytest

from engine.documents import DocumentError, read_bytes
from engine.documents.pdf import SCAN


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose page i shows pages[i]'s lines in Helvetica (an empty list: no text)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for lines in pages:
        ops = "".join(f"BT /F1 12 Tf 72 {720 - 16 * i} Td ({line}) Tj ET\n"
                      for i, line in enumerate(lines)).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                       % (3 + 2 * len(pages), len(objects)))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(pages))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


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
