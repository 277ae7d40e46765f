"""`python -m engine.documents upload-mb`: the largest upload in whole MB, for Streamlit's
`server.maxUploadSize` (the Makefile's `run` target passes it), from FIELDSTREAM_MAX_FILE_MB
so the upload widget and `read_document` agree on one limit."""

from __future__ import annotations

import math
import sys

from engine import settings


def upload_mb(env: settings.Env | None = None) -> int:
    """FIELDSTREAM_MAX_FILE_MB rounded up to a whole MB (Streamlit takes whole MB; the
    reader's own check stays exact), at least 1."""
    return max(1, math.ceil(settings.max_file_bytes(env) / 2**20))


def main(argv: list[str]) -> int:
    if argv != ["upload-mb"]:
        print("usage: python -m engine.documents upload-mb", file=sys.stderr)
        return 2
    try:
        print(upload_mb())
    except settings.SettingError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
