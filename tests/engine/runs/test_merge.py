"""Merging a split document's parts into one answer (engine/runs/merge.py): scalars by
grounding, then count, then order; item lists as a union without duplicates; table rows item by
item; every value keeping its part and its spans in the whole text."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from engine.grounding import EXACT, FUZZY, NORMALISED, NOT_FOUND, Grounding, Span
from engine.runs.merge import PartValues, merge, missing, same_value
from engine.runs.state import Cell, LeafData
from engine.schemas.fields import ITEMS, SCALAR, TABLE, leaves
from engine.stream.changes import DONE, INVALID, PENDING, STREAMING


class User(BaseModel):
    name: str
    email: str
    twitter: str | None = None


class Address(BaseModel):
    city: str
    country: str


class Meeting(BaseModel):
    users: list[User]
    date: str
    location: str
    budget: int
    deadline: str
    address: Address
    tags: list[str]


LEAVES = leaves(Meeting)
KEYS = [n.path for n in LEAVES]


def g(status: str = EXACT, start: int = 0, end: int = 3) -> Grounding:
    return Grounding(status, (Span(start, end),) if status != NOT_FOUND else ())


def scalar(value: Any, grounding: Grounding | None = None, state: str = DONE) -> LeafData:
    return LeafData(kind=SCALAR, cell=Cell(value, state, None, grounding))


def item_list(*values: Any, state: str = DONE, grounding: Grounding | None = None) -> LeafData:
    return LeafData(kind=ITEMS, cell=Cell(list(values), state),
                    items=[Cell(v, DONE, None, grounding) for v in values],
                    cells=[{} for _ in values])


def table(*rows: dict[str, Any], state: str = DONE, row_state: str = DONE) -> LeafData:
    return LeafData(kind=TABLE, cell=Cell([dict(r) for r in rows], state),
                    items=[Cell(dict(r), row_state) for r in rows],
                    cells=[{c: Cell(v, DONE) for c, v in r.items()} for r in rows])


def part(index: int, start: int = 0, **leaves: LeafData) -> PartValues:
    return PartValues(index, start, {k.replace("__", "."): v for k, v in leaves.items()})


def cell_of(parts: list[PartValues], key: str) -> Cell:
    return merge(LEAVES, parts)[key].cell


# --- the shape --------------------------------------------------------------------------------


def test_every_leaf_gets_a_leaf_data_of_its_kind() -> None:
    merged = merge(LEAVES, [])
    assert list(merged) == KEYS
    assert {k: d.kind for k, d in merged.items()} == {n.path: n.kind for n in LEAVES}
    assert all(d.cell.state == PENDING and d.cell.value is None for d in merged.values())
    assert missing(merged) == KEYS


def test_two_parts_with_one_index_are_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        merge(LEAVES, [part(1), part(1)])


def test_the_parts_own_cells_are_left_as_they_were() -> None:
    data = scalar("Paris", g(EXACT, 2, 7))
    merged = merge(LEAVES, [part(0, 100, location=data)])
    assert merged["location"].cell is not data.cell
    assert data.cell.grounding == g(EXACT, 2, 7) and data.cell.part is None


# --- scalars ----------------------------------------------------------------------------------


def test_a_value_gets_its_part_and_its_spans_in_the_whole_text() -> None:
    cell = cell_of([part(0, 0), part(1, 5000, location=scalar("Paris", g(EXACT, 10, 15)))],
                   "location")
    assert (cell.value, cell.state, cell.part, cell.others) == ("Paris", DONE, 1, ())
    assert cell.grounding == Grounding(EXACT, (Span(5010, 5015),))


def test_a_null_or_blank_answer_is_no_candidate() -> None:
    parts = [part(0, location=scalar(None)), part(1, location=scalar("  ")),
             part(2, location=scalar("Lyon", g(FUZZY))), part(3, location=scalar(""))]
    cell = cell_of(parts, "location")
    assert (cell.value, cell.part, cell.others) == ("Lyon", 2, ())


def test_only_done_cells_count() -> None:
    parts = [part(0, location=scalar("Par", state=STREAMING)),
             part(1, location=scalar("Rome", state=INVALID)),
             part(2, location=scalar("Oslo", g(NOT_FOUND)))]
    cell = cell_of(parts, "location")
    assert (cell.value, cell.part, cell.others) == ("Oslo", 2, ())


def test_no_candidate_leaves_the_field_pending() -> None:
    merged = merge(LEAVES, [part(0, location=scalar(None)), part(1, location=scalar("x", None,
                                                                                    STREAMING))])
    assert merged["location"].cell == Cell()
    assert "location" in missing(merged)


def test_the_best_grounded_value_wins_over_a_more_frequent_one() -> None:
    parts = [part(0, location=scalar("Lyon", g(FUZZY))), part(1, location=scalar("Lyon", None)),
             part(2, location=scalar("Paris", g(NORMALISED))),
             part(3, location=scalar("Lyon", g(NOT_FOUND)))]
    cell = cell_of(parts, "location")
    assert (cell.value, cell.part, cell.others) == ("Paris", 2, ("Lyon",))


@pytest.mark.parametrize(("first", "second"), [(None, None), (NOT_FOUND, None), (EXACT, EXACT)])
def test_grounding_order_exact_normalised_fuzzy_not_found_none(first: str | None,
                                                              second: str | None) -> None:
    ladder = [EXACT, NORMALISED, FUZZY, NOT_FOUND, None]
    for better, worse in itertools.pairwise(ladder):
        parts = [part(0, location=scalar("Worse", g(worse) if worse else None)),
                 part(1, location=scalar("Better", g(better) if better else None))]
        assert cell_of(parts, "location").value == "Better"
    # Equal groundings: the earliest.
    parts = [part(0, location=scalar("One", g(first) if first else None)),
             part(1, location=scalar("Two", g(second) if second else None))]
    assert cell_of(parts, "location").value == "One"


def test_equal_groundings_the_most_frequent_then_the_earliest() -> None:
    parts = [part(0, location=scalar("Rome", g())), part(1, location=scalar("Paris", g())),
             part(2, location=scalar("PARIS ", g())), part(3, location=scalar("Oslo", g())),
             part(4, location=scalar("Oslo", g())), part(5, location=scalar("oslo.", g()))]
    cell = cell_of(parts, "location")
    assert (cell.value, cell.part) == ("Oslo", 3)
    assert cell.others == ("Paris", "Rome")  # most frequent first


def test_the_shown_value_is_its_best_grounded_spelling() -> None:
    parts = [part(0, location=scalar("paris", g(NORMALISED))),
             part(1, location=scalar("Paris", g(EXACT, 4, 9)))]
    cell = cell_of(parts, "location")
    assert (cell.value, cell.part, cell.others) == ("Paris", 1, ())


def test_numbers_compare_by_value() -> None:
    parts = [part(0, budget=scalar(18500, g())), part(1, budget=scalar(18500.0, g())),
             part(2, budget=scalar(900, g())), part(3, budget=scalar("18,500", g()))]
    cell = cell_of(parts, "budget")
    assert (cell.value, cell.part, cell.others) == (18500, 0, (900,))


def test_dates_compare_as_dates() -> None:
    parts = [part(0, date=scalar("2024-03-15", g())), part(1, date=scalar("2024-3-15", g())),
             part(2, date=scalar("2024-03-15T00:00", g()))]
    assert same_value("2024-03-15") == same_value("2024-03-15")
    assert same_value("2024-03-15") != same_value("2024-03-16")
    cell = cell_of(parts, "date")
    assert cell.value == "2024-03-15"


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Jason  Liu", "jason liu", True), ("José", "Jose", True), ("O'Brien", "obrien", True),
    ("Liu, Jason", "Jason Liu", False), (1, 1.0, True), (True, 1, False), (True, "true", False),
    ("-5", "5", False), ({"a": 1}, {"a": 1.0}, True), ([1, 2], [2, 1], False),
    ("!!", "!!", True), ("!!", "?", False),
])
def test_same_value(a: Any, b: Any, same: bool) -> None:
    assert (same_value(a) == same_value(b)) is same


@pytest.mark.parametrize("empty", [None, "", "  \n", [], {}, ()])
def test_no_value(empty: Any) -> None:
    assert same_value(empty) is None


def test_a_group_s_fields_are_leaves_like_any_other() -> None:
    parts = [part(0, address__city=scalar("Paris", g())),
             part(1, address__city=scalar("Lyon", g()), address__country=scalar("France", g()))]
    merged = merge(LEAVES, parts)
    assert (merged["address.city"].cell.value, merged["address.city"].cell.others) == (
        "Paris", ("Lyon",))
    assert merged["address.country"].cell.part == 1


# --- item lists -------------------------------------------------------------------------------


def test_items_are_the_union_in_document_order() -> None:
    parts = [part(2, 300, tags=item_list("gamma", "Alpha ", grounding=g(EXACT, 1, 4))),
             part(0, 0, tags=item_list("alpha", "beta", grounding=g(EXACT, 1, 4))),
             part(1, 100, tags=item_list("beta", "delta", grounding=g(EXACT, 1, 4)))]
    data = merge(LEAVES, parts)["tags"]
    assert [c.value for c in data.items] == ["alpha", "beta", "delta", "gamma"]
    assert [c.part for c in data.items] == [0, 0, 1, 2]
    assert [c.grounding.spans[0].start for c in data.items] == [1, 1, 101, 301]
    assert (data.cell.state, data.cell.value) == (DONE, ["alpha", "beta", "delta", "gamma"])
    assert len(data.cells) == len(data.items)


def test_a_list_is_done_when_one_part_s_list_is_done() -> None:
    growing = LeafData(kind=ITEMS, cell=Cell(["a"], STREAMING), items=[Cell("a", DONE),
                                                                        Cell("b", STREAMING)])
    data = merge(LEAVES, [part(0, tags=growing)])["tags"]
    assert (data.cell.state, [c.value for c in data.items]) == (STREAMING, ["a"])
    data = merge(LEAVES, [part(0, tags=growing), part(1, tags=item_list(state=DONE))])["tags"]
    assert (data.cell.state, data.cell.value) == (DONE, ["a"])
    data = merge(LEAVES, [part(0, tags=item_list(state=DONE))])["tags"]
    assert (data.cell.state, data.cell.value, data.items) == (DONE, [], [])
    assert "tags" in missing(merge(LEAVES, [part(0, tags=item_list(state=DONE))]))


def test_empty_and_unfinished_items_are_left_out() -> None:
    data = LeafData(kind=ITEMS, cell=Cell(None, DONE),
                    items=[Cell("", DONE), Cell(None, DONE), Cell("x", INVALID), Cell("y", DONE)])
    assert [c.value for c in merge(LEAVES, [part(0, tags=data)])["tags"].items] == ["y"]


# --- tables -----------------------------------------------------------------------------------


def test_the_same_row_in_two_parts_is_one_row_filled_from_both() -> None:
    parts = [part(0, 0, users=table({"name": "Ann Lee", "email": None, "twitter": "@ann"})),
             part(1, 1000, users=table({"name": "ann lee", "email": "ann@x.org",
                                        "twitter": None}))]
    data = merge(LEAVES, parts)["users"]
    assert len(data.items) == 1
    row = data.cells[0]
    assert {c: cell.value for c, cell in row.items()} == {
        "name": "Ann Lee", "email": "ann@x.org", "twitter": "@ann"}
    assert {c: cell.part for c, cell in row.items()} == {"name": 0, "email": 1, "twitter": 0}
    assert data.items[0].value == {"name": "Ann Lee", "email": "ann@x.org", "twitter": "@ann"}
    assert (data.items[0].state, data.items[0].part) == (DONE, 0)
    assert data.cell.value == [data.items[0].value]


def test_rows_that_disagree_stay_apart() -> None:
    parts = [part(0, users=table({"name": "Ann", "email": "ann@x.org"})),
             part(1, users=table({"name": "Ann", "email": "ann@y.org"}))]
    assert len(merge(LEAVES, parts)["users"].items) == 2


def test_rows_with_no_field_in_common_stay_apart() -> None:
    parts = [part(0, users=table({"name": "Ann", "email": None})),
             part(1, users=table({"name": None, "email": "ann@x.org"}))]
    assert len(merge(LEAVES, parts)["users"].items) == 2


def test_a_row_joins_the_row_it_agrees_with_most() -> None:
    parts = [part(0, users=table({"name": "Ann", "email": None, "twitter": None},
                                 {"name": "Ann", "email": "a@x.org", "twitter": None})),
             part(1, users=table({"name": "Ann", "email": "a@x.org", "twitter": "@a"}))]
    data = merge(LEAVES, parts)["users"]
    values = [r.value for r in data.items]
    assert values == [{"name": "Ann", "email": None, "twitter": None},
                      {"name": "Ann", "email": "a@x.org", "twitter": "@a"}]


def test_the_most_agreeing_row_wins_whatever_the_order_of_the_columns() -> None:
    parts = [part(0, users=table({"name": "Ann", "email": None},
                                 {"name": "Ann", "email": "a@x.org"})),
             part(1, users=table({"email": "a@x.org", "name": "Ann", "twitter": "@a"}))]
    data = merge(LEAVES, parts)["users"]
    assert [r.value for r in data.items] == [{"name": "Ann", "email": None},
                                             {"name": "Ann", "email": "a@x.org", "twitter": "@a"}]


def test_two_equal_rows_of_one_part_stay_two_rows() -> None:
    line = {"name": "Widget", "email": "w@x.org"}
    parts = [part(0, users=table(line, line)), part(1, users=table(line))]
    assert len(merge(LEAVES, parts)["users"].items) == 2


def test_a_row_still_streaming_shows_its_done_columns() -> None:
    data = LeafData(kind=TABLE, cell=Cell([], STREAMING), items=[Cell({}, STREAMING)],
                    cells=[{"name": Cell("Bo", DONE), "email": Cell("bo@", STREAMING)}])
    merged = merge(LEAVES, [part(0, users=data)])["users"]
    assert (merged.cell.state, merged.items[0].state) == (STREAMING, STREAMING)
    assert merged.items[0].value == {"name": "Bo"}
    assert list(merged.cells[0]) == ["name"]


def test_a_row_with_nothing_known_is_left_out() -> None:
    data = LeafData(kind=TABLE, cell=Cell([], STREAMING), items=[Cell({}, STREAMING)],
                    cells=[{"name": Cell(None, DONE), "email": Cell("bo", STREAMING)}])
    assert merge(LEAVES, [part(0, users=data)])["users"].items == []


def test_a_table_cell_keeps_its_own_grounding_shifted() -> None:
    rows = table({"name": "Ann", "email": "a@x.org"})
    rows.cells[0]["email"].grounding = g(EXACT, 5, 12)
    data = merge(LEAVES, [part(0, 0, users=table({"name": "Ann", "email": None})),
                          part(1, 700, users=rows)])["users"]
    assert data.cells[0]["email"].grounding == Grounding(EXACT, (Span(705, 712),))
    assert data.cells[0]["name"].grounding is None


# --- missing ----------------------------------------------------------------------------------


def test_missing_names_the_leaves_without_a_value() -> None:
    merged = merge(LEAVES, [part(0, date=scalar("2024-01-02"), tags=item_list("a"),
                                 users=table({"name": "Ann", "email": None}))])
    assert missing(merged) == ["location", "budget", "deadline", "address.city",
                               "address.country"]


# --- any parts --------------------------------------------------------------------------------

_WORDS = ["Paris", "paris", "PARIS.", "Lyon", "lyon", "Oslo", "Rome", "", None]
_STATES = [DONE, DONE, DONE, STREAMING, INVALID, PENDING]
_GROUNDINGS = [None, EXACT, NORMALISED, FUZZY, NOT_FOUND]

groundings = st.one_of(
    st.none(),
    st.builds(lambda s, a, n: Grounding(s, (Span(a, a + n),)), st.sampled_from(_GROUNDINGS[1:4]),
              st.integers(0, 500), st.integers(1, 20)),
    st.just(Grounding(NOT_FOUND)),
)
cells = st.builds(Cell, st.sampled_from(_WORDS), st.sampled_from(_STATES), st.none(), groundings)


@st.composite
def part_values(draw: st.DrawFn, index: int) -> PartValues:
    data: dict[str, LeafData] = {}
    for key in ("date", "location", "deadline", "address.city"):
        data[key] = LeafData(kind=SCALAR, cell=draw(cells))
    data["budget"] = LeafData(kind=SCALAR, cell=Cell(draw(st.sampled_from([5, 5.0, 7, None])),
                                                     DONE, None, draw(groundings)))
    items = draw(st.lists(cells, max_size=5))
    data["tags"] = LeafData(kind=ITEMS, cell=Cell(None, draw(st.sampled_from(_STATES))),
                            items=items, cells=[{} for _ in items])
    rows = draw(st.lists(st.dictionaries(st.sampled_from(["name", "email", "twitter"]), cells,
                                         max_size=3), max_size=4))
    data["users"] = LeafData(kind=TABLE, cell=Cell(None, draw(st.sampled_from(_STATES))),
                             items=[Cell({c: x.value for c, x in r.items()},
                                         draw(st.sampled_from(_STATES))) for r in rows],
                             cells=rows)
    return PartValues(index, draw(st.integers(0, 10_000)), data)


@st.composite
def many_parts(draw: st.DrawFn) -> list[PartValues]:
    count = draw(st.integers(0, 5))
    return [draw(part_values(i)) for i in range(count)]


def _plain(merged: dict[str, LeafData]) -> Any:
    return {k: (d.kind, d.cell, d.items, d.cells) for k, d in merged.items()}


@settings(max_examples=120, deadline=None)
@given(parts=many_parts(), seed=st.integers(0, 1000))
def test_the_order_of_the_parts_does_not_matter(parts: list[PartValues], seed: int) -> None:
    shuffled = list(parts)
    random.Random(seed).shuffle(shuffled)
    assert _plain(merge(LEAVES, shuffled)) == _plain(merge(LEAVES, parts))


def _placed(cell: Cell, p: PartValues) -> Cell:
    grounding = cell.grounding.shifted(p.start) if cell.grounding is not None else None
    return Cell(cell.value, DONE, None, grounding, p.index)


def _has_value(cell: Cell) -> bool:
    return cell.state == DONE and same_value(cell.value) is not None


@settings(max_examples=120, deadline=None)
@given(p=part_values(3))
def test_one_part_merges_to_its_own_done_values(p: PartValues) -> None:
    merged = merge(LEAVES, [p])
    for key in ("date", "location", "deadline", "address.city", "budget"):
        cell = p.leaves[key].cell
        assert merged[key].cell == (_placed(cell, p) if _has_value(cell) else Cell())
    seen: set[Any] = set()
    want = []
    for cell in p.leaves["tags"].items:
        if _has_value(cell) and same_value(cell.value) not in seen:
            seen.add(same_value(cell.value))
            want.append(_placed(cell, p))
    assert merged["tags"].items == want
    rows = [{c: _placed(x, p) for c, x in r.items() if x.state == DONE}
            for r in p.leaves["users"].cells]
    want_rows = [r for r in rows if any(same_value(x.value) is not None for x in r.values())]
    assert merged["users"].cells == want_rows  # rows of one part are never merged


@settings(max_examples=120, deadline=None)
@given(parts=many_parts())
def test_what_the_merge_shows(parts: list[PartValues]) -> None:
    merged = merge(LEAVES, parts)
    for key in ("date", "location", "deadline", "address.city", "budget"):
        cell = merged[key].cell
        given_ = [(p, p.leaves[key].cell) for p in parts if _has_value(p.leaves[key].cell)]
        if not given_:
            assert cell == Cell()
            continue
        # A value one part gives is taken; the others never hold the shown value, nor twice
        # the same one, and every candidate's value is the shown one or among the others.
        forms = [same_value(v) for v in cell.others]
        assert same_value(cell.value) not in forms
        assert len(set(forms)) == len(forms)
        assert {same_value(c.value) for _, c in given_} == {same_value(cell.value), *forms}
        source = parts[cell.part].leaves[key].cell
        assert _has_value(source) and source.value == cell.value
        assert cell.grounding == _placed(source, parts[cell.part]).grounding
        if len(given_) == 1:
            assert cell.part == given_[0][0].index and cell.others == ()
    tags = [same_value(c.value) for c in merged["tags"].items]
    assert len(set(tags)) == len(tags)
    assert None not in tags
    assert [c.part for c in merged["tags"].items] == sorted(c.part for c in merged["tags"].items)


# --- cost -------------------------------------------------------------------------------------


def _meeting_part(index: int, rnd: random.Random, distinct: bool) -> PartValues:
    def val(v: Any) -> LeafData:
        return scalar(v, g(rnd.choice([EXACT, NORMALISED, FUZZY, NOT_FOUND]), 10, 20))

    people = [{"name": f"Person {i + (index * 5 if distinct else 0)}",
               "email": f"p{i}@example.org", "twitter": rnd.choice([None, f"@p{i}"])}
              for i in range(5)]
    return PartValues(index, index * 7000, {
        "users": table(*people), "date": val(rnd.choice(["2024-03-15", "2024-03-16", None])),
        "location": val(rnd.choice(["Paris", "paris", "Lyon", None])),
        "budget": val(rnd.choice([18500, 20000, None])), "deadline": val("2024-04-01"),
        "address.city": val("Paris"), "address.country": val(rnd.choice(["France", None])),
        "tags": item_list("urgent", f"tag {index}", "Review", grounding=g()),
    })


@pytest.mark.parametrize("distinct", [False, True])
def test_thirty_parts_merge_in_a_few_milliseconds(distinct: bool) -> None:
    """About 1-2 ms measured (see the module's doc); the bound is generous for CI."""
    rnd = random.Random(7)
    parts = [_meeting_part(i, rnd, distinct) for i in range(30)]
    merge(LEAVES, parts)  # warm the normal forms' cache, as a live run's repeated merges do
    started = time.perf_counter()
    for _ in range(20):
        merged = merge(LEAVES, parts)
    took = (time.perf_counter() - started) / 20
    assert len(merged["users"].items) == (150 if distinct else 5)
    assert took < 0.025, f"{took * 1000:.1f} ms per merge"
