"""engine.documents.read_document: the conversion in a child process under the settings'
limits (size, time, memory), its progress, and one DocumentError for each hostile file."""

from __future__ import annotations

import http.server
import io
import signal
import threading
import zipfile
from collections.abc import Iterator

import docx
import pytest

from engine.documents import DocumentError, read_document
from engine.documents.convert import _answer, convert
from engine.documents.pdf import SCAN
from tests.fixtures.documents.make_documents import PAGES, pdf

CONTRACT = pdf(PAGES)


def _pages(count: int) -> list[list[str]]:
    return [[f"Page {n} clause {i}: the supplier shall deliver on time." for i in range(30)]
            for n in range(1, count + 1)]


# --- limits ------------------------------------------------------------------------------------

def test_a_pdf_reads_in_a_child_and_says_its_progress() -> None:
    seen: list[tuple[int, int, str]] = []
    converted = convert("big.pdf", pdf(_pages(25)), on_progress=lambda *a: seen.append(a))
    assert not converted.in_process and converted.peak_kb > 0
    assert converted.document.pages == 25
    assert converted.document.page_at(converted.document.text.index("Page 17 clause 3")) == 17
    assert seen == [(0, 25, "pages"), (10, 25, "pages"), (20, 25, "pages"), (25, 25, "pages")]


def test_a_caller_that_stops_during_progress_stops_the_child(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`on_progress` raising (Streamlit's rerun does) ends the conversion: the exception is the
    caller's, the child is killed and reaped."""
    import subprocess

    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    def stop(done: int, total: int, what: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    with pytest.raises(KeyboardInterrupt):
        read_document("big.pdf", pdf(_pages(2000)), on_progress=stop)  # seconds of reading
    assert len(started) == 1 and started[0].returncode == -signal.SIGKILL


def test_plain_text_reads_in_process() -> None:
    converted = convert("notes.md", b"# Notes\n\nplain")
    assert converted.in_process and converted.document.text == "# Notes\n\nplain"


def test_a_file_over_the_size_limit_is_refused_before_any_process() -> None:
    env = {"FIELDSTREAM_MAX_FILE_MB": "0.001"}  # 1,048 bytes
    with pytest.raises(DocumentError, match=r"^contract\.pdf: the file is \d\.\d KB; the limit is "
                                            r"1 KB\.$"):
        read_document("contract.pdf", CONTRACT, env=env)
    assert read_document("small.txt", b"x" * 1000, env=env).text == "x" * 1000


def test_a_conversion_over_the_time_limit_is_stopped() -> None:
    """A real conversion (5,000 pages: seconds of PDFium) against a limit of 0.6 s."""
    data = pdf(_pages(5000))
    with pytest.raises(DocumentError, match=r"^long\.pdf: reading it took longer than 0\.6 s, "
                                            r"the limit \(FIELDSTREAM_CONVERT_TIMEOUT\)\."):
        read_document("long.pdf", data, env={"FIELDSTREAM_CONVERT_TIMEOUT": "0.6"})


def test_a_conversion_over_the_memory_limit_is_said_plainly() -> None:
    """20 MB of HTML text: about 150 MB to read, in a child allowed 100 MB of address space
    (the interpreter and its imports already hold about half)."""
    data = b"<p>" + b"word " * 4_000_000 + b"</p>"
    assert len(read_document("big.html", data).text) == 4_000_000 * 5 - 1  # 1 GiB: it reads
    with pytest.raises(DocumentError, match=r"^big\.html: reading it needs more memory than the "
                                            r"100 MB allowed \(FIELDSTREAM_CONVERT_MEMORY_MB\)"):
        read_document("big.html", data, env={"FIELDSTREAM_CONVERT_MEMORY_MB": "100"})


@pytest.mark.parametrize(("code", "out", "message"), [
    (-signal.SIGSEGV, b"", "reading it failed unexpectedly (the reader stopped on signal "
                           "SIGSEGV). Choose another file, or copy its text into the text box."),
    (1, b'{"crash": "KeyError"}', "reading it failed unexpectedly (KeyError)."),
    (1, b"", "reading it failed unexpectedly (the reader ended with code 1)."),
    (-signal.SIGKILL, b"", "reading it needs more memory than the 64 MB allowed"),  # OOM killer
    (1, b"", "needs more memory"),  # MemoryError's traceback on stderr (checked below)
])
def test_a_childs_end_is_said_in_one_message(code: int, out: bytes, message: str) -> None:
    err = [b"Traceback ...\n", b"MemoryError\n"] if message == "needs more memory" else []
    with pytest.raises(DocumentError) as caught:
        _answer("f.pdf", code, out, err, 64 * 2**20)
    assert message in str(caught.value)


# --- hostile PDFs ------------------------------------------------------------------------------

def test_a_pdf_with_a_user_password_is_said_and_one_with_an_owner_password_only_is_read() -> None:
    with pytest.raises(DocumentError, match=r"^locked\.pdf: this PDF is protected by a "
                                            "password. Save a copy without the password"):
        read_document("locked.pdf", pdf(PAGES, encrypt=("user-secret", "owner-secret")))
    doc = read_document("owner.pdf", pdf(PAGES, encrypt=("", "owner-secret")))
    assert doc.pages == 4 and doc.page_at(doc.text.index("EUR 48,500.00")) == 2


@pytest.mark.parametrize(("name", "data", "message"), [
    ("cut.pdf", CONTRACT[: len(CONTRACT) // 2], "cut.pdf: this PDF is damaged or incomplete"),
    ("junk.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, "this PDF is damaged or incomplete"),
    ("scan.pdf", pdf([[], []]), SCAN),
    ("page.pdf", b"<!doctype html><html><body>Not a PDF</body></html>",
     "page.pdf: the name says .pdf but the file is text. Rename it to what it is"),
    ("empty.pdf", b"", "empty.pdf: the file is empty."),
    ("empty.docx", b"", "empty.docx: the file is empty."),
    ("mail.msg", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100,
     "mail.msg: Outlook .msg files cannot be read; save the message as .eml (File → Save as) "
     "and choose that."),
    ("contract.docx", CONTRACT, "the name says .docx but the file is a PDF"),
])
def test_hostile_files_get_one_clear_message(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        read_document(name, data)
    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)


# --- nothing is fetched ------------------------------------------------------------------------

@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A 127.0.0.1 HTTP server that records every request: a reader fetching anything shows."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"LEAKED")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _docx_referring_to(url: str) -> bytes:
    """A .docx whose document.xml declares an external entity and whose image is linked
    (`TargetMode="External"`), both at `url`."""
    base = io.BytesIO()
    docx.Document().save(base)
    source, out = zipfile.ZipFile(base), io.BytesIO()
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    xml = (f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY ext SYSTEM "{url}/entity">]>'
           f'<w:document xmlns:w="{w}"><w:body><w:p><w:r><w:t>Total &ext; EUR 5</w:t></w:r>'
           "</w:p><w:sectPr/></w:body></w:document>")
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "word/document.xml":
                body = xml.encode()
            elif info.filename == "word/_rels/document.xml.rels":
                body = body.replace(b"</Relationships>", (
                    '<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/'
                    f'officeDocument/2006/relationships/image" Target="{url}/image.png" '
                    'TargetMode="External"/></Relationships>').encode())
            target.writestr(info.filename, body)
    return out.getvalue()


def test_no_reader_fetches_anything(listener: tuple[str, list[str]]) -> None:
    url, hits = listener
    page = (f'<!DOCTYPE html [<!ENTITY ext SYSTEM "{url}/entity">]><html><head>'
            f'<link rel="stylesheet" href="{url}/style.css"><script src="{url}/app.js"></script>'
            f'</head><body><img src="{url}/pixel.png" onerror="fetch(\'{url}/onerror\')">'
            f'<iframe src="{url}/frame"></iframe><p>Total &ext; EUR 5</p></body></html>')
    mail = (f"From: a@example.com\nTo: b@example.com\nSubject: s\nContent-Type: text/html\n\n"
            f'<img src="{url}/mail.png"><p>Total EUR 5</p>\n')
    for name, data in [("page.html", page.encode()), ("mail.eml", mail.encode()),
                       ("linked.docx", _docx_referring_to(url))]:
        doc = read_document(name, data)
        assert "EUR 5" in doc.text and "LEAKED" not in doc.text, name
    assert hits == []
