"""Provider configuration: keys (env, secrets file, session), custom and saved servers, model
lists, clear failures, local-port detection, modes, and keys that never reach a file."""

from __future__ import annotations

import io
import json
import logging
import socket
import uuid
from pathlib import Path

import pytest

from engine import providers as pv
from engine.errors import ProviderError
from engine.llm.modes import MODES
from engine.providers import detect
from engine.schemas.library import MeetingInfo
from engine.testing.replay_server import ReplayServer, Reply

ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "FIELDSTREAM_BASE_URL",
    "FIELDSTREAM_MODEL",
    "FIELDSTREAM_API_KEY",
    "FIELDSTREAM_DEFAULT_PROVIDER",
    "FIELDSTREAM_LOCAL_MODEL",
    "FIELDSTREAM_OPENAI_MODEL",
)


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real keys, secrets files or local servers leak in; data goes to a temp folder."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(detect, "LOCAL_SERVER_PORTS", {"Ollama": _closed_port()})
    monkeypatch.setattr(detect, "_detected", {})
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _by_name(providers: list[pv.Provider], name: str) -> pv.Provider:
    return next(p for p in providers if p.name == name)


def test_local_model_comes_first_and_defaults_to_json_schema():
    providers = pv.available_providers(secrets={})
    assert [p.kind for p in providers[:2]] == ["local", "openai"]
    assert providers[0].best_mode == "json_schema"
    assert "tools" not in providers[0].modes
    assert pv.default_provider(providers) is providers[0]


@pytest.mark.local_model
def test_the_installed_local_model_checks_out():
    assert pv.check(pv.local_provider()) is None  # runtime and weights installed


def test_openai_key_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-123456")
    openai = _by_name(pv.available_providers(secrets={}), "OpenAI")
    assert (openai.api_key, openai.key_source) == ("sk-env-123456", "env")
    assert "sk-env-123456" not in repr(openai)
    assert openai.best_mode == "json_schema" and "tools" in openai.modes


def test_openai_key_from_the_secrets_file(clean: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-123456")
    (clean / ".streamlit").mkdir()
    (clean / ".streamlit" / "secrets.toml").write_text('OPENAI_API_KEY = "sk-file-654321"\n')
    openai = _by_name(pv.available_providers(), "OpenAI")  # None: read the secrets files
    assert (openai.api_key, openai.key_source) == ("sk-file-654321", "secrets")


def test_session_key_wins_and_is_for_this_session_only(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-123456")
    typed = _by_name(pv.available_providers(secrets={}, session_key=" sk-typed-1 "), "OpenAI")
    assert (typed.api_key, typed.key_source) == ("sk-typed-1", "session")
    later = _by_name(pv.available_providers(secrets={}), "OpenAI")
    assert later.key_source == "env"


def test_missing_openai_key_is_a_message_not_a_crash():
    openai = _by_name(pv.available_providers(secrets={}), "OpenAI")
    assert openai.needs_key
    assert "OPENAI_API_KEY" in (pv.check(openai) or "")
    with pytest.raises(ProviderError, match="No OpenAI API key"):
        pv.client_for(openai)


def test_custom_base_url_from_env_lists_models_and_extracts(monkeypatch: pytest.MonkeyPatch):
    with ReplayServer(models=["llama3.1:8b", "qwen2.5:0.5b"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        monkeypatch.setenv("FIELDSTREAM_MODEL", "qwen2.5:0.5b")
        custom = _by_name(pv.available_providers(secrets={}), "Custom server")
        assert custom.kind == "compatible" and custom.base_url == srv.base_url
        assert pv.list_models(custom) == ["llama3.1:8b", "qwen2.5:0.5b"]
        assert pv.check(custom) is None
        srv.queue(Reply.content(['{"users": [], "date": "d", ', '"location": "l", ',
                                 '"budget": 5, "deadline": "x"}']))  # fmt: skip
        from engine import extract

        snaps = list(
            extract("note", MeetingInfo, client=pv.client_for(custom), model=custom.default_model)
        )
        assert snaps[-1].final.budget == 5
        assert srv.requests[0]["model"] == "qwen2.5:0.5b"


def test_default_provider_by_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FIELDSTREAM_DEFAULT_PROVIDER", "openai")
    assert pv.default_provider(pv.available_providers(secrets={})).kind == "openai"


def test_unknown_model_on_the_server_is_reported():
    with ReplayServer(models=["a"]) as srv:
        provider = pv.Provider("Lab", "compatible", srv.base_url, MODES, default_model="b")
        assert "does not offer the model 'b'" in (pv.check(provider) or "")


def test_unreachable_server_is_a_clear_message():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    provider = pv.Provider("Lab vLLM", "compatible", url, MODES)
    message = pv.check(provider)
    assert message and message.startswith("Could not reach Lab vLLM") and url in message
    assert "Is the server running?" in message
    with pytest.raises(ProviderError) as info:
        pv.list_models(provider)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_rejected_key_is_a_clear_message_without_the_key():
    with ReplayServer(api_key="sk-right-key-000") as srv:
        provider = pv.Provider(
            "Lab", "compatible", srv.base_url, MODES, api_key="sk-wrong-key-999"
        )
        message = pv.check(provider) or ""
        assert "rejected the API key (HTTP 401)" in message
        assert "wrong-key" not in message  # the server echoed it; we do not


@pytest.mark.parametrize("page", [None, "<html>a web page</html>"])
def test_non_openai_server_is_explained(tmp_path: Path, page: str | None):
    """A plain web server: /v1/models missing (404), or an HTML page instead of a model list."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site = tmp_path / "site"
    (site / "v1").mkdir(parents=True)
    if page:
        (site / "v1" / "models").write_text(page)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        message = pv.check(pv.Provider("Web", "compatible", url, MODES)) or ""
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "OpenAI-compatible" in message and "base URL" in message


def test_saved_providers_round_trip_without_keys(clean: Path, monkeypatch):
    saved = pv.save_provider(
        "Team vLLM", "http://10.0.0.5:8000/", default_model="m", api_key_env="TEAM_KEY"
    )
    assert saved.base_url == "http://10.0.0.5:8000/v1"  # bare host gets /v1
    monkeypatch.setenv("TEAM_KEY", "sk-team-777")
    listed = _by_name(pv.available_providers(secrets={}, detect=False), "Team vLLM")
    assert (listed.api_key, listed.key_source, listed.origin) == ("sk-team-777", "env", "saved")
    text = pv.providers_file().read_text()
    assert "sk-team-777" not in text and json.loads(text)["providers"][0]["name"] == "Team vLLM"
    by_session = pv.available_providers(secrets={}, session_key={"Team vLLM": "sk-typed"})
    assert _by_name(by_session, "Team vLLM").key_source == "session"
    assert pv.remove_provider("Team vLLM") and not pv.saved_providers()
    assert not pv.remove_provider("Team vLLM")


@pytest.mark.parametrize(
    "url",
    ["ftp://host/v1", "http://user:sk-secret@host/v1", "http://host/v1?api-key=sk-1", "nonsense"],
)
def test_saved_addresses_cannot_carry_credentials(url: str):
    with pytest.raises(ProviderError):
        pv.save_provider("Bad", url)
    assert not pv.providers_file().exists()


def test_reserved_names_are_refused():
    with pytest.raises(ProviderError):
        pv.save_provider("OpenAI", "http://localhost:1234/v1")


def test_detects_servers_on_local_ports():
    with ReplayServer(models=["llama3.2"]) as srv:
        port = int(srv.base_url.split(":")[-1].split("/")[0])
        found = pv.detect_local_servers({"Ollama": port, "LM Studio": _closed_port()})
        assert [(p.name, p.base_url, p.default_model) for p in found] == [
            (f"Ollama (port {port})", srv.base_url, "llama3.2")
        ]
        assert pv.list_models(found[0]) == ["llama3.2"]
    lm_studio = pv.Provider("x", "compatible", "http://h/v1", pv.DETECTED_MODES["LM Studio"])
    assert lm_studio.pick_mode("json_object") == "json_schema"  # unsupported: best instead
    assert lm_studio.pick_mode("md_json") == "md_json"


def test_detected_servers_join_the_list(monkeypatch: pytest.MonkeyPatch):
    with ReplayServer(models=["llama3.2"]) as srv:
        port = int(srv.base_url.split(":")[-1].split("/")[0])
        monkeypatch.setattr(detect, "LOCAL_SERVER_PORTS", {"Ollama": port})
        names = [p.name for p in pv.available_providers(secrets={})]
        assert names[-1] == f"Ollama (port {port})"


def _files_containing(root: Path, secret: str, skip: set[Path]) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip and secret.encode() in path.read_bytes():
            hits.append(path)
    return hits


def test_api_key_never_reaches_any_file_the_app_writes(
    clean: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from engine import cli, extract

    caplog.set_level(logging.DEBUG)
    key = f"sk-fieldstream-{uuid.uuid4().hex}"
    secrets_file = clean / ".streamlit" / "secrets.toml"
    secrets_file.parent.mkdir()
    secrets_file.write_text(f'OPENAI_API_KEY = "{key}"\n')  # written by the user, not the app
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("FIELDSTREAM_API_KEY", key)
    monkeypatch.setenv("FIELDSTREAM_CACHE_DIR", str(clean / "cache"))
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")  # no internet
    outputs: list[str] = []
    with ReplayServer(api_key=key, models=["m"]) as good, ReplayServer(api_key="other") as bad:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", good.base_url)
        providers = pv.available_providers(session_key=key)
        outputs += [repr(providers), json.dumps([p.to_dict() for p in providers])]
        custom = _by_name(providers, "Custom server")
        assert custom.api_key == key
        pv.save_provider("Saved", good.base_url, api_key_env="FIELDSTREAM_API_KEY")
        outputs.append(" ".join(pv.list_models(custom)))
        good.default = Reply.content(['{"users": [], "date": "d", "location": "l", ',
                                      '"budget": 1, "deadline": "x"}'])  # fmt: skip
        snaps = list(extract("note", MeetingInfo, client=pv.client_for(custom), model="m"))
        outputs.append(repr(snaps[-1].final))
        rejected = pv.Provider("Bad", "compatible", bad.base_url, MODES, api_key=key)
        outputs.append(pv.check(rejected) or "")
        with pytest.raises(ProviderError) as info:
            list(extract("note", MeetingInfo, client=pv.client_for(rejected), model="m"))
        outputs.append(str(info.value))
        for argv in (["providers"], ["extract", "--schema", "MeetingInfo", "--provider",
                                     "custom server"]):  # fmt: skip
            out, err = io.StringIO(), io.StringIO()
            cli.main(argv, stdin=io.StringIO("note"), stdout=out, stderr=err)
            outputs += [out.getvalue(), err.getvalue()]
    assert all(key not in text for text in outputs)
    assert key not in caplog.text
    assert _files_containing(clean, key, skip={secrets_file}) == []
    assert pv.providers_file().exists()  # the app did write files: just never the key
