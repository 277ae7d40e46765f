"""The request each mode sends, md_json answers, and list roots (wrapped, then unwrapped)."""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest
from openai import OpenAI
from pydantic import BaseModel

from engine.llm.extract import extract, extract_calls
from engine.llm.modes import MODES, Mode, default_mode
from engine.llm.request import RequestSpec, build_request
from engine.stream.changes import Done
from engine.testing.replay_server import ReplayServer, Reply


class User(BaseModel):
    name: str
    email: str


class Meeting(BaseModel):
    users: list[User]
    date: str


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


USERS = [{"name": "Ada", "email": "ada@x.org"}, {"name": "Alan", "email": "alan@x.org"}]


def test_md_json_prose_and_fence(srv: ReplayServer, client: OpenAI) -> None:
    answer = (
        "Here is the extraction:\n```json\n"
        + json.dumps({"users": USERS, "date": "2024-03-15"}, indent=2)
        + "\n```\nLet me know if you need more."
    )
    srv.queue(Reply.content(pieces(answer)))
    final = list(extract("t", Meeting, client=client, model="m", mode="md_json"))[-1]
    assert final.final == Meeting(users=[User(**u) for u in USERS], date="2024-03-15")
    body = srv.requests[0]
    assert "response_format" not in body and "tools" not in body
    system = body["messages"][0]["content"]
    assert "```json" in system and '"users"' in system


def test_custom_system_prompt_keeps_the_schema(srv: ReplayServer, client: OpenAI) -> None:
    srv.queue(Reply.content(['{"users": [], "date": "x"}']))
    list(extract("t", Meeting, client=client, model="m", mode="json_object", system="Be terse."))
    system = srv.requests[0]["messages"][0]["content"]
    assert system.startswith("Be terse.") and '"date"' in system


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "tools"])
def test_list_root_wrapped_and_unwrapped(srv: ReplayServer, client: OpenAI, mode: str) -> None:
    answer = json.dumps({"items": USERS})
    tool = "UserList" if mode == "tools" else None
    srv.queue(Reply.content(pieces(answer, 5), tool_name=tool))
    snaps = list(extract("t", list[User], client=client, model="m", mode=mode))
    final = snaps[-1]
    assert final.final == [User(**u) for u in USERS]
    assert final.text == json.dumps(USERS)  # the parser saw the bare array
    done = [c.path for s in snaps for c in s.changes if isinstance(c, Done)]
    assert done.index("[0]") < done.index("[1].name")  # items finish one by one
    body = srv.requests[0]
    if mode == "json_schema":
        schema = body["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["items"] and schema["properties"]["items"]["type"] == "array"
    if mode == "tools":
        assert body["tools"][0]["function"]["parameters"]["required"] == ["items"]


def test_list_root_md_json_asks_for_a_bare_array(srv: ReplayServer, client: OpenAI) -> None:
    srv.queue(Reply.content(pieces("```json\n" + json.dumps(USERS) + "\n```")))
    final = list(extract("t", list[User], client=client, model="m", mode="md_json"))[-1]
    assert [u.name for u in final.final] == ["Ada", "Alan"]
    system = srv.requests[0]["messages"][0]["content"]
    assert '"type":"array"' in system


def test_tools_mode_prose_before_the_call_is_dropped(srv: ReplayServer, client: OpenAI) -> None:
    reply = Reply.content(pieces('{"name": "Ada", "email": "a@b.c"}'), tool_name="User")
    prose = {"choices": [{"index": 0, "delta": {"content": "Calling {the tool} now: "}}]}
    reply.events.insert(0, prose)  # before the tool call opens
    srv.queue(reply)
    final = list(extract("t", User, client=client, model="m", mode="tools"))[-1]
    assert final.final == User(name="Ada", email="a@b.c")
    assert final.text == '{"name": "Ada", "email": "a@b.c"}'  # only the call's arguments


def test_tools_mode_answer_in_content_is_still_parsed(srv: ReplayServer, client: OpenAI) -> None:
    """Some compatible servers ignore tool_choice and answer in plain content."""
    srv.queue(Reply.content(pieces('{"name": "Ada", "email": "a@b.c"}')))
    keys_finals = [
        (k, s.final)
        for k, s in extract_calls("t", User, client=client, model="m", mode="tools")
        if s.is_final
    ]
    assert keys_finals == [((0, 0), User(name="Ada", email="a@b.c"))]


def test_build_request_options() -> None:
    req = build_request(RequestSpec("t", User, "m", max_tokens=50, temperature=None,
                                    extra={"seed": 3, "n": None}))
    assert req["max_tokens"] == 50 and req["seed"] == 3
    assert "temperature" not in req and "n" not in req
    no_usage = RequestSpec("t", User, "m", extra={"stream_options": None})
    assert build_request(no_usage).get("stream_options") is None
    with pytest.raises(ValueError, match="Unknown mode"):
        build_request(RequestSpec("t", User, "m", mode="xml"))
    with pytest.raises(TypeError, match="tools"):
        build_request(RequestSpec("t", {"a": User}, "m", mode="json_schema"))


# --- one list of modes, one order ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[3]


def test_the_modes_best_first() -> None:
    assert MODES == typing.get_args(Mode) == ("json_schema", "tools", "json_object", "md_json")
    assert default_mode() == "json_schema"
    assert default_mode(["md_json", "tools", "json_object"]) == "tools"
    assert default_mode(("md_json",)) == "md_json"
    assert default_mode([]) == default_mode(["nope"]) == "json_schema"
    with pytest.raises(ValueError, match="json_schema, tools, json_object, md_json"):
        build_request(RequestSpec("t", User, "m", mode="xml"))


def test_providers_and_the_cli_use_the_same_modes(capsys: pytest.CaptureFixture[str]) -> None:
    from engine import cli
    from engine import providers as pv

    lm_studio = pv.Provider("x", "compatible", "http://h/v1", pv.DETECTED_MODES["LM Studio"])
    assert lm_studio.best_mode == default_mode(lm_studio.modes) == "json_schema"
    assert pv.Provider("y", "compatible", "http://h/v1", ()).modes == MODES
    with pytest.raises(ValueError, match="Unknown mode"):
        pv.Provider("z", "compatible", "http://h/v1", ("xml",))
    with pytest.raises(SystemExit):
        cli.main(["extract", "--help"])
    assert " | ".join(MODES) in " ".join(capsys.readouterr().out.split())


def _mode_lists(path: Path) -> list[int]:
    """Lines of literal tuples/lists/sets naming every mode: a copy of the list."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if set(MODES) <= words:
                lines.append(node.lineno)
    return lines


def test_the_list_of_modes_is_written_once() -> None:
    sources = [*(ROOT / "engine").rglob("*.py"), *(ROOT / "ui").rglob("*.py"), ROOT / "app.py"]
    copies = {str(p.relative_to(ROOT)): _mode_lists(p) for p in sources}
    assert {path: lines for path, lines in copies.items() if lines} == {
        "engine/llm/modes.py": [copies["engine/llm/modes.py"][0]]  # the Literal itself
    }
