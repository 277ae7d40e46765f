"""The Batch page in a real browser (`streamlit run app.py` + headless Chromium): a ZIP of 20
mixed documents (text, PDF, Word, e-mail) is uploaded and started; the figures count the
documents as they end (the page redraws itself every second); Stop, Resume; one document the
server refuses at first fails, and Retry failed runs it again; the CSV and the `.xlsx` are
downloaded and read back.

The replay server answers each meeting note by its room number (`tests.batch_support`), a
little slowly and two at a time, so the batch is still going when Stop is pressed."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.batch_support import answer, note, room_of
from tests.fixtures.documents.make_documents import pdf as make_pdf
from tests.ui_support import after_rerun, custom_server_env, screenshot, streamlit_app
from ui.keys import UPLOAD_KEYS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
pytest_plugins = ["tests.e2e"]  # server, page

COUNT = 20
REFUSED = 3  # the room the server refuses the first time it is asked


@pytest.fixture(scope="module")
def app(module_server: ReplayServer, app_data: Path) -> Iterator[str]:
    env = custom_server_env(module_server.base_url, FIELDSTREAM_DATA_DIR=str(app_data),
                            FIELDSTREAM_QUEUE_POLL="0.1", FIELDSTREAM_PROVIDER_LIMIT="2")
    with streamlit_app(env) as url:
        yield url


def docx_of(text: str) -> bytes:
    import docx  # python-docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def eml_of(text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ana <ana@example.org>"
    msg["To"] = "team@example.org"
    msg["Subject"] = "Meeting"
    msg.set_content(text)
    return msg.as_bytes()


def mixed_zip() -> bytes:
    """COUNT meeting notes, a quarter each as text, PDF, Word and e-mail."""
    makers = [("txt", lambda t: t.encode()), ("pdf", lambda t: make_pdf([[t]])),
              ("docx", docx_of), ("eml", eml_of)]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(COUNT):
            suffix, make = makers[n % len(makers)]
            archive.writestr(f"notes/note-{n:02d}.{suffix}", make(note(n)))
    return out.getvalue()


def responder() -> Any:
    refused: set[int] = set()

    def respond(body: dict[str, Any]) -> Reply:
        room = room_of(body)
        if room == REFUSED and room not in refused:
            refused.add(room)
            return Reply.error(400, f"Room {room} refused this time")
        return Reply.content(support.chunks(answer(room), 12), delay=0.4, pace=0.01)

    return respond


def metric(page: Any, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    values = box.get_by_test_id("stMetricValue")
    for _ in range(50):  # while a rerun replaces the figures, the old ones may still show
        if values.count() <= 1:
            break
        time.sleep(0.1)
    return values.inner_text(timeout=10_000).strip()


def wait_metric(page: Any, label: str, ok: Any, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        text = metric(page, label)
        value = int(text.replace(",", "")) if text.replace(",", "").isdigit() else -1
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"{label}: {text}"
        time.sleep(0.2)


def download(page: Any, label: str, folder: Path) -> Path:
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name=label, exact=True).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_a_zip_of_mixed_documents_runs_stops_resumes_retries_and_exports(
        app: str, page: Any, server: ReplayServer, tmp_path: Path) -> None:
    server.responder = responder()
    page.goto(f"{app}/Batch", wait_until="domcontentloaded")
    field = page.locator(f".st-key-{UPLOAD_KEYS['batch']} input[type=file]")
    field.wait_for(state="attached", timeout=30_000)
    after_rerun(page, lambda: field.set_input_files(files=[{
        "name": "meetings.zip", "mimeType": "application/zip", "buffer": mixed_zip()}]))
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text(f"Started: {COUNT} documents.").wait_for(timeout=60_000)
    assert re.search(r"[?&]batch=[0-9a-f]{16}", page.url), page.url
    page.get_by_text("Updates every second").wait_for(timeout=10_000)

    # rows fill in while the page redraws itself: Done goes up with nobody clicking
    first = wait_metric(page, "Done", lambda n: n >= 1)
    wait_metric(page, "Done", lambda n: n > first)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped:").first.wait_for(timeout=10_000)
    wait_metric(page, "Running", lambda n: n == 0, timeout=30)
    wait_metric(page, "Cancelled", lambda n: n > 0, timeout=10)
    assert int(metric(page, "Done")) < COUNT
    screenshot(page, "e2e-batch-stopped")

    page.get_by_role("button", name="Resume", exact=True).click()
    page.get_by_text("Resumed:").wait_for(timeout=10_000)
    wait_metric(page, "Done", lambda n: n == COUNT - 1, timeout=90)
    wait_metric(page, "Failed", lambda n: n == 1, timeout=10)
    # the last redraw may still be replacing the figures: wait for it, do not race it
    page.get_by_test_id("stMetric").filter(has_text="Time left").filter(
        has_text="finished").wait_for(timeout=10_000)

    page.get_by_role("button", name="Retry failed", exact=True).click()
    page.get_by_text("Retrying 1 failed documents.").wait_for(timeout=10_000)
    wait_metric(page, "Done", lambda n: n == COUNT, timeout=30)
    wait_metric(page, "Failed", lambda n: n == 0, timeout=10)
    screenshot(page, "e2e-batch-done")

    rows = list(csv.DictReader(io.StringIO(
        download(page, "CSV", tmp_path).read_text(encoding="utf-8-sig"))))
    assert [r["status"] for r in rows] == ["done"] * COUNT
    assert [r["location"] for r in rows] == [f"Room {n}" for n in range(COUNT)]
    assert rows[1]["document"] == "notes/note-01.pdf"

    import openpyxl

    book = openpyxl.load_workbook(download(page, "Excel (.xlsx)", tmp_path), read_only=True)
    sheet = [list(r) for r in book.active.iter_rows(values_only=True)]
    header = sheet[0]
    assert header[:2] == ("document", "status") or header[:2] == ["document", "status"]
    location = list(header).index("location")
    assert [r[location] for r in sheet[1:]] == [f"Room {n}" for n in range(COUNT)]
    asked = [room_of(body) for body in server.requests]
    assert sorted(set(asked)) == list(range(COUNT)) and asked.count(REFUSED) >= 2
