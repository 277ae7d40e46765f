"""An older revision of this repository checked out beside it, for the `*_vs_revision` benches."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def revision_tree(rev: str) -> Iterator[Path]:
    """`rev` in a temporary git worktree (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="fieldstream-old-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(old),
                        rev], check=True)
        try:
            yield old
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)
