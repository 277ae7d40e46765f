"""The History page: every recorded run, newest first, filtered and paged by the database; one
selected run in detail (input, result, errors, metrics, timeline, Replay, Open in Extract,
Delete, Mark as correct and Correct it (its answer, as it is or corrected in `gold_form`, saved
as a labelled set's gold), where each value stands in the input; its document and a split
run's parts), two selected runs side by side; the Compare page's comparisons
(ui/saved_comparisons); exports, import, charts. Logic lives in engine/history and
engine/evaluate; this module only draws. Model output and user text are shown as text."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from engine import history
from engine.documents import DocumentError, read_document
from engine.documents.model import DocumentInfo
from engine.grounding import NOT_FOUND
from engine.history import diff, replay, stats
from engine.history.queries import RunFilters, RunSummary
from engine.runs.display import grounding_summary, json_text, span_context, value_at
from engine.runs.group import RunnerGroup
from engine.runs.spec import GROUP_BATCH, GROUP_EVAL
from engine.settings import SettingError
from engine.store import INTERRUPTED, RUNNING, STATUSES, Store, StoredRun
from engine.store.records import StoredPart
from ui import context
from ui.gold_form import gold_form
from ui.keys import RunKeys, slug
from ui.live_form import LiveView, stream_lanes
from ui.saved_comparisons import PARAM as COMPARE_PARAM
from ui.saved_comparisons import render_comparison as render_saved_comparison
from ui.saved_comparisons import render_comparisons
from ui.text import escape_md
from ui.verdict_table import cell_text

PAGE_SIZE = 50
TABLE = "fs_hist_table"
REPLAY_KEYS = RunKeys("replay")
ALL = "All"
STATUS_COLOURS = {
    "done": "#15803d", "running": "#2563eb", "invalid": "#b45309", "truncated": "#b45309",
    "cancelled": "#6b7280", "interrupted": "#6b7280", "error": "#b91c1c", "refused": "#b91c1c",
    "filtered": "#b91c1c",
}  # fmt: skip


def render_history_page() -> None:
    st.title("History")
    st.caption("Every extraction, newest first. Select one run for its details, two to "
               "compare them field by field.")
    if not context.history_settings().enabled:
        st.info("Recording is off (FIELDSTREAM_HISTORY=off): new runs are not added.")
    store = context.history_store()
    if store is None:
        st.error(escape_md(context.store_problem() or ""))
        return
    _render_location(store)
    opened = render_comparisons(store)
    if opened:
        render_saved_comparison(store, opened)
    filters = render_filters(store)
    selected = render_list(store, filters)
    if len(selected) == 1:
        render_detail(store, selected[0])
    elif len(selected) == 2:
        render_comparison(store, selected)
    elif len(selected) > 2:
        st.info("Select one run for its details, or two to compare them.")
    with st.expander("Export and import"):
        render_export(store, filters)
        render_import(store)
    with st.expander("Charts"):
        render_charts(store, filters)


def _render_location(store: Store) -> None:
    size = stats.human_size(store.database_size())
    st.caption(escape_md(f"Database: {store.location} · {size}"))


# --- filters and the list --------------------------------------------------------------------


def render_filters(store: Store) -> RunFilters:
    facets = stats.facets(store)
    cols = st.columns([2, 2, 2, 3])
    schema = cols[0].selectbox("Schema", [ALL, *facets.schemas], key="fs_hist_schema")
    provider = cols[1].selectbox("Provider", [ALL, *facets.providers], key="fs_hist_provider")
    model = cols[2].selectbox("Model", [ALL, *facets.models], key="fs_hist_model")
    status = cols[3].multiselect("Status", [*STATUSES, INTERRUPTED], key="fs_hist_status")
    cols = st.columns([2, 2, 2, 3])
    start = cols[0].date_input("From", value=None, key="fs_hist_from")
    end = cols[1].date_input("To", value=None, key="fs_hist_to")
    compare_id = cols[2].text_input("Comparison", key="fs_hist_compare_id",
                                    help="Only the lanes of this comparison (its id)")
    term = cols[3].text_input("Search in input, output and file name", key="fs_hist_search")
    return RunFilters(
        schema=_chosen(schema), provider=_chosen(provider), model=_chosen(model),
        status=status or None, started_from=_day_start(start),
        started_to=_day_start(end + timedelta(days=1)) if end else None,
        search=term.strip() or None, not_found=render_not_found_filter(),
        compare_id=compare_id.strip() or None,
    )  # fmt: skip


def render_not_found_filter() -> bool | None:
    """True (runs with at least one value not in the text) when ticked, else no filter."""
    ticked = st.checkbox("Only runs with values not in the text", key="fs_hist_not_found",
                         help="Values the model gave that stand nowhere in the input: "
                              "check them, they may be made up.")
    return True if ticked else None


def _chosen(value: str | None) -> str | None:
    return None if value in (None, ALL) else value


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, UTC)


def render_list(store: Store, filters: RunFilters) -> list[str]:
    """The page of runs as a table; returns the ids of the selected runs."""
    _page_reset_on_change(filters)
    page = int(st.session_state.get("fs_hist_page", 1))
    found = history.list_runs(store, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows = found.rows
    if st.session_state.pop("fs_hist_clear", False):
        st.session_state.pop(TABLE, None)
    if not rows and page > 1:  # the last page emptied (runs deleted): back to the first
        st.session_state["fs_hist_page"] = 1
        st.rerun()
    if not rows:
        unfiltered = filters == RunFilters() and page == 1
        st.info("No runs recorded yet: run an extraction." if unfiltered else "No runs match.")
        return _linked_runs()
    event = st.dataframe(_styled(rows), key=TABLE, on_select="rerun",
                         selection_mode="multi-row", hide_index=True, width="stretch",
                         column_config=_columns())
    _render_pager(found.total, found.exact)
    chosen = [rows[i].id for i in event.selection.rows if i < len(rows)]
    return chosen or _linked_runs()


def _linked_runs() -> list[str]:
    """Runs named in the address (`?run=<id>`, the table's links)."""
    return [run_id for run_id in st.query_params.get_all("run") if run_id][:2]


def _page_reset_on_change(filters: RunFilters) -> None:
    if st.session_state.get("fs_hist_filters") != filters:
        st.session_state["fs_hist_filters"] = filters
        st.session_state["fs_hist_page"] = 1


def _render_pager(total: int, exact: bool) -> None:
    pages = max(1, -(-total // PAGE_SIZE))
    cols = st.columns([1, 4])
    cols[0].number_input("Page", min_value=1, max_value=pages, step=1, key="fs_hist_page")
    shown = f"{total:,}" if exact else f"{total:,}+"
    cols[1].caption(f"{shown} runs · {pages:,} page{'s' if pages != 1 else ''} of {PAGE_SIZE}")


def table_rows(rows: list[RunSummary]) -> pd.DataFrame:
    return pd.DataFrame([
        {
            "started": r.started_at.astimezone(UTC).replace(tzinfo=None),
            "status": r.status, "schema": r.schema_name, "provider": r.provider,
            "model": r.model, "mode": r.mode, "by": r.ran_by, "source": r.source,
            "comparison": f"?{COMPARE_PARAM}={r.compare_id}" if r.compare_id else None,
            "batch": f"Batch?batch={r.group_id}" if r.group_kind == GROUP_BATCH else None,
            "evaluation": (f"Evaluate?batch={r.group_id}" if r.group_kind == GROUP_EVAL
                           else None),
            "first field": _seconds(r.first_field_ms), "total": _seconds(r.total_ms),
            "not in text": r.not_found,
            "document": document_cell(r.document),
            "input": (r.input_preview or "").replace("\n", " ")[:80],
            "link": f"?run={r.id}",
        }
        for r in rows
    ])  # fmt: skip


def document_cell(document: DocumentInfo | None) -> str | None:
    """A run's document in the list: its name and pages (None: the text was pasted)."""
    if document is None:
        return None
    return f"{document.name} · {document.pages} p." if document.pages > 1 else document.name


def _styled(rows: list[RunSummary]) -> Any:
    frame = table_rows(rows)
    return frame.style.map(_status_style, subset=["status"])


def _status_style(status: str) -> str:
    return f"color: {STATUS_COLOURS.get(status, '#111827')}; font-weight: 600"


def _columns() -> dict[str, Any]:
    cc = st.column_config
    return {
        "started": cc.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "first field": cc.NumberColumn("first field", format="%.2f s",
                                       help="Time to the first done field"),
        "total": cc.NumberColumn("total", format="%.2f s", help="Whole run"),
        "link": cc.LinkColumn("link", display_text="open", help="A link to this run"),
        "comparison": cc.LinkColumn("comparison", display_text=rf"\?{COMPARE_PARAM}=(.*)",
                                    help="The Compare page comparison this run is a lane of"),
        "batch": cc.LinkColumn("batch", display_text=r"Batch\?batch=(.*)",
                               help="The batch this run is a document of (the Batch page)"),
        "evaluation": cc.LinkColumn("evaluation", display_text=r"Evaluate\?batch=(.*)",
                                    help="The evaluation this run is a lane's document of "
                                         "(the Evaluate page)"),
    }


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


# --- one run ----------------------------------------------------------------------------------


def render_detail(store: Store, run_id: str) -> None:
    run = history.get_run(store, run_id)
    if run is None:
        st.warning("That run is no longer in the history.")
        return
    st.divider()
    shown = run.shown_status or run.status
    version = f" v{run.schema_version}" if run.schema_version else ""
    st.subheader(escape_md(f"{run.schema_name}{version} · {run.provider} · {run.model}"))
    st.caption(escape_md(_describe(run, shown)))
    if run.document is not None:
        st.caption(escape_md(f"Document: {document_line(run.document)}"))
    if run.group_kind == GROUP_BATCH and run.group_id:
        st.page_link(context.page("Batch"), label="Open its batch", icon=":material/dataset:",
                     query_params={"batch": run.group_id})
    if run.group_kind == GROUP_EVAL and run.group_id:
        st.page_link(context.page("Evaluate"), label="Open its evaluation",
                     icon=":material/fact_check:", query_params={"batch": run.group_id})
    _render_metrics(run)
    _render_actions(store, run)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Input**")
        if run.input_text is None:
            st.caption("The input was not kept (FIELDSTREAM_KEEP_INPUT=0).")
        else:
            with st.container(height=260):
                st.text(run.input_text)
    with right:
        st.markdown("**Result**" if shown == "done" else "**What arrived (partial)**")
        st.code(json_text(run.result), language="json")
    if run.field_errors:
        st.markdown("**Problems by field**")
        st.dataframe([{"field": k, "problem": _plain(v)} for k, v in run.field_errors.items()],
                     hide_index=True, width="stretch")
    render_parts(run)
    render_grounding(run)
    _render_timeline(store, run)
    _render_replay_area(store, run)


def document_line(document: DocumentInfo) -> str:
    """name · type · pages · size · sha256 (short): what a run keeps of its file."""
    pages = f"{document.pages} page{'s' if document.pages != 1 else ''}"
    return " · ".join((document.name, document.type, pages, stats.human_size(document.size),
                       f"sha256 {document.sha256[:12]}"))


def render_parts(run: StoredRun) -> None:
    """A split document's parts: each chunk's (and extra pass's) pages, ending and timings."""
    if not run.parts:
        return
    chunks = sum(1 for part in run.parts if part.kind == "chunk")
    st.markdown(escape_md(f"**Parts** · the text was split in {chunks} "
                          f"chunk{'s' if chunks != 1 else ''} and merged"))
    st.dataframe(part_rows(run.parts), hide_index=True, width="stretch", key="fs_hist_parts",
                 column_config=_part_columns())


def part_rows(parts: list[StoredPart]) -> pd.DataFrame:
    """One row per part, numbered per kind in order ("chunk 3", "pass 1")."""
    counted: dict[str, int] = {}
    rows = []
    for part in parts:
        counted[part.kind] = counted.get(part.kind, 0) + 1
        pages = (str(part.first_page) if part.first_page == part.last_page
                 else f"{part.first_page}–{part.last_page}")
        error = " ".join(filter(None, (part.error_type and f"{part.error_type}:",
                                       part.error_message)))
        rows.append({"part": f"{part.kind} {counted[part.kind]}", "pages": pages,
                     "status": part.status, "first token": _seconds(part.ttft_ms),
                     "total": _seconds(part.total_ms), "tokens": part.tokens,
                     "error": error or None})
    return pd.DataFrame(rows, columns=["part", "pages", "status", "first token", "total",
                                       "tokens", "error"])


def _part_columns() -> dict[str, Any]:
    cc = st.column_config
    return {
        "first token": cc.NumberColumn("first token", format="%.2f s",
                                       help="Time to the part's first token, from its request"),
        "total": cc.NumberColumn("total", format="%.2f s", help="The part's request"),
        "tokens": cc.NumberColumn("tokens", help="Tokens of its answer, as the server counted"),
    }


def render_grounding(run: StoredRun) -> None:
    """Where each value stands in the input: its status and the text around it (plain text)."""
    grounding = run.groundings()
    if not grounding:
        return
    st.markdown("**Where each value stands in the text**")
    line = escape_md(grounding_summary(grounding, run.result))
    if any(not g.found for g in grounding.values()):
        st.warning(line)
    else:
        st.caption(line)
    st.dataframe(grounding_rows(run), hide_index=True, width="stretch")


def grounding_rows(run: StoredRun) -> list[dict[str, str]]:
    """One row per grounded field: its value, status, and the text around its first span."""
    rows = []
    for path, g in run.groundings().items():
        value = value_at(run.result, path)
        if g.status == NOT_FOUND:
            where = "not in the text — check it"
        elif run.input_text is None or not g.spans:
            where = ""  # the input was not kept
        else:
            more = f" (+{len(g.spans) - 1} more)" if len(g.spans) > 1 else ""
            where = span_context(run.input_text, g.spans[0]) + more
        row = {"field": path, "value": "" if value is None else _plain(value),
               "status": g.status, "in the text": where}
        if run.document is not None:  # where a value stands in the file: its page
            row["page"] = str(run.document.page_at(g.spans[0].start)) if g.spans else ""
        rows.append(row)
    return rows


def _describe(run: StoredRun, shown: str) -> str:
    started = run.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [shown, started, f"mode {run.mode or '—'}", f"from {run.source}"]
    if run.ran_by:
        parts.append(f"by {run.ran_by}")
    if run.base_url_host:
        parts.append(run.base_url_host)
    return " · ".join(parts)


def _render_metrics(run: StoredRun) -> None:
    cols = st.columns(4)
    cols[0].metric("Time to first token", _fmt_ms(run.ttft_ms))
    cols[1].metric("Time to first done field", _fmt_ms(run.first_field_ms))
    cols[2].metric("Total", _fmt_ms(run.total_ms))
    if run.parts:  # a split run's chunk logs are its parts'
        cols[3].metric("Parts", f"{len(run.parts):,}")
    else:
        cols[3].metric("Chunks", f"{len(run.timeline):,}")


def _fmt_ms(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000.0:.2f} s"


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value)


def _render_timeline(store: Store, run: StoredRun) -> None:
    from ui.charts import timeline_chart

    schema = replay.schema_for(run, store)
    if schema is None or not run.timeline:
        return
    with st.expander("Field timeline", expanded=True):
        rows = replay.field_timeline(schema, run.timeline)
        st.altair_chart(timeline_chart(rows), width="stretch")


def _render_actions(store: Store, run: StoredRun) -> None:
    can_replay = replay.schema_for(run, store) is not None and bool(run.timeline or run.parts)
    cols = st.columns(4)
    if cols[0].button("Replay", key="fs_hist_replay", disabled=not can_replay,
                      help="Stream the recorded chunks again at their original pace."):
        _start_replay(store, run, 1.0)
    if cols[1].button("Replay 4×", key="fs_hist_replay4", disabled=not can_replay):
        _start_replay(store, run, 4.0)
    if cols[2].button("Open in Extract", key="fs_hist_open"):
        open_in_extract(run)
    if cols[3].button("Delete", key="fs_hist_delete"):
        st.session_state["fs_hist_confirm"] = run.id
    if st.session_state.get("fs_hist_confirm") == run.id:
        _confirm_delete(store, run)
    render_gold_actions(store, run)


# --- a run's answer as gold: Mark as correct, Correct it ---------------------------------------

GOLD = "fs_hist_gold"  # {"run": id, "mode": "mark" | "correct"}: the open panel
GOLD_SAVED = "fs_hist_gold_saved"  # {"run": id, "set": name, "version": n}: the last save
GOLD_SET, GOLD_NEW = "fs_hist_gold_set", "fs_hist_gold_new"  # the set picked / a new set's name
GOLD_UPLOAD, GOLD_READ = "fs_hist_gold_upload", "fs_hist_gold_read"  # the file; its read text
NEW_SET = "A new set…"


def gold_form_key(run_id: str) -> str:
    """The correction form's keys, one namespace per run (another run's form starts afresh)."""
    return f"{GOLD}_form_{slug(run_id)}"


def render_gold_actions(store: Store, run: StoredRun) -> None:
    """Mark as correct / Correct it, when the run has an answer: the panel that asks which set
    and saves, and what the last save made."""
    saved = st.session_state.get(GOLD_SAVED)
    if saved and saved["run"] == run.id:
        _render_saved(saved)
    if not isinstance(run.result, dict) or (run.shown_status or run.status) == RUNNING:
        return
    schema = replay.schema_for(run, store)
    cols = st.columns(4)
    if cols[0].button("Mark as correct", key=f"{GOLD}_mark",
                      help="Add this answer, as it is, to a labelled set as the document's "
                           "expected answer (its gold)."):
        st.session_state[GOLD] = {"run": run.id, "mode": "mark"}
    if cols[1].button("Correct it", key=f"{GOLD}_correct", disabled=schema is None,
                      help="Edit this answer in a form of its schema, then save the corrected "
                           "answer as the document's gold." if schema is not None else
                           "The schema this run used is no longer here."):
        st.session_state[GOLD] = {"run": run.id, "mode": "correct"}
    panel = st.session_state.get(GOLD)
    if panel and panel["run"] == run.id:
        with st.container(border=True, key=f"{GOLD}_panel"):
            _render_gold_panel(store, run, schema, panel["mode"])


def _render_saved(saved: dict[str, Any]) -> None:
    st.success(escape_md(f"Saved as {saved['set']} version {saved['version']}"))
    try:
        evaluate = context.page("Evaluate")
    except KeyError:  # an app without the Evaluate page: nothing to link to
        return
    st.page_link(evaluate, label="Open the set on the Evaluate page", icon=":material/rule:",
                 query_params={"set": saved["set"]})


def _render_gold_panel(store: Store, run: StoredRun, schema: Any, mode: str) -> None:
    st.markdown("**Correct it**" if mode == "correct" else "**Mark as correct**")
    gold: dict[str, Any] | None = run.result
    if mode == "correct":
        st.caption("Edit the answer as it should have been: an empty box is no value. Table "
                   "rows are added at the bottom and removed by selecting them.")
        gold = gold_form(schema, run.result, key=gold_form_key(run.id))
    set_name = _pick_set(store, run)
    who = context.current_user()
    if who is None:
        st.warning("Type your name in the sidebar first: a gold answer keeps who reviewed it.")
    else:
        st.caption(escape_md(f"Reviewer: {who}"))
    text = _missing_text(run)
    ready = gold is not None and bool(set_name) and who is not None
    save, cancel = st.columns(2)
    if save.button("Save as gold", key=f"{GOLD}_save", type="primary", disabled=not ready):
        _save_gold(store, run, set_name, None if mode == "mark" else gold, who, text)
    if cancel.button("Cancel", key=f"{GOLD}_cancel"):
        st.session_state.pop(GOLD, None)
        st.rerun()


def _pick_set(store: Store, run: StoredRun) -> str:
    """Which labelled set: one of the run's schema, or a new one (`<schema> gold` at first)."""
    from engine.evaluate import sets

    wanted = run.schema_name.casefold()
    names = [s.name for s in sets.list_sets(store) if s.schema_name.casefold() == wanted]
    picked = NEW_SET
    if names:
        picked = st.selectbox("Labelled set", [*names, NEW_SET], key=GOLD_SET,
                              help=escape_md(f"The sets of expected answers for "
                                             f"{run.schema_name}, newest first."))
    if picked != NEW_SET:
        return picked
    name = st.text_input("New set's name", value=f"{run.schema_name} gold", key=GOLD_NEW)
    return name.strip()


def _missing_text(run: StoredRun) -> str | None:
    """A run that kept no input: its file, asked for (a set keeps its documents' text)."""
    if run.input_text:
        return None
    upload = st.file_uploader("This run's input was not kept: give its file (the set keeps "
                              "its text)", key=GOLD_UPLOAD)
    if upload is None:
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    read = st.session_state.get(GOLD_READ)
    if not read or read[0] != digest:
        try:
            found = read_document(upload.name, data)
        except (DocumentError, SettingError) as exc:
            read = (digest, None, str(exc))
        else:
            read = (digest, found.text, None)
        st.session_state[GOLD_READ] = read
    if read[2]:
        st.error(escape_md(read[2]))
    return read[1]


def _save_gold(store: Store, run: StoredRun, set_name: str, edited: dict[str, Any] | None,
               who: str | None, text: str | None) -> None:
    """Check the gold against the run's schema (nothing saved while it does not fit), then add
    it to the set: a new version."""
    from engine.evaluate import sets

    gold = run.result if edited is None else edited
    problems = sets.check_gold(store, run.schema_name, run.schema_version, gold)
    if problems:
        st.error("Nothing was saved: the answer does not fit the schema.")
        st.dataframe([{"field": path or "(the answer)", "reason": reason}
                      for path, reason in problems], hide_index=True, width="stretch")
        return
    try:
        made = sets.from_run(store, run.id, set_name, gold=edited, who=who, text=text)
    except sets.NeedsText:
        st.error("This run's input was not kept: give its file above, then save again.")
        return
    except ValueError as exc:  # a set of another schema, a name refused: said, nothing lost
        st.error(escape_md(str(exc)))
        return
    st.session_state[GOLD_SAVED] = {"run": run.id, "set": made.name, "version": made.version}
    st.session_state.pop(GOLD, None)
    st.session_state.pop(GOLD_READ, None)
    st.rerun()


def _confirm_delete(store: Store, run: StoredRun) -> None:
    st.warning("Delete this run from the history? This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", key="fs_hist_delete_yes", type="primary"):
        history.delete_run(store, run.id)
        st.session_state.pop("fs_hist_confirm", None)
        st.session_state["fs_hist_clear"] = True
        st.session_state["fs_hist_notice"] = "The run was deleted."
        st.query_params.clear()
        st.rerun()
    if no.button("Cancel", key="fs_hist_delete_no"):
        st.session_state.pop("fs_hist_confirm", None)
        st.rerun()


def open_in_extract(run: StoredRun) -> None:
    """Prefill the Extract page with this run's text, schema, provider, model and mode."""
    name = replay.library_name(run)
    state = st.session_state
    if name is not None:
        state["fs_schema"] = name
    state["fs_provider"] = run.provider
    state["fs_model"] = run.model
    if run.mode:
        state["fs_mode"] = run.mode
    if run.input_text is None:
        state["fs_text"] = ""
        state["fs_prefill_note"] = "The input of that run was not kept: paste the text again."
    else:
        state["fs_text"] = run.input_text
    st.switch_page(context.page("Extract"))


def _start_replay(store: Store, run: StoredRun, speed: float) -> None:
    old = st.session_state.get("fs_replay_run")
    if old is not None:
        old[1].stop()
    st.session_state["fs_replay_run"] = (run.id, replay.start_replay(run, speed, store), speed)


def _render_replay_area(store: Store, run: StoredRun) -> None:
    held = st.session_state.get("fs_replay_run")
    if held is None or held[0] != run.id:
        return
    _, runner, speed = held
    schema = replay.schema_for(run, store)
    st.divider()
    st.markdown(f"**Replay** · {'original pace' if speed == 1.0 else f'{speed:g}× faster'}")
    view = LiveView(schema, REPLAY_KEYS, document=run.document)
    view.build()
    if not runner.ended:
        stream_lanes({REPLAY_KEYS.lane: view}, RunnerGroup({REPLAY_KEYS.lane: runner}))
    view.apply(runner.snapshot_all(), runner, final=True)


# --- two runs -------------------------------------------------------------------------------


def render_comparison(store: Store, run_ids: list[str]) -> None:
    a, b = (history.get_run(store, run_id) for run_id in run_ids)
    if a is None or b is None:
        st.warning("One of these runs is no longer in the history.")
        return
    st.divider()
    st.subheader("Two runs side by side")
    cols = st.columns(2)
    for col, name, run in ((cols[0], "A", a), (cols[1], "B", b)):
        col.caption(escape_md(f"{name}: {run.schema_name} · {run.provider} · {run.model} · "
                              f"{run.shown_status or run.status}"))
    diffs = diff.compare_results(a.result, b.result)
    counts = diff.summary(diffs)
    st.caption(" · ".join(f"{n} {verdict}" for verdict, n in counts.items() if n))
    frame = pd.DataFrame([
        {"field": d.path, "A": cell_text(d.a), "B": cell_text(d.b), "": d.verdict}
        for d in diffs
    ], columns=["field", "A", "B", ""])  # fmt: skip
    st.dataframe(frame.style.apply(_diff_style, axis=1), hide_index=True, width="stretch",
                 key="fs_hist_compare")


def _diff_style(row: pd.Series) -> list[str]:
    colour = {diff.DIFFERENT: "#fef3c7", diff.ONLY_A: "#fee2e2",
              diff.ONLY_B: "#fee2e2"}.get(row[""])
    return [f"background-color: {colour}" if colour else "" for _ in row]


# --- export, import, charts -------------------------------------------------------------


def render_export(store: Store, filters: RunFilters) -> None:
    st.markdown("**Export the filtered runs**")
    cols = st.columns(2)
    cols[0].download_button("CSV", lambda: stats.export_bytes(store, filters, "csv"),
                            file_name="fieldstream-history.csv", mime="text/csv",
                            key="fs_hist_csv", on_click="ignore")
    cols[1].download_button("JSON Lines", lambda: stats.export_bytes(store, filters, "jsonl"),
                            file_name="fieldstream-history.jsonl",
                            mime="application/x-ndjson", key="fs_hist_jsonl",
                            on_click="ignore")


def render_import(store: Store) -> None:
    st.markdown("**Import runs** (a JSON Lines export; runs already here are skipped)")
    upload = st.file_uploader("JSON Lines file", type=["jsonl", "json", "txt"],
                              key="fs_hist_upload")
    if upload is not None and st.button("Import", key="fs_hist_import"):
        show_import(store, upload.getvalue())
    notice = st.session_state.pop("fs_hist_notice", None)
    if notice:
        st.success(escape_md(notice))


def show_import(store: Store, data: bytes) -> None:
    try:
        result = history.import_bytes(store, data)
    except history.ImportFormatError as exc:
        st.error(escape_md(f"Nothing was imported: line {exc.line}: {exc.reason}"))
        return
    st.success(f"Imported {result.imported:,} runs; skipped {result.skipped:,} already here.")


def render_charts(store: Store, filters: RunFilters) -> None:
    per_day = stats.runs_per_day(store, filters)
    if not per_day:
        st.caption("No runs to chart.")
        return
    st.altair_chart(_per_day_chart(per_day), width="stretch")
    st.altair_chart(_by_model_chart(stats.timings_by_model(store, filters)), width="stretch")


def _per_day_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    domain = list(STATUS_COLOURS)
    return alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        x=alt.X("day:T", title="day (UTC)"), y=alt.Y("runs:Q", title="runs"),
        color=alt.Color("status:N", scale=alt.Scale(domain=domain,
                                                    range=[STATUS_COLOURS[s] for s in domain])),
        tooltip=["day:T", "status:N", "runs:Q"],
    ).properties(title="Runs per day", height=220)


def _by_model_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    frame = pd.DataFrame(rows).melt(id_vars=["model", "runs"], var_name="time",
                                    value_vars=["first_field_s", "total_s"], value_name="s")
    frame["time"] = frame["time"].map({"first_field_s": "first done field", "total_s": "total"})
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("model:N", title=None), x=alt.X("s:Q", title="mean seconds"),
        yOffset="time:N", color=alt.Color("time:N", title=None),
        tooltip=["model:N", "time:N", "s:Q", "runs:Q"],
    ).properties(title="Time to first done field and total time, by model")
