"""Self-consistency's vote (engine/evaluate/consensus.py) on worked examples."""

from __future__ import annotations

from engine.evaluate.consensus import vote


def test_each_field_takes_the_value_most_answers_give() -> None:
    a = {"date": "2025-04-12", "budget": 800, "users": [{"name": "Dana"}]}
    b = {"date": "April 12, 2025", "budget": 900, "users": [{"name": "dana"}]}
    c = {"date": "2025-04-13", "budget": 900, "users": [{"name": "Dan"}]}
    voted = vote([a, b, c])
    assert voted.answer == {"date": "2025-04-12", "budget": 900, "users": [{"name": "Dana"}]}
    assert voted.agreement == {"date": 2 / 3, "budget": 2 / 3, "users": 2 / 3}
    assert voted.answers == 3


def test_a_tie_keeps_the_earliest_answer_and_missing_is_null() -> None:
    voted = vote([{"x": "first", "y": None}, {"x": "second"}, None])
    assert voted.answer == {"x": "first", "y": None}  # one each: the first answer's value
    assert voted.agreement == {"x": 1 / 3, "y": 2 / 3}  # a failed answer counts in the share


def test_all_agreeing_is_full_confidence() -> None:
    same = {"flag": True, "n": "18,500", "tags": ["a", "b"]}
    voted = vote([same, {**same, "n": 18500}, dict(same)])
    assert voted.agreement == {"flag": 1.0, "n": 1.0, "tags": 1.0}
    assert vote([{"flag": True}, {"flag": 1}]).agreement == {"flag": 0.5}  # True is not 1
