"""The CLI on a history database it cannot use: one plain line and exit 2, never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine import cli
from tests.support import isolate


def test_schemas_on_a_file_that_is_not_a_database(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.db").write_bytes(b"this is no database " * 100)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["schemas", "list"], stdout=out, stderr=err)
    assert code == cli.EXIT_USAGE, err.getvalue()
    assert err.getvalue().startswith("error: ")
    assert "not a database file" in err.getvalue()
    assert "Traceback" not in err.getvalue()
