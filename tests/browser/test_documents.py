"""Documents on the Extract page in a real browser (`streamlit run app.py` + headless Chromium,
Playwright uploading the file): a PDF of three pages, a Word file, an HTML page and an e-mail
each extract, their values badged with the page they stand on and marked in the Input text;
the HTML page's script and `<img onerror>` never reach the page's DOM; a long PDF split into
chunks on request ("Split into chunks even when the text fits") says each chunk and merges them.
The answers come from the tests' replay server; they are the facts the documents hold, so
every value grounds."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.documents_support import FACT_PAGES, PAGES, documents
from tests.fixtures.documents.make_documents import pdf as make_pdf
from tests.support import MEETING
from tests.ui_support import after_rerun, box_selector, open_extract, screenshot
from ui.keys import UPLOAD_KEYS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
pytest_plugins = ["tests.e2e"]  # server, app, page

#: What the one-line summary says of each file, and on which page each fact stands.
KINDS = {"meeting.pdf": ("PDF · 3 pages", FACT_PAGES),
         "meeting.docx": ("Word · 1 page", dict.fromkeys(FACT_PAGES, 1)),
         "meeting.html": ("HTML · 1 page", dict.fromkeys(FACT_PAGES, 1)),
         "meeting.eml": ("e-mail · 1 page", dict.fromkeys(FACT_PAGES, 1))}


def upload(page: Any, name: str, data: bytes, mime: str) -> None:
    """Choose the file in the Extract page's uploader and wait for its summary line."""
    field = page.locator(f".st-key-{UPLOAD_KEYS['extract']} input[type=file]")
    after_rerun(page, lambda: field.set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]))
    summary = page.get_by_text(f"{name} · {KINDS[name][0]}")
    refused = page.locator('[data-testid="stAlert"]', has_text=name)
    summary.or_(refused).first.wait_for(timeout=30_000)
    assert refused.count() == 0, refused.all_inner_texts()  # the reader's message, said


def extract(page: Any, server: ReplayServer) -> None:
    server.queue(Reply.content(support.chunks(json.dumps(MEETING), 12), pace=0.005))
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("every field arrived").wait_for(timeout=60_000)


def mark(path: str) -> str:
    return f'.fs-g-text mark[data-path="{path}"] >> nth=0'


@pytest.mark.parametrize("name", list(KINDS))
def test_a_document_extracts_with_its_values_pages(app: str, page: Any, server: ReplayServer,
                                                   name: str) -> None:
    data, mime = documents()[name]
    open_extract(page, app)
    upload(page, name, data, mime)
    extract(page, server)
    pages = KINDS[name][1]
    assert server.requests[0]["messages"][-1]["content"].rstrip().endswith(
        "Speakers confirm their talks by February 20th.")
    for field in ("date", "location", "deadline"):
        box = page.locator(box_selector(field)).inner_text()
        assert f"in text · page {pages[field]}" in box, box
    assert page.locator(mark("deadline")).get_attribute("data-page") == str(pages["deadline"])
    assert page.locator(mark("users[1].email")).inner_text() == "janesmith@email.com"
    breaks = page.locator(".fs-g-text .fs-g-page")
    if name == "meeting.pdf":
        assert breaks.all_inner_texts() == ["— page 2 —", "— page 3 —"]
        screenshot(page, "e2e-document-pdf")
    else:
        assert breaks.count() == 0


def test_an_html_files_script_and_img_never_reach_the_page(app: str, page: Any,
                                                           server: ReplayServer) -> None:
    data, mime = documents()["meeting.html"]
    assert b"<script>window.__pwned=1</script>" in data and b'onerror="window.__pwned=1"' in data
    open_extract(page, app)
    # the uploader's limit is the app's (FIELDSTREAM_MAX_FILE_MB, 50), not Streamlit's 200 MB
    uploader = page.locator('[data-testid="stFileUploader"]')
    assert "50MB per file" in uploader.inner_text(timeout=10_000)
    upload(page, "meeting.html", data, mime)
    extract(page, server)
    shown = page.locator(".fs-g-text").inner_text()
    assert "Meeting note of the tech conference committee" in shown
    assert "__pwned" not in shown and "hidden words" not in shown  # only the visible text
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => [...document.scripts].filter(s => "
                         "s.textContent.includes('__pwned')).length") == 0
    assert page.evaluate("() => [...document.querySelectorAll('img')].filter(i => "
                         "i.getAttribute('src') === 'x' || i.hasAttribute('onerror')).length") == 0
    assert page.evaluate("() => document.body.innerHTML.includes('__pwned')") is False
    screenshot(page, "e2e-document-html")


# --- a long PDF, split into chunks on request -------------------------------------------------

#: What in a part's text shows each fact of `MEETING` (a part is answered with the facts it
#: shows, null for the rest, as a model reading only that part would).
EVIDENCE = {"users": "John Doe", "date": "March 15th, 2024", "location": "Grand Tech Arena",
            "budget": "$50,000", "deadline": "February 20th"}
#: Pages of words with no fact in them, between the meeting's pages: long enough that the
#: default token limit's parts (about 16,000 characters on a server of unknown context) make
#: two or more chunks.
FILLER_PAGES = 4


def filler(page: int) -> list[str]:
    return [f"Note {page}.{i}: the seating plan, the catering and the signage were reviewed "
            f"once more, and nothing changed." for i in range(36)]


def long_meeting_pdf() -> tuple[bytes, dict[str, int]]:
    """The meeting's three pages with filler pages between them; where each fact stands."""
    pages = [PAGES[0], *(filler(n) for n in range(FILLER_PAGES)), PAGES[1],
             *(filler(n) for n in range(FILLER_PAGES, 2 * FILLER_PAGES)), PAGES[2]]
    where = {field: pages.index(PAGES[page - 1]) + 1 for field, page in FACT_PAGES.items()}
    return make_pdf(pages), where


def answer_the_part(body: dict[str, Any]) -> Reply:
    text = body["messages"][-1]["content"]
    answer = {field: MEETING[field] if shown in text else None
              for field, shown in EVIDENCE.items()}
    return Reply.content(support.chunks(json.dumps(answer), 12), pace=0.002)


def test_a_long_pdf_split_on_request_says_each_chunk_and_keeps_each_values_page(
        app: str, page: Any, server: ReplayServer) -> None:
    data, where = long_meeting_pdf()
    server.responder = answer_the_part
    open_extract(page, app)
    field = page.locator(f".st-key-{UPLOAD_KEYS['extract']} input[type=file]")
    after_rerun(page, lambda: field.set_input_files(
        files=[{"name": "long.pdf", "mimeType": "application/pdf", "buffer": data}]))
    page.get_by_text("long.pdf · PDF · 11 pages").wait_for(timeout=30_000)
    after_rerun(page, lambda: page.get_by_text("Split into chunks even when the text fits",
                                               exact=True).click())
    page.get_by_role("button", name="Extract").click()
    page.get_by_text("every field arrived").wait_for(timeout=60_000)
    parts = len(server.requests)
    asked = [r["messages"][-1]["content"] for r in server.requests]
    # the premise: the text is split, and no part alone holds every fact (the merge joins them)
    assert parts >= 2 and not any(all(s in text for s in EVIDENCE.values()) for text in asked)
    line = page.get_by_text(re.compile(r"^Chunk \d+ of \d+ · \d+ done$"))
    assert line.inner_text() == f"Chunk {parts} of {parts} · {parts} done"
    assert page.get_by_text(re.compile(r"json_schema · chunked$")).count() == 1  # the caption
    for name, how in (("date", "in text"), ("location", "in text"), ("deadline", "in text"),
                      ("budget", "normalised")):  # $50,000 in the text, 50000 in the answer
        box = page.locator(box_selector(name)).inner_text()
        assert f"{how} · page {where[name]}" in box, box
    assert "2 rows" in page.locator(box_selector("users")).inner_text()
    email = page.locator(mark("users[1].email"))  # the Input text's mark, on its page
    assert (email.inner_text(), email.get_attribute("data-page")) == ("janesmith@email.com", "1")
    assert page.locator(mark("deadline")).get_attribute("data-page") == str(where["deadline"])
    screenshot(page, "e2e-document-chunked")
