"""The scorer (#21), from worked examples counted by hand, and checked against an independent
implementation of the standard definition (F1 over the multiset of upper-cased key=value
pairs)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from engine.evaluate.score import Cell, FieldScore, Totals, score, score_many
from engine.history.diff import normalise


def counts(cells: list[Cell]) -> dict[str, tuple[int, int, int]]:
    """(tp, fp, fn) by field, summed over the document's cells."""
    out: dict[str, tuple[int, int, int]] = {}
    for c in cells:
        tp, fp, fn = out.get(c.field, (0, 0, 0))
        out[c.field] = (tp + c.tp, fp + c.fp, fn + c.fn)
    return out


# --- worked examples --------------------------------------------------------------------------


def test_a_flat_answer_right_wrong_extra_missing_and_null_in_both() -> None:
    gold = {"name": "Ada Lovelace", "born": 1815, "died": 1852, "city": None, "title": None}
    answer = {"name": "ada  LOVELACE", "born": "1,815", "died": 1853, "city": "London"}
    assert counts(score(answer, gold)) == {
        "name": (1, 0, 0),  # case and spacing normalised
        "born": (1, 0, 0),  # "1,815" is 1815
        "died": (0, 1, 1),  # a wrong value: a FP and a FN
        "city": (0, 1, 0),  # a value where the gold is null
        # title: null in both, and missing from the answer: nothing
    }
    assert counts(score({"name": "Ada"}, {"name": "Ada", "born": 1815})) == {
        "name": (1, 0, 0), "born": (0, 0, 1)}  # a missing value


def test_nested_objects_are_matched_member_by_member() -> None:
    gold = {"invoice": {"number": "INV-7", "seller": {"name": "Acme", "vat": "DE123"}},
            "total": 18500}
    answer = {"invoice": {"number": "inv-7", "seller": {"name": "Acme GmbH"}},
              "total": "18,500.00"}
    assert counts(score(answer, gold)) == {
        "invoice.number": (1, 0, 0),
        "invoice.seller.name": (0, 1, 1),
        "invoice.seller.vat": (0, 0, 1),
        "total": (1, 0, 0),
    }


def test_lists_of_objects_of_different_lengths_are_paired_by_similarity() -> None:
    gold = {"items": [
        {"sku": "A1", "qty": 2, "price": 10},
        {"sku": "B2", "qty": 1, "price": 99},
        {"sku": "C3", "qty": 5, "price": 3},
    ]}
    answer = {"items": [
        {"sku": "C3", "qty": 5, "price": 4},  # C3 (2 of 3 right: paired)
        {"sku": "A1", "qty": 2, "price": 10},  # A1, all right, out of order
    ]}  # B2 is missing: its three leaves are FNs
    assert counts(score(answer, gold)) == {
        "items[].sku": (2, 0, 1),
        "items[].qty": (2, 0, 1),
        "items[].price": (1, 1, 2),
    }
    # one more answer item, like none of the gold's: unpaired, three FPs
    answer["items"].append({"sku": "Z9", "qty": 7, "price": 1})
    assert counts(score(answer, gold)) == {
        "items[].sku": (2, 1, 1),
        "items[].qty": (2, 1, 1),
        "items[].price": (1, 2, 2),
    }


def test_a_pair_under_half_alike_stays_unpaired() -> None:
    gold = [{"a": 1, "b": 2, "c": 3}]
    one_of_three = [{"a": 1, "b": 9, "c": 9}]  # 1/3 alike: unpaired
    assert counts(score(one_of_three, gold)) == {"[].a": (0, 1, 1), "[].b": (0, 1, 1),
                                                "[].c": (0, 1, 1)}
    c_missing = [{"a": 1, "b": 9}]  # a right, b wrong, c only in the gold: 1/3, unpaired
    assert counts(score(c_missing, gold))["[].a"] == (0, 1, 1)
    gold2 = [{"a": 1, "b": 2}]
    assert counts(score([{"a": 1, "b": 9}], gold2)) == {"[].a": (1, 0, 0),  # 1/2: paired
                                                       "[].b": (0, 1, 1)}


def test_pairing_is_optimal_not_greedy() -> None:
    """Six fields. g1 == a0; g0 is 4/6 like a0 and 3/6 like a1; g1 is 1/6 like a1. Taking
    each gold item's best answer in turn pairs g0-a0 and leaves g1, a1 apart (4 TP); the
    optimal assignment pairs g0-a1 and g1-a0 (3 + 6 TP)."""
    keys = "pqrstu"
    g0, g1 = dict(zip(keys, [1, 1, 1, 1, 2, 2], strict=True)), dict(zip(keys, [1] * 6, strict=True))
    a0, a1 = dict(g1), dict(zip(keys, [1, 9, 9, 9, 2, 2], strict=True))
    total = sum((FieldScore(c.tp, c.fp, c.fn) for c in score([a0, a1], [g0, g1])),
                FieldScore())
    assert total == FieldScore(tp=9, fp=3, fn=3)


def test_lists_of_scalars_are_multisets() -> None:
    cells = score({"tags": ["red", "Red ", "blue", None]}, {"tags": ["red", "green", "BLUE"]})
    assert counts(cells) == {"tags[]": (2, 1, 1)}  # red, blue right; one red too many; green
    assert counts(score({"tags": []}, {"tags": ["x", "x"]})) == {"tags[]": (0, 0, 2)}


def test_empty_gold_makes_every_answered_value_a_false_positive() -> None:
    answer = {"name": "Edsger", "tags": ["a"], "address": {"city": "Austin"},
              "items": [{"sku": "A"}]}
    for gold in ({}, None, {"name": None, "tags": [], "address": {}, "items": []}):
        assert counts(score(answer, gold)) == {
            "name": (0, 1, 0), "tags[]": (0, 1, 0), "address.city": (0, 1, 0),
            "items[].sku": (0, 1, 0)}
    assert score({}, {}) == [] and score(None, None) == [] and score("  ", None) == []
    tally = score_many([(answer, {})])
    assert tally.totals().micro == FieldScore(0, 4, 0)
    assert (tally.totals().micro.precision, tally.totals().micro.recall) == (0.0, 1.0)


def test_values_only_in_one_side_and_a_container_against_a_leaf() -> None:
    gold = {"name": "Grace", "address": {"city": "Arlington"}}
    answer = {"rank": "Rear Admiral", "address": "Arlington, VA"}
    assert counts(score(answer, gold)) == {
        "name": (0, 0, 1), "address.city": (0, 0, 1), "address": (0, 1, 0), "rank": (0, 1, 0)}
    assert counts(score("Grace", "grace")) == {"(whole answer)": (1, 0, 0)}


def test_fuzzy_matching_for_text_only_and_above_its_threshold() -> None:
    gold = {"company": "Acme Corporation", "total": 1000, "tags": ["Acme Corp", "blue"]}
    answer = {"company": "ACME Corporaton", "total": 10000, "tags": ["acme corp.", "blue"]}
    assert counts(score(answer, gold)) == {
        "company": (0, 1, 1), "total": (0, 1, 1), "tags[]": (1, 1, 1)}
    # "acme corporation" / "acme corporaton": Indel similarity 1 - 1/31 ≈ 0.968;
    # "acme corp" / "acme corp.": 1 - 1/19 ≈ 0.947; numbers are never fuzzy
    assert counts(score(answer, gold, fuzzy=0.9)) == {
        "company": (1, 0, 0), "total": (0, 1, 1), "tags[]": (2, 0, 0)}
    assert counts(score(answer, gold, fuzzy=0.96)) == {
        "company": (1, 0, 0), "total": (0, 1, 1), "tags[]": (1, 1, 1)}
    with pytest.raises(ValueError, match="between 0 and 1"):
        score(answer, gold, fuzzy=90)


def test_cells_keep_the_values_compared_for_a_drill_down() -> None:
    (cell,) = score({"a": "x"}, {"a": "y"})
    assert cell == Cell("a", 0, 1, 1, gold="y", answer="x")


def test_scores_and_totals_with_nothing_to_divide_by() -> None:
    assert (FieldScore().precision, FieldScore().recall, FieldScore().f1) == (1.0, 1.0, 1.0)
    assert FieldScore(0, 0, 3).precision == 1.0 and FieldScore(0, 0, 3).f1 == 0.0
    assert FieldScore(0, 2, 0).recall == 1.0 and FieldScore(0, 2, 0).f1 == 0.0
    f = FieldScore(3, 1, 2)
    assert (f.precision, f.recall) == (0.75, 0.6)
    assert f.f1 == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))  # the harmonic mean
    empty = score_many([]).totals()
    assert empty == Totals(FieldScore(), 1.0, 0, 0) and empty.exact_rate == 0.0


def test_score_many_by_field_micro_macro_and_exact_documents() -> None:
    pairs = [
        ({"a": "x", "b": 1}, {"a": "x", "b": 1}),  # exact
        ({"a": "x", "b": 2}, {"a": "x", "b": 1}),  # b wrong
        ({"a": None}, {"a": None}),  # nothing to score: exact
        ({"a": "y"}, {"a": "x", "b": 3}),  # a wrong, b missing
    ]
    tally = score_many(pairs)
    assert tally.by_field() == {"a": FieldScore(2, 1, 1), "b": FieldScore(1, 1, 2)}
    totals = tally.totals()
    assert totals.micro == FieldScore(3, 2, 3)
    assert totals.micro_f1 == pytest.approx(6 / 11)
    assert totals.macro_f1 == pytest.approx((4 / 6 + 2 / 5) / 2)
    assert (totals.documents, totals.exact, totals.exact_rate) == (4, 2, 0.5)


# --- agreement with the standard definition ---------------------------------------------------

#: (answer, gold) pairs without lists of objects. The two definitions agree on inputs where no
#: two compared values differ only in letter case or are of different types with the same
#: text (1 and "1"), and where no text is blank: upper-casing and `str` would equate those,
#: exact comparison does not, and the scorer drops blank text as empty.
FIXED: list[tuple[Any, Any]] = [
    ({"name": "Ada Lovelace", "born": 1815, "tags": ["math", "poetry"]},
     {"name": "Ada Lovelace", "born": 1815, "tags": ["poetry", "math"]}),
    ({"name": "Charles  Babbage", "born": 1791, "died": 1872},
     {"name": "Charles Babbage", "born": 1791, "died": 1871}),
    ({"name": "Alan Turing", "city": "London"},
     {"name": "Alan Turing", "city": "London", "died": 1954}),
    ({"invoice": {"number": "INV-7", "total": "18,500"}, "currency": "EUR"},
     {"invoice": {"number": "INV-7", "total": 18500}, "currency": None}),
    ({"invoice": {"number": "INV-8", "total": 120.5, "paid": True}},
     {"invoice": {"number": "INV-8", "total": 120.50, "paid": False}}),
    ({"tags": ["red", "red", "blue"]}, {"tags": ["red", "green"]}),
    ({}, {"name": "Grace Hopper", "rank": "Rear Admiral"}),
    ({"name": "Edsger Dijkstra", "award": "Turing Award"}, {}),
    ({"name": None, "note": None}, {"name": None}),
    ({"address": {"street": "1 Main St ", "city": "Springfield", "zip": "01101"}},
     {"address": {"street": "1 Main St", "city": "Springfield", "zip": "01101"}}),
    ({"scores": [1, 2, 3]}, {"scores": [1.0, 2, 4]}),
]

#: Per document of FIXED, every (gold, answer) pair the normaliser makes equal.
EQUATED: dict[int, list[tuple[Any, Any]]] = {
    1: [("Charles Babbage", "Charles  Babbage")],  # runs of whitespace
    3: [(18500, "18,500")],  # a number's format
    9: [("1 Main St", "1 Main St ")],  # spacing at the ends
    10: [(1.0, 1)],  # a float that is an integer
}


def key_value_pairs(value: Any, key: str = "") -> list[str]:
    """The standard definition's multiset: one upper-cased `key=value` per value present,
    nested keys joined by `.`, list items under their list's key; nulls are no value."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in key_value_pairs(v, f"{key}.{k}")]
    if isinstance(value, list):
        return [p for v in value for p in key_value_pairs(v, key)]
    if value is None:
        return []
    return [f"{key}={value}".upper()]


def standard_micro_f1(pairs: list[tuple[Any, Any]]) -> float:
    tp = fp = fn = 0
    for answer, gold in pairs:
        said, wanted = Counter(key_value_pairs(answer)), Counter(key_value_pairs(gold))
        found = sum((said & wanted).values())
        tp, fp, fn = tp + found, fp + said.total() - found, fn + wanted.total() - found
    return 2 * tp / (2 * tp + fp + fn)


def test_without_normalisation_micro_f1_is_the_standard_definitions() -> None:
    ours = score_many(FIXED, normalised=False).totals().micro_f1
    assert ours == pytest.approx(standard_micro_f1(FIXED), abs=1e-12)
    # by hand, document by document: tp 4+1+2+1+2+1+0+0+0+2+1 = 14,
    # fp 0+2+0+2+1+2+0+2+0+1+2 = 12, fn 0+2+1+1+1+1+2+0+0+1+2 = 11
    assert ours == pytest.approx(2 * 14 / (2 * 14 + 12 + 11))


def test_with_normalisation_every_difference_is_a_listed_pair_the_normaliser_equates() -> None:
    for i, (answer, gold) in enumerate(FIXED):
        raw = sum((FieldScore(c.tp, c.fp, c.fn) for c in score(answer, gold, normalised=False)),
                  FieldScore())
        normal = sum((FieldScore(c.tp, c.fp, c.fn) for c in score(answer, gold)), FieldScore())
        equated = EQUATED.get(i, [])
        for g, a in equated:
            assert normalise(g) == normalise(a) and (type(g), g) != (type(a), a)
        k = len(equated)
        assert normal == FieldScore(raw.tp + k, raw.fp - k, raw.fn - k), (i, raw, normal)


def test_a_fuzzy_threshold_outside_zero_to_one_is_refused_by_score_many_too() -> None:
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 1"):
            score_many([({"a": "x"}, {"a": "x"})], fuzzy=bad)
