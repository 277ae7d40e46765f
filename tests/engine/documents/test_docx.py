"""engine.documents.docx: Word files' text in body order, tables as lines, the page map from
Word's breaks, and the zip checked before python-docx opens it (bombs, lies, passwords, XXE)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_BREAK

from engine.documents import DocumentError, read_bytes, read_document
from tests.documents_support import zip_of

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _saved(document: object) -> bytes:
    out = io.BytesIO()
    document.save(out)  # type: ignore[attr-defined]
    return out.getvalue()


def _with_document_xml(xml: str, base: bytes | None = None) -> bytes:
    """A real .docx (python-docx's template) whose word/document.xml is `xml`."""
    base = base or _saved(docx.Document())
    source, out = zipfile.ZipFile(io.BytesIO(base)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = xml.encode() if info.filename == "word/document.xml" else source.read(info)
            target.writestr(info.filename, body)
    return out.getvalue()


def _body(inner: str, doctype: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{doctype}'
            f'<w:document xmlns:w="{W_NS}"><w:body>{inner}<w:sectPr/></w:body></w:document>')


def _p(*runs: str, ppr: str = "") -> str:
    return f"<w:p>{ppr}{''.join(runs)}</w:p>"


def _r(text: str = "", extra: str = "") -> str:
    return f'<w:r>{extra}<w:t xml:space="preserve">{text}</w:t></w:r>'


def test_paragraphs_and_tables_in_body_order_with_explicit_page_breaks() -> None:
    document = docx.Document()
    document.add_paragraph("Agreement between Northwind and Contoso.")
    table = document.add_table(rows=2, cols=3)
    for row, cells in zip(table.rows, [("Item", "Qty", "Price"), ("Seats", "250", "EUR 120")],
                          strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_paragraph("After the table.").add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("Total: EUR 12,500")
    document.add_paragraph("Signed on 3 December 2026").paragraph_format.page_break_before = True
    doc = read_bytes("c.docx", _saved(document))
    assert doc.type == "docx" and doc.pages == 3
    assert doc.text.startswith("Agreement between Northwind and Contoso.\n\n"
                               "Item\tQty\tPrice\nSeats\t250\tEUR 120\n\nAfter the table.")
    assert [doc.page_at(doc.text.index(s)) for s in ("Seats", "EUR 12,500", "3 December")] == [
        1, 2, 3]


def test_words_last_rendered_page_breaks_start_pages_once() -> None:
    """Word writes `w:lastRenderedPageBreak` where it last broke a page; right after a hard
    break it marks the same page, which must not count twice."""
    xml = _body(
        _p(_r("one"), "<w:r><w:lastRenderedPageBreak/><w:t>two</w:t></w:r>")
        + _p(_r("still two"), '<w:r><w:br w:type="page"/></w:r>')
        + _p("<w:r><w:lastRenderedPageBreak/><w:t>three</w:t></w:r>")
        + _p(_r("tab"), "<w:r><w:tab/><w:t>bed</w:t><w:br/><w:t>line</w:t></w:r>")
        + _p("<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>", _r("kept"))
        + _p(_r("ends section"), ppr="<w:pPr><w:sectPr/></w:pPr>")
        + _p(_r("four")))
    doc = read_bytes("r.docx", _with_document_xml(xml))
    assert doc.pages == 4
    assert [doc.page_at(doc.text.index(w)) for w in ("one", "two", "three", "four")] == [
        1, 2, 3, 4]
    assert "tab\tbed\nline" in doc.text and "deleted" not in doc.text and "kept" in doc.text


def test_an_xxe_document_reads_no_local_file_and_expands_no_entity(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    doctype = (f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{secret}">'
               '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
               '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>')
    xml = _body(_p(_r("before &xxe; after")) + _p(_r("laugh &c; end")), doctype)
    doc = read_document("xxe.docx", _with_document_xml(xml))
    assert "TOP-SECRET" not in doc.text
    assert "aaaa" not in doc.text  # internal entities not expanded either
    assert "before" in doc.text and "after" in doc.text




def _bomb(megabytes: int, parts: int = 1) -> bytes:
    """A small zip declaring `megabytes` of zeros (written a MB at a time: the test's own
    memory stays small) over `parts` members, besides a word/document.xml."""
    out, zeros = io.BytesIO(), bytes(2**20)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w/>")
        for part in range(parts):
            with archive.open(f"word/media/bomb{part}.bin", "w") as member:
                for _ in range(megabytes // parts):
                    member.write(zeros)
    return out.getvalue()


@pytest.mark.parametrize(("build", "message"), [
    (lambda: _bomb(300, parts=3), re.escape(
        "bomb.docx: this file would unpack to 300 MB (the limit is 200 MB). It looks like a "
        "zip bomb and is not opened.")),
    (lambda: _bomb(20), r"a part of this file \(word/media/bomb0.bin\) would grow [\d,]+ times "
     r"when unpacked \(the limit is 100\)\. It looks like a zip bomb"),
    (lambda: zip_of({f"word/{i}.xml": b"" for i in range(5001)} | {"word/document.xml": b"<w/>"},
                  zipfile.ZIP_STORED),
     "this file holds 5,002 parts; a Word document has far fewer"),
], ids=["200 MB", "ratio 100", "parts"])
def test_a_zip_bomb_is_refused_before_it_is_unpacked(build: Callable[[], bytes],
                                                     message: str) -> None:
    data = build()
    assert len(data) < 600_000  # small on disk
    with pytest.raises(DocumentError, match=message):
        read_document("bomb.docx", data)


def test_a_zip_that_lies_about_its_sizes_is_stopped_by_zipfile() -> None:
    """The checks trust the declared sizes because zipfile never unpacks more than them: a
    member declaring 1 KB that holds 50 MB fails its CRC instead of filling memory."""
    base = _with_document_xml(_body(_p(_r("x" * 50))))
    source = zipfile.ZipFile(io.BytesIO(base))
    members = {info.filename: source.read(info) for info in source.infolist()}
    members["word/document.xml"] = _body(_p(_r("y" * (5 * 2**20)))).encode()
    data = bytearray(zip_of(members))
    # Rewrite document.xml's declared size (local header and central directory) to 1,000.
    real = len(members["word/document.xml"]).to_bytes(4, "little")
    assert data.count(real) == 2
    data = data.replace(real, (1000).to_bytes(4, "little"))
    with pytest.raises(DocumentError, match="damaged or incomplete"):
        read_document("liar.docx", bytes(data))


@pytest.mark.parametrize(("name", "data", "message"), [
    ("notes.docx", b"Dear team, these are notes saved as text.",
     "notes.docx: the name says .docx but the file is text, not a Word document."),
    ("sheet.docx", zip_of({"xl/workbook.xml": b"<workbook/>"}),
     "the file is another kind of zip archive, not a Word document"),
    ("truncated.docx", _saved(docx.Document())[:3000], "is not a Word document"),
    ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500
     + "EncryptedPackage".encode("utf-16-le") + b"\0" * 500,
     "locked.docx: this Word file is protected by a password. Save a copy without the "
     "password and choose that."),
    ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1000,
     "this is an older Word \\(.doc\\) or other Office file"),
    ("image.docx", b"\x89PNG\r\n\x1a\n\0\0", "the name says .docx but the file is a PNG image"),
    ("empty.docx", _with_document_xml(_body(_p(_r(" ")))), "the Word document has no text"),
    ("bad-xml.docx", _with_document_xml("<w:document><unclosed"), "damaged or incomplete"),
    ("old.doc", b"\xd0\xcf\x11\xe0", "Word 97–2003 .doc files cannot be read; save it as .docx"),
])
def test_bad_word_files_get_one_clear_message(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message) as caught:
        read_document(name, data)
    assert caught.value.name == name
