"""Evaluations end to end in one process: two lanes of a labelled set run as batches on the
queue (SQLite) against the replay server, scored live, figures worked out by hand; and the
comparison of two evaluations' results."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from engine.batch.model import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Counts
from engine.compare.lanes import LaneSpec
from engine.evaluate import evaluations as ev
from engine.evaluate import sets
from engine.evaluate.model import Evaluation
from engine.evaluate.score import FieldScore, Totals
from tests.batch_support import MODEL, SCHEMA, batch_world
from tests.engine.evaluate.eval_support import (
    WORSE,
    add_set,
    examples,
    gold,
    golds,
    two_models,
)


def lane(name: str, model: str) -> LaneSpec:
    return LaneSpec(name, f"{name} · {model}", SCHEMA, None, "Custom server", model,
                    "json_object")


def wait(store, evaluation: Evaluation, timeout: float = 60) -> ev.Results:
    deadline = time.monotonic() + timeout
    while not (found := ev.results(store, evaluation)).finished:
        assert time.monotonic() < deadline, "the evaluation did not finish"
        time.sleep(0.2)
    return found


def test_two_lanes_are_scored_field_by_field_as_worked_out_by_hand(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_BATCH_RETRIES="0") as world:
        world.srv.responder = two_models()
        add_set(world.store, "Notes", golds())
        evaluation = ev.start_evaluation(
            world.store, "Notes", [lane("A", MODEL), lane("B", WORSE)],
            {"Custom server": world.provider}, who="tester", name="first")
        assert evaluation.set_version == 1 and evaluation.created_by == "tester"
        assert ev.get_evaluation(world.store, evaluation.id) == evaluation
        for one in evaluation.lanes:
            assert ev.by_batch(world.store, one.batch_id) == evaluation
        figures = wait(world.store, evaluation)

    assert figures.fields == ["users[].name", "users[].email", "users[].twitter", "date",
                              "location", "budget", "deadline"]
    a, b = figures.lanes["A"], figures.lanes["B"]
    # Lane A answers the gold but note 3's handle, which the gold leaves empty (one FP).
    assert a.by_field["users[].twitter"] == FieldScore(3, 1, 0)
    assert all(a.by_field[f] == FieldScore(4, 0, 0) for f in figures.fields
               if f != "users[].twitter")
    assert a.totals.micro == FieldScore(27, 1, 0)
    assert a.totals.micro_f1 == pytest.approx(54 / 55)
    assert a.totals.macro_f1 == pytest.approx((6 + 6 / 7) / 7)
    assert (a.totals.documents, a.totals.exact) == (4, 3)
    assert a.counts[DONE] == 4 and a.not_in_text == 0
    assert a.tokens_per_doc is not None and a.seconds_per_doc is not None and a.cost is None
    # Lane B: note 3 failed (an empty answer: its 6 gold values are FNs), the location always
    # wrong (FP and FN), note 1's email blank (FN), note 2's budget wrong (FP and FN).
    assert b.by_field == {
        "users[].name": FieldScore(3, 0, 1), "users[].email": FieldScore(2, 0, 2),
        "users[].twitter": FieldScore(3, 0, 0), "date": FieldScore(3, 0, 1),
        "location": FieldScore(0, 3, 4), "budget": FieldScore(2, 1, 2),
        "deadline": FieldScore(3, 0, 1)}
    assert b.totals.micro == FieldScore(16, 4, 11)
    assert b.totals.micro_f1 == pytest.approx(32 / 47)
    assert b.totals.macro_f1 == pytest.approx((6 / 7 + 2 / 3 + 1 + 6 / 7 + 0 + 4 / 7 + 6 / 7) / 7)
    assert (b.totals.documents, b.totals.exact) == (4, 0)
    assert (b.counts[DONE], b.counts[FAILED]) == (3, 1)
    failed = b.documents[3]
    assert failed.status == FAILED and failed.no_answer and failed.answer == {}
    assert failed.wrong_fields() == ["users[].name", "users[].email", "date", "location",
                                     "budget", "deadline"]
    assert b.documents[2].wrong_fields() == ["location", "budget"]
    assert b.not_in_text == 4  # "Hall Z" three times, 777 once (a blank email is no value)
    assert [b.documents[i].not_in_text for i in range(4)] == [1, 1, 2, 0]
    assert figures.finished


def test_an_evaluation_is_scored_live_while_documents_still_run(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_BATCH_RETRIES="0") as world:
        world.srv.responder = two_models(slow_from=2)
        add_set(world.store, "Notes", golds())
        evaluation = ev.start_evaluation(world.store, "Notes", [lane("A", MODEL)],
                                         {"Custom server": world.provider})
        deadline = time.monotonic() + 30
        while (now := ev.results(world.store, evaluation)).lanes["A"].totals.documents < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        a = now.lanes["A"]
        assert not now.finished and a.counts.left == 2
        assert {d.idx for d in a.documents.values() if d.scored} == {0, 1}
        assert {a.documents[i].status for i in (2, 3)} <= {QUEUED, RUNNING}
        assert a.documents[2].answer is None and a.documents[2].cells == []
        assert a.totals.micro == FieldScore(14, 0, 0) and a.totals.exact == 2
        assert ev.stop_evaluation(world.store, evaluation) >= 0
        stopped = wait(world.store, evaluation, timeout=30)
        after = stopped.lanes["A"]
        assert {after.documents[i].status for i in (2, 3)} == {CANCELLED}
        # a stopped document is not scored (Resume runs it): the figures are those of 0 and 1
        assert after.totals.micro == FieldScore(14, 0, 0) and after.totals.documents == 2
        assert stopped.finished and not any(after.documents[i].scored for i in (2, 3))
        drill = ev.drill(world.store, evaluation, 1)
        assert drill.example.name == "note-1.txt" and "Room 1" in drill.example.text
        assert drill.lanes["A"].exact and drill.lanes["A"].answer == gold(1)


def test_the_earlier_evaluation_of_a_set_is_found(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path) as world:
        add_set(world.store, "Notes", golds()[:1])
        sets.put_example(world.store, "Notes", examples(golds()[1:2], start=1)[0])
        add_set(world.store, "Other", golds()[:1])
        providers = {"Custom server": world.provider}
        first = ev.start_evaluation(world.store, "Notes", [lane("A", MODEL)], providers,
                                    version=1)
        other = ev.start_evaluation(world.store, "Other", [lane("A", MODEL)], providers)
        second = ev.start_evaluation(world.store, "Notes", [lane("A", MODEL)], providers,
                                     fuzzy=0.9)
        assert (first.set_version, second.set_version, second.fuzzy) == (1, 2, 0.9)
        assert ev.earlier(world.store, second) == first
        assert ev.earlier(world.store, first) is None and ev.earlier(world.store, other) is None
        assert [e.id for e in ev.recent(world.store)] == [second.id, other.id, first.id]
        assert [e.id for e in ev.recent(world.store, "Notes")] == [second.id, first.id]
        with pytest.raises(ValueError, match="No labelled set 'Nope'"):
            ev.start_evaluation(world.store, "Nope", [lane("A", MODEL)], providers)
        with pytest.raises(ValueError, match="no provider named 'Elsewhere'"):
            ev.start_evaluation(world.store, "Notes", [
                LaneSpec("A", "A", SCHEMA, None, "Elsewhere", MODEL, "json_object")], providers)
        with pytest.raises(ValueError, match=r"Lane 'A'.*Nope"):
            ev.start_evaluation(world.store, "Notes", [
                LaneSpec("A", "A", "Nope", None, "Custom server", MODEL, "json_object")],
                providers)
        for one in (first, other, second):
            wait(world.store, one)


# --- compare -----------------------------------------------------------------------------------


def results_of(*lanes: tuple[str, dict[str, FieldScore]]) -> ev.Results:
    """Results of lanes (label, by_field) as `results` would make them."""
    made = {}
    for n, (label, by_field) in enumerate(lanes):
        spec = LaneSpec(chr(65 + n), label, SCHEMA, None, "Custom server", MODEL, "json_object")
        micro = sum(by_field.values(), FieldScore())
        made[spec.lane] = ev.LaneResult(spec, Counts({DONE: 1}), by_field,
                                        Totals(micro, 0.0, 1, 0), {}, 0, None, None, None)
    evaluation = Evaluation("x", datetime.now(UTC), None, None, "Notes", 1)
    fields = list(dict.fromkeys(f for _, by_field in lanes for f in by_field))
    return ev.Results(evaluation, fields, made, True)


def test_compare_puts_regressions_first_the_largest_drop_first():
    before = results_of(
        ("small", {"date": FieldScore(9, 1, 0), "location": FieldScore(5, 5, 5),
                   "budget": FieldScore(10, 0, 0), "old": FieldScore(1, 0, 0)}),
        ("large", {"date": FieldScore(10, 0, 0), "location": FieldScore(10, 0, 0)}))
    now = results_of(
        # lanes swapped: matched by label, not position
        ("large", {"date": FieldScore(5, 5, 5), "location": FieldScore(10, 0, 0)}),
        ("small", {"date": FieldScore(9, 0, 1), "location": FieldScore(10, 0, 0),
                   "budget": FieldScore(8, 2, 2), "new": FieldScore(1, 0, 0)}))
    changes = ev.compare(now, before)
    got = [(c.lane, c.field, c.verdict) for c in changes]
    assert got == [
        ("large", "date", "worse"),     # 1.0 -> 0.5
        ("small", "budget", "worse"),   # 1.0 -> 0.8
        ("small", "old", "gone"),
        ("small", "location", "better"),  # 0.5 -> 1.0
        ("small", "new", "new"),
        ("large", "location", "unchanged"),
        ("small", "date", "unchanged"),  # 18/19 both: FP or FN alike
    ]
    assert changes[0].before == 1.0 and changes[0].after == pytest.approx(0.5)
    assert changes[0].delta == pytest.approx(-0.5)


def test_compare_matches_unlabelled_lanes_by_position_and_ignores_tiny_moves():
    before = results_of(("A · Invoice v2 · m", {"total": FieldScore(1000, 0, 0)}))
    now = results_of(("A · Invoice v3 · m", {"total": FieldScore(999, 1, 0)}),
                     ("B · Invoice v3 · m", {"total": FieldScore(1, 0, 0)}))
    changes = ev.compare(now, before)
    assert [(c.lane, c.verdict) for c in changes] == [
        ("B · Invoice v3 · m", "new"), ("A · Invoice v3 · m", "unchanged")]
