"""Typed, field-aware streams: Partial models, field state, validation, items, changes."""

from __future__ import annotations

import json
from enum import Enum
from itertools import pairwise
from typing import Literal, Optional, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from engine import (
    ExtractionError,
    JSONStreamError,
    ModelStream,
    Partial,
    SchemaError,
    Truncated,
    ValidationFailed,
    stream_items,
    stream_model,
)
from engine.schemas.library import MeetingInfo, User
from engine.stream.changes import Done, Grew, Invalid, Started
from tests.support import MEETING


def chars(doc: object) -> list[str]:
    return list(json.dumps(doc))


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str


class Ticket(BaseModel):
    model_config = {"populate_by_name": True}

    title: str = Field(alias="ticketTitle")
    priority: Literal["low", "high"]
    color: Color
    count: int
    ratio: float = 0.5
    urgent: bool = False
    address: Address
    backup: Optional[Address] = None  # noqa: UP045 - the Optional spelling is what users write
    tags: list[str] = []
    notes: Optional[str] = None  # noqa: UP045


TICKET = {
    "ticketTitle": "Printer on fire", "priority": "high", "color": "red", "count": 12,
    "address": {"street": "1 Main St", "city": "Springfield"}, "tags": ["hw", "urgent"],
}


def test_partial_makes_every_field_optional_recursively() -> None:
    partial = Partial[MeetingInfo]
    assert partial is Partial[MeetingInfo]  # cached: isinstance checks work
    empty = partial()
    assert empty.users is None and empty.budget is None
    filled = partial.model_validate({"users": [{"name": "Jo"}], "budget": 5})
    assert filled.users[0].name == "Jo" and filled.users[0].email is None
    assert isinstance(filled.users[0], Partial[User])
    with pytest.raises(TypeError):
        Partial[int]  # type: ignore[misc]


def test_meeting_streams_field_by_field_and_validates() -> None:
    snaps = []
    states = []
    for snap in stream_model(MeetingInfo, chars(MEETING)):
        snaps.append(snap)
        states.append((snap.partial.model_dump(), snap.progress))
    final = snaps[-1].final
    assert final == MeetingInfo.model_validate(MEETING)
    assert isinstance(snaps[-1].partial, Partial[MeetingInfo])
    assert len({json.dumps(s) for s, _ in states}) > 20  # many distinct partial states
    progress = [p for _, p in states]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert snaps[-1].done >= {"users[0].name", "users[1]", "users", "date", "budget", ""}


def test_numbers_booleans_literals_and_enums_appear_only_when_complete() -> None:
    seen: dict[str, list[object]] = {}
    for snap in stream_model(Ticket, chars(TICKET)):
        p = snap.partial
        for name in ("count", "priority", "color", "urgent"):
            value = getattr(p, name)
            if value is not None and value not in seen.setdefault(name, []):
                seen[name].append(value)
    assert seen["count"] == [12]  # never 1 on the way to 12
    assert seen["priority"] == ["high"]  # never "h" or "hig"
    assert seen["color"] == [Color.RED]


def test_strings_grow_as_they_arrive() -> None:
    names = []
    for snap in stream_model(MeetingInfo, chars(MEETING)):
        if snap.partial.users and snap.partial.users[0].name:
            name = snap.partial.users[0].name
            if not names or names[-1] != name:
                names.append(name)
    assert names[:3] == ["J", "Jo", "Joh"] and names[-1] == "John Doe"


def test_aliases_defaults_nested_and_optional_fields_left_out() -> None:
    snap = None
    changes = []
    for snap in stream_model(Ticket, chars(TICKET)):
        changes += snap.changes
    result = snap.final
    assert result == Ticket.model_validate(TICKET)
    assert result.title == "Printer on fire" and result.ratio == 0.5 and result.backup is None
    assert snap.partial.title == "Printer on fire"  # the alias key fills the field
    assert snap.partial.address.city == "Springfield"
    assert Done("ratio", 0.5) in changes and Done("notes", None) in changes  # defaults reported
    assert snap.progress == 1.0


def test_change_events_carry_path_value_state_and_delta() -> None:
    ms = ModelStream(MeetingInfo)
    assert ms.feed('{"date": "Mar').changes == [Started("", ms.partial), Started("date", "Mar")]
    snap = ms.feed("ch")
    assert snap.changes == [Grew("date", "March", "ch")]
    assert snap.changes[0].state == "streaming" and snap.changes[0].delta == "ch"
    assert ms.feed('", ').changes == [Done("date", "March")]
    assert ms.feed('"bud').changes == []  # a key in progress changes nothing visible
    assert ms.feed('get": 5').changes == [Started("budget", None)]
    assert ms.feed("0").changes == []
    snap = ms.feed(",")
    assert snap.changes == [Done("budget", 50)] and snap.state("budget") == "done"
    assert snap.state("location") == "pending" and snap.state("date") == "done"


class Contact(BaseModel):
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.\w+$")

    @field_validator("name")
    @classmethod
    def capitalised(cls, v: str) -> str:
        if not v[:1].isupper():
            raise ValueError("name must start with a capital letter")
        return v


class Directory(BaseModel):
    contacts: list[Contact]
    date: str

    @model_validator(mode="after")
    def at_least_two(self) -> Directory:
        if len(self.contacts) < 2:
            raise ValueError("need at least two contacts")
        return self


def test_field_validators_and_constraints_run_as_soon_as_the_field_is_done() -> None:
    doc = {"contacts": [{"name": "ann", "email": "not-an-email"},
                        {"name": "Bob", "email": "bob@x.io"}], "date": "today"}
    first_invalid = {}
    snap = None
    for i, snap in enumerate(stream_model(Directory, chars(doc))):
        for ch in snap.changes:
            if isinstance(ch, Invalid):
                first_invalid.setdefault(ch.path, (i, snap.state("date")))
    assert first_invalid["contacts[0].name"][1] == "pending"  # flagged long before the end
    assert first_invalid["contacts[0].email"][1] == "pending"
    assert "capital" in snap.errors["contacts[0].name"]
    assert "pattern" in snap.errors["contacts[0].email"]
    assert snap.partial.contacts[0].email == "not-an-email"  # the partial keeps what arrived
    assert snap.state("contacts[1]") == "done"
    with pytest.raises(ValidationFailed) as info:
        snap.final
    assert info.value.partial is snap.partial
    assert "contacts[0].email" in info.value.errors


def test_model_validators_run_at_the_end_only() -> None:
    doc = {"contacts": [{"name": "Ann", "email": "ann@x.io"}], "date": "today"}
    snaps = list(stream_model(Directory, chars(doc)))
    assert all(not s.errors for s in snaps[:-2])
    with pytest.raises(ValidationFailed) as info:
        snaps[-1].final
    assert "at least two" in info.value.errors[""]


def test_invalid_number_shows_as_invalid_with_the_partial_kept() -> None:
    doc = dict(MEETING, budget="fifty thousand")
    *_, snap = stream_model(MeetingInfo, chars(doc))
    assert snap.state("budget") == "invalid"
    assert snap.partial.budget is None  # "fifty thousand" cannot live in an int field
    assert snap.partial.deadline == "February 20th"
    with pytest.raises(ValidationFailed):
        snap.final


def test_items_of_a_top_level_list_arrive_one_by_one_validated() -> None:
    text = json.dumps(MEETING["users"])
    seen_at = []
    fed = 0

    def chunks():
        nonlocal fed
        for ch in text:
            fed += 1
            yield ch

    for user in stream_items(list[User], chunks()):
        assert isinstance(user, User)
        seen_at.append(fed)
    assert len(seen_at) == 2 and seen_at[0] < len(text) // 2 + 5


def test_nested_list_items_are_done_while_later_fields_are_pending() -> None:
    for snap in stream_model(MeetingInfo, chars(MEETING)):
        if "users[0]" in snap.done and snap.state("users[1]") != "done":
            assert snap.state("date") == "pending"
            assert snap.partial.users[0].email == "johndoe@email.com"
            break
    else:
        pytest.fail("users[0] never done before users[1]")
    users = list(stream_items(MeetingInfo, chars(MEETING), path="users"))
    assert [u.name for u in users] == ["John Doe", "Jane Smith"]


def test_malformed_json_keeps_the_partial_and_says_where() -> None:
    text = '{"date": "March", "budget": 12 13}'
    *_, snap = stream_model(MeetingInfo, list(text))
    with pytest.raises(JSONStreamError) as info:
        snap.final
    assert info.value.partial.date == "March"
    assert "offset 31" in str(info.value)


def test_truncated_stream_reports_truncation_with_partial_kept() -> None:
    ms = ModelStream(MeetingInfo)
    ms.feed('{"date": "March 15", "location": "Gran')
    snap = ms.close(Truncated("the answer was cut off (finish_reason: length)"))
    with pytest.raises(Truncated) as info:
        snap.final
    assert info.value.partial.date == "March 15" and info.value.partial.location == "Gran"
    assert isinstance(info.value, ExtractionError)


class Tree(BaseModel):
    label: str
    children: list[Tree] = []


class Cat(BaseModel):
    kind: Literal["cat"]
    meows: int


class Dog(BaseModel):
    kind: Literal["dog"]
    barks: int


class Pet(BaseModel):
    pet: Union[Cat, Dog]  # noqa: UP007
    scores: dict[str, int]


def test_recursive_models_unions_and_dicts() -> None:
    tree = {"label": "root", "children": [{"label": "a", "children": [{"label": "b"}]}]}
    *_, snap = stream_model(Tree, chars(tree))
    assert snap.final == Tree.model_validate(tree)
    assert snap.partial.children[0].children[0].label == "b"
    pet = {"pet": {"kind": "dog", "barks": 3}, "scores": {"x": 1, "y": 2}}
    *_, snap = stream_model(Pet, chars(pet))
    assert snap.final == Pet.model_validate(pet)
    assert snap.partial.pet.barks == 3 and snap.partial.scores == {"x": 1, "y": 2}


def test_empty_and_prose_answers_fail_clearly() -> None:
    *_, snap = stream_model(MeetingInfo, [])
    with pytest.raises(JSONStreamError, match="no JSON"):
        snap.final
    *_, snap = stream_model(MeetingInfo, ["I cannot help with that."])
    with pytest.raises(JSONStreamError):
        snap.final
    assert snap.text == "I cannot help with that."  # nothing lost


def test_md_json_answer_with_prose_and_fence() -> None:
    text = "Here you go:\n```json\n" + json.dumps(MEETING, indent=2) + "\n```\nAnything else?"
    *_, snap = stream_model(MeetingInfo, [text[i : i + 3] for i in range(0, len(text), 3)])
    assert snap.final.budget == 50000


def test_timings_per_field() -> None:
    ms = ModelStream(MeetingInfo, track_times=True)
    for ch in chars(MEETING):
        ms.feed(ch)
    ms.close()
    t = ms.timings
    assert t.first_done is not None and t.first_done <= t.elapsed
    start, done = t.fields["date"]
    assert start is not None and done is not None and start <= done


# -- properties ---------------------------------------------------------------------------

users = st.builds(dict, name=st.text(max_size=12), email=st.text(max_size=12),
                  twitter=st.text(max_size=8))
meetings = st.fixed_dictionaries({
    "users": st.lists(users, max_size=4), "date": st.text(max_size=10),
    "location": st.text(max_size=10), "budget": st.integers(), "deadline": st.text(max_size=10),
})


@settings(max_examples=150, deadline=None)
@given(doc=meetings, data=st.data())
def test_every_snapshot_is_a_valid_partial_and_the_end_validates(doc: dict,
                                                                  data: st.DataObject) -> None:
    text = json.dumps(doc, indent=data.draw(st.sampled_from([None, 2])))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=40)))
    bounds = [0, *cuts, len(text)]
    chunks = [text[a:b] for a, b in pairwise(bounds)]
    done_values: dict[str, str] = {}
    snap = None
    for snap in stream_model(MeetingInfo, chunks):
        partial = snap.partial
        assert isinstance(partial, Partial[MeetingInfo])
        Partial[MeetingInfo].model_validate(partial.model_dump())  # a valid Partial instance
        for ch in snap.changes:
            assert ch.path not in done_values, f"{ch.path} changed after it was done"
            if ch.state == "done":
                done_values[ch.path] = repr(ch.value)
    assert snap.final == MeetingInfo.model_validate(doc)
    try:
        MeetingInfo.model_validate(snap.partial.model_dump())
    except ValidationError as exc:  # pragma: no cover - would mean the partial lost data
        pytest.fail(str(exc))


def test_a_broken_schema_fails_clearly_before_streaming() -> None:
    class Broken(BaseModel):
        when: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(SchemaError, match="cannot be used"):
        ModelStream(Broken)
    with pytest.raises(SchemaError, match="not a pydantic model"):
        ModelStream(int)


def test_snapshot_text_is_the_text_up_to_that_chunk_even_read_late() -> None:
    chunks = chars(MEETING)
    snaps = []
    for i, snap in enumerate(stream_model(MeetingInfo, chunks)):
        if i < len(chunks):
            assert snap.text == "".join(chunks[: i + 1])  # read as it streams: incremental
        snaps.append(snap)
    assert snaps[3].text == "".join(chunks[:4])  # an old snapshot, read after the end
    assert snaps[-1].text == json.dumps(MEETING)
