"""Zip-bomb limits for any zip we are handed: a Word `.docx` (`docx`) and a batch's ZIP of
documents (`batch_input`). Only the central directory's declared sizes are looked at, before
anything is unpacked; zipfile reads no more than a member's declared size, so these bound what
is unpacked. Each check raises one `DocumentError` naming the file (or the member)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.documents.model import DocumentError

MAX_MEMBERS = 5000
MAX_UNPACKED = 200 * 2**20
MAX_RATIO = 100
#: Members smaller than this unpacked are not held to MAX_RATIO: they cannot hurt.
RATIO_FROM = 2**20
BOMB = "It looks like a zip bomb and is not opened."
#: Office's old container (.doc, .xls), which also holds a password-protected new file.
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


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


@dataclass(frozen=True)
class OfficeKind:
    """What an Office file of one kind must hold, and what to say when it does not."""

    part: str  # the member every such file has ("word/document.xml")
    usual: str  # for check_count: "a Word document has far fewer"
    locked: str  # an encrypted file (an OLE container with an EncryptedPackage stream)
    older: str  # any other OLE file: the old binary format
    not_zip: str  # not a zip at all, or damaged
    other_zip: str  # a zip without `part`


def check_office(name: str, data: bytes, kind: OfficeKind,
                 shown: Callable[[str], str] = str) -> None:
    """A Word or Excel file's container, before its reader opens it: not an old or encrypted
    OLE file, a zip within the zip-bomb limits, holding `kind.part`. `shown` escapes a member's
    name for a message."""
    if data.startswith(OLE):
        locked = "EncryptedPackage".encode("utf-16-le") in data
        raise DocumentError(name, kind.locked if locked else kind.older)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(name, kind.not_zip) from exc
    with archive:
        members = archive.infolist()
        check_count(name, len(members), usual=kind.usual)
        check_total(name, members)
        for member in members:
            check_ratio(name, member, f"a part of this file ({shown(member.filename)})")
        if kind.part not in archive.namelist():
            raise DocumentError(name, kind.other_zip)
