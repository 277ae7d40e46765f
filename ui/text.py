"""Text shown as written: Markdown that formats, links and runs nothing (model answers, names,
server messages and stored values all pass through here before Markdown draws them)."""

from __future__ import annotations

import re

#: Words Streamlit's Markdown would turn into links even when escaped (its autolinking runs after
#: the escapes are removed): URLs, `www.` names, e-mail-like words.
_LINKISH = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\S*@\S*", re.IGNORECASE)


def escape_md(text: str) -> str:
    """Markdown that shows `text` literally: no formatting, links, images or directives.
    Address-like and e-mail-like words go into code spans, where nothing becomes a link."""
    text = str(text)
    out, last = [], 0
    for match in _LINKISH.finditer(text):
        out += [_escape_chars(text[last : match.start()]), _code_span(match.group())]
        last = match.end()
    return "".join([*out, _escape_chars(text[last:])])


def _escape_chars(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~:$=" else ch for ch in text)


def _code_span(word: str) -> str:
    fence = "`" * (max(map(len, re.findall("`+", word)), default=0) + 1)
    return f"{fence} {word} {fence}"  # the spaces let a word start or end with a backtick
