"""engine.settings: the one reader of environment variables and secrets. Nothing else under
engine/ reads the environment (an AST check), each setting parses its variable one way, and
FIELDSTREAM_DEFAULT_PROVIDER picks the same provider for the app and the CLI."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from engine import cli, settings
from engine import providers as pv
from engine.local.server import ServerSettings
from engine.providers import detect

ENGINE = Path(__file__).resolve().parents[2] / "engine"


# --- nobody else reads the environment -----------------------------------------------------


def environment_reads(source: str) -> list[str]:
    """Every place `source` reads the process environment: os.environ / os.environb /
    os.getenv (under any alias of os), or `from os import environ, getenv`."""
    tree = ast.parse(source)
    os_names = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"from os import {a.name}" for a in node.names if a.name in _READERS]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in _READERS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


_READERS = ("environ", "environb", "getenv", "getenvb")
MODULES = sorted(p for p in ENGINE.rglob("*.py") if p != ENGINE / "settings.py")


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ENGINE)) for p in MODULES])
def test_only_settings_reads_the_environment(path: Path) -> None:
    """A child process's environment comes from `settings.child_env()` too."""
    assert environment_reads(path.read_text(encoding="utf-8")) == [], path


def test_the_check_sees_every_way_of_reading_it() -> None:
    source = (
        "import os\nimport os as o\nfrom os import getenv\n"
        "a = os.environ.get('X')\nb = o.getenv('Y')\nc = dict(os.environ)\n"
    )
    assert sorted(environment_reads(source)) == [
        "from os import getenv", "o.getenv (line 5)", "os.environ (line 4)", "os.environ (line 6)",
    ]  # fmt: skip
    assert environment_reads("import os\nos.path.join('a')\nos.environ_like = 1\n") == []


# --- each setting, parsed one way ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(None, 300.0), ("12.5", 12.5), (" 7 ", 7.0), ("0", 300.0), ("-1", 300.0), ("soon", 300.0),
     ("inf", 300.0), ("nan", 300.0)],
)  # fmt: skip
def test_read_timeout(raw: str | None, seconds: float) -> None:
    env = {} if raw is None else {"FIELDSTREAM_READ_TIMEOUT": raw}
    assert settings.read_timeout(env) == seconds


@pytest.mark.parametrize(("raw", "on"), [(None, True), ("1", True), ("yes", True), ("0", False),
                                         ("off", False), ("False", False), (" NO ", False)])
def test_flags_are_off_only_when_they_say_so(raw: str | None, on: bool) -> None:
    for name, read in (("FIELDSTREAM_WARM_LOCAL", settings.warm_local),
                       ("FIELDSTREAM_HISTORY", settings.history_enabled),
                       ("FIELDSTREAM_KEEP_INPUT", settings.keep_input)):
        assert read({} if raw is None else {name: raw}) is on, name


def test_blank_values_count_as_unset() -> None:
    env = {"OPENAI_BASE_URL": "  ", "FIELDSTREAM_DEFAULT_PROVIDER": "", "FIELDSTREAM_MODEL": " m "}
    assert settings.openai_base_url(env) is None
    assert settings.default_provider_name(env) is None
    assert settings.custom_model(env) == "m"
    assert settings.env_key("TEAM_KEY", {"TEAM_KEY": " sk-team "}) == "sk-team"
    assert settings.env_key(None, {"TEAM_KEY": "sk-team"}) is None


def test_folders(tmp_path: Path) -> None:
    assert settings.data_dir({}, home=tmp_path) == tmp_path / ".local" / "share" / "fieldstream"
    assert settings.data_dir({"FIELDSTREAM_DATA_DIR": "/srv/fs"}) == Path("/srv/fs")
    assert settings.cache_dir({"FIELDSTREAM_CACHE_DIR": "~/w"}) == Path.home() / "w"
    assert settings.cache_dir({}) == Path.home() / ".cache" / "fieldstream"


def test_local_sizing_and_the_server_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"FIELDSTREAM_LOCAL_CTX": "2048", "FIELDSTREAM_LOCAL_PARALLEL": "0",
           "FIELDSTREAM_LOCAL_THREADS": "many"}  # fmt: skip
    assert settings.local_sizing(env) == settings.LocalSizing(ctx=2048, parallel=1)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FIELDSTREAM_LOCAL_THREADS_BATCH", raising=False)
    sized, default = ServerSettings.from_env(), ServerSettings()
    assert (sized.ctx, sized.parallel) == (2048, 1)
    assert (sized.threads, sized.threads_batch) == (default.threads, default.threads_batch)


def test_history_days() -> None:
    def days(raw: str) -> float | None:
        return settings.history_days({"FIELDSTREAM_HISTORY_DAYS": raw})

    assert (days("30"), days(" 0.5 "), days(""), settings.history_days({})) == (30, 0.5, None, None)
    for bad in ("0", "-3", "soon", "nan"):
        with pytest.raises(settings.SettingError, match="FIELDSTREAM_HISTORY_DAYS must be a pos"):
            days(bad)


def test_pending_retry() -> None:
    def waits(raw: str) -> tuple[float, ...]:
        return settings.pending_retry({"FIELDSTREAM_PENDING_RETRY": raw})

    assert settings.pending_retry({}) == settings.DEFAULT_PENDING_RETRY == (5, 15, 60, 300)
    assert (waits("0.5"), waits(" 1, 2.5 ,10"), waits("")) == (
        (0.5,), (1, 2.5, 10), settings.DEFAULT_PENDING_RETRY)
    for bad in ("0", "1,-2", "soon", "1,,2", "nan", "inf"):
        with pytest.raises(settings.SettingError, match="FIELDSTREAM_PENDING_RETRY must be"):
            waits(bad)


def test_secret_values_and_the_child_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-abcdefgh123", "AZURE_OPENAI_API_KEY": "az-abcdefgh",
           "FIELDSTREAM_API_KEY": "fs-abcdefgh", "MY_TOKEN": "tok-12345678", "SHORT_KEY": "1",
           "PATH": "/usr/bin", "HOME": "/root/with/a/long/path", "FIELDSTREAM_CACHE_DIR": "/c"}
    assert settings.secret_values(env) == {"sk-abcdefgh123", "az-abcdefgh", "fs-abcdefgh",
                                           "tok-12345678"}  # fmt: skip
    assert settings.child_env(env) == {"PATH": "/usr/bin", "HOME": "/root/with/a/long/path",
                                       "FIELDSTREAM_CACHE_DIR": "/c"}  # fmt: skip


# --- secrets files -------------------------------------------------------------------------


def _secrets(folder: Path, text: str) -> None:
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    (folder / ".streamlit" / "secrets.toml").write_text(text)


def test_secrets_files_merge_table_by_table_and_the_project_wins(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    _secrets(home, 'OPENAI_API_KEY = "sk-home"\n[connections.fieldstream]\nurl = "sqlite:///h"\n')
    _secrets(project, 'OPENAI_API_KEY = "sk-project"\n[connections.other]\nurl = "x"\n')
    merged = settings.read_secrets(settings.secrets_files(cwd=project, home=home))
    assert merged == {"OPENAI_API_KEY": "sk-project",
                      "connections": {"fieldstream": {"url": "sqlite:///h"}, "other": {"url": "x"}}}
    assert settings.secret("OPENAI_API_KEY", merged) == "sk-project"
    assert settings.database_url({}, merged) == "sqlite:///h"


def test_a_broken_or_missing_secrets_file_is_empty(tmp_path: Path) -> None:
    _secrets(tmp_path, "this is = = not toml")
    broken = tmp_path / ".streamlit" / "secrets.toml"
    assert settings.read_secrets([broken, tmp_path / "none"]) == {}


def test_the_database_url_comes_from_the_environment_then_the_secrets(tmp_path: Path) -> None:
    url = {"connections": {"fieldstream": {"url": " postgresql://db/fs "}}}
    assert settings.database_url({}, url) == "postgresql://db/fs"
    env = {"FIELDSTREAM_DATABASE_URL": "postgresql://env/fs"}
    assert settings.database_url(env, url) == "postgresql://env/fs"
    assert settings.database_url({}, {}) is None
    assert settings.database_url({}, {"connections": "not a table"}) is None


class RaisingSecrets(dict):
    """Like st.secrets without a secrets file: every read raises."""

    def get(self, *args: object) -> object:
        raise FileNotFoundError("No secrets files found")


def test_a_secrets_object_that_raises_holds_nothing() -> None:
    secrets = RaisingSecrets(OPENAI_API_KEY="sk-x")
    assert settings.secret("OPENAI_API_KEY", secrets) is None
    assert settings.database_url({}, secrets) is None
    assert settings.secret("OPENAI_API_KEY", {"OPENAI_API_KEY": "   "}) is None


# --- FIELDSTREAM_DEFAULT_PROVIDER: one rule, for the app and the CLI ------------------------


@pytest.fixture
def no_providers_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FIELDSTREAM_BASE_URL", "FIELDSTREAM_MODEL",
                 "FIELDSTREAM_API_KEY", "FIELDSTREAM_DEFAULT_PROVIDER"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(detect, "LOCAL_SERVER_PORTS", {})


@pytest.mark.parametrize(
    ("wanted", "picked"),
    [(None, "Local model"), ("openai", "OpenAI"), ("OpenAI", "OpenAI"),
     ("  local  ", "Local model"), ("team", "Team vLLM"), ("Custom Server", "Custom server"),
     ("gone", "Local model")],
)  # fmt: skip
def test_the_default_provider(
    no_providers_configured: None, monkeypatch: pytest.MonkeyPatch, wanted: str | None,
    picked: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("FIELDSTREAM_BASE_URL", "http://127.0.0.1:9/v1")
    pv.save_provider("Team vLLM", "http://127.0.0.1:8/v1")
    if wanted is not None:
        monkeypatch.setenv("FIELDSTREAM_DEFAULT_PROVIDER", wanted)
    assert pv.default_provider(pv.available_providers(secrets={})).name == picked
    assert pv.default_is_local() is (picked == "Local model")  # the app warms it up then


def test_the_cli_starts_from_the_same_default(
    no_providers_configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fieldstream extract` without --provider goes where the app's picker starts: here an
    OpenAI without a key, so it says so (exit 2) instead of starting the local model."""
    monkeypatch.setenv("FIELDSTREAM_DEFAULT_PROVIDER", "OpenAI")
    err = io.StringIO()
    code = cli.main(["extract", "--schema", "MeetingInfo"], stdin=io.StringIO("a note"),
                    stdout=io.StringIO(), stderr=err)  # fmt: skip
    assert code == 2 and "No OpenAI API key" in err.getvalue()


def test_batch_settings_have_defaults_and_refuse_nonsense() -> None:
    assert settings.queue_poll({}) == 0.2 and settings.worker_heartbeat({}) == 10.0
    assert settings.batch_retries({}) == 3 and settings.batch_retries(
        {"FIELDSTREAM_BATCH_RETRIES": "0"}) == 0
    with pytest.raises(settings.SettingError, match="whole number"):
        settings.batch_retries({"FIELDSTREAM_BATCH_RETRIES": "-1"})
    with pytest.raises(settings.SettingError, match="positive"):
        settings.queue_poll({"FIELDSTREAM_QUEUE_POLL": "0"})
    assert settings.provider_rpm({}) is None
    assert settings.provider_rpm({"FIELDSTREAM_PROVIDER_RPM": "600"}) == 600
    assert settings.executor_id({"FIELDSTREAM_EXECUTOR_ID": " gpu-1 "}) == "gpu-1"


def test_prices_are_per_million_tokens_by_provider() -> None:
    found = settings.prices({"FIELDSTREAM_PRICES":
                             '{"OpenAI": {"input": 0.15, "output": 0.6}, "Lab": 2}'})
    assert found["OpenAI"].cost(1_000_000, 500_000) == pytest.approx(0.45)
    assert found["Lab"].cost(250_000, 250_000) == pytest.approx(1.0)
    assert settings.prices({}) == {}
    for bad in ('["OpenAI"]', '{"OpenAI": -1}', '{"OpenAI": {"input": "x"}}', "{"):
        with pytest.raises(settings.SettingError, match="FIELDSTREAM_PRICES"):
            settings.prices({"FIELDSTREAM_PRICES": bad})
