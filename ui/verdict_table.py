"""The verdict of a comparison, drawn the same way on the Compare page and in History: one row
per field path with each lane's value and the agreement (and, with a reference, which lanes are
right), then one row per lane with its status, timings, tokens, field errors and scores.

Rows and summaries come from the engine (`engine.compare.verdict.compare_lanes`,
`engine.compare.comparisons.comparison_verdict` / `engine.compare.lanes.summary_from_end`);
this module only draws.
Values are shown as text (a table cell never renders HTML or Markdown)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from engine.compare.verdict import AGREE, DIFFER, ONE_SIDED, LaneRow, lane_scores
from engine.runs.display import json_text

if TYPE_CHECKING:
    from engine.compare.lanes import LaneSummary

NOT_IN_SCHEMA = "not in this schema"
RIGHT, WRONG = "✓ ", "✗ "  # symbols every system font has; colour alone would not say it
FIELD, AGREEMENT, REFERENCE = "field", "agreement", "reference"
AGREEMENT_COLOURS = {DIFFER: "#fef3c7", ONE_SIDED: "#e5e7eb"}
CORRECT_COLOURS = {True: "#dcfce7", False: "#fee2e2"}


def render_verdict(rows: Sequence[LaneRow], summaries: Sequence[LaneSummary],
                   labels: Mapping[str, str], *, key: str = "fs_verdict") -> None:
    """The verdict table, a count of each agreement, and the lanes' summary table.
    `labels`: lane -> the name its column gets, in the order of the columns."""
    if not rows:
        st.info("No fields to compare: no lane produced a value.")
    else:
        st.caption(agreement_counts(rows))
        st.dataframe(verdict_styled(rows, labels), hide_index=True, width="stretch",
                     key=f"{key}_rows")
    st.markdown("**Lanes**")
    st.dataframe(summary_frame(rows, summaries, labels), hide_index=True, width="stretch",
                 key=f"{key}_lanes", column_config=_summary_columns())


def has_reference(rows: Sequence[LaneRow]) -> bool:
    """Whether any lane was judged against a reference (correct is None without one)."""
    return any(mark is not None for row in rows for mark in row.correct.values())


def agreement_counts(rows: Sequence[LaneRow]) -> str:
    counts = {a: sum(1 for r in rows if r.agreement == a) for a in (AGREE, DIFFER, ONE_SIDED)}
    return " · ".join(f"{n} {agreement}" for agreement, n in counts.items() if n)


def cell_text(value: Any) -> str:
    """A value as table text: nothing for a missing value, text as it is, the rest as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json_text(value)


def column_names(labels: Mapping[str, str]) -> dict[str, str]:
    """lane -> a column name no other column has (labels are free text, and may be the name
    of a fixed column or repeat another lane's)."""
    taken = {FIELD, AGREEMENT, REFERENCE}
    out: dict[str, str] = {}
    for lane, label in labels.items():
        name = label.strip() or lane
        if name in taken:
            name = f"{name} ({lane})"
        taken.add(name)
        out[lane] = name
    return out


def _lanes(rows: Sequence[LaneRow], labels: Mapping[str, str]) -> dict[str, str]:
    """The lanes to draw: those labelled, then any a row names without a label."""
    found = dict(labels)
    for row in rows:
        found.update({lane: lane for lane in row.values if lane not in found})
    return column_names(found)


def _lane_cell(row: LaneRow, lane: str) -> str:
    if not row.present.get(lane, True):
        return NOT_IN_SCHEMA
    mark = {True: RIGHT, False: WRONG}.get(row.correct.get(lane), "")
    return mark + cell_text(row.values.get(lane))


def verdict_frame(rows: Sequence[LaneRow], labels: Mapping[str, str]) -> pd.DataFrame:
    """One row per field path: the path, each lane's value (marked ✓/✗ with a reference, or
    "not in this schema"), the reference's value when there is one, and the agreement."""
    columns = _lanes(rows, labels)
    with_reference = has_reference(rows)
    records = []
    for row in rows:
        record = {FIELD: row.path}
        record.update({name: _lane_cell(row, lane) for lane, name in columns.items()})
        if with_reference:
            record[REFERENCE] = cell_text(row.reference)
        record[AGREEMENT] = row.agreement
        records.append(record)
    order = [FIELD, *columns.values(), *([REFERENCE] if with_reference else []), AGREEMENT]
    return pd.DataFrame(records, columns=order)


def verdict_styled(rows: Sequence[LaneRow], labels: Mapping[str, str]) -> Any:
    frame = verdict_frame(rows, labels)
    columns = _lanes(rows, labels)

    def styles(data: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame("", index=data.index, columns=data.columns)
        for i, row in enumerate(rows):
            colour = AGREEMENT_COLOURS.get(row.agreement)
            if colour:
                out.iloc[i, data.columns.get_loc(AGREEMENT)] = f"background-color: {colour}"
            for lane, name in columns.items():
                colour = CORRECT_COLOURS.get(row.correct.get(lane))
                if colour and row.present.get(lane, True):
                    out.iloc[i, data.columns.get_loc(name)] = f"background-color: {colour}"
        return out

    return frame.style.apply(styles, axis=None)


def summary_frame(rows: Sequence[LaneRow], summaries: Sequence[LaneSummary],
                  labels: Mapping[str, str]) -> pd.DataFrame:
    """One row per lane: status, time to the first done field, total, tokens, field errors,
    how many fields it agrees on, differs on, has alone (and, with a reference, right/wrong)."""
    scores = lane_scores(list(rows))
    with_reference = has_reference(rows)
    names = column_names({s.lane: labels.get(s.lane, s.label) for s in summaries})
    records = []
    for s in summaries:
        score = scores.get(s.lane, {})
        record = {
            "lane": names[s.lane], "status": s.status,
            "first done field": _seconds(s.first_done_ms), "total": _seconds(s.total_ms),
            "tokens": s.tokens, "field errors": s.field_errors,
            "agree": score.get(AGREE, 0), "differ": score.get(DIFFER, 0),
            "one-sided": score.get(ONE_SIDED, 0),
        }  # fmt: skip
        if with_reference:
            record.update(correct=score.get("correct", 0), wrong=score.get("wrong", 0))
        record["run"] = s.run_id or ""
        records.append(record)
    return pd.DataFrame(records)


def _summary_columns() -> dict[str, Any]:
    cc = st.column_config
    return {
        "first done field": cc.NumberColumn("first done field", format="%.2f s"),
        "total": cc.NumberColumn("total", format="%.2f s"),
        "run": cc.TextColumn("run", help="The lane's run in History"),
    }


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0
