"""ui.highlight: the highlighted input text is built from the original text and the spans,
every piece escaped; overlapping spans, spans at the text's ends, unicode, a selected field,
and a long text drawn as excerpts with capped marks."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st

from engine.grounding import EXACT, FUZZY, NORMALISED, NOT_FOUND, Grounding, Span
from engine.runs.display import grounding_label
from ui import highlight as gv
from ui.highlight import highlight_html

TAG = re.compile(r"<[^>]*>")


def g(status: str, *spans: tuple[int, int], score: float | None = None) -> Grounding:
    return Grounding(status, tuple(Span(a, b) for a, b in spans), score)


def marked(out: str) -> list[tuple[str, str, str]]:
    """(path, class, shown text) of every mark, in order."""
    found = re.findall(r'<mark class="([^"]*)" data-path="([^"]*)"[^>]*>([^<]*)</mark>', out)
    return [(html.unescape(p), c, html.unescape(t)) for c, p, t in found]


def plain(out: str) -> str:
    """The input text a reader sees (tags and our notes above it dropped, entities read back)."""
    body = out[out.index('<div class="fs-g-text"'):]
    return html.unescape(TAG.sub("", body))


def test_each_value_is_marked_by_status_and_the_text_is_kept_whole() -> None:
    text = "Call John Doe at johndoe@email.com before March 15th."
    grounding = {"name": g(EXACT, (5, 13)), "email": g(NORMALISED, (17, 34)),
                 "date": g(FUZZY, (42, 52), score=87.2), "phone": g(NOT_FOUND)}
    out = highlight_html(text, grounding)
    assert plain(out) == text
    assert [(p, t) for p, _, t in marked(out)] == [("name", "John Doe"),
                                                   ("email", "johndoe@email.com"),
                                                   ("date", "March 15th")]
    classes = [c for _, c, _ in marked(out)]
    assert classes == ["fs-g fs-g-exact", "fs-g fs-g-normalised", "fs-g fs-g-fuzzy"]
    assert 'title="date · fuzzy 87"' in out


def test_script_in_the_input_and_in_a_path_is_escaped() -> None:
    text = 'Note: <script>alert("x")</script> & <b>bold</b> from <img src=x onerror=alert(1)>'
    start = text.index("<script>")
    path = 'items["<script>alert(1)</script>"]'
    grounding = {path: g(EXACT, (start, start + len("<script>"))),
                 "tag": g(EXACT, (text.index("<b>"), text.index("</b>") + 4))}
    out = highlight_html(text, grounding, selected=path)
    assert "<script" not in out and "<b>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out
    tags = {t.split()[0].strip("</>") for t in TAG.findall(out)}
    assert tags <= {"div", "mark", "span"}
    assert plain(out) == text
    assert marked(out)[0][0] == path  # the path survives as escaped text


def test_markdown_in_the_text_stays_text() -> None:
    text = "**not bold** and [a link](http://x) and # not a heading"
    assert plain(highlight_html(text, {})) == text


def test_overlapping_spans_are_cut_and_each_piece_marked_once() -> None:
    text = "Jane Smith Doe"
    grounding = {"full": g(NORMALISED, (0, 14)), "first": g(EXACT, (0, 4)),
                 "last": g(FUZZY, (11, 14), score=90)}
    out = highlight_html(text, grounding)
    assert plain(out) == text
    assert [(p, t) for p, _, t in marked(out)] == [("first", "Jane"), ("full", " Smith "),
                                                   ("full", "Doe")]
    out = highlight_html(text, grounding, selected="last")
    assert [(p, t) for p, _, t in marked(out)][-1] == ("last", "Doe")
    assert "fs-g-selected" in marked(out)[-1][1]


def test_a_selected_field_is_marked_distinctly_at_each_occurrence() -> None:
    text = "Ada met Ada and Bob."
    grounding = {"a": g(EXACT, (0, 3), (8, 11)), "b": g(EXACT, (16, 19))}
    out = highlight_html(text, grounding, selected="a")
    shown = marked(out)
    assert [c for p, c, _ in shown if p == "a"] == ["fs-g fs-g-exact fs-g-selected"] * 2
    assert [c for p, c, _ in shown if p == "b"] == ["fs-g fs-g-exact"]
    assert gv.SELECTED_STYLE in out


def test_spans_at_the_ends_and_out_of_range_spans() -> None:
    text = "abc def"
    grounding = {"all": g(EXACT, (0, 7)), "tail": g(EXACT, (4, 99)),
                 "gone": g(EXACT, (50, 60)), "empty": g(EXACT, (3, 3)),
                 "neg": g(EXACT, (-5, 1))}
    out = highlight_html(text, grounding)
    assert plain(out) == text
    # equal statuses: the value that starts first (then ends first) marks the shared piece
    assert [(p, t) for p, _, t in marked(out)] == [("neg", "a"), ("all", "bc "),
                                                   ("all", "def")]
    assert highlight_html("", grounding) == highlight_html("", {})


def test_unicode_offsets_are_python_string_indexes() -> None:
    text = "Zoë Ünal 😀 — 東京 <ok>"
    grounding = {"name": g(EXACT, (0, 8)), "city": g(EXACT, (13, 15))}
    out = highlight_html(text, grounding)
    assert [(p, t) for p, _, t in marked(out)] == [("name", "Zoë Ünal"), ("city", "東京")]
    assert plain(out) == text


@given(st.text(max_size=60),
       st.lists(st.tuples(st.integers(-5, 70), st.integers(-5, 70),
                          st.sampled_from([EXACT, NORMALISED, FUZZY])), max_size=6),
       st.booleans())
def test_any_text_and_spans_read_back_as_the_text(text: str, spans: list, pick: bool) -> None:
    grounding = {f"f{i}": g(status, (a, b)) for i, (a, b, status) in enumerate(spans)}
    out = highlight_html(text, grounding, selected="f0" if pick else None)
    assert plain(out) == text
    assert "<script" not in out.lower() or "<script" not in text.lower()


def test_a_long_text_is_drawn_as_excerpts_with_capped_marks() -> None:
    filler = "lorem ipsum dolor sit amet " * 8_000  # 216 KB
    text = filler + "Contact: ada@example.org." + filler
    at = text.index("ada@example.org")
    words = [m.start() for m in re.finditer("dolor", text)][:1_000]
    grounding = {f"w[{i}]": g(EXACT, (s, s + 5)) for i, s in enumerate(words)}
    grounding["email"] = g(EXACT, (at, at + 15))
    out = highlight_html(text, grounding, selected="email")
    assert len(out) < 200_000  # about the marks shown, not the text's length
    shown = marked(out)
    assert len(shown) == gv.MAX_MARKS
    assert ("email", "fs-g fs-g-exact fs-g-selected", "ada@example.org") in shown
    assert "characters …" in out and f"{len(text):,} characters" in out
    assert f"{gv.MAX_MARKS} of the 1,001 places found are marked" in out
    idle = highlight_html(text, {})
    assert len(idle) < gv.HEAD + 1_000 and "its beginning" in idle


def test_a_short_text_with_many_marks_caps_them() -> None:
    text = "ab " * 2_000
    grounding = {f"x[{i}]": g(EXACT, (3 * i, 3 * i + 2)) for i in range(1_000)}
    out = highlight_html(text, grounding)
    assert len(marked(out)) == gv.MAX_MARKS
    assert plain(out) == text


def test_labels_and_legend() -> None:
    assert grounding_label(g(EXACT)) == "in text"
    assert grounding_label(g(NORMALISED)) == "normalised"
    assert grounding_label(g(FUZZY, score=86.6)) == "fuzzy 87"
    assert grounding_label(g(NOT_FOUND)) == "not in the text"
    legend = html.unescape(TAG.sub("", gv.legend_html()))
    assert "in text" in legend and "selected field" in legend
