"""Issue #7 items 3, 11a/b and 12b: saved servers are never lost, entries this version does not
understand survive rewrites, model lists follow the key and can be retried, an unwritable data
folder is a message, and bad addresses and reserved names are refused when saving.
(Item 10, Markdown injection, is tested in a real browser: tests/browser/test_injection.py.)"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import providers as pv
from engine.errors import ProviderError
from engine.providers import detect
from engine.testing.replay_server import ReplayServer

ROOT = Path(__file__).resolve().parents[3]
APP = str(ROOT / "app.py")
EXTRACT = "pages/1_Extract.py"
ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "FIELDSTREAM_BASE_URL", "FIELDSTREAM_MODEL",
    "FIELDSTREAM_API_KEY", "FIELDSTREAM_DEFAULT_PROVIDER", "FIELDSTREAM_OPENAI_MODEL",
)  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data folder; no real keys, secrets files or local servers leak in. The app's
    recorder and cached store are dropped afterwards: left installed, they recorded later
    tests' runs into this test's folder (an unwritable one failed tests/engine/runs/test_hooks
    run after this file)."""
    from engine.history import recorder
    from ui import context

    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    folder = tmp_path / "data"
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(folder))
    monkeypatch.setattr(detect, "LOCAL_SERVER_PORTS", {"Ollama": _closed_port()})
    monkeypatch.setattr(detect, "_detected", {})
    yield folder
    recorder.uninstall()
    context._store.clear()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplayServer]:
    """The app's "Custom server" (FIELDSTREAM_BASE_URL), preselected."""
    with ReplayServer(models=["replay-model"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        monkeypatch.setenv("FIELDSTREAM_MODEL", "replay-model")
        monkeypatch.setenv("FIELDSTREAM_DEFAULT_PROVIDER", "Custom server")
        yield srv


def shown(elements: object) -> str:
    """The text of st.error/warning/success/caption elements as a reader sees it (code-span
    fences and Markdown escapes removed)."""
    text = "\n".join(e.value for e in elements)
    return re.sub(r"(`+) (.*?) \1", r"\2", text).replace("\\", "")


def home() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def save_in_form(at: AppTest, name: str, url: str) -> AppTest:
    at.text_input(key="fs_new_name").input(name)
    at.text_input(key="fs_new_url").input(url)
    at.button(key="fs_save_server").click().run()
    assert not at.exception, at.exception
    return at


def write_list(*entries: object, **extra: object) -> Path:
    path = pv.providers_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, **extra, "providers": list(entries)}, indent=2))
    return path


TEAM = {"name": "Team", "base_url": "http://10.0.0.5:8000/v1", "modes": ["json_schema"]}
FUTURE = {"name": "Future", "base_url": "http://10.0.0.6:8000/v1", "modes": ["telepathy"],
          "headers": {"X-Team": "a"}}  # fmt: skip


# --- item 3: a saved-servers file is never lost ------------------------------------------------


def test_a_file_with_a_syntax_error_is_not_overwritten_by_the_next_save() -> None:
    path = write_list(TEAM, {**TEAM, "name": "Lab"})
    broken = path.read_text().replace('"Lab",', '"Lab"', 1)  # one missing comma
    path.write_text(broken)
    assert pv.saved_providers() == []
    with pytest.raises(ProviderError, match="could not be read") as info:
        pv.save_provider("New", "http://10.0.0.7:8000/v1")
    assert str(path) in str(info.value) and "line" in str(info.value)
    assert not pv.remove_provider("Team")
    assert path.read_text() == broken  # every saved server is still in the file


def test_an_unreadable_file_can_be_moved_aside_to_a_backup_and_a_new_list_started() -> None:
    path = write_list(TEAM)
    path.write_text(path.read_text()[:-3])  # cut off
    broken = path.read_text()
    problem = pv.read_saved().unreadable
    assert problem and str(path) in problem and "Nothing in that file was changed" in problem
    backup = pv.set_aside_saved_file()
    assert backup.parent == path.parent and backup.name.startswith("providers.json.unreadable-")
    assert backup.read_text() == broken and not path.exists()
    pv.save_provider("New", "http://10.0.0.7:8000/v1")
    assert [p.name for p in pv.saved_providers()] == ["New"]
    assert backup.read_text() == broken
    with pytest.raises(ProviderError, match="nothing to move aside"):
        pv.set_aside_saved_file()


def test_entries_not_understood_are_kept_verbatim_through_every_rewrite() -> None:
    path = write_list(TEAM, FUTURE, "junk", {**TEAM, "name": "Other"}, owner="ops")
    assert [p.name for p in pv.saved_providers()] == ["Team", "Other"]
    assert pv.remove_provider("Other")
    assert FUTURE in json.loads(path.read_text())["providers"]  # removing another keeps it
    pv.save_provider("New", "http://10.0.0.7:8000/v1")
    pv.save_provider("Team", "http://10.0.0.9:8000/v1")  # replaced in place
    data = json.loads(path.read_text())
    assert data["owner"] == "ops"
    assert data["providers"][1:3] == [FUTURE, "junk"]
    assert [e["name"] for e in data["providers"] if isinstance(e, dict)] == [
        "Team", "Future", "New",
    ]  # fmt: skip
    assert data["providers"][0]["base_url"] == "http://10.0.0.9:8000/v1"
    problems = pv.read_saved().problems  # and says what it skipped, and why
    assert len(problems) == 2 and "'Future'" in problems[0] and "telepathy" in problems[0]
    assert "#3" in problems[1] and str(path) in problems[1]


def test_home_and_extract_say_the_saved_file_is_unreadable_and_saving_loses_nothing(
    server: ReplayServer,
) -> None:
    path = write_list(TEAM)
    broken = path.read_text().replace("[", "[,", 1)
    path.write_text(broken)
    at = home()
    assert "could not be read" in shown(at.error) and str(path) in shown(at.error)
    assert any("Reachable" in s.value for s in at.success)  # the provider status still works
    save_in_form(at, "New", server.base_url)
    assert "Nothing was saved" in shown(at.error)
    assert path.read_text() == broken
    at.switch_page(EXTRACT).run()
    assert not at.exception, at.exception
    assert "could not be read" in shown(at.error) and str(path) in shown(at.error)
    assert at.selectbox(key="fs_provider").value == "Custom server"  # the page still works
    at.switch_page("pages/0_Home.py").run()
    at.button(key="fs_set_aside").click().run()
    assert not at.exception, at.exception
    backups = list(path.parent.glob("providers.json.unreadable-*"))
    assert len(backups) == 1 and backups[0].read_text() == broken
    assert str(backups[0]) in shown(at.success)
    assert "could not be read" not in shown(at.error)
    save_in_form(at, "New", server.base_url)
    assert "Saved New" in shown(at.success)
    assert [p.name for p in pv.saved_providers()] == ["New"]


def test_home_names_entries_it_skipped_escaped() -> None:
    write_list(TEAM, {**FUTURE, "name": "[Re-enter your key](http://evil.example/)"})
    at = home()
    warning = next(w.value for w in at.warning if "was skipped" in w.value)
    assert "[Re-enter your key](" not in warning  # escaped: no live Markdown link
    assert "[Re-enter your key](http://evil.example/)" in shown(at.warning)
    assert "telepathy" in warning
    assert at.button(key="fs_remove_Team")


# --- item 11: stale model lists and raw exceptions ---------------------------------------------


def test_a_key_typed_after_a_failed_model_listing_refreshes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-right-key-0042"
    with ReplayServer(api_key=key, models=["gpt-test"]) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("FIELDSTREAM_DEFAULT_PROVIDER", "OpenAI")
        at = home()
        at.switch_page(EXTRACT).run()
        assert "Could not list this provider's models" in shown(at.caption)
        at.sidebar.text_input(key="fs_session_key").input("sk-wrong-key-0001").run()
        assert "rejected the API key" in shown(at.caption)
        at.sidebar.text_input(key="fs_session_key").input(key).run()
        assert not at.exception, at.exception
        assert "Could not list" not in shown(at.caption)
        assert "gpt-test" in at.selectbox(key="fs_model").options
        cached = repr(at.session_state["fs_models_cache"]) + repr(at.session_state["fs_check"])
        assert key not in cached and "sk-wrong" not in cached  # a hash of it at most


def test_a_failed_model_listing_can_be_retried(server: ReplayServer) -> None:
    server.api_key = "sk-server-side"  # the server refuses us ...
    at = home()
    at.switch_page(EXTRACT).run()
    assert "rejected the API key" in shown(at.caption)
    server.api_key = None  # ... until its operator fixes it
    at.button(key="fs_model_retry").click().run()
    assert not at.exception, at.exception
    assert "Could not list" not in shown(at.caption)
    assert at.selectbox(key="fs_model").value == "replay-model"


def test_saving_into_an_unwritable_data_folder_is_a_plain_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(blocker / "data"))  # unwritable, even as root
    with pytest.raises(ProviderError, match="FIELDSTREAM_DATA_DIR") as info:
        pv.save_provider("Lab", "http://10.0.0.5:8000/v1")
    assert "Could not save" in str(info.value) and info.value.__cause__ is None
    at = save_in_form(home(), "Lab", "http://10.0.0.5:8000/v1")
    assert "Could not save your servers" in shown(at.error)


# --- item 12: addresses and names refused when saving -----------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000/v1#models",
        "http://10.0.0.5:8000/v1#",
        "http://10.0.0.5:8000/v\n1",
        "http://10.0.0.5:8000\r\n/v1",
        "http://10.0.0.5:8000/v1\tx",
        "http://10.0.0.5 :8000/v1",
        "http://10.0.0.5:8000/v\x001",
        "http://10.0.0.5:8000/v1\u200b",
        "http://10.0.0.5:65536/v1",
        "http://10.0.0.5:99999/v1",
        "http://10.0.0.5:0/v1",
    ],
)
def test_bad_addresses_are_refused_in_plain_words(url: str) -> None:
    with pytest.raises(ProviderError) as info:
        pv.save_provider("Lab", url)
    assert "Traceback" not in str(info.value) and len(str(info.value)) < 200
    assert not pv.providers_file().exists()


@pytest.mark.parametrize("name", ["openai", "LOCAL MODEL", " Custom Server ", "oPeNaI"])
def test_case_variants_of_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(ProviderError, match="built-in provider"):
        pv.save_provider(name, "http://10.0.0.5:8000/v1")
    assert not pv.providers_file().exists()


def test_good_addresses_still_save() -> None:
    for url in ("http://10.0.0.5:65535", "https://[::1]:1/v1", " http://host:8000/v1/ \n"):
        assert pv.save_provider("Lab", url).base_url.startswith(url.strip().rstrip("/")[:12])
