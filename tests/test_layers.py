"""The layers (docs/ARCHITECTURE.md): engine/'s imports point down only, no Streamlit anywhere
under engine/, the stream layer knows nothing of LLMs, providers or databases, the bottom
modules (errors, redact) only the standard library, and old import paths are only shims; ui/
stands on floors too, with one view per page and no view importing another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE, UI = ROOT / "engine", ROOT / "ui"

#: Bottom first. A module may import its own layer and the layers listed before it.
LAYERS = ("errors", "redact", "settings", "documents", "stream", "grounding", "testing", "llm",
          "local", "providers", "store", "schemas", "runs", "history", "compare", "batch",
          "evaluate", "cli")
#: Layers of the standard library only: every layer above stands on them.
BOTTOM = ("errors", "redact")
FORBIDDEN_IN_STREAM = ("openai", "httpx", "sqlalchemy", "psycopg", "sqlite3", "alembic")
#: documents/ reads untrusted files: nothing in it may reach the network (#19).
FORBIDDEN_IN_DOCUMENTS = ("openai", "httpx", "requests", "urllib.request", "http.client",
                          "socket", "ssl")


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
        if _layer(module) == "documents":
            assert not any(name == bad or name.startswith(f"{bad}.")
                           for bad in FORBIDDEN_IN_DOCUMENTS), f"{module} imports {name}"


@pytest.mark.parametrize("layer", BOTTOM)
def test_the_bottom_modules_need_only_the_standard_library(layer: str) -> None:
    import sys

    for name in _imports(ENGINE / f"{layer}.py"):
        top = name.split(".")[0]
        assert top == "__future__" or top in sys.stdlib_module_names, f"{layer} imports {name}"


def test_the_check_sees_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import streamlit\n    from engine.runs import runner\n")
    assert _imports(bad) == ["streamlit", "engine.runs", "engine.runs.runner"]


# --- ui/ ----------------------------------------------------------------------------------------

#: ui/'s floors, bottom first (docs/ARCHITECTURE.md draws them). A module imports ui/ modules
#: from the floors below its own only; on the widgets' floor, widgets may also import each
#: other (never in a circle). A view (`*_view.py`) is one page's: it imports no other view.
UI_FLOORS: tuple[tuple[str, ...], ...] = (
    ("text", "keys", "eval_shape"),
    ("context",),
    ("charts", "highlight", "verdict_table", "live_form", "provider_widgets", "run_lane",
     "saved_comparisons", "document_input", "gold_form", "eval_sets"),
    ("shell", "*_view"),
)
WIDGETS = 2


def ui_floor(name: str) -> int:
    """The floor of ui/<name>.py; views by their name (`extract_view` -> the top floor)."""
    for floor, names in enumerate(UI_FLOORS):
        if name in names or (name.endswith("_view") and "*_view" in names):
            return floor
    raise LookupError(f"ui/{name}.py is on no floor: add it to UI_FLOORS")


def ui_imports(path: Path) -> set[str]:
    """The ui/ modules a file imports (`from ui import context` names `context`)."""
    return {name.split(".")[1] for name in _imports(path) if name.startswith("ui.")}


UI_MODULES = sorted(p.stem for p in UI.glob("*.py") if p.stem != "__init__")


def ui_problems(name: str, imported: set[str]) -> list[str]:
    floor = ui_floor(name)
    problems = []
    for target in sorted(imported - {name}):
        up = ui_floor(target)
        if up > floor or (up == floor and floor != WIDGETS):
            problems.append(f"ui/{name}.py (floor {floor}) imports ui/{target}.py (floor {up})")
    return problems


@pytest.mark.parametrize("name", UI_MODULES)
def test_ui_imports_point_down(name: str) -> None:
    assert not ui_problems(name, ui_imports(UI / f"{name}.py"))


def test_widgets_import_each_other_without_a_circle() -> None:
    widgets = {n for n in UI_MODULES if ui_floor(n) == WIDGETS}
    edges = {n: ui_imports(UI / f"{n}.py") & widgets for n in widgets}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"a circle: {' -> '.join((*path, node))}"
        if node not in done:
            for nxt in edges[node]:
                visit(nxt, (*path, node))
            done.add(node)

    for widget in sorted(widgets):
        visit(widget, ())


def test_one_view_per_page_and_pages_import_only_their_view() -> None:
    """Each page file imports its view and the shell; each view serves one page; app.py
    imports the shell only."""
    views = {n for n in UI_MODULES if n.endswith("_view")}
    served = []
    for page in sorted((ROOT / "pages").glob("*.py")):
        imported = ui_imports(page)
        assert "shell" in imported, page.name
        (view,) = imported - {"shell"}
        assert view in views, f"{page.name} imports ui/{view}.py, which is no view"
        served.append(view)
    assert sorted(served) == sorted(views)  # no view without a page, none shared
    assert ui_imports(ROOT / "app.py") == {"shell"}
    for name in UI_MODULES:
        if name != "shell":
            assert "shell" not in ui_imports(UI / f"{name}.py"), name  # the frame is app.py's


def test_the_check_sees_a_view_importing_a_view() -> None:
    assert ui_problems("compare_view", {"extract_view", "run_lane"}) == [
        "ui/compare_view.py (floor 3) imports ui/extract_view.py (floor 3)"]
    assert ui_problems("live_form", {"run_lane", "context"}) == []
    assert ui_problems("context", {"live_form"}) == [
        "ui/context.py (floor 1) imports ui/live_form.py (floor 2)"]
    with pytest.raises(LookupError):
        ui_floor("new_module")
