"""An HTML page's visible text, read with the standard library's parser: nothing is fetched,
run or rendered. Scripts, styles, templates, embedded frames and objects and hidden elements
(`hidden`, `aria-hidden="true"`, inline `display: none` / `visibility: hidden`) are dropped;
blocks become lines, table cells are separated by tabs, `<pre>` keeps its line breaks."""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: Elements whose content is never text a reader sees.
DROPPED = frozenset({"script", "style", "template", "noscript", "iframe", "object", "embed",
                     "svg", "math", "canvas", "head", "select", "button", "audio", "video"})
#: Elements with no end tag: never pushed.
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "param", "source", "track", "wbr"})
#: Paragraph-like blocks: a blank line before and after (chunking splits at blank lines).
BLOCKS = frozenset({"address", "article", "aside", "blockquote", "div", "dl", "fieldset",
                    "figure", "figcaption", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                    "header", "hr", "main", "nav", "ol", "p", "pre", "section", "table", "ul",
                    "caption", "title", "summary", "details"})
#: Line-like elements: a line break before.
LINES = frozenset({"br", "li", "tr", "dt", "dd"})
CELLS = frozenset({"td", "th"})
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
#: A DOCTYPE with an internal subset (entity declarations): html.parser would leak its `]>`
#: as text; it is dropped whole, its entities never defined, let alone fetched.
DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.IGNORECASE | re.DOTALL)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""",
                          re.IGNORECASE)


def declared_charset(data: bytes) -> str:
    """The charset a `<meta>` in the first 4 KB names, or ""."""
    hit = META_CHARSET.search(data[:4096])
    return hit.group(1).decode("ascii") if hit else ""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, drops its content)
        self.hidden = 0  # open elements dropping their content
        self.pre = 0
        self.parts: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":  # in <head>, dropped with it, but kept as the first line
            self._in_title = True
        if tag in VOID:
            if not self.hidden and tag in ("br", "hr"):
                self._block(tag, start=True)
            return
        values = dict(attrs)
        drops = (tag in DROPPED or "hidden" in values
                 or (values.get("aria-hidden") or "").lower() == "true"
                 or bool(HIDDEN_STYLE.search(values.get("style") or "")))
        self.stack.append((tag, drops))
        self.hidden += drops
        self.pre += tag == "pre"
        if not self.hidden:
            self._block(tag, start=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if not any(open_tag == tag for open_tag, _ in self.stack):
            return  # a stray end tag
        while self.stack:
            open_tag, drops = self.stack.pop()
            self.hidden -= drops
            self.pre -= open_tag == "pre"
            if open_tag == tag:
                break
        if not self.hidden:
            self._block(tag, start=False)

    def _block(self, tag: str, *, start: bool) -> None:
        if tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag in LINES and start:
            self.parts.append("\n")
        elif tag in CELLS and not start:
            self.parts.append("\t")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self.hidden:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """The visible text: lines trimmed, runs of blank lines made one."""
    parser = _Text()
    parser.feed(DOCTYPE_SUBSET.sub("", markup, count=1))
    parser.close()
    lines = [line.strip(" ") for line in "".join(parser.parts).splitlines()]
    lines = [re.sub(r" *\t *", "\t", line).strip("\t") for line in lines]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = parser.title.strip()
    if title and not text.startswith(title):
        text = f"{title}\n\n{text}" if text else title
    return text
