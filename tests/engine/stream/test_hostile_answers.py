"""Hostile answers (issue #7): deep nesting, lone surrogates, huge numbers, long strings,
duplicate keys. Each must end in a clear error or a clean value, never a traceback, a
gigabyte of memory or quadratic time."""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from engine import JSONStreamError, ModelStream, cli, stream_json, stream_model
from engine.schemas.library import MeetingInfo
from engine.stream import json_stream
from engine.stream.changes import Done, Grew, Invalid, Started
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING, isolate

MAX_DEPTH = 512  # the documented limits (engine/json_stream.py)
MAX_NUMBER_CHARS = 4300


def test_the_limits_are_the_documented_ones() -> None:
    assert (json_stream.MAX_DEPTH, json_stream.MAX_NUMBER_CHARS) == (MAX_DEPTH, MAX_NUMBER_CHARS)
    assert "512" in json_stream.__doc__ and "4,300" in json_stream.__doc__
    assert encodable(json_stream.__doc__)  # it shows `\\ud800`, not the character


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut at any places (as in tests/engine/stream/test_json_stream.py)."""
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=max(1, len(text)))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def feed_plain(chunks: list[str]) -> tuple[object, list]:
    parser = stream_json()
    changes: list = []
    for chunk in chunks:
        changes += parser.feed(chunk)
    changes += parser.close()
    return parser.value, changes


def encodable(value: object) -> bool:
    """What the page, the download and a UTF-8 stdout need."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- CLI end to end -----------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path, home=True)


def run_cli(monkeypatch: pytest.MonkeyPatch, answer: list[str]) -> tuple[int, str, str]:
    """`fieldstream extract` against a ReplayServer serving `answer`. Output goes through UTF-8
    text streams, as on a terminal or a pipe (a StringIO would accept what they cannot)."""
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", write_through=True)
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content(answer))
        code = cli.main(["extract", "--schema", "MeetingInfo", "--provider", "custom"],
                        stdin=io.StringIO("a meeting note"), stdout=out, stderr=err)
    return code, out_b.getvalue().decode("utf-8"), err_b.getvalue().decode("utf-8")


# -- item 2: nesting depth ----------------------------------------------------------------


def test_nesting_deeper_than_the_limit_is_a_short_error_in_little_memory() -> None:
    depth = 5_000  # old parser: ~40 MB and no error; 60 KB of `[` took 5.5 GB
    parser = stream_json()
    tracemalloc.start()
    try:
        with pytest.raises(JSONStreamError) as info:
            parser.feed("[" * depth)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"more than {MAX_DEPTH} nested" in str(info.value)
    assert info.value.offset == MAX_DEPTH  # the first `[` too many
    assert len(str(info.value)) < 200
    assert peak < 3_000_000
    with pytest.raises(JSONStreamError):  # and it stays broken
        parser.feed("]")


def test_the_depth_limit_itself_parses_and_a_typed_stream_stops_cleanly() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value, _ = feed_plain([*deep[:600], deep[600:]])
    assert value == json.loads(deep)
    parser = stream_json()
    parser.feed("[" * MAX_DEPTH)
    with pytest.raises(JSONStreamError) as info:  # ends inside 512 open levels: short message
        parser.close()
    assert "incomplete" in str(info.value) and len(str(info.value)) < 200
    *_, snap = stream_model(MeetingInfo, ['{"date": "d", "users": ', "[" * 2_000])
    assert isinstance(snap.error, JSONStreamError) and "nested" in snap.error.message
    assert snap.partial.date == "d"


# -- item 4: lone surrogates --------------------------------------------------------------


def as_utf16_units(text: str) -> str:
    """Astral characters as two surrogate code points: what a stream can carry when an SSE
    payload escapes them (`"\\ud83d\\ude00"`) and the halves land in different events."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out += [chr(0xD800 + (cp >> 10)), chr(0xDC00 + (cp & 0x3FF))]
        else:
            out.append(ch)
    return "".join(out)


# Literal lone surrogates, a literal pair, and the escaped forms of both.
HOSTILE = ('{"date": "a\ud800b\\ud800c", "location": "\udc00 \\udc00", '
           '"deadline": "' + as_utf16_units("\U0001f600") + ' \\ud83d\\ude00", "users": [], '
           '"budget": 1}')


def test_an_sse_payload_with_a_lone_surrogate_decodes_to_one() -> None:
    """The chunk the engine gets from the openai client for `{"content": "\\"\\ud800\\""}`."""
    chunk = json.loads('{"content": "\\"\\ud800\\""}')["content"]
    assert chunk == '"\ud800"'
    *_, snap = stream_model(MeetingInfo, ['{"date": ', chunk, ', "location": "x"'])
    assert snap.partial.date == "\ufffd"
    assert encodable(snap.text) and encodable(snap.partial.model_dump())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_lone_surrogates_come_out_as_replacement_characters_in_any_chunking(
        data: st.DataObject) -> None:
    chunks = data.draw(chunkings(HOSTILE))
    snap = None
    for snap in stream_model(MeetingInfo, chunks):
        assert encodable(snap.partial.model_dump())
        assert encodable(snap.text)
        for ch in snap.changes:
            assert encodable(ch.value)
    assert snap is not None and encodable(snap.value) and encodable(snap.text)
    final = snap.final
    assert final.date == "a\ufffdb\ufffdc"
    assert final.location == "\ufffd \ufffd"
    assert final.deadline == "\U0001f600 \U0001f600"  # pairs, even split, stay one character
    assert final.model_dump_json()  # pydantic can serialise it too
    assert snap.text.count("\U0001f600") == 1  # the literal pair, joined in the text


def test_a_high_surrogate_at_the_very_end_is_replaced_at_close() -> None:
    ms = ModelStream(MeetingInfo)
    ms.feed('{"date": "x')
    ms.feed("\ud83d")  # the other half never comes
    snap = ms.close()
    assert snap.partial.date == "x\ufffd" and snap.text == '{"date": "x\ufffd'
    assert any(isinstance(ch, Grew) and ch.delta == "\ufffd" for ch in snap.changes)


def test_the_plain_parser_keeps_lone_surrogates_like_json_loads() -> None:
    text = '["\\ud800", "\\ud83d\\ude00"]'
    assert feed_plain(list(text))[0] == json.loads(text)


def test_cli_prints_clean_json_for_an_answer_with_a_lone_surrogate(
        isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = dict(MEETING, date="15 \ud800 March")  # json.dumps writes it as `\ud800`
    text = json.dumps(answer)
    code, out, err = run_cli(monkeypatch, [text[i : i + 7] for i in range(0, len(text), 7)])
    assert "Traceback" not in err
    assert code == 0, err
    assert json.loads(out)["date"] == "15 \ufffd March"
    assert '✓ date = "15 \ufffd March"' in err


def test_cli_prints_clean_json_when_the_sse_payload_carries_a_literal_lone_surrogate(
        isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other way in: the server's SSE event holds `\\ud800` in `delta.content`, so the
    openai client hands the engine a str with a real U+D800 (split around it, too)."""
    text = json.dumps(MEETING)
    cut = text.index("March")
    answer = [text[:cut], "15 \ud800", " ", text[cut:]]
    code, out, err = run_cli(monkeypatch, answer)
    assert "Traceback" not in err
    assert code == 0, err
    assert json.loads(out)["date"] == "15 \ufffd March 15th, 2024"


# -- item 5: numbers ----------------------------------------------------------------------


def test_a_number_with_too_many_digits_is_a_json_error_and_the_parser_stays_broken() -> None:
    parser = stream_json()
    parser.feed('{"a": "kept", "b": ')
    with pytest.raises(JSONStreamError) as info:  # not a bare ValueError from int()
        parser.feed("1" * 5_000 + "}")
    assert "number too long" in str(info.value) and len(str(info.value)) < 200
    assert info.value.offset == len('{"a": "kept", "b": ')
    assert parser.value == {"a": "kept"}
    with pytest.raises(JSONStreamError) as again:
        parser.feed("2")
    assert again.value is info.value
    root = stream_json()
    root.feed("1e999")  # a root number ends at close(): there it is out of range
    with pytest.raises(JSONStreamError):
        root.close()
    with pytest.raises(JSONStreamError):  # a second close() does not pretend all is well
        root.close()


def test_digits_stop_being_read_once_the_number_is_too_long() -> None:
    """A token never grows without bound (it was copied on every chunk: quadratic)."""
    parser = stream_json()
    parser.feed("[")
    fed = 1
    with pytest.raises(JSONStreamError):
        for _ in range(10_000):
            parser.feed("1234")
            fed += 4
    assert fed <= 1 + MAX_NUMBER_CHARS + 4


@pytest.mark.parametrize("number", ["1e999", "-1.5E+400"])
def test_a_float_that_overflows_is_an_error_not_infinity(number: str) -> None:
    with pytest.raises(JSONStreamError, match="out of range"):
        feed_plain(["[", number, "]"])
    *_, snap = stream_model(MeetingInfo, [f'{{"date": "d", "budget": {number}}}'])
    assert isinstance(snap.error, JSONStreamError) and snap.partial.date == "d"


def test_cli_reports_a_huge_number_as_an_error_line_with_the_partial(
        isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = ['{"users": [], "date": "2024-03-15", ', '"budget": ', "7" * 5_000, "}"]
    code, out, err = run_cli(monkeypatch, answer)
    assert "Traceback" not in err
    assert code == 1
    assert json.loads(out)["date"] == "2024-03-15"  # the partial is still printed
    assert "error: number too long" in err


# -- item 6: long strings -----------------------------------------------------------------


def test_a_growing_string_has_one_reference_so_appends_happen_in_place() -> None:
    """The mechanism that makes long strings linear: between chunks the partial holds the only
    reference to the string in progress (the parser, the changes and the snapshot read it
    from there), so CPython extends it instead of copying it. Reading `snap.partial` and
    every change after each chunk, as a UI does, must not add one."""
    chunks = ['{"date": "', *["abcdefg"] * 3_000, '"}']
    counts = []
    for i, snap in enumerate(stream_model(MeetingInfo, chunks)):
        text = snap.partial.date
        values = [ch.value for ch in snap.changes if ch.path == "date"]
        assert text is not None and (not values or values[-1] == text)
        del text, values
        if 300 < i < len(chunks) - 1:  # past the short start, where a copy is cheaper
            counts.append(sys.getrefcount(snap.partial.__dict__["date"]))
    assert set(counts) == {2}  # the __dict__ entry and getrefcount's own argument


def test_a_growing_plain_string_has_one_reference_too() -> None:
    parser = stream_json()
    parser.feed('{"s": "')
    counts = []
    for _ in range(2_000):
        changes = parser.feed("xyz")
        assert changes == [Grew("s", parser.value["s"], "xyz")]
        del changes
        counts.append(sys.getrefcount(parser.value["s"]))
    assert set(counts[500:]) == {2}


def test_changes_keep_their_meaning_when_read_late() -> None:
    ms = ModelStream(MeetingInfo)
    first = ms.feed('{"date": "ab').changes
    grew = [ms.feed(piece).changes[0] for piece in ("cd", "ef")]
    ms.feed('", "location": "x"')
    assert first[-1] == Started("date", "ab")
    assert [(g.value, g.delta) for g in grew] == [("abcd", "cd"), ("abcdef", "ef")]
    assert ms.partial.date == "abcdef"


class Note(BaseModel):
    code: str = Field(pattern=r"^[a-z]+$")  # constrained: validated when complete
    tags: list[str]


def test_constrained_and_list_strings_grow_and_read_back_in_any_chunking() -> None:
    doc = {"code": "abc" * 600, "tags": ["t" * 1500, "u"]}
    text = json.dumps(doc)
    for size in (1, 7, 1000):
        seen: dict[str, list[str]] = {}
        snap = None
        for snap in stream_model(Note, [text[i : i + size] for i in range(0, len(text), size)]):
            for ch in snap.changes:
                if isinstance(ch, (Started, Grew)) and isinstance(ch.value, str):
                    seen.setdefault(ch.path, []).append(ch.value)
        assert snap is not None and snap.final == Note.model_validate(doc)
        for path, values in seen.items():  # each read late: still a growing prefix
            want = doc["code"] if path == "code" else doc["tags"][int(path[5])]
            assert all(want.startswith(v) for v in values) and values == sorted(values, key=len)


# -- item 7: duplicate keys ---------------------------------------------------------------


def first_wins(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def test_a_duplicate_key_keeps_the_first_value_and_says_so() -> None:
    value, changes = feed_plain(list('{"date": "first", "date": "second"}'))
    assert value == {"date": "first"}
    done = [ch for ch in changes if isinstance(ch, Done) and ch.path == "date"]
    assert done == [Done("date", "first")]
    dup = [ch for ch in changes if isinstance(ch, Invalid)]
    assert [(d.path, d.value) for d in dup] == [("date", "first")]
    assert "twice" in dup[0].error and "first value is kept" in dup[0].error


def test_a_duplicate_container_is_parsed_and_dropped_whole() -> None:
    text = '{"a": [1, 2], "b": {"c": 3}, "a": {"x": [4, {"y": "5"}]}, "b": [6], "z": 7}'
    value, changes = feed_plain(list(text))
    assert value == {"a": [1, 2], "b": {"c": 3}, "z": 7} == json.loads(
        text, object_pairs_hook=first_wins)
    paths = [ch.path for ch in changes if not isinstance(ch, Invalid)]
    assert not any(p.startswith(("a.", "a[2]", "b[")) for p in paths)
    done = [ch.path for ch in changes if isinstance(ch, Done)]
    assert len(done) == len(set(done))


keys = st.sampled_from(["a", "b", "c"])
dup_objects = st.recursive(
    st.integers(0, 9) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3).map(lambda items: ("list", items))
    | st.lists(st.tuples(keys, inner), max_size=5).map(lambda pairs: ("obj", pairs)),
    max_leaves=12,
)


def render(node: object) -> str:
    if isinstance(node, tuple) and node[0] == "list":
        return "[" + ", ".join(render(v) for v in node[1]) + "]"
    if isinstance(node, tuple):
        return "{" + ", ".join(f"{json.dumps(k)}: {render(v)}" for k, v in node[1]) + "}"
    return json.dumps(node)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_duplicates_anywhere_in_any_chunking_never_change_a_done_value(
        data: st.DataObject) -> None:
    text = render(data.draw(dup_objects))
    value, changes = feed_plain(data.draw(chunkings(text)))
    assert value == json.loads(text, object_pairs_hook=first_wins)
    done: dict[str, str] = {}
    for ch in changes:
        if isinstance(ch, Done):
            assert ch.path not in done, f"{ch.path} done twice"
            done[ch.path] = json.dumps(ch.value)
        elif not isinstance(ch, Invalid):
            assert ch.path not in done, f"{ch.path} changed after done"


class Ticket(BaseModel):
    model_config = {"populate_by_name": True}

    title: str = Field(alias="ticketTitle")
    count: int


def test_typed_duplicates_keep_the_first_value_in_the_partial_and_the_final() -> None:
    doc = json.dumps(MEETING)[:-1] + (', "date": "second", "users": [{"name": "evil"}], '
                                       '"extra": 1, "extra": [2]}')
    first_date_done = False
    invalid = {}
    snap = None
    for snap in stream_model(MeetingInfo, list(doc)):
        if first_date_done:
            assert snap.partial.date == MEETING["date"]
            assert len(snap.partial.users) == 2
        first_date_done = first_date_done or "date" in snap.done
        for ch in snap.changes:
            if isinstance(ch, Invalid):
                invalid[ch.path] = ch
            assert not (isinstance(ch, Done) and ch.path in ("date", "users", "extra")
                        and ch.path in invalid)
    assert snap is not None
    assert set(invalid) == {"date", "users", "extra"}
    assert invalid["date"].value == MEETING["date"]
    assert "twice" in snap.errors["date"] and snap.state("date") == "invalid"
    final = snap.final  # the first values validate: the answer is usable
    assert final.date == MEETING["date"] and [u.name for u in final.users] == [
        "John Doe", "Jane Smith"]
    *_, snap = stream_model(Ticket, list('{"ticketTitle": "a", "title": "b", "count": 1}'))
    assert snap.final.title == "a" and snap.partial.title == "a"
    assert "twice" in snap.errors["title"]


def test_a_refusal_with_a_lone_surrogate_is_clean_text(srv: ReplayServer) -> None:
    """The refusal never reaches the parser, so it is cleaned where the ending is built."""
    from engine.llm.extract import extract
    from tests.support import openai_client

    srv.queue(Reply.content([], refusal="I can\ud800t help"))
    final = list(extract("t", MeetingInfo, client=openai_client(srv), model="replay-model"))[-1]
    assert final.error.refusal == "I can\ufffdt help"
    final.error.message.encode("utf-8")
