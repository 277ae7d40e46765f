"""Documents built by the tests of the app's document input (AppTest and browser alike): the
meeting of `tests.support.MEETING` written as a PDF of three pages, a Word file, an HTML page
(with a script and an image that would run code, were the page's markup ever rendered) and an
e-mail, so a replayed answer of `MEETING` grounds in each of them."""

from __future__ import annotations

import io
from email.message import EmailMessage

#: The meeting, page by page: each fact of `MEETING` on a page of its own, after the first.
PAGES = [
    ["Meeting note of the tech conference committee",
     "Participants:",
     "Name: John Doe, Email: johndoe@email.com, Twitter: @TechGuru44",
     "Name: Jane Smith, Email: janesmith@email.com, Twitter: @DigitalDiva88"],
    ["The conference will be held on March 15th, 2024,",
     "at the Grand Tech Arena, 4521 Innovation Drive."],
    ["The budget for the event is set at $50,000.",
     "Speakers confirm their talks by February 20th."],
]
#: Where each top-level fact stands: field -> page (1-based).
FACT_PAGES = {"users": 1, "date": 2, "location": 2, "budget": 3, "deadline": 3}
TEXT = "\n\n".join("\n".join(lines) for lines in PAGES)
#: In the HTML page: what must never run or be drawn.
HOSTILE = ('<script>window.__pwned=1</script>'
           '<img src=x onerror="window.__pwned=1">')


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose page i shows pages[i]'s lines in Helvetica (as tests/engine/documents'
    test_pdf builds them: by hand, no PDF writer needed)."""
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


def meeting_pdf() -> bytes:
    return make_pdf(PAGES)


def meeting_docx() -> bytes:
    import docx  # python-docx

    document = docx.Document()
    for lines in PAGES:
        for line in lines:
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def meeting_html() -> bytes:
    body = "".join(f"<p>{line}</p>" for lines in PAGES for line in lines)
    return (f"<!doctype html><html><head><title>Meeting</title>{HOSTILE}</head>"
            f"<body><h1>Meeting</h1>{HOSTILE}{body}<div hidden>hidden words</div>"
            "</body></html>").encode()


def meeting_eml() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana Lopez <ana@example.org>"
    msg["To"] = "committee@example.org"
    msg["Subject"] = "Tech conference: the plan"
    msg["Date"] = "Tue, 01 Dec 2026 09:30:00 +0000"
    msg.set_content(TEXT)
    return msg.as_bytes()


#: name -> (bytes, MIME type) of each format the app reads and the tests upload.
def documents() -> dict[str, tuple[bytes, str]]:
    return {
        "meeting.pdf": (meeting_pdf(), "application/pdf"),
        "meeting.docx": (meeting_docx(), "application/vnd.openxmlformats-officedocument."
                                         "wordprocessingml.document"),
        "meeting.html": (meeting_html(), "text/html"),
        "meeting.eml": (meeting_eml(), "message/rfc822"),
    }
