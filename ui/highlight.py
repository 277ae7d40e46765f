"""The input text with each grounded value highlighted, as HTML built here and nowhere else.

The HTML is made from the ORIGINAL input text cut at the spans' offsets: every piece of text,
every path and every label goes through `html.escape`; the only tags are this module's own
(`<div>`, `<mark>`, `<span>`). Nothing the model wrote is inserted except as escaped text (a
path may hold a key the model chose).

Overlapping spans (two values found at the same words) are cut into pieces at every start and
end; each piece is marked once, by the selected field if it covers the piece, else by the best
status among the values there. A document's text (`document`, its `DocumentInfo`) shows where
each page starts ("— page 3 —") and each mark says its page ("p. 3"). A long text is drawn
as excerpts around its marks, and the number of marks is capped, so a 200 KB text costs about
as much as a short one (`bench/grounding_view_bench.py` measures it).
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from engine.grounding import EXACT, FUZZY, NORMALISED, STATUSES, Grounding
from engine.runs.display import grounding_label
from ui.keys import slug

if TYPE_CHECKING:
    from engine.documents.model import DocumentInfo

#: A text up to this long is drawn whole; a longer one as excerpts around its marks.
FULL_LIMIT = 30_000
#: Characters shown either side of a mark in an excerpt.
CONTEXT = 80
#: Characters shown of a long text before anything is found in it.
HEAD = 3_000
#: Marks drawn at most (the selected field's first, then in text order).
MAX_MARKS = 200

#: A mark's colours by status; the selected field's spans stand out in their own colour.
STYLES = {
    EXACT: "background:#bbf7d0;color:inherit",
    NORMALISED: "background:#bfdbfe;color:inherit",
    FUZZY: "background:#fde68a;color:inherit",
}
SELECTED_STYLE = "background:#f97316;color:#ffffff;outline:2px solid #c2410c"
BOX_STYLE = ("white-space:pre-wrap;overflow-wrap:anywhere;max-height:520px;overflow-y:auto;"
             "font-size:0.9rem;line-height:1.5;padding:0.5rem 0.75rem;"
             "border:1px solid rgba(49,51,63,0.2);border-radius:0.5rem")
GAP_STYLE = "color:#6b7280;font-style:italic"
PAGE_STYLE = ("display:block;text-align:center;color:#6b7280;font-size:0.8rem;"
              "letter-spacing:0.05em;border-top:1px dashed rgba(49,51,63,0.25);margin:0.4rem 0")
NOTE_STYLE = "color:#6b7280;font-size:0.8rem;margin-bottom:0.25rem"
_RANK = {status: i for i, status in enumerate(STATUSES)}


@dataclass(frozen=True, slots=True)
class Mark:
    """One span of one value, clipped to the text."""

    start: int
    end: int
    path: str
    grounding: Grounding
    selected: bool


def collect_marks(text_len: int, grounding: Mapping[str, Grounding],
                  selected: str | None = None) -> list[Mark]:
    """Every span that lies (at least partly) in the text, clipped to it, in text order."""
    out = []
    for path, g in grounding.items():
        for span in g.spans:
            start, end = max(0, span.start), min(text_len, span.end)
            if start < end:
                out.append(Mark(start, end, path, g, path == selected))
    out.sort(key=lambda m: (m.start, m.end))
    return out


def capped(marks: list[Mark], limit: int = MAX_MARKS) -> list[Mark]:
    """At most `limit` marks, the selected field's first, back in text order."""
    if len(marks) <= limit:
        return marks
    keep = sorted(marks, key=lambda m: not m.selected)[:limit]
    return sorted(keep, key=lambda m: (m.start, m.end))


def pieces(start: int, end: int, marks: list[Mark],
           breaks: Collection[int] = ()) -> list[tuple[int, int, Mark | None]]:
    """`start:end` cut at every mark's ends (and at `breaks`, where pages start): (from, to,
    the mark shown there or None)."""
    cuts = {start, end, *(c for c in breaks if start < c < end)}
    for m in marks:
        cuts.update(c for c in (m.start, m.end) if start < c < end)
    bounds = sorted(cuts)
    out: list[tuple[int, int, Mark | None]] = []
    active: list[Mark] = []
    nxt = 0  # marks are in text order: the next one to open
    for a, b in pairwise(bounds):
        while nxt < len(marks) and marks[nxt].start <= a:
            active.append(marks[nxt])
            nxt += 1
        active = [m for m in active if m.end > a]
        out.append((a, b, _winner(active)))
    return out


def _winner(active: list[Mark]) -> Mark | None:
    if not active:
        return None
    return min(active, key=lambda m: (not m.selected, _RANK.get(m.grounding.status, 99)))


def windows(text_len: int, marks: list[Mark]) -> list[tuple[int, int]]:
    """The parts of the text to draw: all of it when it is short, else the text around each
    mark (overlapping windows merged), or its beginning while nothing is found."""
    if text_len <= FULL_LIMIT:
        return [(0, text_len)]
    if not marks:
        return [(0, HEAD)]
    out: list[list[int]] = []
    for m in marks:
        a, b = max(0, m.start - CONTEXT), min(text_len, m.end + CONTEXT)
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _mark_html(text: str, mark: Mark, page: int | None) -> str:
    g = mark.grounding
    style = SELECTED_STYLE if mark.selected else STYLES.get(g.status, "")
    cls = f"fs-g fs-g-{slug(g.status)}" + (" fs-g-selected" if mark.selected else "")
    tip = f"{mark.path} · {grounding_label(g)}" + (f" · p. {page}" if page else "")
    on_page = f' data-page="{page}"' if page else ""
    return (f'<mark class="{cls}" data-path="{html.escape(mark.path)}"{on_page} '
            f'title="{html.escape(tip)}" style="{style}">{html.escape(text)}</mark>')


def _gap_html(chars: int, page: int | None = None) -> str:
    then = f" page {page}" if page else ""
    return (f'<span class="fs-g-gap" style="{GAP_STYLE}">\n… {chars:,} characters …{then}\n'
            "</span>")


def _page_html(page: int) -> str:
    return f'<span class="fs-g-page" style="{PAGE_STYLE}">— page {page} —</span>'


def page_breaks(text_len: int, document: DocumentInfo | None) -> dict[int, int]:
    """Where each page after the first starts in the text -> its number; none for a text
    without a document or a document of one page."""
    if document is None or document.pages < 2:
        return {}
    return {start: n for n, start in enumerate(document.page_starts[1:], start=2)
            if 0 < start < text_len}


def highlight_html(text: str, grounding: Mapping[str, Grounding],
                   selected: str | None = None, *,
                   document: DocumentInfo | None = None) -> str:
    """The input text as HTML, each grounded value's span(s) in a `<mark>` coloured by status
    (the `selected` field's distinctly); a long text as excerpts, marks capped. With the
    run's `document`, a separator where each page starts and each mark's page in its title."""
    breaks = page_breaks(len(text), document)
    every = collect_marks(len(text), grounding, selected)
    marks = capped(every)
    notes = []
    if len(text) > FULL_LIMIT:
        shown = "around each value found" if marks else "its beginning, until values are found"
        notes.append(f"A long text ({len(text):,} characters): shown {shown}.")
    if len(marks) < len(every):
        notes.append(f"{len(marks):,} of the {len(every):,} places found are marked.")
    parts = [f'<div class="fs-g-note" style="{NOTE_STYLE}">{html.escape(" ".join(notes))}</div>'
             ] if notes else []
    body = []
    at = 0
    for a, b in windows(len(text), marks):
        if a > at:
            body.append(_gap_html(a - at, document.page_at(a) if breaks and document else None))
        inside = [m for m in marks if m.end > a and m.start < b]
        for start, end, mark in pieces(a, b, inside, breaks):
            if start in breaks:
                body.append(_page_html(breaks[start]))
            chunk = text[start:end]
            page = document.page_at(start) if document is not None else None
            body.append(_mark_html(chunk, mark, page) if mark else html.escape(chunk))
        at = b
    if at < len(text):
        body.append(_gap_html(len(text) - at))
    parts.append(f'<div class="fs-g-text" style="{BOX_STYLE}">{"".join(body)}</div>')
    return "".join(parts)


def legend_html() -> str:
    """What the colours mean, drawn with the same marks."""
    items = [(STYLES[s], grounding_label(Grounding(s))) for s in (EXACT, NORMALISED, FUZZY)]
    items.append((SELECTED_STYLE, "selected field"))
    marks = " ".join(f'<mark style="{style};padding:0 0.3em;border-radius:0.2em">'
                     f"{html.escape(label)}</mark>" for style, label in items)
    return f'<div class="fs-g-legend" style="{NOTE_STYLE}">{marks}</div>'
