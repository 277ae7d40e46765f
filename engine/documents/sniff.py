"""What a file's bytes say it is, whatever its name says: magic numbers, then binary or text."""

from __future__ import annotations

#: Leading bytes of formats a text reader must not be handed, with their names for messages.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (Word .docx, Excel .xlsx and the like)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office file (.doc, .xls or Outlook .msg)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def binary_kind(data: bytes) -> str:
    """"a PDF", "a PNG image", "a binary file", or "" for what may be text."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    head = data[:8192]
    if b"\x00" in head and not head.startswith(UTF16_BOMS) and not _utf16_without_bom(head):
        return "a binary file"
    return ""


def _utf16_without_bom(head: bytes) -> bool:
    """Text in UTF-16 without a BOM: every other byte NUL, on one side only."""
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    return (even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd)) or (
        odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even))
