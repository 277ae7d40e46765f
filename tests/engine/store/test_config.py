"""The store's settings, escaping, timeline packing and record checks (no database needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.store.config import load_settings, secret_values
from engine.store.records import StoredRun, fingerprint, url_host
from engine.store.textsafe import escape, unescape
from engine.store.timeline import pack, unpack

# Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out).
ANY_TEXT = st.text(st.one_of(st.characters(codec=None), st.sampled_from(
    ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\ue000", "e", "0", "s"])))


@given(ANY_TEXT)
def test_escaping_is_reversible_and_safe_for_both_databases(text: str) -> None:
    stored = escape(text)
    assert unescape(stored) == text
    assert "\x00" not in stored
    stored.encode("utf-8")  # no lone surrogates left


def test_ordinary_text_is_stored_unchanged() -> None:
    text = "Grand Tech Arena, 4521 Innovation Drive — Zürich, 東京 🎉"
    assert escape(text) is text


@given(st.lists(st.tuples(st.integers(0, 10**9), ANY_TEXT), max_size=50))
def test_a_timeline_packs_and_unpacks_exactly(chunks: list[tuple[int, str]]) -> None:
    timeline = sorted((micros / 1000, text) for micros, text in chunks)
    assert unpack(pack(timeline)) == timeline


def test_a_timeline_is_compact() -> None:
    timeline = [(i * 17.3, f'"field_{i % 7}": "v{i}", ') for i in range(300)]
    assert len(pack(timeline)) < len("".join(text for _, text in timeline)) // 2


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path, home=tmp_path)
    assert settings.url == f"sqlite:///{tmp_path}/.local/share/fieldstream/history.db"
    assert (settings.enabled, settings.keep_input, settings.retention_days) == (True, True, None)
    moved = load_settings(env={"FIELDSTREAM_DATA_DIR": "/srv/fs"}, cwd=tmp_path, home=tmp_path)
    assert moved.url == "sqlite:////srv/fs/history.db"


def _secrets(folder: Path, url: str) -> None:
    (folder / ".streamlit").mkdir(parents=True)
    (folder / ".streamlit/secrets.toml").write_text(
        f'other = 1\n[connections.fieldstream]\nurl = "{url}"\n')


def test_the_database_url_comes_from_env_then_project_then_home_secrets(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    _secrets(home, "postgresql://home-db/fs")
    project.mkdir()
    assert load_settings(env={}, cwd=project, home=home).url == (
        "postgresql+psycopg://home-db/fs")
    _secrets(project, "postgres://u:pw@project-db:5433/fs")
    assert load_settings(env={}, cwd=project, home=home).url == (
        "postgresql+psycopg://u:pw@project-db:5433/fs")
    env = {"FIELDSTREAM_DATABASE_URL": "postgresql+psycopg://env-db/fs"}
    assert load_settings(env=env, cwd=project, home=home).url == "postgresql+psycopg://env-db/fs"


@pytest.mark.parametrize("off", ["off", "OFF", "0", "false", "no"])
def test_history_and_inputs_can_be_turned_off(tmp_path: Path, off: str) -> None:
    env = {"FIELDSTREAM_HISTORY": off, "FIELDSTREAM_KEEP_INPUT": off}
    settings = load_settings(env=env, cwd=tmp_path, home=tmp_path)
    assert (settings.enabled, settings.keep_input) == (False, False)


def test_retention_days(tmp_path: Path) -> None:
    def days(raw: str) -> float | None:
        env = {"FIELDSTREAM_HISTORY_DAYS": raw}
        return load_settings(env=env, cwd=tmp_path, home=tmp_path).retention_days

    assert (days("30"), days(" 0.5 "), days("")) == (30.0, 0.5, None)
    for bad in ("0", "-3", "soon", "nan"):
        with pytest.raises(ValueError, match="FIELDSTREAM_HISTORY_DAYS must be a positive"):
            days(bad)


def test_secret_values_are_the_key_like_variables() -> None:
    env = {"OPENAI_API_KEY": "sk-abcdefgh123", "MY_TOKEN": "tok-12345678", "SHORT_KEY": "1",
           "HOME": "/root/with/a/long/path", "FIELDSTREAM_KEEP_INPUT": "0"}
    assert secret_values(env) == {"sk-abcdefgh123", "tok-12345678"}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://api.openai.com/v1", "api.openai.com"),
        ("http://user:sk-123@127.0.0.1:8080/v1?api-key=sk-123", "127.0.0.1:8080"),
        ("localhost:11434", "localhost:11434"),
        ("http://[::1]:8000/v1", "[::1]:8000"),
        ("api.example.com", "api.example.com"),
        ("", None),
        (None, None),
    ],
)
def test_only_the_host_of_a_base_url_is_kept(url: str | None, host: str | None) -> None:
    assert url_host(url) == host
    assert StoredRun(schema_name="S", provider="p", model="m", base_url_host=url).base_url_host \
        == host


def test_the_fingerprint_is_of_the_canonical_schema() -> None:
    a = {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "integer"}}}
    b = {"properties": {"y": {"type": "integer"}, "x": {"type": "string"}}, "type": "object"}
    assert fingerprint(a) == fingerprint(b) != fingerprint({"type": "object"})
    assert len(fingerprint(a)) == 64
    assert StoredRun(schema_name="S", provider="p", model="m", json_schema=a).schema_fingerprint \
        == fingerprint(b)


def test_a_record_round_trips_through_its_json_form() -> None:
    run = StoredRun(schema_name="S", provider="p", model="m", status="done",
                    result={"a": [1, {"b": None}]}, timeline=[(0.0, "{"), (3.5, "}")],
                    usage={"total_tokens": 3}, ttft_ms=1.5, group_kind="compare", group_id="c",
                    group_member="a", source="compare")
    assert StoredRun.from_dict(run.to_dict()) == run
