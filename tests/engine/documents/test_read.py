"""engine.documents: text in any common encoding, HTML's visible text, e-mails, the page map,
and one readable DocumentError for each bad file."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest

from engine.documents import Document, DocumentError, read_bytes, read_path
from engine.documents.htmltext import html_to_text
from engine.documents.model import PAGE_BREAK, DocumentInfo

CONTRACT = "Party A: Müller & Söhne GmbH\nDate: 3 December 2026\nAmount: 12 500 € — net 30\n"


# --- text and Markdown ------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
def test_text_in_any_common_encoding_reads_the_same(encoding: str) -> None:
    text = CONTRACT * 20  # detection needs some text; a real file has more
    if encoding == "latin-1":
        text = text.replace("€", "EUR").replace("—", "-")
    doc = read_bytes("contract.txt", text.encode(encoding))
    assert doc.text == text
    assert doc.type == "text"
    assert doc.encoding


@pytest.mark.parametrize(("data", "text"), [
    (b"Caf\xe9 cr\xe8me", "Café crème"),  # short: many code pages fit, the common one wins
    ("Plain ASCII in UTF-16".encode("utf-16-le"), "Plain ASCII in UTF-16"),  # no BOM
    ("Договор поставки № 5 от 3 декабря 2026 года между сторонами".encode("cp1251"),
     "Договор поставки № 5 от 3 декабря 2026 года между сторонами"),
])
def test_encodings_that_need_detecting(data: bytes, text: str) -> None:
    assert read_bytes("a.txt", data).text == text


INVOICES = "id;note\n" + "".join(f"{i};Facture n° {1000 + i} réglée\n" for i in range(25))


@pytest.mark.parametrize("text", [INVOICES, INVOICES + "26;tiret — fin\n"])
def test_a_short_western_export_is_not_read_as_a_rare_code_page(text: str) -> None:
    """charset-normalizer alone reads these cp1252 bytes as ISO 8859-14 (`nḞ 1000`) or Mac
    Latin 2 (`rťglťe`): a rare detection now loses to cp1252 when cp1252 reads them cleanly."""
    doc = read_bytes("factures.csv", text.encode("cp1252"))
    assert doc.text == text and doc.encoding == "cp1252"


def test_metadata_size_sha256_and_one_page() -> None:
    data = b"# Title\n\nSome *Markdown* text.\r\n"
    doc = read_bytes("notes.MD", data)
    digest = hashlib.sha256(data).hexdigest()
    assert (doc.type, doc.size, doc.sha256) == ("markdown", len(data), digest)
    assert doc.text == "# Title\n\nSome *Markdown* text.\n"  # line ends made \n, Markdown kept
    assert (doc.pages, doc.page_at(0), doc.page_at(len(doc.text))) == (1, 1, 1)
    assert doc.info.to_json() == {"name": "notes.MD", "type": "markdown", "size": len(data),
                                  "sha256": doc.sha256, "pages": 1, "chars": len(doc.text),
                                  "page_starts": [0], "encoding": "utf-8", "notes": []}
    assert DocumentInfo.from_json(doc.info.to_json()) == doc.info


def test_read_path(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hello", encoding="utf-8")
    assert read_path(path).text == "hello"
    with pytest.raises(DocumentError, match=r"^missing\.txt: cannot be opened"):
        read_path(tmp_path / "missing.txt")


# --- the page map -----------------------------------------------------------------------------

def test_a_paginated_document_knows_each_offsets_page() -> None:
    doc = Document.from_pages("c.pdf", "pdf", b"%PDF-", ["one", "", "three"])
    assert doc.text == f"one{PAGE_BREAK}{PAGE_BREAK}three"
    assert doc.pages == 3
    assert [doc.page_at(doc.text.index(w)) for w in ("one", "three")] == [1, 3]
    assert doc.page_at(3) == 1  # the break belongs to the page before it
    with pytest.raises(IndexError):
        doc.page_at(len(doc.text) + 1)


# --- HTML -------------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><title>Offer 42</title>
<style>body { color: red }</style><script>alert("x")</script>
<link rel="stylesheet" href="http://example.com/x.css"></head>
<body><h1>Offer &amp; terms</h1><p>Price:   <b>EUR 1,200</b>
per seat.</p><div hidden>secret one</div><p style="display: none">secret two</p>
<span aria-hidden="true">secret three</span><img src="x" onerror="alert(1)">
<noscript>secret four</noscript><template><p>secret five</p></template>
<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Seats</td><td>250</td></tr></table>
<ul><li>one</li><li>two<br>lines</li></ul><pre>a  b
  c</pre><p>Unclosed <i>italic<p>next</body></html>"""


def test_html_keeps_the_visible_text_only() -> None:
    text = html_to_text(PAGE)
    assert "secret" not in text and "alert" not in text and "color" not in text
    assert text.splitlines()[:3] == ["Offer 42", "", "Offer & terms"]
    assert "Price: EUR 1,200 per seat." in text
    assert "Item\tQty\nSeats\t250" in text
    assert "one\ntwo\nlines" in text
    assert "a  b\nc" in text  # <pre>'s line breaks and inner spacing kept
    assert "Unclosed italic\n\nnext" in text  # paragraphs apart by a blank line


def test_html_fetches_nothing_and_keeps_markup_as_text() -> None:
    """No entity, style or image is resolved; escaped markup stays text for the page to escape."""
    markup = ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
              '<p>&e; &lt;script&gt;alert(1)&lt;/script&gt; <img src="http://x/y.png"></p>')
    assert html_to_text(markup) == "&e; <script>alert(1)</script>"


def test_an_html_file_uses_its_meta_charset() -> None:
    data = '<meta charset="windows-1252"><p>Café — 5 €</p>'.encode("cp1252")
    doc = read_bytes("page.htm", data)
    assert (doc.type, doc.text, doc.encoding) == ("html", "Café — 5 €", "cp1252")


def test_an_html_file_without_visible_text_is_said() -> None:
    with pytest.raises(DocumentError, match="the page has no visible text"):
        read_bytes("p.html", b"<script>let a = 1</script><div hidden>x</div>")


# --- e-mail -----------------------------------------------------------------------------------

def _email(html: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana Lima <ana@example.com>"
    msg["To"] = "legal@example.org, Bob <bob@example.org>"
    msg["Date"] = "Thu, 03 Dec 2026 09:15:00 +0100"
    msg["Subject"] = "=?utf-8?q?Vertrag_f=C3=BCr_M=C3=BCller?="
    msg["X-Mailer"] = "not kept"
    if html:
        msg.set_content("<p>Total: <b>EUR 9,900</b></p><script>x()</script>", subtype="html")
    else:
        msg.set_content("Hello,\n\nthe total is EUR 9,900, due 2027-01-15.\n")
    msg.add_attachment("line one\n", filename="notes.txt")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n....", maintype="image", subtype="png",
                       filename="logo.png")
    return bytes(msg)


def test_an_email_gives_its_headers_then_its_body_then_its_attachments() -> None:
    doc = read_bytes("mail.eml", _email())
    assert doc.type == "email"
    head, body = doc.text.split("\n\n", 1)
    assert head.splitlines() == ["From: Ana Lima <ana@example.com>",
                                 "To: legal@example.org, Bob <bob@example.org>",
                                 "Date: Thu, 03 Dec 2026 09:15:00 +0100",
                                 "Subject: Vertrag für Müller"]
    assert body.startswith("Hello,\n\nthe total is EUR 9,900, due 2027-01-15.")
    assert "line one" not in doc.text  # attachments are listed, not read
    assert "- notes.txt (text/plain, 9 bytes) — text, not read yet" in doc.text
    assert "- logo.png (image/png, 12 bytes)" in doc.text
    assert len(doc.notes) == 2
    assert "X-Mailer" not in doc.text


def test_an_html_only_email_gives_its_visible_text() -> None:
    doc = read_bytes("mail.eml", _email(html=True))
    assert "Total: EUR 9,900" in doc.text and "x()" not in doc.text


# --- bad files: one DocumentError each, its message for a person -------------------------------

@pytest.mark.parametrize(("name", "data", "message"), [
    ("empty.txt", b"", "empty.txt: the file is empty."),
    ("blank.md", b" \n\t\r\n", "blank.md: the file is empty."),
    ("contract.txt", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
     "contract.txt: the name says .txt but the file is a PDF. Rename it to what it is, or "
     "choose another file."),
    ("page.html", b"PK\x03\x04\x14\x00\x06\x00", "page.html: the name says .html but the file is "
     "a ZIP archive (Word .docx, Excel .xlsx and the like). Rename it to what it is, or choose "
     "another file."),
    ("notes.md", b"\x89PNG\r\n\x1a\n\x00\x00", "the file is a PNG image"),
    ("data.txt", bytes(range(256)) * 4, "data.txt: the name says .txt but the file is a binary "
     "file"),
    ("mail.eml", b"just some words\nno headers here\n", "mail.eml: the name says .eml but the "
     "file has no e-mail headers"),
    ("report.pdf", b"Dear Sir, this is no PDF.", "report.pdf: the name says .pdf but the file is "
     "text."),
    ("report.pdf", b"PK\x03\x04", "the name says .pdf but the file is a ZIP archive"),
    ("report.docx", b"PK\x03\x04", "report.docx: the name says .docx but the file is not a Word "
     "document."),
    ("photo.jpeg", b"\xff\xd8\xff", "photo.jpeg: this kind of file (.jpeg) cannot be read. "
     "Fieldstream reads"),
    ("README", b"text", "README: this kind of file (no extension) cannot be read."),
])
def test_bad_files_get_one_clear_message(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        read_bytes(name, data)
    assert message in str(caught.value)
    assert caught.value.name == name


def test_undecodable_bytes_are_said_plainly() -> None:
    garbage = bytes((i * 37 + 11) % 256 for i in range(4000) if (i * 37 + 11) % 256)  # no NULs
    with pytest.raises(DocumentError, match=r"^junk\.txt: cannot be read as text: "):
        read_bytes("junk.txt", garbage)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * 3 * 2**20)
    with pytest.raises(DocumentError, match=r"^big\.txt: the file is 3\.0 MB; the limit is 2 MB"):
        read_path(path, max_bytes=2 * 2**20)
