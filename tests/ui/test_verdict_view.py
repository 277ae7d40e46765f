"""The verdict table and the fields-done chart the Compare page and History share: rows from the
engine's compare_lanes drawn as text, ✓/✗ against a reference, "not in this schema" for a
one-sided field, lanes whose labels clash with a column or with each other."""

from __future__ import annotations

import json

from pydantic import BaseModel

from engine.compare.lanes import LaneSummary
from engine.compare.verdict import compare_lanes
from engine.schemas.fields import leaves
from engine.schemas.library import MeetingInfo
from tests.support import MEETING
from ui.charts import lanes_done_chart
from ui.verdict_table import NOT_IN_SCHEMA, column_names, summary_frame, verdict_frame


class Flat(BaseModel):
    date: str
    budget: str
    venue: str


FLAT = {"date": "march 15TH,  2024", "budget": "50,000", "venue": "Harbour Hall"}
FIELDS = {lane: [node.path for node in leaves(schema)]
          for lane, schema in (("a", MeetingInfo), ("b", Flat))}


def rows_by_path(reference: object = None) -> dict[str, dict[str, str]]:
    rows = compare_lanes({"a": MEETING, "b": FLAT}, reference=reference,
                         has_reference=reference is not None, fields=FIELDS)
    frame = verdict_frame(rows, {"a": "Full", "b": "Flat"})
    return {row["field"]: row for row in frame.to_dict("records")}


def test_values_agreement_and_one_sided_fields() -> None:
    rows = rows_by_path()
    assert rows["budget"] == {"field": "budget", "Full": "50000", "Flat": "50,000",
                              "agreement": "agree"}
    assert rows["date"]["agreement"] == "agree"  # case and spacing are not a difference
    assert rows["location"]["Flat"] == NOT_IN_SCHEMA and rows["venue"]["Full"] == NOT_IN_SCHEMA
    assert rows["location"]["agreement"] == rows["venue"]["agreement"] == "one-sided"
    assert "reference" not in rows["date"]


def test_a_reference_marks_each_lane_right_or_wrong() -> None:
    rows = rows_by_path({**MEETING, "date": "March 16th, 2024"})
    assert (rows["date"]["Full"], rows["date"]["Flat"]) == ("✗ March 15th, 2024",
                                                            "✗ march 15TH,  2024")
    assert (rows["budget"]["Full"], rows["budget"]["Flat"]) == ("✓ 50000", "✓ 50,000")
    assert rows["date"]["reference"] == "March 16th, 2024"
    assert rows["venue"]["Full"] == NOT_IN_SCHEMA  # not marked: the lane has no such field


def test_lane_summaries_with_scores() -> None:
    rows = compare_lanes({"a": MEETING, "b": FLAT}, fields=FIELDS)
    summaries = [LaneSummary("a", "Full", "done", "r1", 120.0, 900.0, 42, 0),
                 LaneSummary("b", "Flat", "error", None, None, 300.0, None, 1)]
    frame = summary_frame(rows, summaries, {"a": "Full", "b": "Flat"})
    first, second = frame.to_dict("records")
    assert (first["lane"], first["first done field"], first["total"], first["run"]) == (
        "Full", 0.12, 0.9, "r1")
    assert first["agree"] == 2 and second["status"] == "error" and second["field errors"] == 1


def test_labels_never_collide_with_a_column_or_each_other() -> None:
    names = column_names({"a": "field", "b": "gpt", "c": "gpt", "d": " "})
    assert names == {"a": "field (a)", "b": "gpt", "c": "gpt (c)", "d": "d"}


def test_the_chart_has_one_line_per_lane_from_the_origin() -> None:
    spec = lanes_done_chart({"fast": [(0.1, 1), (0.4, 3)], "slow": [(0.9, 1)], "failed": []})
    spec = spec.to_dict()
    data = next(iter(spec["datasets"].values()))
    assert [(d["lane"], d["seconds"], d["fields done"]) for d in data] == [
        ("fast", 0.0, 0), ("fast", 0.1, 1), ("fast", 0.4, 3), ("slow", 0.0, 0), ("slow", 0.9, 1)]
    assert spec["encoding"]["color"]["sort"] == ["fast", "slow", "failed"]
    json.dumps(spec)  # plain data: nothing fetched, nothing unserialisable
