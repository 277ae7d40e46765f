"""Bytes to text in any common encoding: a BOM, else UTF-8, else detected (charset-normalizer).

charset-normalizer is one of our dependencies (pyproject.toml); it is imported only when the
bytes are neither BOM-marked nor UTF-8."""

from __future__ import annotations

import codecs
import unicodedata
from typing import Any

BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))


class Undecodable(ValueError):
    """No encoding reads these bytes as text."""


def decode(data: bytes, declared: str = "") -> tuple[str, str]:
    """(text, encoding). `declared` (an HTML meta charset, an e-mail's charset) is tried after a
    BOM and before UTF-8."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise Undecodable(f"it starts as {encoding} but is not") from exc
    for encoding in (declared, "utf-8"):
        if encoding:
            try:
                text = data.decode(encoding)
            except (UnicodeDecodeError, LookupError):
                continue
            if "\x00" not in text:  # ASCII in UTF-16 without a BOM is valid UTF-8, with NULs
                return text, codecs.lookup(encoding).name
    return _detect(data)


def _detect(data: bytes) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise Undecodable("its bytes are no text in any common encoding")
    # Short texts fit many code pages equally well (b"Caf\xe9" is cp1006 as much as cp1252):
    # among the equally good, the most common in our users' files wins.
    best = min(matches, key=lambda m: (round(m.chaos, 3), -round(m.coherence, 3),
                                       _rank(m.encoding)))
    if _rank(best.encoding) > _rank(WESTERN_FLOOR):
        best = _western(data) or best
    text = str(best)
    if _garbled(text):
        raise Undecodable("its bytes are no text in any common encoding")
    return text, best.encoding


#: Tie-breaks between equally likely detections, most common first (charset-normalizer's names).
COMMON = ("utf_8", "cp1252", "latin_1", "iso8859_15", "cp1250", "cp1251", "utf_16", "utf_16_le",
          "utf_16_be", "shift_jis", "cp932", "euc_jp", "gb18030", "big5", "euc_kr", "cp949",
          "koi8_r", "iso8859_2", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "mac_roman")


#: A detection less common than this is checked against Windows' Western code page first.
WESTERN_FLOOR = "cp1251"
#: charset-normalizer's own limit of "mess" in a text it accepts.
MESS_LIMIT = 0.2


def _western(data: bytes) -> Any:
    """cp1252's reading, when it is acceptable text: charset-normalizer scores `n° 1000` as
    messy (a sign beside digits) and a rare code page that reads `°` as a letter (`nḞ 1000`,
    ISO 8859-14) as clean, so short French or German exports from Windows came out garbled.
    A rare detection loses to cp1252 when cp1252 reads the bytes within the usual limit."""
    from charset_normalizer import from_bytes

    found = from_bytes(data, cp_isolation=["cp1252"]).best()
    return found if found is not None and found.chaos <= MESS_LIMIT else None


def _rank(encoding: str) -> int:
    return COMMON.index(encoding) if encoding in COMMON else len(COMMON)


def _garbled(text: str) -> bool:
    """More than 2% control, unassigned or private-use characters: not text."""
    sample = text[:20000]
    bad = sum(unicodedata.category(c) in ("Cc", "Cn", "Co", "Cs") and c not in "\t\n\r\f"
              for c in sample)
    return bad > 0.02 * max(len(sample), 1)
