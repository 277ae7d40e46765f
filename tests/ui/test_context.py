"""ui/context.py owns what the pages stand on: one history store per process (the recorder
writes through the very object the pages read), and `current_user()`, the one reader of the
name cookie (sign-in will change only that function)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.history import list_runs, recorder
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.pages.test_history import ANSWER, chunks
from ui import context

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")),
           *sorted((ROOT / "ui").glob("*.py"))]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, "test-key") as srv:
        yield srv


def _functions_using(path: Path, used: str) -> list[str]:
    """The functions of `path` that name `used` (an attribute or a name); `<module>` for a
    use outside any function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    scopes = [(tree, "<module>")] + [(n, n.name) for n in ast.walk(tree)
                                    if isinstance(n, ast.FunctionDef)]
    for scope, name in scopes:
        body = scope.body if isinstance(scope, ast.FunctionDef) else [
            n for n in scope.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)]
        for node in (n for stmt in body for n in ast.walk(stmt)):
            if (isinstance(node, ast.Attribute) and node.attr == used) or (
                    isinstance(node, ast.Name) and node.id == used):
                found.append(name)
                break
    return found


def test_current_user_is_the_only_reader_of_the_name_cookie() -> None:
    readers = {(p.name, f) for p in SOURCES for f in _functions_using(p, "cookies")}
    assert readers == {("context.py", "current_user")}
    # the cookie's name: defined, read by current_user, written by remember_user; no more
    named = {(p.name, f) for p in SOURCES for f in _functions_using(p, "WHO_COOKIE")}
    assert named == {("context.py", "<module>"), ("context.py", "current_user"),
                     ("context.py", "remember_user")}
    assert sum('"fieldstream_who"' in p.read_text(encoding="utf-8") for p in SOURCES) == 1


def test_who_is_running_is_asked_of_current_user() -> None:
    """Outside the context, the name's session key is only the sidebar's box (and the inputs
    the frame keeps across pages); every view asks `current_user()`."""
    for path in SOURCES:
        users = set(_functions_using(path, "WHO_KEY"))
        if path.name == "shell.py":
            assert users <= {"_sidebar", "<module>"}, users
        elif path.name != "context.py":
            assert not users, path.name
            assert '"fs_who"' not in path.read_text(encoding="utf-8"), path.name
    callers = {p.name for p in SOURCES if _functions_using(p, "current_user")}
    assert {"extract_view.py", "compare_view.py", "schemas_view.py"} <= callers


def test_the_recorder_writes_through_the_store_the_pages_read(server: ReplayServer) -> None:
    server.queue(Reply.content(chunks(ANSWER), pace=0.002))
    at = support.app_page("pages/1_Extract.py")
    at.button(key="fs_extract").click().run()
    assert not at.exception, at.exception
    store, problem = at.session_state[context.STORE_KEY]
    assert problem is None and store is not None
    assert recorder.current().store is store  # one Store object, not two opened alike
    assert list_runs(store).total == 1  # the run it wrote, read back through it
    at.switch_page("pages/2_History.py").run()
    assert at.session_state[context.STORE_KEY][0] is store  # every page of the session
    other = support.app_page("pages/3_Schemas.py")  # another session, the same process
    assert other.session_state[context.STORE_KEY][0] is store
    assert recorder.current().store is store


def test_a_store_that_cannot_be_used_is_one_message_and_runs_still_go(
        server: ReplayServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    not_a_database = tmp_path / "not-a-database"
    not_a_database.write_text("hello")
    monkeypatch.setenv("FIELDSTREAM_DATABASE_URL", f"sqlite:///{not_a_database}")
    at = support.app_page("pages/1_Extract.py")
    store, problem = at.session_state[context.STORE_KEY]
    assert store is None and problem
    shown = [w.value.replace("\\", "") for w in at.warning]
    assert any(problem[:20] in text for text in shown), shown
    assert recorder.current().store is context.shared_store()  # kept for when it is back
