"""Bytes to text in any common encoding: a BOM, else UTF-8, else detected (charset-normalizer).

charset-normalizer is in uv.lock as requests' dependency, not ours: declare it in pyproject.toml
before this ships (#19). Without it, only BOM-marked and UTF-8 text is read, and anything else is
refused with a message saying to save the file as UTF-8."""

from __future__ import annotations

import codecs
import unicodedata

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
                return data.decode(encoding), codecs.lookup(encoding).name
            except (UnicodeDecodeError, LookupError):
                pass
    return _detect(data)


def _detect(data: bytes) -> tuple[str, str]:
    try:
        from charset_normalizer import from_bytes
    except ImportError as exc:  # pragma: no cover - present wherever uv.lock is installed
        raise Undecodable("it is not UTF-8 (save it as UTF-8 and try again)") from exc
    best = from_bytes(data).best()
    if best is None:
        raise Undecodable("its bytes are no text in any common encoding")
    text = str(best)
    if _garbled(text):
        raise Undecodable("its bytes are no text in any common encoding")
    return text, best.encoding


def _garbled(text: str) -> bool:
    """More than 2% control, unassigned or private-use characters: not text."""
    sample = text[:20000]
    bad = sum(unicodedata.category(c) in ("Cc", "Cn", "Co", "Cs") and c not in "\t\n\r\f"
              for c in sample)
    return bad > 0.02 * max(len(sample), 1)
