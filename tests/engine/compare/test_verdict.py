"""engine.compare.verdict.compare_lanes: the Compare page's N-way verdict (one row per path
across lanes, schema presence, agreement, correctness against a reference) and lane_scores."""

from __future__ import annotations

from pydantic import BaseModel

from engine.compare.verdict import AGREE, DIFFER, ONE_SIDED, compare_lanes, lane_scores
from engine.history.diff import WHOLE, compare_results
from engine.schemas.fields import leaves
from engine.schemas.library import MeetingInfo


class Place(BaseModel):
    venue: str
    city: str


class FlatMeeting(BaseModel):  # a flatter variant: no users table, the place as a group
    date: str
    place: Place
    budget: int
    organiser: str


def fields_of(schema: type[BaseModel]) -> list[str]:
    return [n.path for n in leaves(schema)]


def by_path(rows: list) -> dict:
    return {row.path: row for row in rows}


def test_matching_and_differing_values_after_normalisation() -> None:
    rows = by_path(compare_lanes({
        "a": {"date": "March 3", "budget": "18,500", "location": "Grand Tech Arena"},
        "b": {"date": " march  3 ", "budget": 18500, "location": "Berlin"},
    }))  # fmt: skip
    assert list(rows) == ["date", "budget", "location"]
    assert rows["date"].agreement == AGREE and rows["budget"].agreement == AGREE
    assert rows["location"].agreement == DIFFER
    assert rows["date"].values == {"a": "March 3", "b": " march  3 "}  # as they came
    assert rows["date"].present == {"a": True, "b": True}
    assert rows["date"].correct == {"a": None, "b": None} and rows["date"].reference is None


def test_a_field_in_one_schema_only_is_one_sided_and_not_present_in_the_other() -> None:
    meeting = {"users": [{"name": "John", "email": "j@x.com", "twitter": "@j"}],
               "date": "March 3", "location": "Arena", "budget": 18500, "deadline": "May"}
    flat = {"date": "march 3", "place": {"venue": "Arena", "city": "Berlin"},
            "budget": 18000, "organiser": "Ann"}
    rows = by_path(compare_lanes({"full": meeting, "flat": flat},
                                 fields={"full": fields_of(MeetingInfo),
                                         "flat": fields_of(FlatMeeting)}))
    assert list(rows) == ["users[0].name", "users[0].email", "users[0].twitter", "date",
                          "location", "budget", "deadline", "place.venue", "place.city",
                          "organiser"]
    assert rows["users[0].email"].present == {"full": True, "flat": False}
    assert rows["users[0].email"].agreement == ONE_SIDED
    assert rows["place.city"].present == {"full": False, "flat": True}
    assert rows["place.city"].values == {"full": None, "flat": "Berlin"}
    assert rows["place.city"].agreement == ONE_SIDED
    assert rows["date"].agreement == AGREE and rows["budget"].agreement == DIFFER
    scores = lane_scores(list(rows.values()))
    assert scores["full"] == {AGREE: 1, DIFFER: 1, ONE_SIDED: 5, "correct": 0, "wrong": 0}
    assert scores["flat"] == {AGREE: 1, DIFFER: 1, ONE_SIDED: 3, "correct": 0, "wrong": 0}


def test_a_group_in_one_lane_and_text_in_another_lists_both_shapes() -> None:
    rows = by_path(compare_lanes({"a": {"place": "Arena, Berlin"},
                                  "b": {"place": {"venue": "Arena", "city": "Berlin"}}}))
    assert list(rows) == ["place", "place.venue", "place.city"]
    assert rows["place"].values == {"a": "Arena, Berlin", "b": None}
    assert {r.agreement for r in rows.values()} == {ONE_SIDED}


def test_lists_of_different_lengths_match_items_by_position() -> None:
    rows = by_path(compare_lanes({
        "a": {"users": [{"name": "Ann"}, {"name": "Bo"}]},
        "b": {"users": [{"name": "ann"}]},
        "c": {"users": [{"name": "Ann"}, {"name": "Cy"}, {"name": "Di"}]},
    }))  # fmt: skip
    assert list(rows) == ["users[0].name", "users[1].name", "users[2].name"]
    assert rows["users[0].name"].agreement == AGREE
    assert rows["users[1].name"].agreement == DIFFER  # Bo, Cy and a missing one
    assert rows["users[1].name"].values == {"a": "Bo", "b": None, "c": "Cy"}
    assert rows["users[2].name"].agreement == ONE_SIDED  # only c has a third user


def test_missing_equals_null_and_a_lane_without_an_answer() -> None:
    rows = by_path(compare_lanes({"a": {"x": None, "y": 1}, "b": {}, "c": None}))
    assert rows["x"].agreement == AGREE  # null everywhere
    assert rows["y"].agreement == ONE_SIDED and rows["y"].values == {"a": 1, "b": None,
                                                                     "c": None}


def test_the_reference_marks_each_lane_correct_or_wrong() -> None:
    reference = {"date": "March 3", "budget": 18500, "users": [{"name": "Ann"}]}
    rows = by_path(compare_lanes({
        "a": {"date": "march 3", "budget": 18000, "location": "Arena"},
        "b": {"date": "March 4", "budget": "18,500", "location": "Arena"},
    }, reference=reference, has_reference=True))  # fmt: skip
    assert rows["date"].correct == {"a": True, "b": False}
    assert rows["budget"].correct == {"a": False, "b": True}
    assert rows["date"].reference == "March 3"
    assert rows["location"].correct == {"a": None, "b": None}  # the reference lacks it
    assert rows["users[0].name"].correct == {"a": False, "b": False}  # both missed it
    assert rows["users[0].name"].reference == "Ann"
    assert list(rows)[-1] == "users[0].name"  # the reference's own paths come last
    scores = lane_scores(list(rows.values()))
    assert (scores["a"]["correct"], scores["a"]["wrong"]) == (1, 2)
    assert (scores["b"]["correct"], scores["b"]["wrong"]) == (1, 2)


def test_a_null_reference_is_still_a_reference() -> None:
    rows = by_path(compare_lanes({"a": {"x": None}, "b": {"x": 2}},
                                 reference={"x": None}, has_reference=True))
    assert rows["x"].correct == {"a": True, "b": False}
    rows = by_path(compare_lanes({"a": {"x": 1}, "b": {"x": 1}}, reference=None))
    assert rows["x"].correct == {"a": None, "b": None}  # no has_reference: no verdict


def test_a_field_not_in_a_lanes_schema_gets_no_correctness() -> None:
    rows = by_path(compare_lanes({"a": {"x": 1}, "b": {}}, reference={"x": 1},
                                 has_reference=True, fields={"a": ["x"], "b": ["y"]}))
    assert rows["x"].correct == {"a": True, "b": None}


def test_four_lanes() -> None:
    rows = by_path(compare_lanes({
        "l1": {"a": "Yes", "b": 1.0, "tags": ["x", "y"]},
        "l2": {"a": "yes", "b": 1, "tags": ["x"]},
        "l3": {"a": "YES ", "b": "1", "tags": ["X", "z"]},
        "l4": {"a": "no", "b": 1, "tags": []},
    }))  # fmt: skip
    assert rows["a"].agreement == DIFFER and rows["b"].agreement == AGREE
    assert rows["tags[0]"].agreement == DIFFER  # l4 has none
    assert rows["tags[1]"].values == {"l1": "y", "l2": None, "l3": "z", "l4": None}
    assert rows["tags[1]"].agreement == DIFFER
    assert lane_scores(list(rows.values()))["l4"] == {
        AGREE: 1, DIFFER: 3, ONE_SIDED: 0, "correct": 0, "wrong": 0}


def test_a_dict_field_and_a_list_answer_are_in_their_schema() -> None:
    rows = by_path(compare_lanes({"a": {"meta": {"k": 1}}, "b": {"meta": {"k": "1"}}},
                                 fields={"a": ["meta"], "b": ["meta"]}))
    assert rows["meta.k"].present == {"a": True, "b": True}
    assert rows["meta.k"].agreement == AGREE
    rows = by_path(compare_lanes({"a": [{"n": 1}], "b": [{"n": 2}]}, fields={"a": ["n"]}))
    assert rows["[0].n"].present == {"a": True, "b": True}
    assert by_path(compare_lanes({"a": 3, "b": "3"}))[WHOLE].agreement == AGREE


def test_compare_results_and_compare_lanes_walk_the_same_paths() -> None:
    a = {"users": [{"name": "Ann", "tags": ["x"]}], "n": 1}
    b = {"users": [{"name": "Ann", "tags": ["x", "y"]}, {"name": "Bo"}], "n": 1}
    assert [d.path for d in compare_results(a, b)] == [
        r.path for r in compare_lanes({"a": a, "b": b})]
