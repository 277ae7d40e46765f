"""Zip-bomb limits for any zip we are handed: a Word `.docx` (`docx`) and a batch's ZIP of
documents (`batch_input`). Only the central directory's declared sizes are looked at, before
anything is unpacked; zipfile reads no more than a member's declared size, so these bound what
is unpacked. Each check raises one `DocumentError` naming the file (or the member)."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence

from engine.documents.model import DocumentError

MAX_MEMBERS = 5000
MAX_UNPACKED = 200 * 2**20
MAX_RATIO = 100
#: Members smaller than this unpacked are not held to MAX_RATIO: they cannot hurt.
RATIO_FROM = 2**20
BOMB = "It looks like a zip bomb and is not opened."


def check_count(name: str, count: int, *, parts: str = "parts", usual: str = "") -> None:
    """More than `MAX_MEMBERS` members. `usual` says what the file should hold instead."""
    if count > MAX_MEMBERS:
        usual = f"; {usual}" if usual else ""
        raise DocumentError(name, f"this file holds {count:,} {parts}{usual} (at most "
                                  f"{MAX_MEMBERS:,} are read). {BOMB}")


def check_total(name: str, members: Sequence[zipfile.ZipInfo]) -> None:
    """More than `MAX_UNPACKED` bytes unpacked in all."""
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED:
        raise DocumentError(name, f"this file would unpack to {total / 2**20:,.0f} MB (the "
                                  f"limit is {MAX_UNPACKED // 2**20} MB). {BOMB}")


def check_ratio(name: str, member: zipfile.ZipInfo, what: str) -> None:
    """A member over `RATIO_FROM` unpacked that grows more than `MAX_RATIO` times. `what`
    names it in the message ("a part of this file (word/media/x.bin)", "this file")."""
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > RATIO_FROM and ratio > MAX_RATIO:
        raise DocumentError(name, f"{what} would grow {ratio:,.0f} times when unpacked (the "
                                  f"limit is {MAX_RATIO}). {BOMB}")
