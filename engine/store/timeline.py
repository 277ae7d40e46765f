"""The chunk timeline of a run, packed into one compressed blob.

Layout before zlib: count (uint32), the offsets as microsecond deltas (int64 each: small
numbers, which compress well), the chunk lengths in code points (uint32 each), then all chunks
joined as UTF-8 (surrogatepass, so lone surrogates survive). Offsets keep 1 µs of precision.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Sequence

VERSION = b"\x01"
# Offsets within ±MAX_MS (about 73,000 years) keep every microsecond delta inside the int64
# of the blob; an imported timeline is checked against it (`records.StoredRun.from_dict`).
MAX_MS = 2**61 / 1000
_BIG_ENDIAN = sys.byteorder == "big"  # the blob is little-endian everywhere
Timeline = list[tuple[float, str]]


def pack(timeline: Sequence[tuple[float, str]]) -> bytes:
    micros = [round(ms * 1000) for ms, _ in timeline]
    deltas = array("q", (b - a for a, b in zip([0, *micros], micros, strict=False)))
    lengths = array("I", (len(text) for _, text in timeline))
    joined = "".join(text for _, text in timeline).encode("utf-8", "surrogatepass")
    raw = struct.pack("<I", len(timeline)) + _le(deltas) + _le(lengths) + joined
    return VERSION + zlib.compress(raw, 1)  # level 1: as small within 3%, twice as fast


def unpack(blob: bytes | None) -> Timeline:
    if not blob:
        return []
    if blob[:1] != VERSION:
        raise ValueError(f"unknown timeline format {blob[:1]!r}")
    raw = zlib.decompress(blob[1:])
    (count,) = struct.unpack_from("<I", raw)
    deltas, lengths = array("q"), array("I")
    deltas.frombytes(raw[4 : 4 + 8 * count])
    lengths.frombytes(raw[4 + 8 * count : 4 + 12 * count])
    if _BIG_ENDIAN:
        deltas.byteswap()
        lengths.byteswap()
    text = raw[4 + 12 * count :].decode("utf-8", "surrogatepass")
    return _rebuild(deltas, lengths, text)


def _rebuild(deltas: array[int], lengths: array[int], text: str) -> Timeline:
    out: Timeline = []
    micros = pos = 0
    for delta, length in zip(deltas, lengths, strict=True):
        micros += delta
        out.append((micros / 1000, text[pos : pos + length]))
        pos += length
    if pos != len(text):
        raise ValueError("timeline blob is corrupt: chunk lengths do not match the text")
    return out


def _le(values: array[int]) -> bytes:
    if _BIG_ENDIAN:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()

