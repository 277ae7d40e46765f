"""The sidebar: Streamlit's generated page list is hidden and the shared set-up draws one link
per page (so the home page reads "Home", not "app"), on every page, starting from app.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.page import PAGES

ROOT = Path(__file__).resolve().parent.parent


def _links(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.sidebar.get("page_link")]


def test_generated_page_list_is_hidden() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showSidebarNavigation"] is False


def test_every_page_has_a_link_and_every_link_a_page() -> None:
    scripts = [script for script, _, _ in PAGES]
    on_disk = ["app.py", *sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))]
    assert scripts == on_disk


def test_sidebar_links_on_home_and_after_switching_pages() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    labels = [label for _, label, _ in PAGES]
    assert _links(at) == labels
    assert labels[0] == "Home"
    for script, _, _ in PAGES[1:]:
        at.switch_page(script).run()
        assert not at.exception, at.exception
        assert _links(at) == labels
