"""The front door: app.py declares every page once (`st.Page`, its file in pages/, its URL path
explicit) and `st.navigation` lists them in the sidebar; every page opens from app.py, and a
deep link (`History?run=<id>`) opens its run in a fresh session."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.store import Store, load_settings, open_store
from engine.testing.replay_server import ReplayServer
from tests import support

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
#: What each page shows as its title.
TITLES = {"Home": "Fieldstream", "Extract": "Extract", "History": "History",
          "Schemas": "Schemas", "Compare": "Compare", "Batch": "Batch",
          "Evaluate": "Evaluate"}


def declared_pages() -> list[dict[str, object]]:
    """Every `st.Page(...)` call in app.py: its file and keyword arguments (literals)."""
    found = []
    for node in ast.walk(ast.parse(APP.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Page"):
            file = ast.literal_eval(node.args[0]) if node.args else None
            found.append({"file": file, **{k.arg: ast.literal_eval(k.value)
                                           for k in node.keywords if k.arg}})
    return found


def test_every_page_is_declared_once_with_a_url_path_and_a_file_in_pages() -> None:
    pages = declared_pages()
    assert [p["title"] for p in pages] == list(TITLES)  # the sidebar's order
    for p in pages:
        assert isinstance(p["file"], str) and p["file"].startswith("pages/"), p
        assert (ROOT / p["file"]).is_file(), p
        assert p.get("url_path"), f"{p['file']} has no explicit url_path"
    on_disk = sorted(f"pages/{f.name}" for f in (ROOT / "pages").glob("*.py"))
    assert sorted(p["file"] for p in pages) == on_disk  # no page file left out
    urls = [p["url_path"] for p in pages]
    assert len(set(urls)) == len(urls)
    assert [p["title"] for p in pages if p.get("default")] == ["Home"]


def test_a_page_is_named_in_links_by_a_declared_url_path() -> None:
    """Views link with `context.page("<url_path>")`: each name is a page app.py declares."""
    urls = {p["url_path"] for p in declared_pages()}
    named = set()
    for path in (ROOT / "ui").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "page" and node.args):
                named.add((path.name, ast.literal_eval(node.args[0])))
    assert named, "no view links to a page"
    assert {url for _, url in named} <= urls, named


def test_streamlit_draws_the_page_list() -> None:
    """The generated page list is no longer hidden: st.navigation names the home page Home."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert "showSidebarNavigation" not in config.get("client", {})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, "test-key") as srv:
        yield srv


def test_every_page_opens_from_the_front_door(server: ReplayServer) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == TITLES["Home"]
    for p in declared_pages()[1:] + declared_pages()[:1]:
        at.switch_page(str(p["file"])).run()
        assert not at.exception, at.exception
        assert at.title[0].value == TITLES[str(p["title"])]
        assert at.sidebar.text_input(key="fs_who")  # the shared frame, on every page


def test_home_links_to_extract_and_its_sample_button_goes_there(server: ReplayServer) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    links = at.get("page_link")
    assert [link.proto.label for link in links] == ["Open the Extract page"]
    assert links[0].proto.page == "Extract"  # the page's URL, not a file name


def test_a_deep_link_opens_its_run_in_a_fresh_session(server: ReplayServer) -> None:
    from tests.pages.test_history import seeded

    with open_store(load_settings()) as store:
        store.add(seeded(0))
        run_id = _newest(store)
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.switch_page("pages/2_History.py")  # before any run: as a browser opening the address
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "History"
    assert at.button(key="fs_hist_replay")  # the run's detail is open
    assert at.query_params["run"] == run_id


def _newest(store: Store) -> str:
    from engine.history import list_runs

    rows, _ = list_runs(store)
    return rows[0].id
