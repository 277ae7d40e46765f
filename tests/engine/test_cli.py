"""`fieldstream` CLI: fields printed as they complete, final JSON on stdout, clear failures."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest

from engine import cli
from engine import providers as pv
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.testing.replay_server import ReplayServer, Reply
from tests.engine.runs.test_runner_grounding import ANSWER as GROUNDED
from tests.engine.runs.test_runner_grounding import INVENTED, NOTE
from tests.support import isolate

ANSWER = [
    '{"users": [{"name": "Ann Lee", "email": "ann@x.org", ',
    '"twitter": "@ann"}], "date": "2024-03-15", ',
    '"location": "Arena", "budget": 50000, "deadline": "Feb 20"}',
]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path, home=True)


def _run(argv: list[str], text: str = MEETING_NOTE) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdin=io.StringIO(text), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_prints_fields_as_they_complete_then_the_json(monkeypatch: pytest.MonkeyPatch):
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content(ANSWER))
        code, out, err = _run(["extract", "--schema", "meetinginfo", "--provider", "custom"])
    assert code == 0, err
    assert MeetingInfo.model_validate_json(out).budget == 50000
    lines = [line.strip() for line in err.splitlines() if line.strip().startswith("✓")]
    assert lines[:2] == ['✓ users[0].name = "Ann Lee"', '✓ users[0].email = "ann@x.org"']
    assert "✓ budget = 50000" in lines and lines[-1] == '✓ deadline = "Feb 20"'
    assert srv.requests[0]["model"] == "m"  # no model configured: the server's first


def test_truncated_answer_prints_the_partial_and_fails(monkeypatch: pytest.MonkeyPatch):
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content(ANSWER[:2], finish_reason="length"))
        code, out, err = _run(["extract", "--schema", "MeetingInfo", "--provider", "custom"])
    assert code == 1
    assert json.loads(out)["date"] == "2024-03-15"
    assert "error:" in err and "hint:" in err


def test_unusable_provider_and_bad_schema_are_messages():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pv.save_provider("Gone", f"http://127.0.0.1:{port}/v1", default_model="m")
    code, _, err = _run(["extract", "--schema", "MeetingInfo", "--provider", "gone"])
    assert code == 2 and "Could not reach" in err and "Is the server running?" in err
    assert "Traceback" not in err
    code, _, err = _run(["extract", "--schema", "Nope"])
    assert code == 2 and "Unknown schema 'Nope'" in err
    code, _, err = _run(["extract", "--schema", "MeetingInfo", "--provider", "nobody"])
    assert code == 2 and "No provider named 'nobody'" in err


def test_models_and_providers_commands(monkeypatch: pytest.MonkeyPatch):
    with ReplayServer(models=["b", "a"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        code, out, _ = _run(["models", "--provider", "Custom server"])
        assert (code, out.split()) == (0, ["a", "b"])
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)  # keep the OpenAI check local
        code, out, _ = _run(["providers"])
        base_url = srv.base_url
    assert code == 0
    assert out.splitlines()[0].startswith("Local model: embedded · modes json_schema")
    assert f"Custom server: {base_url}" in out


def test_received_names_and_values_are_printed_escaped(monkeypatch: pytest.MonkeyPatch):
    """A server's model ids and a model's values are text the CLI did not write: nothing in
    them reaches the terminal raw (the JSON on stdout still reads back the same)."""
    evil = "m\x1b]0;owned\x07\u202e"
    answer = json.loads("".join(ANSWER))
    answer["location"] = "Arena\x1b[2J\u200b\x9b"
    with ReplayServer(models=[evil]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        code, out, _ = _run(["models", "--provider", "Custom server"])
        assert (code, out) == (0, "m\\x1b]0;owned\\x07\\u202e\n")
        srv.queue(Reply.content([json.dumps(answer, ensure_ascii=False)]))
        code, out, err = _run(["extract", "--schema", "MeetingInfo", "--provider", "custom"])
    assert code == 0, err
    assert not any(ch in out + err for ch in "\x1b\x07\u202e\u200b\x9b")
    assert json.loads(out) == answer
    assert "· m\\x1b]0;owned\\x07\\u202e ·" in err
    assert '✓ location = "Arena\\u001b[2J\\u200b\\u009b"' in err


@pytest.mark.local_model
def test_extract_with_the_local_model():
    """The issue's command: fieldstream extract --schema MeetingInfo --provider local < note."""
    code, out, err = _run(["extract", "--schema", "MeetingInfo", "--provider", "local"])
    assert code == 0, err
    info = MeetingInfo.model_validate_json(out)
    assert info.users and info.budget > 0
    done = [line for line in err.splitlines() if line.strip().startswith("✓")]
    assert len(done) >= 5  # one line per finished field, printed as it completed
    assert "# Local model · qwen2.5-coder-0.5b" in err


def test_the_values_not_in_the_text_are_named_after_the_result(monkeypatch: pytest.MonkeyPatch):
    found = {**GROUNDED, "users": GROUNDED["users"][:1]}
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content([json.dumps(GROUNDED)]), Reply.content([json.dumps(GROUNDED)]),
                  Reply.content([json.dumps(found)]))
        both = io.StringIO()  # stdout and stderr in one stream: the order they were written
        code = cli.main(["extract", "--schema", "MeetingInfo", "--provider", "custom"],
                        stdin=io.StringIO(NOTE), stdout=both, stderr=both)
        quiet = _run(["extract", "--schema", "MeetingInfo", "--provider", "custom", "--quiet"],
                     NOTE)
        all_found = _run(["extract", "--schema", "MeetingInfo", "--provider", "custom"], NOTE)
    assert code == 0
    line = ("# 9 values found in the text, 1 not in the text — check it: "
            f"users[1].email ({INVENTED})")
    written = both.getvalue()
    assert written.index(line) > written.index('"deadline": "February 20th"')  # after the JSON
    assert quiet[0] == 0 and quiet[2].strip() == line  # --quiet still warns
    assert all_found[2].splitlines()[-1] == "# 7 values found in the text."
