"""The whole app with awkward aliases: `"my tags[]"` (a list of text), `"meta.data"` (a nested
model with a field that fails its validator) and a table whose column is `"full.name"`. Every
field fills in, and the invalid field is reported once, under the path the engine gives it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field, field_validator
from streamlit.testing.v1 import AppTest

from engine.schemas import library
from engine.testing.replay_server import ReplayServer, Reply
from tests.pages.test_every_page import chunks, extract_page, press_extract, server, texts

__all__ = ["server"]  # the fixture, shared with the pages' tests


class Meta(BaseModel):
    size: int = Field(description="must be at most 10")
    note: str

    @field_validator("size")
    @classmethod
    def small(cls, v: int) -> int:
        if v > 10:
            raise ValueError("size must be at most 10")
        return v


class Person(BaseModel):
    name: str = Field(alias="full.name")
    age: int


class Awkward(BaseModel):
    title: str
    tags: list[str] = Field(alias="my tags[]")
    meta: Meta = Field(alias="meta.data")
    people: list[Person] = Field(alias="the [people]")


ANSWER = {
    "title": "Garden day",
    "my tags[]": ["compost", "seedlings"],
    "meta.data": {"size": 50, "note": "bring gloves"},
    "the [people]": [{"full.name": "Ada Lovelace", "age": 36}, {"full.name": "Alan Turing",
                                                                "age": 41}],
}


@pytest.fixture
def awkward(monkeypatch: pytest.MonkeyPatch, server: ReplayServer) -> Iterator[ReplayServer]:
    monkeypatch.setitem(library.SCHEMAS, "Awkward", Awkward)
    monkeypatch.setitem(library.SAMPLE_FOR_SCHEMA, "Awkward", next(iter(library.SAMPLES)))
    yield server


def run_awkward(server: ReplayServer) -> AppTest:
    server.queue(Reply.content(chunks(json.dumps(ANSWER), 5), pace=0.001))
    at = extract_page()
    at.selectbox(key="fs_schema").select("Awkward").run()
    return press_extract(at)


def test_every_awkward_field_fills_in(awkward: ReplayServer) -> None:
    at = run_awkward(awkward)
    shown = texts(at)
    assert "**title** · ✓ done" in shown and "Garden day" in shown
    assert "**my tags[]** · ✓ done · 2 items" in shown
    assert "✓ compost" in shown and "✓ seedlings" in shown
    assert "**note** · ✓ done" in shown and "bring gloves" in shown
    assert "**the [people]** · ✓ done · 2 rows" in shown
    table = next(f.value for f in at.dataframe if "full.name" in f.value.columns)
    assert list(table["full.name"]) == ["Ada Lovelace", "Alan Turing"]
    assert [str(a) for a in table["age"]] == ["36", "41"]


def test_a_broken_run_keeps_what_arrived_under_the_json_keys() -> None:
    """A run that breaks mid-stream rebuilds what arrived from the form's own cells, whose
    placeholders are paths: each is parsed back into its JSON keys."""
    from engine.runs.runner import Runner
    from engine.schemas.fields import leaves
    from engine.stream.model_stream import ModelStream

    def factory(cancel: object) -> Iterator[object]:
        stream = ModelStream(Awkward)
        for piece in chunks(json.dumps(ANSWER)[:-1], 5):
            yield stream.feed(piece)
        raise RuntimeError("the connection dropped")

    runner = Runner(leaves(Awkward), factory).start()
    while not runner.next_update(timeout=5).ended:
        pass
    arrived = json.loads(runner.json_text())
    assert arrived["my tags[]"] == ["compost", "seedlings"]
    assert arrived["meta.data"] == {"size": 50, "note": "bring gloves"}
    assert arrived["the [people]"][1] == {"full.name": "Alan Turing", "age": 41}


def test_the_invalid_field_is_reported_once_under_its_path(awkward: ReplayServer) -> None:
    at = run_awkward(awkward)
    shown = texts(at)
    assert "**size** ·" in shown and "size must be at most 10" in shown  # on the field's box
    problems = at.dataframe[-1].value
    fields = list(problems["field"])
    leaf_rows = [f for f in fields if "size" in str(problems["problem"][fields.index(f)])
                 and f not in ("", '["meta.data"]')]
    assert leaf_rows == ['["meta.data"].size'], fields
    assert "meta.data.size" not in fields
