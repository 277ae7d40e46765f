"""History's side of the Compare page: recent comparisons listed, one reopened (its lanes, the
verdict, fields done over time, each lane's answer) and exported. `?compare=<id>` in the
address opens one (the Compare page links there). The data comes from
engine/compare; the verdict is drawn by ui/verdict_table, the chart by ui/charts."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pandas as pd
import streamlit as st

from engine.compare import comparisons
from engine.compare.comparisons import Comparison
from engine.compare.lanes import done_over_time
from engine.history import replay
from engine.runs.display import json_text
from engine.store import Store
from ui.charts import lanes_done_chart
from ui.text import escape_md
from ui.verdict_table import render_verdict

TABLE = "fs_hist_cmp_table"
CLEAR = "fs_hist_cmp_clear"
PARAM = "compare"
RECENT = 50


def linked_comparison() -> str | None:
    """The comparison named in the address (`?compare=<id>`)."""
    return (st.query_params.get(PARAM) or "").strip() or None


def render_comparisons(store: Store) -> str | None:
    """The recent comparisons as a table (when, who, lanes, preset); returns the id of the one
    to open: the one selected, else the one in the address."""
    linked = linked_comparison()
    if st.session_state.pop(CLEAR, False):  # before the table exists, so its selection goes
        st.session_state.pop(TABLE, None)
    found = comparisons.list_comparisons(store, limit=RECENT)
    title = f"Comparisons ({len(found)}{'+' if len(found) == RECENT else ''})"
    with st.expander(title, expanded=linked is not None):
        if not found:
            st.caption("No comparisons yet: run lanes side by side on the Compare page.")
            return linked
        event = st.dataframe(comparison_rows(found), key=TABLE, on_select="rerun",
                             selection_mode="single-row", hide_index=True, width="stretch",
                             column_config=_columns())
    chosen = [found[i].id for i in event.selection.rows if i < len(found)]
    return chosen[0] if chosen else linked


def comparison_rows(found: list[Comparison]) -> pd.DataFrame:
    return pd.DataFrame([
        {
            "created": c.created_at.astimezone(UTC).replace(tzinfo=None),
            "by": c.created_by, "preset": c.preset,
            "lanes": " · ".join(lane.label for lane in c.lanes),
            "models": " · ".join(lane.model for lane in c.lanes),
            "reference": _reference_kind(c), "comparison": c.id, "link": f"?{PARAM}={c.id}",
        }
        for c in found
    ], columns=["created", "by", "preset", "lanes", "models", "reference", "comparison",
                "link"])  # fmt: skip


def _columns() -> dict[str, Any]:
    cc = st.column_config
    return {
        "created": cc.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "link": cc.LinkColumn("link", display_text="open", help="A link to this comparison"),
    }


def _reference_kind(c: Comparison) -> str:
    if c.reference_run_id:
        return f"run {c.reference_run_id}"
    return "expected answer" if c.reference is not None else ""


# --- one comparison --------------------------------------------------------------------------


def render_comparison(store: Store, compare_id: str) -> None:
    """A comparison reopened: its lanes, the verdict, the chart, the answers, the export."""
    found = comparisons.get_comparison(store, compare_id)
    st.divider()
    if found is None:
        st.warning(escape_md(f"There is no comparison {compare_id!r} in the history."))
        _render_close()
        return
    st.subheader(escape_md(f"Comparison {found.id}"))
    st.caption(escape_md(describe(found)))
    labels = {lane.lane: lane.label for lane in found.lanes}
    st.dataframe(lane_rows(found), hide_index=True, width="stretch", key="fs_hist_cmp_lanes",
                 column_config={"run": st.column_config.LinkColumn(
                     "run", display_text="open", help="The lane's run in History")})
    missing = [lane.label for lane in found.lanes if lane.lane not in found.runs]
    if missing:
        st.info(escape_md("No run recorded for " + ", ".join(missing) + " (recording off, "
                          "or the run was deleted)."))
    rows, summaries = comparisons.comparison_verdict(store, found)
    render_verdict(rows, summaries, labels, key="fs_hist_cmp_verdict")
    _render_chart(store, found, labels)
    _render_answers(found, labels)
    _render_export(store, found)
    _render_close()


def describe(c: Comparison) -> str:
    parts = [c.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")]
    if c.created_by:
        parts.append(f"by {c.created_by}")
    if c.preset:
        parts.append(f"preset {c.preset}")
    reference = _reference_kind(c)
    parts.append(f"reference: {reference}" if reference else "no reference")
    return " · ".join(parts)


def lane_rows(c: Comparison) -> pd.DataFrame:
    """One row per lane: what it asked for and how its run ended."""
    records = []
    for lane in c.lanes:
        run = c.runs.get(lane.lane)
        version = f" v{lane.schema_version}" if lane.schema_version else ""
        records.append({
            "lane": lane.label, "schema": lane.schema_name + version,
            "provider": lane.provider, "model": lane.model, "mode": lane.mode,
            "status": (run.shown_status or run.status) if run else comparisons.NOT_RUN,
            "run": f"?run={run.id}" if run else None,
        })  # fmt: skip
    return pd.DataFrame(records, columns=["lane", "schema", "provider", "model", "mode",
                                          "status", "run"])


def _render_chart(store: Store, c: Comparison, labels: dict[str, str]) -> None:
    series = {}
    for lane, run in c.runs.items():
        schema = replay.schema_for(run, store)
        if schema is not None and run.timeline:
            series[labels.get(lane, lane)] = done_over_time(schema, run.timeline)
    if series:
        st.markdown("**Fields done over time**")
        st.altair_chart(lanes_done_chart(series), width="stretch")


def _render_answers(c: Comparison, labels: dict[str, str]) -> None:
    if not c.runs:
        return
    with st.expander("Each lane's answer"):
        cols = st.columns(len(c.runs))
        for col, (lane, run) in zip(cols, c.runs.items(), strict=True):
            col.markdown("**" + escape_md(labels.get(lane, lane)) + "**")
            col.code(json_text(run.result), language="json")


def _render_export(store: Store, c: Comparison) -> None:
    st.download_button("Export this comparison (JSON Lines)",
                       lambda: comparisons.export_comparison(store, c).encode("utf-8"),
                       file_name=f"fieldstream-comparison-{c.id}.jsonl",
                       mime="application/x-ndjson", key="fs_hist_cmp_export",
                       on_click="ignore")


def _render_close() -> None:
    if st.button("Close the comparison", key="fs_hist_cmp_close"):
        st.query_params.pop(PARAM, None)
        st.session_state[CLEAR] = True
        st.rerun()
