"""Altair charts (built from plain rows; no data or fonts fetched from the internet)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

MAX_BARS = 120


def chart_height(bars: int) -> int:
    return max(120, 18 * min(bars, MAX_BARS))


def timeline_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    """One bar per field from when it started to when it was done (seconds)."""
    columns = ["field", "start", "end", "state"]
    frame = pd.DataFrame(rows[:MAX_BARS], columns=columns)
    height = chart_height(len(frame))
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("start:Q", title="seconds since the request"),
            x2="end:Q",
            y=alt.Y("field:N", sort=None, title=None,
                    axis=alt.Axis(labelOverlap=False, labelLimit=220)),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(domain=["done", "unfinished"], range=["#16a34a", "#f59e0b"]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["field:N", "start:Q", "end:Q", "state:N"],
        )
        .properties(height=alt.Step(18) if len(frame) else height)
    )


def lanes_done_chart(series: dict[str, list[tuple[float, int]]]) -> alt.Chart:
    """Fields done over time, one stepped line per lane (`series`: label -> (seconds, done)).
    Each line starts at (0, 0) so a lane whose first field came late is seen to start late."""
    rows = [
        {"lane": label, "seconds": float(t), "fields done": int(n)}
        for label, points in series.items()
        for t, n in ([(0.0, 0)] if points and points[0] != (0.0, 0) else []) + list(points)
    ]
    frame = pd.DataFrame(rows, columns=["lane", "seconds", "fields done"])
    return (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", point=True)
        .encode(
            x=alt.X("seconds:Q", title="seconds since the request"),
            y=alt.Y("fields done:Q", title="fields done"),
            color=alt.Color("lane:N", sort=list(series), title=None,
                            legend=alt.Legend(orient="bottom")),
            tooltip=["lane:N", "seconds:Q", "fields done:Q"],
        )
        .properties(height=260)
    )


BAR_STEP = 14  # pixels per bar of the F1 chart


def f1_chart(rows: list[dict[str, Any]], lanes: list[str]) -> alt.Chart:
    """F1 per field, a bar per lane side by side (`rows`: field, lane, F1; `lanes` in the
    table's order, so colours and bars keep it). Fields in the order of the rows."""
    frame = pd.DataFrame(rows[: MAX_BARS * max(1, len(lanes))], columns=["field", "lane", "F1"])
    fields = list(dict.fromkeys(frame["field"]))
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("F1:Q", scale=alt.Scale(domain=[0, 1]), title="F1"),
            y=alt.Y("field:N", sort=fields, title=None,
                    axis=alt.Axis(labelOverlap=False, labelLimit=220)),
            yOffset=alt.YOffset("lane:N", sort=lanes, scale=alt.Scale(paddingInner=0.1)),
            color=alt.Color("lane:N", sort=lanes, title=None, legend=alt.Legend(orient="top")),
            tooltip=["field:N", "lane:N", alt.Tooltip("F1:Q", format=".2f")],
        )
        .properties(height=alt.Step(BAR_STEP))  # per bar: the chart grows with fields x lanes
    )
