r"""Text for a terminal. Everything the CLI prints that it did not write itself (schema and
field names, descriptions, authors, provider names, model ids, server messages, extracted
values) goes through here, so no stored or received string can colour the output, retitle the
window, move the cursor, forge a line, or hide or reorder characters.

The characters a terminal or a reader would act on are written as escapes: controls (C0, DEL,
C1: category Cc), format characters (zero-width, direction overrides: Cf), lone surrogates
(Cs) and the line and paragraph separators (Zl, Zp). Everything printable stays as it is.

    escape("Evil\x1b[31m\nInvoice")   ->  'Evil\\x1b[31m\\nInvoice'  (one line, as Python writes it)
    escape_json(json_text)            ->  the same JSON value, with `\u` escapes for those
"""

from __future__ import annotations

import re
import unicodedata

_ACTED_ON = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NOT_ASCII_PRINTABLE = re.compile(r"[^\x20-\x7e]")  # the rest is looked at one by one


def escape(text: str) -> str:
    """`text` as one line a terminal only displays (`\\n`, `\\x1b`, `\\u202e`, `\\U000e0001`)."""
    if text.isprintable():  # most names and values: nothing to do
        return text
    return _NOT_ASCII_PRINTABLE.sub(_escaped, text)


def escape_lines(text: str) -> str:
    """`escape` for each line of a text printed as several (generated source)."""
    return "\n".join(escape(line) for line in text.split("\n"))


def escape_json(text: str) -> str:
    """A JSON document's text (from `json.dumps(..., ensure_ascii=False)`) with the same
    characters written as JSON escapes: it reads back as the same value. They can only stand
    inside strings, where JSON allows an escape for any character."""
    if text.isprintable():
        return text
    return _NOT_ASCII_PRINTABLE.sub(_json_escaped, text)


def _acted_on(ch: str) -> bool:
    # A newline or a tab between JSON tokens is layout (json.dumps escapes them in strings).
    return unicodedata.category(ch) in _ACTED_ON


def _escaped(match: re.Match[str]) -> str:
    ch = match.group()
    if not _acted_on(ch):
        return ch
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escaped(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in "\n\t\r" or not _acted_on(ch):
        return ch
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the first plane: the UTF-16 surrogate pair JSON writes
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
