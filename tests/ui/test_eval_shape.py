"""The Evaluate page's tables (`ui.eval_shape`) from hand-built results: the scores of two lanes
over three fields, one document's drill-down, and a comparison with an earlier evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.batch.model import DONE, QUEUED, RUNNING, Counts
from engine.compare.lanes import LaneSpec
from engine.evaluate.score import Cell, FieldScore, Totals
from ui import charts
from ui import eval_shape as shape


@dataclass
class Lane:  # the fields of engine.evaluate.evaluations.LaneResult the page reads
    spec: LaneSpec
    counts: Counts
    by_field: dict[str, FieldScore]
    totals: Totals
    not_in_text: int = 0
    seconds_per_doc: float | None = None
    tokens_per_doc: float | None = None
    cost: float | None = None
    documents: dict[int, Any] = field(default_factory=dict)


@dataclass
class Results:
    fields: list[str]
    lanes: dict[str, Lane]
    finished: bool = True
    evaluation: Any = None


@dataclass
class Doc:
    idx: int
    name: str
    status: str
    answer: Any
    cells: list[Cell]
    exact: bool = False


@dataclass
class Drill:
    example: Any
    lanes: dict[str, Doc]


@dataclass
class Change:
    lane: str
    field: str
    before: float | None
    after: float | None
    verdict: str


def spec(lane: str, label: str) -> LaneSpec:
    return LaneSpec(lane, label, "Invoice", None, "Custom server", "m", "json_schema")


def results() -> Results:
    a = {"number": FieldScore(3, 0, 0), "total": FieldScore(1, 1, 1),
         "items[].sku": FieldScore(2, 0, 2)}
    b = {"number": FieldScore(0, 3, 3), "total": FieldScore(3, 0, 0)}
    return Results(
        ["number", "total", "items[].sku", "note"],
        {"a": Lane(spec("a", "A · Invoice · m"), Counts({DONE: 3}), a,
                   Totals(sum(a.values(), FieldScore()), (1 + 0.5 + 0.5) / 3, 3, 1),
                   not_in_text=2, seconds_per_doc=1.234, tokens_per_doc=812.4, cost=0.0123),
         "b": Lane(spec("b", "A · Invoice · m"), Counts({DONE: 1, RUNNING: 1, QUEUED: 1}), b,
                   Totals(sum(b.values(), FieldScore()), 0.5, 1, 0))})


def test_scores_are_fields_by_lanes_of_f1_with_the_micro_row_last() -> None:
    frame = shape.scores_frame(results())
    assert list(frame.columns) == ["A · Invoice · m", "A · Invoice · m (b)"]  # made unique
    assert list(frame.index) == ["number", "total", "items[].sku", "note", shape.ALL_FIELDS]
    a, b = frame.iloc[:, 0].tolist(), frame.iloc[:, 1].tolist()
    assert a[:3] == [1.0, 0.5, pytest.approx(2 / 3, abs=1e-4)]
    assert a[3] != a[3]  # a field no document has yet: empty, not 0
    assert a[4] == pytest.approx(12 / 16, abs=1e-4)  # tp 6, fp 1, fn 3: 2·6 / (12 + 4)
    assert b[:2] == [0.0, 1.0] and b[2] != b[2]
    html = shape.styled_scores(results()).to_html()
    assert "0.50" in html and "0.67" in html  # two decimals, as text
    assert "rgb(254, 202, 202)" in html and "rgb(187, 247, 208)" in html  # 0 red, 1 green


def test_the_f1_colour_runs_red_amber_green() -> None:
    assert shape.f1_colour(0.0).startswith("background-color: rgb(254, 202, 202)")
    assert shape.f1_colour(0.5).startswith("background-color: rgb(253, 230, 138)")
    assert shape.f1_colour(1.0).startswith("background-color: rgb(187, 247, 208)")
    assert shape.f1_colour(0.75) == ("background-color: rgb(220, 238, 173); color: #111827")
    assert shape.f1_colour(None) == shape.f1_colour(float("nan")) == ""


def test_totals_per_lane() -> None:
    frame = shape.totals_frame(results())
    first, second = frame.to_dict("records")
    assert first == {"lane": "A · Invoice · m", "documents scored": "3 of 3", "micro F1": "0.75",
                     "macro F1": "0.67", "exact documents": "33% (1 of 3)",
                     "not in the text": "2", "s / doc": "1.23", "tokens / doc": "812",
                     "cost": "$0.0123"}
    assert second["documents scored"] == "1 of 3" and second["cost"] == "—"
    assert second["s / doc"] == "—" and second["exact documents"] == "0% (0 of 1)"
    assert shape.progress_rows(results()) == [("A · Invoice · m", 3, 3),
                                              ("A · Invoice · m (b)", 1, 3)]


def test_detail_and_chart_rows() -> None:
    detail = shape.detail_frame(results())
    row = detail[(detail["field"] == "total") & (detail["lane"] == "A · Invoice · m")].iloc[0]
    assert (row["precision"], row["recall"], row["F1"]) == (0.5, 0.5, 0.5)
    assert (row["right (TP)"], row["wrong or extra (FP)"], row["missed (FN)"]) == (1, 1, 1)
    assert len(detail) == 5  # b has no items[].sku yet
    rows = shape.chart_rows(results())
    assert [(r["field"], r["lane"][-3:]) for r in rows] == [
        ("number", "· m"), ("number", "(b)"), ("total", "· m"), ("total", "(b)"),
        ("items[].sku", "· m")]
    chart = charts.f1_chart(rows, list(shape.lane_labels(results()).values())).to_dict()
    assert chart["encoding"]["yOffset"]["field"] == "lane"
    assert chart["encoding"]["x"]["scale"]["domain"] == [0, 1]


def test_a_document_marked_field_by_field() -> None:
    drill = Drill(None, {
        "a": Doc(0, "a.txt", "done", {"number": "7", "total": 3},
                 [Cell("number", 1, 0, 0, "7", "7"), Cell("total", 0, 1, 1, 4, 3),
                  Cell("items[].sku", 1, 0, 0, "X", "X"), Cell("items[].sku", 0, 0, 1, "Y", None),
                  Cell("note", 0, 0, 0)]),
        "b": Doc(0, "a.txt", "queued", None, [])})
    labels = {"a": "A", "b": "B"}
    marks = shape.drill_marks(drill, labels, ["number", "total"])
    assert marks.to_dict("index") == {
        "number": {"A": shape.RIGHT, "B": "queued"}, "total": {"A": shape.WRONG, "B": "queued"},
        "items[].sku": {"A": shape.PARTLY, "B": "queued"},
        "note": {"A": shape.NOTHING, "B": "queued"}}
    diff = shape.drill_differences(drill, labels)
    assert diff.to_dict("records") == [
        {"lane": "A", "field": "total", "mark": shape.WRONG, "gold": "4", "answer": "3"},
        {"lane": "A", "field": "items[].sku", "mark": shape.MISSING, "gold": "Y",
         "answer": "—"}]
    assert shape.cell_mark([Cell("x", 0, 1, 0, None, "z")]) == shape.EXTRA
    assert shape.mark_colour(shape.RIGHT) != shape.mark_colour(shape.WRONG) != ""


def test_changes_keep_the_engines_order_regressions_first() -> None:
    changes = [Change("B", "total", 1.0, 0.5, "worse"), Change("A", "number", 0.5, 1.0, "better"),
               Change("A", "total", 0.5, 0.5, "unchanged"), Change("A", "note", None, 1.0, "new")]
    frame = shape.change_rows(changes)  # lanes by label, as the engine matches them
    assert frame.to_dict("records")[0] == {"lane": "B", "field": "total", "before": "1.00",
                                           "after": "0.50", "change": "-0.50",
                                           "verdict": "▼ worse"}
    assert list(frame["change"]) == ["-0.50", "+0.50", "+0.00", "—"]
    assert shape.change_summary(changes) == "1 worse, 1 better, 1 unchanged, 1 new"
    assert shape.change_summary([]) == "nothing to compare"
    assert shape.verdict_colour("▼ worse") != "" and shape.verdict_colour("= unchanged") == ""
