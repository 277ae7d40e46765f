"""README.md stays true: its engine example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_engine_example_runs(capsys) -> None:
    text = README.read_text()
    example = re.search(r"```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    exec(compile(example, "README.md", "exec", dont_inherit=True), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "budget=50000" in out and "name='John Doe'" in out
