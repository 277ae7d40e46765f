"""engine.compare.lanes and verdict: a preset lane's pinned schema, the reference (JSON text or
a History run), and the verdict of lanes that really ran against the replay server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.compare import lanes, verdict
from engine.compare.lanes import LaneSpec
from engine.providers.registry import Provider
from engine.runs.group import RunnerGroup
from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.schemas.definition import FieldDef, SchemaDefinition
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.schemas.resolve import resolve_schema
from engine.schemas.saved import save_schema
from engine.store import Store, StoredRun
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING, chunks

#: A flatter MeetingInfo made on the Schemas page: no users, the place under another name.
FLAT = SchemaDefinition(name="Meeting flat", fields=[
    FieldDef(name="date"), FieldDef(name="venue"), FieldDef(name="budget", type="whole number"),
])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def _lane(name: str, version: str | None, lane: str = "b") -> LaneSpec:
    return LaneSpec(lane, f"{lane.upper()} · {name}", name, version, "Custom server", "m",
                    "json_schema")


def test_a_preset_lanes_pinned_schema_is_found_under_its_stored_name(store: Store) -> None:
    save_schema(store, FLAT)
    save_schema(store, FLAT.model_copy(update={"instruction": "Be brief."}))
    pins = lanes.pin_schemas(store, [_lane("MeetingInfo", None, "a"), _lane("meeting FLAT", "1")])
    assert pins["a"].choice is not None and pins["a"].choice.schema is MeetingInfo
    flat = pins["b"].choice
    assert flat is not None and (flat.name, flat.version) == ("Meeting flat", "1")
    assert flat.system != "Be brief."  # version 1, not the newest
    assert pins["a"].problem is None and pins["b"].problem is None


def test_a_preset_lanes_missing_schema_or_version_is_named_never_swapped(store: Store) -> None:
    """Regression (Hardening II #11): a preset pinning a schema that is gone loaded as
    MeetingInfo, one pinning a missing version as the newest, without a word."""
    save_schema(store, FLAT)
    gone = lanes.pin_schema(store, _lane("Gone", "1"))
    assert gone.choice is None and gone.found_name is None
    assert gone.problem == ("The preset pins schema 'Gone' (version 1), which is not "
                            "here; pick a schema.")
    version = lanes.pin_schema(store, _lane("meeting flat", "7", "c"))
    assert version.choice is None and version.found_name == "Meeting flat"
    assert version.problem == ("The preset pins version 7 of schema 'Meeting flat', "
                               "which is not saved here; pick a version.")
    built_in = lanes.pin_schema(store, _lane("NoSuchBuiltIn", None, "d"))
    assert built_in.choice is None and "schema 'NoSuchBuiltIn', which is not" in str(
        built_in.problem)
    # A built-in name with a version pinned was a saved schema: the built-in is not it.
    assert lanes.pin_schema(store, _lane("MeetingInfo", "2")).found_name is None
    assert lanes.pin_schema(None, _lane("Meeting flat", "1")).problem is not None  # no store


def test_a_reference_typed_as_json() -> None:
    assert verdict.parse_reference('{"date": "March 15"}') == {"date": "March 15"}
    assert verdict.parse_reference("  \n") is None
    with pytest.raises(ValueError, match=r"not valid JSON: .* line 2, column 11"):
        verdict.parse_reference('{"date": "March 15",\n "budget" 5}')


def test_a_reference_from_a_history_run(store: Store) -> None:
    run = StoredRun("MeetingInfo", "Custom server", "m", result=MEETING, status="done")
    store.add(run)
    assert verdict.reference_of_run(store, f" {run.id} ") == MEETING
    with pytest.raises(ValueError, match="No run 'missing' in the History"):
        verdict.reference_of_run(store, "missing")


def test_the_verdict_of_two_lanes_that_ran(store: Store) -> None:
    """Two real runs (MeetingInfo and the flat variant) against two replay servers: matching,
    differing and one-sided fields, judged against a reference."""
    flat = resolve_schema(store, save_schema(store, FLAT).name).schema
    other = {"date": "march 15TH,  2024", "venue": "Harbour Hall", "budget": 50000.0}
    with ReplayServer() as one, ReplayServer() as two:
        one.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
        two.queue(Reply.content(chunks(json.dumps(other)), pace=0.001))
        runners = {}
        for lane, srv, name, schema in (("a", one, "MeetingInfo", MeetingInfo),
                                        ("b", two, "Meeting flat", flat)):
            provider = Provider(f"srv {lane}", "compatible", srv.base_url, ("json_schema",), "m",
                                api_key="k")
            spec = RunSpec.for_provider(MEETING_NOTE, name, schema, provider, "m", "json_schema",
                                        source="compare")
            runners[lane] = start_run(spec, provider)
        group = RunnerGroup(runners)
        while not group.ended:
            group.next_update()
    ends = {lane: r.report() for lane, r in runners.items()}
    reference = {**MEETING, "budget": 50000, "date": "March 16th, 2024"}
    rows = {r.path: r for r in verdict.live_verdict(
        ends, {"a": MeetingInfo, "b": flat}, reference=reference, has_reference=True)}
    assert rows["budget"].agreement == "agree"  # 50000 and 50000.0
    assert rows["date"].agreement == "agree"  # case and spacing
    assert rows["date"].correct == {"a": False, "b": False}
    assert rows["budget"].correct == {"a": True, "b": True}
    assert rows["location"].agreement == "one-sided"
    assert rows["location"].present == {"a": True, "b": False}
    assert rows["venue"].present == {"a": False, "b": True}
    assert rows["users[0].email"].values["a"] == "johndoe@email.com"
    assert rows["users[0].email"].present["b"] is False


# --- a lane's chunking (#19): kept in its JSON, absent from lanes stored before it -----------


def test_a_lanes_chunking_round_trips_and_old_lanes_load_as_auto() -> None:
    chunked = LaneSpec("b", "B · MeetingInfo · m · chunked", "MeetingInfo", None,
                       "Custom server", "m", "json_schema", "always")
    assert lanes.lanes_from_json(json.dumps([chunked.to_json()])) == [chunked]
    old = chunked.to_json()
    del old["chunking"]  # a lane saved before lanes could be chunked
    assert LaneSpec.from_json(old).chunking == "auto"
    with pytest.raises(ValueError, match="'chunking' must be one of auto, always, got 'often'"):
        LaneSpec.from_json({**old, "chunking": "often"})


def test_a_preset_stored_before_chunking_loads_and_a_new_one_keeps_it(store: Store) -> None:
    from dataclasses import replace

    from sqlalchemy import insert

    from engine.compare.presets import get_preset, save_preset
    from engine.schemas.saved import name_key
    from engine.store.records import utcnow
    from engine.store.tables import compare_presets

    old = [{k: v for k, v in _lane("MeetingInfo", None, lane).to_json().items()
            if k != "chunking"} for lane in "ab"]
    with store.transaction() as conn:
        conn.execute(insert(compare_presets).values(
            name="Old", name_key=name_key("Old"), version=1, created_by=None,
            created_at=utcnow(), lanes=json.dumps(old)))
    a, b = get_preset(store, "Old").lanes
    assert (a.chunking, b.chunking) == ("auto", "auto")
    save_preset(store, "Old", [a, replace(b, chunking="always")])
    assert [lane.chunking for lane in get_preset(store, "Old").lanes] == ["auto", "always"]
    assert get_preset(store, "Old", 1).lanes == [a, b]  # the old version reads as it was
