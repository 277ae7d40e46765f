"""The live form: one placeholder per leaf field, created before the stream starts, redrawn
only when that field's value or state changed. Model text is always drawn as plain text.

Every key is the lane's (`ui.keys.RunKeys`), so several live areas fit on one page. Every field
header is a keyed container whose CSS class says which lane and field it is and its state
(`st-key-fs_<lane>-<field>__<state>__<n>`), so browser tests can watch fields turn done.
`stream_lanes` drives one or more live areas from one polling loop.

Grounding: a done value's box says where it stands in the input text (a badge in its header:
"in text", "normalised", "fuzzy 87", "not in the text"), and a value found nowhere gets a warning
line. Given the input text (`LiveView(..., source=text)`), the view also shows that text with
each value highlighted as its field completes (`ui.highlight`), redrawn at most
`TEXT_HZ` times a second, and after the run a field picker that marks one field's spans.

Documents (#19): given the run's document (`document=`, its `DocumentInfo`), every badge
says the page its value stands on ("in text · page 3") and the text shows where pages start.
A split document's run (`Update.parts`) says how far its chunks are under the progress bar
("Chunk 3 of 7 · 2 done · 1 failed"), and a value the other chunks disagree with lists their
values under it ("2 other values in the document: A; B"), as plain text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from engine.grounding import EXACT, FUZZY, NORMALISED, NOT_FOUND, Grounding
from engine.runs.display import (
    CHECK_IT,
    display_value,
    format_seconds,
    grounding_label,
    span_context,
    state_label,
    table_rows,
)
from engine.runs.group import RunnerGroup
from engine.runs.runner import WAIT_SLOT, WAIT_TURN, Cell, LeafData, Runner, Update
from engine.runs.state import PartsProgress
from engine.schemas.fields import GROUP, ITEMS, TABLE, FieldNode, field_tree, leaves
from engine.stream.changes import INVALID, PENDING
from ui.highlight import highlight_html, legend_html
from ui.keys import RunKeys
from ui.text import escape_md

if TYPE_CHECKING:
    from engine.documents.model import DocumentInfo

#: While streaming, the JSON / raw tabs show at most this many characters (the end of it);
#: the whole text is shown once the stream ended, so a 100 KB answer stays cheap to draw.
LIVE_TAIL = 6_000
SIDE_TABS_HZ = 2.0
METRICS_HZ = 4.0
TIMELINE_HZ = 1.0
#: The highlighted input text is redrawn at most this often (never once per chunk).
TEXT_HZ = 3.0
#: A grounding's badge colour (Streamlit's `:<colour>-badge[...]` markdown).
BADGE_COLOURS = {EXACT: "green", NORMALISED: "blue", FUZZY: "orange", NOT_FOUND: "red"}
#: The warning line of a value found nowhere in the text.
WARNING = f"{CHECK_IT.capitalize()}."
#: Spans listed in words under the field picker at most.
PICKED_SPANS = 5
METRIC_LABELS = ("Time to first token", "Time to first done field", "Elapsed", "Tokens / s")
#: The same four in a narrow lane's one line.
LINE_LABELS = ("First token", "first done field", "elapsed", "tokens/s")


@dataclass
class Slots:
    """A field's box: a header (name + state, keyed by state), a body, an error line."""

    header: DeltaGenerator
    body: DeltaGenerator
    error: DeltaGenerator
    warn: DeltaGenerator
    others: DeltaGenerator | None = None  # a scalar's other values in the document
    items: DeltaGenerator | None = None
    item_slots: list[DeltaGenerator] = field(default_factory=list)
    item_seen: list[tuple[str, Any, Grounding | None]] = field(default_factory=list)
    header_seen: tuple[str, str] | None = None
    body_seen: str = ""
    warn_seen: str = ""
    others_seen: str = ""


class LiveForm:
    """Placeholders for every leaf of a schema, drawn inside the current container, with the
    lane's keys (`document`: the run's, so badges say pages)."""

    def __init__(self, schema: Any, keys: RunKeys, *,
                 document: DocumentInfo | None = None) -> None:
        self.keys = keys
        self.document = document
        self.tree = field_tree(schema)
        self.nodes = {n.path: n for n in leaves(schema)}
        self.slots: dict[str, Slots] = {}
        self.table_due: dict[str, float] = {}
        self.deferred: dict[str, LeafData] = {}
        self._n = 0

    # --- layout (before the stream) ---------------------------------------------------

    def build(self) -> None:
        for node in self.tree:
            self._build(node)

    def _build(self, node: FieldNode) -> None:
        if node.kind == GROUP:
            with st.container(border=True, key=self.keys.group(node.path)):
                st.markdown(f"**{escape_md(node.name)}**")
                if node.description:
                    st.caption(escape_md(node.description))
                for child in node.children:
                    self._build(child)
            return
        with st.container(border=True, key=self.keys.box(node.path)):
            slots = Slots(header=st.empty(), body=st.empty(), error=st.empty(),
                          warn=st.empty())
            if node.kind == ITEMS:
                slots.items = st.container()
            elif node.kind != TABLE:
                slots.others = st.empty()
        self.slots[node.path] = slots
        self._draw_header(node, slots, PENDING, "")
        if node.kind != ITEMS:
            slots.body.caption(escape_md(node.type_label))

    # --- drawing ----------------------------------------------------------------------

    def draw(self, leaves_data: dict[str, LeafData], *, force: bool = False) -> None:
        """Redraw the given leaves (tables may wait a little when they are big)."""
        self.deferred.update({k: v for k, v in leaves_data.items() if k in self.nodes})
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

    def _draw_header(self, node: FieldNode, slots: Slots, state: str, extra: str) -> None:
        """The header carries the state in its key (`st-key-fs_<lane>-<field>__<state>__<n>`);
        it is redrawn only when the state or the count changes."""
        if slots.header_seen == (state, extra):
            return
        slots.header_seen = (state, extra)
        self._n += 1
        key = self.keys.header(node.path, state, self._n)
        with slots.header.container(key=key):
            st.markdown(f"**{escape_md(node.name)}** · {state_label(state)}{extra}",
                        help=node.description or None)

    def _draw_error(self, slots: Slots, cell: Cell) -> None:
        if cell.state == INVALID and cell.error:
            slots.error.error(escape_md(cell.error))

    def _draw_warning(self, slots: Slots, text: str) -> None:
        """The not-in-the-text line ("" clears it), redrawn only when it changes."""
        if slots.warn_seen == text:
            return
        slots.warn_seen = text
        if text:
            slots.warn.warning(escape_md(text))
        else:
            slots.warn.empty()

    def _draw_scalar(self, node: FieldNode, cell: Cell) -> None:
        slots = self.slots[node.path]
        self._draw_header(node, slots, cell.state, badge(cell.grounding, self.document))
        shown = display_value(cell.value)
        if shown and shown != slots.body_seen:  # a state change alone leaves the text as is
            slots.body_seen = shown
            slots.body.text(shown)
        self._draw_others(slots, others_line(cell.others))
        self._draw_error(slots, cell)
        missing = cell.grounding is not None and not cell.grounding.found
        self._draw_warning(slots, WARNING if missing else "")

    def _draw_others(self, slots: Slots, line: str) -> None:
        """The values other chunks gave (plain text: model output), redrawn when changed."""
        if slots.others is None or slots.others_seen == line:
            return
        slots.others_seen = line
        if line:
            slots.others.text(line)
        else:
            slots.others.empty()

    def _draw_items(self, node: FieldNode, data: LeafData) -> None:
        slots = self.slots[node.path]
        count = f" · {len(data.items)} item{'s' if len(data.items) != 1 else ''}"
        missing = [i for i, item in enumerate(data.items) if _missing(item)]
        self._draw_header(node, slots, data.cell.state, count + missing_badge(len(missing)))
        self._draw_error(slots, data.cell)
        assert slots.items is not None
        while len(slots.item_slots) < len(data.items):
            slots.item_slots.append(slots.items.empty())
            slots.item_seen.append(("", None, None))
        for i, item in enumerate(data.items):
            seen = (item.state, item.value, item.grounding)
            if slots.item_seen[i] != seen:
                slots.item_seen[i] = seen
                self._draw_item(slots.item_slots[i], item)

    def _draw_item(self, slot: DeltaGenerator, item: Cell) -> None:
        mark = state_label(item.state).split(" ")[0]
        line = f"{mark} {display_value(item.value)}"
        if item.grounding is not None:
            line += f" · {grounding_label(item.grounding)}{on_page(item.grounding, self.document)}"
        if item.state == INVALID and item.error:
            with slot.container():
                st.text(line)
                st.error(escape_md(item.error))
        elif _missing(item):
            with slot.container():
                st.text(line)
                st.warning(escape_md(WARNING))
        else:
            slot.text(line)

    def _draw_table(self, node: FieldNode, data: LeafData) -> None:
        slots = self.slots[node.path]
        rows = table_rows(data, node.columns)
        count = f" · {len(rows)} row{'s' if len(rows) != 1 else ''}"
        missing = [f"row {i + 1} {col} ({display_value(c.value)})"
                   for i, row in enumerate(data.cells) for col, c in row.items() if _missing(c)]
        self._draw_header(node, slots, data.cell.state, count + missing_badge(len(missing)))
        if rows:
            slots.body.dataframe(rows, hide_index=True, width="stretch")
        bad = [f"Row {i + 1}: {c.error}" for i, c in enumerate(data.items) if c.state == INVALID]
        if data.cell.state == INVALID and data.cell.error:
            bad.insert(0, data.cell.error)
        if bad:
            slots.error.error(escape_md("  \n".join(bad)))
        check = "check it" if len(missing) == 1 else "check them"
        self._draw_warning(slots, f"Not in the text — {check}: {', '.join(missing)}"
                           if missing else "")


def _missing(cell: Cell) -> bool:
    return cell.grounding is not None and not cell.grounding.found


def badge(grounding: Grounding | None, document: DocumentInfo | None = None) -> str:
    """A field header's grounding badge (markdown of our own words), "" when not grounded;
    with a document, the page the value stands on ("in text · page 3")."""
    if grounding is None:
        return ""
    colour = BADGE_COLOURS.get(grounding.status, "gray")
    return f" · :{colour}-badge[{grounding_label(grounding)}{on_page(grounding, document)}]"


def value_page(grounding: Grounding | None, document: DocumentInfo | None) -> int | None:
    """The page of a value's first place in the document (None: no document, not found)."""
    if grounding is None or document is None or not grounding.spans:
        return None
    return document.page_at(grounding.spans[0].start)


def on_page(grounding: Grounding | None, document: DocumentInfo | None) -> str:
    """" · page 3" after a grounding's label when the run read a document, else ""."""
    page = value_page(grounding, document)
    return f" · page {page}" if page is not None else ""


def others_line(others: tuple[Any, ...]) -> str:
    """A split document's disagreeing values, as plain text: "2 other values in the
    document: A; B" ("" when the chunks agree)."""
    if not others:
        return ""
    n = len(others)
    values = "; ".join(display_value(v) for v in others)
    return f"{n} other value{'s' if n != 1 else ''} in the document: {values}"


def parts_line(parts: PartsProgress) -> str:
    """How far a split document's run is: "Chunk 3 of 7 · 2 done · 1 failed" (the failed
    count only when a chunk failed)."""
    line = f"Chunk {parts.current} of {parts.total} · {parts.done} done"
    return line + (f" · {parts.failed} failed" if parts.failed else "")


def missing_badge(count: int) -> str:
    """A list's or table's header badge: how many of its values are not in the text."""
    return f" · :red-badge[{count} not in the text]" if count else ""


#: Shown until the first token: a local model may be reading the text, or busy with another
#: person's extraction (it serves two at a time; a third waits its turn).
WAITING = ("Waiting for the model to start answering… it may still be reading the text, or "
           "finishing another extraction first.")
#: Shown while every slot of the local model is busy with other extractions: the run queues
#: (Stop ends it at once) and its request is sent when a slot frees up.
WAITING_FOR_SLOT = ("Waiting for a free slot on the local model… it is busy with other "
                    "extractions; this one starts as soon as one of them ends.")


#: Shown while the provider's limit of runs at once (in this app) is reached: the run waits
#: in line (Stop ends it at once) and its request is sent when an earlier run ends.
WAITING_FOR_TURN = ("Waiting for a turn… this provider already has as many extractions "
                    "running as it is allowed (FIELDSTREAM_PROVIDER_LIMIT); this one starts "
                    "as soon as one of them ends.")


class LiveView:
    """The whole live area of one lane: progress, metrics, the form, and the JSON / raw /
    timeline tabs; with the run's input text (`source`) first an "Input text" tab, its values
    highlighted as they are grounded."""

    def __init__(self, schema: Any, keys: RunKeys, *, source: str | None = None,
                 tabs: bool = True, document: DocumentInfo | None = None) -> None:
        self.keys = keys
        self.tabs = tabs  # the JSON / raw / timeline tabs (a narrow Compare lane has none)
        self.document = document  # the file the text was read from (None: pasted)
        self.form = LiveForm(schema, keys, document=document)
        self.source = source if tabs else None  # its tab sits beside the JSON / raw tabs
        self.grounding: dict[str, Grounding] = {}
        self.selected: str | None = None
        self._marks_pending = False
        self._text_at = 0.0
        self._side_at = 0.0
        self._timeline_at = 0.0
        self._metrics_at = 0.0
        self._progress_seen: tuple[int, int, bool, str | None] | None = None
        self._parts_seen: PartsProgress | None = None
        self._metrics_seen: list[str | None] = [None] * len(METRIC_LABELS)
        self._json_pending = False
        self._text_pending = False

    def build(self) -> None:
        self.progress = st.empty()
        self.parts_slot = st.empty()  # a split document's chunks, under the progress bar
        if not self.tabs:
            # A narrow lane says its four numbers in one line: one small element to redraw
            # instead of four metrics, which cost the browser most of a lane's redraw.
            self.metrics_line = st.empty()
            self.form.build()
            self._draw_idle()
            return
        cols = st.columns(4)
        self.metrics = [c.empty() for c in cols]
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.subheader("Live form")
            self.form.build()
        with right:
            names = ["Live JSON", "Raw stream", "Timeline"]
            if self.source is not None:
                names.insert(0, "Input text")
            *text_tab, json_tab, raw_tab, time_tab = st.tabs(names)
            if text_tab:
                self._build_text(text_tab[0])
            self.json_slot = json_tab.empty()
            self.raw_slot = raw_tab.empty()
            self.timeline_slot = time_tab.empty()
        self._draw_idle()

    def _build_text(self, tab: DeltaGenerator) -> None:
        with tab:
            st.html(legend_html())
            self.pick_slot = st.empty()
            self.text_slot = st.empty()
        self._draw_text()

    def _draw_text(self) -> None:
        if self.source is None:
            return
        self.text_slot.html(highlight_html(self.source, self.grounding, self.selected,
                                           document=self.document))
        self._text_at = time.perf_counter()
        self._marks_pending = False

    def draw_picker(self) -> None:
        """After the run: a field picker whose field's spans are marked distinctly, and said in
        words below it. Only drawn once the run has ended: a click reruns the page, and a rerun
        during a run would stop it."""
        if self.source is None or not self.grounding:
            return
        found = self.grounding
        with self.pick_slot.container():
            path = st.selectbox("Show a field in the text", list(found), index=None,
                                key=self.keys.pick, placeholder="Pick a field…",
                                format_func=lambda p: f"{p} · {grounding_label(found[p])}"
                                f"{on_page(found[p], self.document)}")
            if path is not None:
                spans = found[path].spans
                for span in spans[:PICKED_SPANS]:
                    where = (f"p. {self.document.page_at(span.start)}: "
                             if self.document is not None else "")
                    st.text(where + span_context(self.source, span))
                if len(spans) > PICKED_SPANS:
                    st.caption(f"… and {len(spans) - PICKED_SPANS} more places.")
                if not found[path].found:
                    st.warning(escape_md(WARNING))
        if path != self.selected:
            self.selected = path
            self._draw_text()

    def _draw_idle(self) -> None:
        """The empty state, drawn before any request (also loads the widgets' code in the
        browser ahead of the stream, so the first chunks are not held up)."""
        total = len(self.form.nodes)
        self.progress.progress(0.0, text=f"0 of {total} fields done")
        self._show_metrics(["—"] * len(METRIC_LABELS))
        if not self.tabs:
            return
        self.json_slot.code("{}", language="json")
        self.raw_slot.code(" ", language=None, wrap_lines=True)
        self._draw_timeline_rows([])

    def apply(self, update: Update, runner: Runner, *, final: bool = False) -> None:
        """Draw one coalesced update (and everything still pending when `final`)."""
        self.form.draw(update.leaves, force=final)
        self._draw_progress(update, final)
        self._draw_parts(update.parts)
        if update.grounded:
            self.grounding.update(update.grounded)
            self._marks_pending = True
        self._json_pending |= update.json_text is not None
        self._text_pending |= update.text_changed
        now = time.perf_counter()
        if final or now - self._metrics_at >= 1.0 / METRICS_HZ:
            self._draw_metrics(update)
            self._metrics_at = now
        if not self.tabs:
            return
        if final or now - self._side_at >= 1.0 / SIDE_TABS_HZ:
            self._draw_side(runner, final)
            self._side_at = now
        if self._marks_pending and (final or now - self._text_at >= 1.0 / TEXT_HZ):
            self._draw_text()
        if final or (TIMELINE_HZ and now - self._timeline_at >= 1.0 / TIMELINE_HZ):
            self._draw_timeline(runner)
            self._timeline_at = now

    def _draw_progress(self, update: Update, final: bool) -> None:
        waiting = not final and update.metrics.chunks == 0 and not update.ended
        queued = update.waiting if waiting else None
        seen = (update.done_leaves, update.total_leaves, waiting, queued)
        if seen == self._progress_seen:
            return
        self._progress_seen = seen
        if queued == WAIT_SLOT:
            text = WAITING_FOR_SLOT
        elif queued == WAIT_TURN:
            text = WAITING_FOR_TURN
        elif waiting:
            text = WAITING
        else:
            text = f"{update.done_leaves} of {update.total_leaves} fields done"
        self.progress.progress(min(max(update.progress, 0.0), 1.0), text=text)

    def _draw_parts(self, parts: PartsProgress | None) -> None:
        """The chunks' line, redrawn only when it changed (an update without parts, a run of
        one request, leaves it as it is)."""
        if parts is None or parts == self._parts_seen:
            return
        self._parts_seen = parts
        self.parts_slot.text(parts_line(parts))

    def _draw_metrics(self, update: Update) -> None:
        m = update.metrics
        rate = m.tokens_per_s
        values = [
            format_seconds(m.first_token),
            format_seconds(m.first_done),
            format_seconds(m.elapsed),
            f"{rate:.0f}" if rate is not None else "—",
        ]
        self._show_metrics(values)

    def _show_metrics(self, values: list[str]) -> None:
        """Only what changed is sent: each element costs the browser a render."""
        if not self.tabs:
            if self._metrics_seen != values:
                self._metrics_seen = list(values)
                self.metrics_line.text(metrics_line(values))
            return
        for i, (slot, label, value) in enumerate(zip(self.metrics, METRIC_LABELS, values,
                                                     strict=True)):
            if self._metrics_seen[i] != value:
                self._metrics_seen[i] = value
                slot.metric(label, value)

    def _draw_side(self, runner: Runner, final: bool) -> None:
        if self._json_pending or final:
            self.json_slot.code(_tail(runner.json_text(), final), language="json")
        if self._text_pending or final:
            self.raw_slot.code(_tail(runner.answer, final) or " ", language=None, wrap_lines=True)
        self._json_pending = self._text_pending = False

    def _draw_timeline(self, runner: Runner) -> None:
        self._draw_timeline_rows(runner.timeline())

    def _draw_timeline_rows(self, rows: list[dict[str, Any]]) -> None:
        from ui.charts import timeline_chart

        self.timeline_slot.altair_chart(timeline_chart(rows), width="stretch")


def metrics_line(values: list[str]) -> str:
    """A narrow lane's four numbers in one line: `First token 310 ms · first done field …`."""
    return " · ".join(f"{label} {value}" for label, value in zip(LINE_LABELS, values,
                                                                  strict=True))


def _tail(text: str, final: bool) -> str:
    if final or len(text) <= LIVE_TAIL:
        return text
    return f"… ({len(text) - LIVE_TAIL:,} characters above; all of it appears at the end)\n" + (
        text[-LIVE_TAIL:]
    )


def stream_lanes(views: dict[str, LiveView], group: RunnerGroup) -> None:
    """Poll every lane's runner from one loop (~20 redraws a second in all) and redraw what
    changed in each lane. Any rerun (a click, Stop, a closed tab) interrupts this loop at its
    next draw; the finally then stops every request. The finally makes no st.* call."""
    turn = 0
    try:
        while not group.ended:
            updates = list(group.next_update().items())
            # The lane drawn first changes each time, so no lane is always last to the browser.
            turn = (turn + 1) % max(1, len(updates))
            for lane, update in updates[turn:] + updates[:turn]:
                views[lane].apply(update, group.runners[lane])
    finally:
        group.stop()
