"""Documents built by the tests of the app's document input (AppTest and browser alike): the
meeting of `tests.support.MEETING` written as a PDF of three pages, a Word file, an HTML page
(with a script and an image that would run code, were the page's markup ever rendered) and an
e-mail, so a replayed answer of `MEETING` grounds in each of them."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

from tests.fixtures.documents.make_documents import pdf as make_pdf

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


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP archive of these members (name -> bytes), made in memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return out.getvalue()
