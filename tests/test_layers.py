"""The engine's layers (docs/ARCHITECTURE.md): imports point down only, no Streamlit anywhere
under engine/, and the stream layer knows nothing of LLMs, providers or databases."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"

#: Bottom first. A module may import its own layer and the layers listed before it.
LAYERS = ("settings", "stream", "grounding", "testing", "llm", "local", "providers", "store",
          "schemas", "runs", "history", "cli")
FORBIDDEN_IN_STREAM = ("openai", "httpx", "sqlalchemy", "psycopg", "sqlite3", "alembic")


def _layer(module: str) -> str:
    """`engine.stream.nodes` -> `stream`; `engine.cli` -> `cli`."""
    return module.split(".")[1]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ENGINE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _imports(path: Path) -> list[str]:
    """Every module an import statement names (functions' lazy imports included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


MODULES = [(m, p) for m, p in _modules() if m != "engine"]


def test_every_module_is_in_a_known_layer() -> None:
    assert MODULES
    assert {_layer(m) for m, _ in MODULES} <= set(LAYERS)


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_down(module: str, path: Path) -> None:
    rank = LAYERS.index(_layer(module))
    for name in _imports(path):
        assert name.split(".")[0] != "streamlit", f"{module} imports {name}"
        if name.startswith("engine.") and name.count(".") >= 1:
            target = _layer(name)
            if target in LAYERS:
                assert LAYERS.index(target) <= rank, f"{module} imports {name} (a layer above)"
        if _layer(module) == "stream":
            assert name.split(".")[0] not in FORBIDDEN_IN_STREAM, f"{module} imports {name}"


def test_the_check_sees_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import streamlit\n    from engine.runs import runner\n")
    assert _imports(bad) == ["streamlit", "engine.runs", "engine.runs.runner"]
