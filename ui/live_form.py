"""The live form: one placeholder per leaf field, created before the stream starts, redrawn
only when that field's value or state changed. Model text is always drawn as plain text.

Every field box is a keyed container whose CSS class says which field it is and its state
(`st-key-fs_<path>__<state>__<n>`), so browser tests can watch fields turn done.
"""

from __future__ import annotations

import re
import time
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from engine.changes import DONE, INVALID
from engine.runner import (
    Cell,
    LeafData,
    Runner,
    Update,
    display_value,
    format_seconds,
    state_label,
    table_rows,
)
from engine.schema_info import GROUP, ITEMS, TABLE, FieldNode, field_tree, leaves
from ui.page import escape_md

#: While streaming, the JSON / raw tabs show at most this many characters (the end of it);
#: the whole text is shown once the stream ended, so a 100 KB answer stays cheap to draw.
LIVE_TAIL = 6_000
SIDE_TABS_HZ = 4.0
TIMELINE_HZ = 1.0


def slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"


class LiveForm:
    """Placeholders for every leaf of a schema, drawn inside the current container."""

    def __init__(self, schema: Any) -> None:
        self.tree = field_tree(schema)
        self.nodes = {n.path: n for n in leaves(schema)}
        self.slots: dict[str, DeltaGenerator] = {}
        self.item_boxes: dict[str, DeltaGenerator] = {}
        self.item_slots: dict[str, list[DeltaGenerator]] = {}
        self.table_due: dict[str, float] = {}
        self.deferred: dict[str, LeafData] = {}
        self._n = 0

    # --- layout (before the stream) ---------------------------------------------------

    def build(self) -> None:
        for node in self.tree:
            self._build(node)

    def _build(self, node: FieldNode) -> None:
        if node.kind == GROUP:
            with st.container(border=True):
                st.markdown(f"**{escape_md(node.name)}**")
                if node.description:
                    st.caption(escape_md(node.description))
                for child in node.children:
                    self._build(child)
            return
        self.slots[node.path] = st.empty()
        if node.kind == ITEMS:
            self.item_boxes[node.path] = st.container()
            self.item_slots[node.path] = []

    # --- drawing ----------------------------------------------------------------------

    def _key(self, path: str, state: str) -> str:
        self._n += 1
        return f"fs_{slug(path)}__{state}__{self._n}"

    def draw(self, leaves_data: dict[str, LeafData], *, force: bool = False) -> None:
        """Redraw the given leaves (tables may wait a little when they are big)."""
        self.deferred.update({k: v for k, v in leaves_data.items() if self.nodes.get(k)})
        now = time.perf_counter()
        for path in list(self.deferred):
            node = self.nodes[path]
            if node.kind == TABLE and not force and now < self.table_due.get(path, 0.0):
                continue
            data = self.deferred.pop(path)
            if node.kind == TABLE:
                self._draw_table(node, data)
                self.table_due[path] = now + 0.05 + len(data.items) / 2000
            elif node.kind == ITEMS:
                self._draw_items(node, data)
            else:
                self._draw_scalar(node, data.cell)

    def _header(self, node: FieldNode, state: str, extra: str = "") -> None:
        st.markdown(
            f"**{escape_md(node.name)}** · {state_label(state)}{extra}",
            help=node.description or None,
        )

    def _draw_scalar(self, node: FieldNode, cell: Cell) -> None:
        with self.slots[node.path].container(border=True, key=self._key(node.path, cell.state)):
            self._header(node, cell.state)
            shown = display_value(cell.value)
            if shown:
                st.text(shown)
            else:
                st.caption(escape_md(node.type_label))
            if cell.state == INVALID and cell.error:
                st.error(escape_md(cell.error))

    def _draw_items(self, node: FieldNode, data: LeafData) -> None:
        count = f" · {len(data.items)} item{'s' if len(data.items) != 1 else ''}"
        with self.slots[node.path].container(border=True, key=self._key(node.path,
                                                                          data.cell.state)):
            self._header(node, data.cell.state, count)
            if data.cell.state == INVALID and data.cell.error:
                st.error(escape_md(data.cell.error))
        slots = self.item_slots[node.path]
        while len(slots) < len(data.items):
            slots.append(self.item_boxes[node.path].empty())
        for i, item in enumerate(data.items):
            if getattr(slots[i], "_fs_seen", None) == (item.state, item.value):
                continue
            self._draw_item(slots[i], f"{node.path}[{i}]", item)
            slots[i]._fs_seen = (item.state, item.value)  # type: ignore[attr-defined]

    def _draw_item(self, slot: DeltaGenerator, path: str, item: Cell) -> None:
        mark = state_label(item.state).split(" ")[0]
        with slot.container(key=self._key(path, item.state)):
            st.text(f"{mark} {display_value(item.value)}")
            if item.state == INVALID and item.error:
                st.error(escape_md(item.error))

    def _draw_table(self, node: FieldNode, data: LeafData) -> None:
        rows = table_rows(data, node.columns)
        count = f" · {len(rows)} row{'s' if len(rows) != 1 else ''}"
        with self.slots[node.path].container(border=True, key=self._key(node.path,
                                                                          data.cell.state)):
            self._header(node, data.cell.state, count)
            if rows:
                st.dataframe(rows, hide_index=True, width="stretch")
            else:
                st.caption(escape_md(node.type_label))
            bad = [(i, c.error) for i, c in enumerate(data.items) if c.state == INVALID]
            for i, error in bad:
                st.error(escape_md(f"Row {i + 1}: {error}"))


class LiveView:
    """The whole live area: progress, metrics, the form, and the JSON / raw / timeline tabs."""

    def __init__(self, schema: Any) -> None:
        self.form = LiveForm(schema)
        self._side_at = 0.0
        self._timeline_at = 0.0
        self._progress_seen: tuple[int, int] | None = None

    def build(self) -> None:
        self.progress = st.empty()
        cols = st.columns(4)
        self.metrics = [c.empty() for c in cols]
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.subheader("Live form")
            self.form.build()
        with right:
            json_tab, raw_tab, time_tab = st.tabs(["Live JSON", "Raw stream", "Timeline"])
            self.json_slot = json_tab.empty()
            self.raw_slot = raw_tab.empty()
            self.timeline_slot = time_tab.empty()

    def apply(self, update: Update, runner: Runner, *, final: bool = False) -> None:
        """Draw one coalesced update (and everything still pending when `final`)."""
        self.form.draw(update.leaves, force=final)
        self._draw_progress(update)
        self._draw_metrics(update)
        now = time.perf_counter()
        if final or now - self._side_at >= 1.0 / SIDE_TABS_HZ:
            self._draw_side(update, runner, final)
            self._side_at = now
        if final or now - self._timeline_at >= 1.0 / TIMELINE_HZ:
            self._draw_timeline(runner)
            self._timeline_at = now

    def _draw_progress(self, update: Update) -> None:
        seen = (update.done_leaves, update.total_leaves)
        if seen == self._progress_seen:
            return
        self._progress_seen = seen
        text = f"{update.done_leaves} of {update.total_leaves} fields done"
        self.progress.progress(min(max(update.progress, 0.0), 1.0), text=text)

    def _draw_metrics(self, update: Update) -> None:
        m = update.metrics
        rate = m.tokens_per_s
        values = [
            ("Time to first token", format_seconds(m.first_token)),
            ("Time to first done field", format_seconds(m.first_done)),
            ("Elapsed", format_seconds(m.elapsed)),
            ("Tokens / s", f"{rate:.0f}" if rate is not None else "—"),
        ]
        for slot, (label, value) in zip(self.metrics, values, strict=True):
            slot.metric(label, value)

    def _draw_side(self, update: Update, runner: Runner, final: bool) -> None:
        if update.json_text is not None or final:
            self.json_slot.code(_tail(runner.json_text(), final), language="json")
        if update.text_changed or final:
            self.raw_slot.code(_tail(runner.text, final) or " ", language=None, wrap_lines=True)

    def _draw_timeline(self, runner: Runner) -> None:
        from ui.charts import timeline_chart

        rows = runner.timeline()
        if rows:
            self.timeline_slot.altair_chart(timeline_chart(rows), width="stretch")
        else:
            self.timeline_slot.caption("Fields appear here as they start and finish.")


def _tail(text: str, final: bool) -> str:
    if final or len(text) <= LIVE_TAIL:
        return text
    return f"… ({len(text) - LIVE_TAIL:,} characters above; all of it appears at the end)\n" + (
        text[-LIVE_TAIL:]
    )


DONE_STATES = (DONE, INVALID)
