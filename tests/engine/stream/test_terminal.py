"""`engine.stream.terminal`: what the CLI prints of stored or received text cannot drive the
terminal (colour, title, cursor), forge a line, or hide and reorder characters."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from engine.stream.terminal import escape, escape_json

# Every code point, lone surrogates included (hypothesis leaves surrogates out), and the
# characters a terminal or a reader would be fooled by.
ANY_TEXT = st.text(st.one_of(st.characters(codec=None), st.sampled_from(
    ["\x1b", "\x07", "\n", "\t", "\x7f", "\x9b", "\u200b", "\u2060", "\u202e", "\u2028",
     "\ufeff", "\ud800", "\udfff", "\U000e0001", "\\", '"', "é", "😀"])))
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def safe(text: str) -> bool:
    return not any(unicodedata.category(ch) in UNSAFE for ch in text)


def test_control_and_invisible_characters_are_written_as_escapes() -> None:
    assert escape("Evil\x1b]0;owned\x07\x1b[31m\nInvoice\tlibrary") \
        == "Evil\\x1b]0;owned\\x07\\x1b[31m\\nInvoice\\tlibrary"
    assert escape("\r\x7f\x9b\u00ad\u200b\u2060\u202e\u2028\ufeff\ud800\U000e0001") \
        == "\\r\\x7f\\x9b\\xad\\u200b\\u2060\\u202e\\u2028\\ufeff\\ud800\\U000e0001"


def test_printable_text_is_unchanged() -> None:
    text = "Naïve № 3 — 😀 C:\\temp \u00a0 «ok» 日本語"
    assert escape(text) == text and escape_json(json.dumps(text, ensure_ascii=False)) \
        == json.dumps(text, ensure_ascii=False)


@given(ANY_TEXT)
def test_escaped_text_holds_nothing_a_terminal_acts_on(text: str) -> None:
    shown = escape(text)
    assert safe(shown)
    shown.encode("utf-8")  # printable on any UTF-8 terminal: no lone surrogates


@given(st.recursive(ANY_TEXT | st.integers() | st.none(), lambda inner: st.lists(inner)
                    | st.dictionaries(ANY_TEXT, inner), max_leaves=8))
def test_escaped_json_reads_back_as_the_same_value(value: object) -> None:
    for text in (json.dumps(value, ensure_ascii=False), json.dumps(value, indent=2,
                                                                   ensure_ascii=False)):
        shown = escape_json(text)
        assert safe(shown.replace("\n", "")) and json.loads(shown) == value  # layout kept
