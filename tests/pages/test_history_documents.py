"""The History page and documents (#19, AppTest): the list's Document column (name and pages,
empty for pasted text), a run's document line, and a split run's parts table (each chunk's
pages, ending, timings, tokens and error); each value's page in the grounding table."""

from __future__ import annotations

import pytest

from engine.documents.model import DocumentInfo
from engine.grounding import EXACT, Grounding, Span
from engine.store import Store
from engine.store.records import StoredPart
from engine.testing.replay_server import ReplayServer
from tests.pages.test_history import (  # noqa: F401  (the page's fixtures: server, store)
    HISTORY,
    page,
    seeded,
    select,
    server,
    store,
    table,
    texts,
)

pytestmark = pytest.mark.timeout(120)

TEXT = "Page one: John Doe.\n\nPage two: the budget is 50000.\n\nPage three: Grand Tech Arena."
STARTS = (0, TEXT.index("Page two"), TEXT.index("Page three"))
DOCUMENT = DocumentInfo(name="contract <b>2024</b>.pdf", type="pdf", size=48_213,
                        sha256="9f86d081884c7d659a2feaa0c55ad015" * 2, pages=3,
                        chars=len(TEXT), page_starts=STARTS)
PARTS = [
    StoredPart(idx=0, kind="chunk", span_start=0, span_end=STARTS[2], first_page=1,
               last_page=2, status="done", ttft_ms=420.0, total_ms=3150.0, tokens=88,
               offset_ms=0.0),
    StoredPart(idx=1, kind="chunk", span_start=STARTS[1], span_end=len(TEXT), first_page=2,
               last_page=3, status="error", error_type="TimedOut",
               error_message="No answer within 60 s.", offset_ms=12.0, total_ms=60000.0),
    StoredPart(idx=2, kind="pass", span_start=0, span_end=len(TEXT), first_page=1,
               last_page=3, status="done", ttft_ms=380.0, total_ms=900.0, tokens=12),
]


def test_a_split_runs_document_and_parts(server: ReplayServer, store: Store) -> None:  # noqa: F811
    store.add(seeded(0))  # pasted text: no document
    split = seeded(1, input_text=TEXT, document=DOCUMENT, parts=PARTS, timeline=[])
    where = TEXT.index("50000")
    split.set_grounding({"budget": Grounding(EXACT, (Span(where, where + 5),))})
    store.add(split)
    at = page(HISTORY)
    assert list(table(at)["document"].fillna("")) == ["contract <b>2024</b>.pdf · 3 p.", ""]
    at = select(at, 0)
    shown = texts(at)
    assert ("Document: contract <b>2024</b>.pdf · pdf · 3 pages · 47.1 KB · "
            "sha256 9f86d081884c") in shown
    assert "the text was split in 2 chunks and merged" in shown
    parts = next(df.value for df in at.dataframe if "pages" in df.value.columns)
    assert parts.astype(object).fillna("").to_dict("records") == [
        {"part": "chunk 1", "pages": "1–2", "status": "done", "first token": 0.42,
         "total": 3.15, "tokens": 88, "error": ""},
        {"part": "chunk 2", "pages": "2–3", "status": "error", "first token": "",
         "total": 60.0, "tokens": "", "error": "TimedOut: No answer within 60 s."},
        {"part": "pass 1", "pages": "1–3", "status": "done", "first token": 0.38,
         "total": 0.9, "tokens": 12, "error": ""},
    ]
    grounding = next(df.value for df in at.dataframe if "in the text" in df.value.columns)
    assert grounding.to_dict("records")[0]["page"] == "2"
    assert [m.label for m in at.metric][-1] == "Parts"
    at.text_input(key="fs_hist_search").input("contract").run()  # a word of the file name
    assert list(table(at)["document"]) == ["contract <b>2024</b>.pdf · 3 p."]


def test_a_pasted_runs_detail_has_no_document_or_parts(
    server: ReplayServer, store: Store  # noqa: F811
) -> None:
    store.add(seeded(0))
    at = select(page(HISTORY), 0)
    assert "Document:" not in texts(at) and "Parts" not in texts(at)
    assert not any("pages" in df.value.columns for df in at.dataframe)
