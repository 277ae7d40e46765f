"""A document as input on the Extract and Compare pages (AppTest, replay server): a file read
once and said in one line, its text the run's text with its page map on the run's spec, the
values' pages on their badges and page breaks in the Input text tab; a file that cannot be
read gets its one message and nothing else changes; removing the file gives the text box back.
And the live form's lines for a split document's run (chunks, other values), fed by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.schemas.library import MEETING_NOTE
from engine.testing.replay_server import ReplayServer, Reply
from tests.documents_support import FACT_PAGES, TEXT, meeting_html, meeting_pdf
from tests.pages.test_every_page import chunks, extract_page, press_extract, server  # noqa: F401
from tests.support import MEETING, app_page
from ui import document_input
from ui.keys import DOCUMENTS_KEY, EXTRACT_KEYS, UPLOAD_KEYS

pytestmark = pytest.mark.timeout(120)

UPLOAD = UPLOAD_KEYS["extract"]


def upload(at: AppTest, name: str, data: bytes, key: str = UPLOAD) -> AppTest:
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def captions(at: AppTest) -> list[str]:
    return [c.value.replace("\\", "") for c in at.caption]


def sent_text(srv: ReplayServer, i: int = 0) -> str:
    return srv.requests[i]["messages"][-1]["content"]


def badges(at: AppTest) -> dict[str, str]:
    """Each scalar field's header (`**date** · ✓ done · :green-badge[...]`) by field name."""
    out = {}
    for m in at.markdown:
        if m.value.startswith("**") and "badge[" in m.value:
            out[m.value[2:m.value.index("**", 2)]] = m.value
    return out


def counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = document_input.read_document

    def read(name: str, data: bytes, **kw: Any) -> Any:
        reads.append(name)
        return real(name, data, **kw)

    monkeypatch.setattr(document_input, "read_document", read)
    return reads


def test_a_pdf_is_read_once_said_in_one_line_and_extracted_with_its_pages(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    reads = counting_reads(monkeypatch)
    data = meeting_pdf()
    at = upload(extract_page(), "meeting.pdf", data)
    line = f"meeting.pdf · PDF · 3 pages · {len(data) / 1024:.1f} KB · {len(TEXT):,} characters"
    assert line in captions(at)
    at.selectbox(key="fs_schema").select("MeetingInfo").run()  # reruns read nothing again
    at.run()
    assert reads == ["meeting.pdf"]

    server.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    press_extract(at)
    assert sent_text(server).endswith(TEXT) and MEETING_NOTE[:40] not in sent_text(server)
    spec = at.session_state[EXTRACT_KEYS.run].spec
    assert spec.text == TEXT
    assert (spec.document.name, spec.document.type, spec.document.pages) == ("meeting.pdf",
                                                                            "pdf", 3)
    shown = badges(at)
    for name in ("date", "location", "deadline"):
        assert f"[in text · page {FACT_PAGES[name]}]" in shown[name], shown[name]
    assert "page 3]" in shown["budget"]
    html = next(h.value for h in at.html if "fs-g-text" in h.value)
    assert html.count('class="fs-g-page"') == 2
    assert "— page 2 —" in html and "— page 3 —" in html
    assert 'data-path="deadline" data-page="3" title="deadline · in text · p. 3"' in html
    assert reads == ["meeting.pdf"]
    # the picker after the run says pages too, and each place's page
    picker = at.selectbox(key=EXTRACT_KEYS.pick)
    assert "date · in text · page 2" in picker.options
    picker.select("date").run()
    assert any(t.value.startswith("p. 2: ") and "«March 15th, 2024»" in t.value
               for t in at.text)


def test_a_file_that_cannot_be_read_gets_one_message_and_nothing_else_changes(
    server: ReplayServer,  # noqa: F811
) -> None:
    at = extract_page()
    at.text_area(key="fs_text").input("My own text about March 15th").run()
    at.selectbox(key="fs_schema").select("Invoice").run()
    upload(at, "notes.pdf", b"just some words, not a PDF")
    assert [e.value.replace("\\", "") for e in at.error] == [
        "notes.pdf: the name says .pdf but the file is text. Rename it to what it is, or "
        "choose another file."]
    assert at.text_area(key="fs_text").value == "My own text about March 15th"
    assert at.selectbox(key="fs_schema").value == "Invoice"
    assert at.selectbox(key="fs_model").value == "replay-model"
    assert not any(" · PDF · " in c for c in captions(at))
    upload(at, "empty.txt", b"")
    assert [e.value.replace("\\", "") for e in at.error] == ["empty.txt: the file is empty."]
    # the text box is what runs
    server.queue(Reply.content(chunks(json.dumps({"invoice_number": "1"})), pace=0.001))
    press_extract(at)
    assert sent_text(server).endswith("My own text about March 15th")
    assert at.session_state[EXTRACT_KEYS.run].spec.document is None


def test_removing_the_file_gives_the_text_box_back(server: ReplayServer) -> None:  # noqa: F811
    at = upload(extract_page(), "meeting.html", meeting_html())
    assert any(c.startswith("meeting.html · HTML · 1 page · ") for c in captions(at))
    assert at.text_area(key="fs_text").value == MEETING_NOTE  # kept, unused while the file is
    at.file_uploader(key=UPLOAD).set_value(None).run()
    assert not at.exception, at.exception
    assert not any("meeting.html" in c for c in captions(at))
    server.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    press_extract(at)
    assert sent_text(server).endswith(MEETING_NOTE)
    assert at.session_state[EXTRACT_KEYS.run].spec.document is None
    assert "page" not in badges(at)["date"]  # a pasted text has no pages
    # the session keeps what it read, by the bytes' sha256: a few documents at most
    assert len(at.session_state[DOCUMENTS_KEY]) == 1


def test_the_compare_lanes_read_the_document(server: ReplayServer) -> None:  # noqa: F811
    at = app_page("pages/4_Compare.py")
    upload(at, "meeting.pdf", meeting_pdf(), key=UPLOAD_KEYS["compare"])
    assert any(c.startswith("meeting.pdf · PDF · 3 pages") for c in captions(at))
    for _ in range(2):
        server.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    at.button(key="fs_cmp_run").click().run()
    assert not at.exception, at.exception
    assert [sent_text(server, i).endswith(TEXT) for i in range(2)] == [True, True]
    for lane in "ab":
        assert at.session_state[f"fs_{lane}_run"].spec.document.pages == 3
    assert sum("[in text · page 2]" in m.value for m in at.markdown) == 4  # date, location × 2


# --- the live form's lines for a split document's run -------------------------------------


def _split_run_form() -> None:
    """A lane's live form fed updates built by hand, as a split document's run sends them."""
    import streamlit as st

    from engine.runs.state import Cell, LeafData, Metrics, PartsProgress, Update
    from engine.runs.status import RunStatus
    from engine.schemas.library import MeetingInfo
    from ui.keys import RunKeys
    from ui.live_form import LiveView

    def update(parts: PartsProgress | None, others: tuple | None = ()) -> Update:
        cell = Cell("March 15th, 2024", "done", others=others or ())
        leaves = {"date": LeafData("scalar", cell)} if others is not None else {}
        return Update(leaves, 0.2, 1, 5, Metrics(), RunStatus.RUNNING, parts=parts)

    view = LiveView(MeetingInfo, RunKeys("t"), tabs=False)
    view.build()
    step = st.session_state.get("step", 0)
    view.apply(update(PartsProgress(7, 1, 0, 2)), None)  # type: ignore[arg-type]
    if step >= 1:
        view.apply(update(PartsProgress(7, 2, 1, 1),
                          ("March 16th, 2024", "<b>15/03</b> *x*")), None)  # type: ignore[arg-type]
        # nothing new: both lines stay as they are
        view.apply(update(None, None), None)  # type: ignore[arg-type]


def test_the_chunks_line_and_the_other_values_line_are_plain_text() -> None:
    at = AppTest.from_function(_split_run_form, default_timeout=30).run()
    assert not at.exception, at.exception
    lines = [t.value for t in at.text]
    assert "Chunk 3 of 7 · 1 done" in lines
    assert not any("other value" in line for line in lines)
    at.session_state["step"] = 1
    at.run()
    lines = [t.value for t in at.text]
    assert "Chunk 4 of 7 · 2 done · 1 failed" in lines
    assert not any(line.startswith("Chunk 3") for line in lines)
    # LLM output is text: the tags and stars stand as written, in a text element
    assert lines.count("2 other values in the document: March 16th, 2024; <b>15/03</b> *x*") == 1
    assert not [m for m in at.markdown if "15/03" in m.value]
