"""A document's pages in the highlighted input text and on the form's badges: a separator where
each page after the first starts, each mark's page in its title, a long text's excerpts saying
which page they continue on; nothing of it for a pasted text or a document of one page."""

from __future__ import annotations

import html
import re

from engine.documents.model import Document
from engine.grounding import EXACT, NOT_FOUND, Grounding, Span
from engine.runs.state import PartsProgress
from ui.highlight import FULL_LIMIT, highlight_html, page_breaks
from ui.live_form import badge, others_line, parts_line

TAG = re.compile(r"<[^>]*>")


def doc(pages: list[str]) -> Document:
    return Document.from_pages("a.pdf", "pdf", b"%PDF-", pages)


def test_each_page_start_gets_a_separator_and_each_mark_its_page() -> None:
    d = doc(["Alpha on one.", "Beta <b>on</b> two.", "Gamma on three."])
    text, info = d.text, d.info
    beta, gamma = text.index("Beta"), text.index("Gamma")
    grounding = {"b": Grounding(EXACT, (Span(beta, beta + 4),)),
                 "g": Grounding(EXACT, (Span(gamma, gamma + 5),))}
    out = highlight_html(text, grounding, document=info)
    assert page_breaks(len(text), info) == {info.page_starts[1]: 2, info.page_starts[2]: 3}
    assert re.findall(r'class="fs-g-page"[^>]*>([^<]*)<', out) == ["— page 2 —", "— page 3 —"]
    # the separator stands right before its page's first character
    assert out.index("— page 2 —") < out.index("Beta") < out.index("— page 3 —")
    assert 'data-path="b" data-page="2" title="b · in text · p. 2"' in out
    assert 'data-path="g" data-page="3" title="g · in text · p. 3"' in out
    assert "&lt;b&gt;on&lt;/b&gt;" in out and "<b>" not in out
    # the text a reader sees is the text, with the page lines between its pages
    seen = html.unescape(TAG.sub("", out[out.index('<div class="fs-g-text"'):]))
    assert seen.replace("— page 2 —", "").replace("— page 3 —", "") == text


def test_a_value_across_a_page_break_is_marked_on_both_pages() -> None:
    d = doc(["ends with Grand", "Tech Arena starts"])
    start = d.text.index("Grand")
    span = Span(start, d.text.index("Arena") + 5)
    out = highlight_html(d.text, {"loc": Grounding(EXACT, (span,))}, document=d.info)
    assert re.findall(r'data-page="(\d)"', out) == ["1", "2"]
    assert out.index('data-page="1"') < out.index("— page 2 —") < out.index('data-page="2"')


def test_a_pasted_text_or_one_page_has_no_separators() -> None:
    text = "One page only, John Doe."
    g = {"name": Grounding(EXACT, (Span(15, 23),))}
    assert "fs-g-page" not in highlight_html(text, g)
    one = doc([text])
    out = highlight_html(one.text, g, document=one.info)
    assert "fs-g-page" not in out and 'data-page="1"' in out
    assert "data-page" not in highlight_html(text, g)


def test_a_long_documents_excerpts_say_their_page() -> None:
    filler = "word " * (FULL_LIMIT // 10)
    d = doc([filler, filler + "Needle here. " + filler, filler])
    at = d.text.index("Needle")
    out = highlight_html(d.text, {"n": Grounding(EXACT, (Span(at, at + 6),))}, document=d.info)
    assert "… page 2" in out and 'data-page="2"' in out
    assert "— page 3 —" not in out  # not in the excerpt shown


def test_badges_say_the_page_with_a_document_only() -> None:
    d = doc(["a", "b c"])
    found = Grounding(EXACT, (Span(d.text.index("c"), d.text.index("c") + 1),))
    assert badge(found, d.info) == " · :green-badge[in text · page 2]"
    assert badge(found) == " · :green-badge[in text]"
    assert badge(Grounding(NOT_FOUND), d.info) == " · :red-badge[not in the text]"


def test_the_chunks_and_other_values_lines() -> None:
    assert parts_line(PartsProgress(7)) == "Chunk 1 of 7 · 0 done"
    assert parts_line(PartsProgress(7, done=2, failed=1, running=2)) == \
        "Chunk 5 of 7 · 2 done · 1 failed"
    assert parts_line(PartsProgress(3, done=3)) == "Chunk 3 of 3 · 3 done"
    assert others_line(()) == ""
    assert others_line((50000,)) == "1 other value in the document: 50,000"
    assert others_line(("A", "B")) == "2 other values in the document: A; B"
