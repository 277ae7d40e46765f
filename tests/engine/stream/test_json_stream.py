"""The incremental JSON parser: every chunk boundary, text around the JSON, clear errors."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import JSONStreamError, stream_json
from engine.stream.changes import Done, Grew, Started
from engine.stream.json_stream import child_path

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=5),
    max_leaves=25,
)


@st.composite
def rendered(draw: st.DrawFn, values: st.SearchStrategy = json_values) -> str:
    """A JSON text in one of the shapes LLMs and servers produce."""
    value = draw(values)
    style = draw(st.sampled_from(["compact", "spaced", "pretty", "ascii"]))
    if style == "compact":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if style == "pretty":
        return json.dumps(value, indent=2, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=style == "ascii")


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=max(1, len(text)))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def feed_all(chunks: list[str]) -> tuple[object, list]:
    parser = stream_json()
    changes = []
    for chunk in chunks:
        changes += parser.feed(chunk)
    changes += parser.close()
    return parser.value, changes


def all_paths(value: object, path: str = "") -> dict[str, object]:
    """Every path in a plain value, built the way the parser names them."""
    out = {path: value}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(all_paths(v, child_path(path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(all_paths(v, child_path(path, i)))
    return out


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_value_any_chunking_matches_json_loads(data: st.DataObject) -> None:
    text = data.draw(rendered())
    chunks = data.draw(chunkings(text))
    value, _ = feed_all(chunks)
    assert value == json.loads(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_done_value_never_changes(data: st.DataObject) -> None:
    text = data.draw(rendered())
    chunks = data.draw(chunkings(text))
    parser = stream_json()
    seen: dict[str, str] = {}
    for batch in [*(parser.feed(chunk) for chunk in chunks), parser.close()]:
        for ch in batch:
            if isinstance(ch, Done):
                assert ch.path not in seen, f"{ch.path} done twice"
                seen[ch.path] = json.dumps(ch.value)  # frozen copy at the moment it was done
            else:
                assert ch.path not in seen, f"{ch.path} changed after done"
    expected = all_paths(json.loads(text))
    assert set(seen) == set(expected)  # every value is done exactly once, under its own path
    for path, frozen in seen.items():
        assert frozen == json.dumps(expected[path])
        assert parser.state(path) == "done"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_never_raises_on_a_prefix_of_valid_json(data: st.DataObject) -> None:
    text = data.draw(rendered())
    cut = data.draw(st.integers(0, len(text)))
    parser = stream_json()
    for chunk in data.draw(chunkings(text[:cut])):
        parser.feed(chunk)  # must not raise: the text so far can still become valid


@pytest.mark.parametrize("text", [
    '"\\ud83d\\ude00 and \\u00e9\\n\\t\\"q\\" \\\\ \\/"',
    '{"k\\u00e9y": ["\\ud83d\\ude00", "\\ud83d", "\\ud83dx", "\\udc00"]}',
    '[-0.5e-3, 12345678901234567890, 1E+2, 0, -0, true, false, null]',
    '{\n  "a" :\r\n\t[ 1 ,\n 2 ] ,  "b": { }  }',
])
def test_every_split_point_of_escapes_numbers_and_whitespace(text: str) -> None:
    expected = json.loads(text)
    for i in range(len(text) + 1):
        for j in range(i, min(len(text), i + 8) + 1):
            value, _ = feed_all([text[:i], text[i:j], text[j:]])
            assert value == expected, (i, j)
    value, _ = feed_all(list(text))  # one character at a time
    assert value == expected


def test_prose_fence_and_trailing_text_are_kept_not_parsed() -> None:
    parser = stream_json()
    for chunk in ['Sure! Here is the JSON:\n``', '`json\n{"date": "20', '24"}\n```', '\nThanks']:
        parser.feed(chunk)
    parser.close()
    assert parser.value == {"date": "2024"}
    assert parser.prose == "Sure! Here is the JSON:\n```json\n"
    assert parser.trailing == "\n```\nThanks"


def test_scalar_roots_and_prose_that_starts_like_a_literal() -> None:
    assert feed_all(["tr", "ue"])[0] is True
    assert feed_all(["12", "34"])[0] == 1234
    assert feed_all(['"a', 'b"'])[0] == "ab"
    assert feed_all(["t", "he answer: ", '{"a": 1}'])[0] == {"a": 1}


def test_strings_grow_numbers_and_literals_appear_only_when_complete() -> None:
    parser = stream_json()
    assert parser.feed('{"name": "Jo') == [Started("", {"name": "Jo"}), Started("name", "Jo")]
    assert parser.feed("hn") == [Grew("name", "John", "hn")]
    assert parser.state("name") == "streaming"
    assert parser.feed('", "budget": 5') == [Done("name", "John"), Started("budget", None)]
    assert parser.feed("00") == []  # half-written numbers are never shown
    assert parser.state("budget") == "streaming"
    assert parser.state("missing") == "pending"
    assert parser.feed("0") == []
    assert parser.feed(", ") == [Done("budget", 5000)]
    assert parser.feed('"ok": tr') == [Started("ok", None)]
    assert parser.feed("ue}") == [Done("ok", True), Done("", {"name": "John", "budget": 5000,
                                                              "ok": True})]
    assert parser.state("budget") == "done"


def test_a_chunk_that_changes_nothing_visible_yields_no_change() -> None:
    parser = stream_json()
    parser.feed('{"a": 1')
    assert parser.feed(",") == [Done("a", 1)]
    assert parser.feed(' "') == []
    assert parser.feed("b") == []  # a key in progress is not a visible change
    assert parser.feed('":') == []


@pytest.mark.parametrize(("text", "offset", "what"), [
    ('{"a" 1}', 5, "expected ':'"),
    ('{"a": tru}', 6, "invalid literal 'tru'"),
    ('[1,]', 3, "expected a JSON value"),
    ('{"a": "\\x"}', 7, "invalid escape"),
    ('{"a": 01}', 6, "invalid number '01'"),
    ('{"a": 1]', 7, "expected ',' or '}'"),
    ('{"a": "\\u12G4"}', 9, "invalid unicode escape"),
])
def test_invalid_json_raises_with_offset_and_nearby_text(text: str, offset: int,
                                                         what: str) -> None:
    parser = stream_json()
    with pytest.raises(JSONStreamError) as info:
        for ch in text:
            parser.feed(ch)
        parser.close()
    err = info.value
    assert what in str(err)
    assert err.offset == offset
    assert f"offset {offset}" in str(err)
    assert text[max(0, offset - 3) : offset + 1] in err.near
    with pytest.raises(JSONStreamError):  # a broken parser stays broken, loudly
        parser.feed("1")


@pytest.mark.parametrize("text", ['{"a": 1', '{"a": "unfinished', "[1, 2", "", "just prose"])
def test_close_raises_when_the_text_ends_inside_a_value(text: str) -> None:
    parser = stream_json()
    parser.feed(text)
    with pytest.raises(JSONStreamError):
        parser.close()


def test_work_per_chunk_does_not_depend_on_what_came_before() -> None:
    """The parser keeps no copy of the text: its private state stays small however much
    was fed (the string in progress aside)."""
    parser = stream_json()
    parser.feed("[")
    for i in range(2000):
        parser.feed(json.dumps({"i": i, "s": "x" * 10}) + ",")
    small = [v for k, v in vars(parser).items() if isinstance(v, str)]
    assert all(len(v) < 64 for v in small)
    assert len(parser._stack) == 1  # only the open list
    assert len(parser._recent) <= 8
