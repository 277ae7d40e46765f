"""The Batch page: many documents, one schema. "New batch" takes files, a ZIP, or a CSV / Excel
file with a text column (each row a document), the schema (a saved one's version pinned),
provider, model, mode and chunking, and Start. The batch on show (`?batch=<id>`, so it reopens
from History and survives a refresh) has its figures, Stop / Resume / Retry failed, a table of
its documents a page at a time (live while any is queued or running: a fragment redrawn every
second), the chosen document's form below it, and its exports; then the recent batches.

The batch runs on the process's queue (`context.batch_runtime`); what is shown is read from the
history database (`engine.batch.service`, `engine.batch.view`), so a document run by another
process shows the same. Names and values are text: escaped Markdown, or text cells."""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
import streamlit as st

from engine.batch import records, service
from engine.batch import view as shape
from engine.batch.model import CANCELLED, DONE, FAILED, NEEDS_KEY, QUEUED, RUNNING, Batch, BatchSpec
from engine.batch.work import live_runner
from engine.documents import DocumentError
from engine.documents.batch_input import CSV_SUFFIXES, EXCEL_SUFFIXES, iter_inputs
from engine.runs.display import json_text
from engine.schemas.library import SCHEMAS
from engine.schemas.saved import SchemaChoice
from engine.settings import SettingError
from engine.store import Store
from ui import context
from ui.document_input import EXTENSIONS
from ui.keys import BATCH_KEYS, UPLOAD_KEYS
from ui.live_form import LiveView
from ui.provider_widgets import pick_mode, pick_model, pick_provider
from ui.run_lane import CHUNK_ALWAYS_LABEL, lane_caption, render_chunking, saved_schemas
from ui.text import escape_md

#: The query parameter naming the batch on show (`Batch?batch=<id>`).
PARAM = "batch"
#: Rows per page of the table: a batch of 10,000 sends a page at a time.
PAGE_SIZE = 100
#: Seconds between redraws of the figures and the table while documents are queued or running.
REFRESH = 1.0
UPLOAD = UPLOAD_KEYS["batch"]
KEYS = BATCH_KEYS
NOTICE_KEY = "fs_batch_notice"  # (kind, text) said once on the next run
FIELDS_KEY = "fs_batch_fields"  # batch id -> its table's fields (the pinned schema's)
SCHEMA, VERSION = KEYS.picker("schema"), KEYS.picker("version")
PROVIDER, MODEL, MODE = KEYS.picker("provider"), KEYS.picker("model"), KEYS.picker("mode")
CHUNKING, REUSE, NAME = KEYS.picker("chunking"), KEYS.picker("reuse"), KEYS.picker("name")
#: The uploader takes documents, archives and tables.
INPUT_TYPES = sorted({*EXTENSIONS, "zip", *(s.lstrip(".") for s in CSV_SUFFIXES + EXCEL_SUFFIXES)})
TABLE_SUFFIXES = (*CSV_SUFFIXES, *EXCEL_SUFFIXES)
WHOLE_FILE = "(none: the whole file is one document)"
EXPORTS = (("csv", "CSV"), ("jsonl", "JSON Lines"), ("xlsx", "Excel (.xlsx)"))
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
COUNT_LABELS = {DONE: "Done", FAILED: "Failed", QUEUED: "Queued", RUNNING: "Running",
                CANCELLED: "Cancelled"}


def render_batch_page() -> None:
    st.title("Batch")
    st.caption("Many documents, one schema: add files, a ZIP or a spreadsheet, press Start, and "
               "watch a row per document fill in. Export the table when it is done.")
    _, problem = context.batch_runtime()
    if problem:
        st.warning(escape_md(problem))
        return
    store = context.history_store()
    assert store is not None  # batch_runtime needs it
    notice, slot = st.session_state.pop(NOTICE_KEY, None), st.empty()  # a slot: no shift
    if notice:
        {"error": slot.error, "warning": slot.warning}.get(notice[0], slot.success)(
            escape_md(notice[1]))
    batch_id = st.query_params.get(PARAM)
    batch = records.get(store, batch_id) if batch_id else None
    if batch_id and batch is None:
        st.warning(escape_md(f"There is no batch {batch_id} in the history."))
    with st.expander("New batch", expanded=batch is None):
        render_new_batch(store)
    if batch is not None:
        render_batch(store, batch)
    render_recent(store)


# --- a new batch ---------------------------------------------------------------------------------


def render_new_batch(store: Store) -> None:
    files_col, schema_col, settings_col = st.columns([5, 3, 3], gap="medium")
    with files_col:
        uploads = st.file_uploader(
            "Documents: files, a ZIP of them, or a CSV / Excel file (a row per document)",
            type=INPUT_TYPES, accept_multiple_files=True, key=UPLOAD,
            help="Each file is a document; a ZIP's files are read in memory; in a CSV or "
                 "Excel file, pick the column that holds each document's text.") or []
        columns = _text_columns(uploads)
        name = st.text_input("Name (optional)", key=NAME, max_chars=120,
                             placeholder="March invoices")
    with schema_col:
        picked, schema_problem = _pick_schema(store)
        chunking = render_chunking(CHUNKING, CHUNK_ALWAYS_LABEL)
        reuse = st.checkbox(
            "Reuse answers from earlier batches", key=REUSE,
            help="A document with the same bytes, answered before with the same schema "
                 "version, provider, model and mode, takes that answer instead of a new run.")
    with settings_col:
        providers, problem = context.providers()
        if problem:
            st.error(escape_md(problem))
        provider = pick_provider(providers, key=PROVIDER)
        model = pick_model(provider, key=MODEL) if provider else ""
        mode = pick_mode(provider, key=MODE) if provider else "json_schema"
        start = st.button("Start", type="primary", key="fs_batch_start", width="stretch",
                          disabled=provider is None)
    if not start:
        return
    why = (schema_problem or ("Pick or type a model name first." if not model else None)
           or (None if uploads else "Add documents first: files, a ZIP, or a CSV / Excel file."))
    if why or picked is None:
        st.warning(escape_md(why or "Pick a schema first."))
        return
    docs = _read(uploads, columns)
    if docs is None:
        return
    session = getattr(provider, "key_source", None) == "session"
    spec = BatchSpec(picked.name, provider.name, model, mode, schema_version=picked.version,
                     chunking=chunking, who=context.current_user(), session_key=session,
                     reuse=reuse)
    batch = service.start_batch(store, spec, docs, provider, name=name.strip() or None,
                                session_key=provider.api_key if session else None)
    st.session_state[NOTICE_KEY] = ("success", f"Started: {len(docs):,} documents.")
    st.query_params[PARAM] = batch.id
    st.rerun()


def _text_columns(uploads: Sequence[Any]) -> dict[str, str | None]:
    """For each CSV / Excel upload (by file id), the column picked as each row's text (None:
    the whole file is one document)."""
    picked: dict[str, str | None] = {}
    for upload in uploads:
        if PurePosixPath(upload.name).suffix.lower() not in TABLE_SUFFIXES:
            continue
        try:
            names = _columns_of(upload.name, upload.getvalue())
        except DocumentError as exc:
            st.caption(escape_md(str(exc)))
            continue
        options = [*names, WHOLE_FILE]
        default = next((i for i, n in enumerate(names) if "text" in n.casefold()), 0)
        choice = st.selectbox(f"Text column of {upload.name}", options, index=default,
                              key=f"fs_batch_col_{upload.file_id}",
                              help="Each row's cell in this column is one document.")
        picked[upload.file_id] = None if choice == WHOLE_FILE else choice
    return picked


def _columns_of(name: str, data: bytes) -> list[str]:
    from engine.documents import batch_input

    table_columns = getattr(batch_input, "table_columns", None)  # Excel too, where it reads
    if table_columns is not None:
        return list(table_columns(name, data))
    if PurePosixPath(name).suffix.lower() not in CSV_SUFFIXES:
        raise DocumentError(name, "Excel files cannot be read yet: save the sheet as CSV.")
    return batch_input.csv_columns(data, name=name)


def _pick_schema(store: Store) -> tuple[SchemaChoice | None, str | None]:
    """The schema picker (built-in and saved) and, for a saved one, its version (the newest
    first): the batch pins the version picked."""
    from engine.schemas.resolve import resolve_schema
    from engine.schemas.saved import schema_versions

    saved = saved_schemas()
    options = [*SCHEMAS, *saved]
    if st.session_state.get(SCHEMA) not in options:
        st.session_state[SCHEMA] = next(iter(SCHEMAS))
    label = st.selectbox("Schema", options, key=SCHEMA,
                         help="The form each document fills in (your saved ones: Schemas page).")
    version = None
    if label in saved:
        versions = [str(s.version) for s in reversed(schema_versions(store, saved[label].name))]
        if st.session_state.get(VERSION) not in versions:
            st.session_state[VERSION] = versions[0]
        version = st.selectbox("Version", versions, key=VERSION,
                               help="The batch keeps this version for every document.")
    name = saved[label].name if label in saved else label
    try:
        return resolve_schema(store, name, version), None
    except ValueError as exc:
        return None, str(exc)


def _read(uploads: Sequence[Any], columns: dict[str, str | None]) -> list[Any] | None:
    """The uploads as the batch's documents (`service.inputs_from`), with a progress line;
    None when a setting makes reading impossible (said)."""
    line = st.empty()
    seen: dict[str, str] = {}
    docs: list[Any] = []
    shown = 0.0

    def items() -> Iterator[Any]:
        for i, upload in enumerate(uploads):
            line.progress(i / len(uploads), text=escape_md(
                f"Reading {upload.name} ({i + 1} of {len(uploads)})… {len(docs):,} documents"))
            yield from iter_inputs(upload.name, upload.getvalue(),
                                   text_column=columns.get(upload.file_id), seen=seen)

    try:
        for doc in service.inputs_from(items()):
            docs.append(doc)
            if time.monotonic() - shown > 0.2:
                shown = time.monotonic()
                line.caption(escape_md(f"Reading… {len(docs):,} documents: {doc.name}"))
    except SettingError as exc:
        line.empty()
        st.error(escape_md(str(exc)))
        return None
    line.empty()
    if not docs:
        st.warning("No document found in these files.")
        return None
    return docs


# --- the batch on show ---------------------------------------------------------------------------


def render_batch(store: Store, batch: Batch) -> None:
    st.divider()
    st.subheader(escape_md(batch.name or f"Batch {batch.id}"))
    spec = batch.spec
    who = f" by {batch.created_by}" if batch.created_by else ""
    st.caption(lane_caption(spec.schema_name, spec.schema_version, spec.provider, spec.model,
                            spec.mode, spec.chunking)
               + escape_md(f" · {batch.total:,} documents · started "
                           f"{batch.created_at:%Y-%m-%d %H:%M}{who} · id {batch.id}"))
    live = records.counts(store, batch.id).left > 0
    st.fragment(run_every=REFRESH if live else None)(_timed(render_live))(store, batch.id, live)
    render_exports(store, batch)


def _timed(draw: Any) -> Any:
    """FIELDSTREAM_BATCH_TIMING=<file>: each run of `draw` appends `<epoch s>\\t<ms>` to the
    file (bench/batch_ui_bench.py reads it); unset: `draw` itself."""
    import os

    path = os.environ.get("FIELDSTREAM_BATCH_TIMING")
    if not path:
        return draw

    @functools.wraps(draw)
    def timed(*args: Any) -> None:
        started = time.perf_counter()
        try:
            draw(*args)
        finally:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"{time.time():.3f}\t{(time.perf_counter() - started) * 1000:.1f}\n")

    return timed


def render_live(store: Store, batch_id: str, live: bool) -> None:
    """The figures, the buttons and the table (a fragment: redrawn every second while any
    document is queued or running; the whole page once it all ends, to stop the polling)."""
    batch = records.get(store, batch_id)
    if batch is None:
        st.warning("This batch is no longer in the history.")
        return
    progress = service.progress(store, batch)
    if live and progress.finished and _in_fragment_run():
        st.rerun()
    render_figures(progress, batch, live)
    render_actions(store, batch, progress)
    render_table(store, batch)


def _in_fragment_run() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx and ctx.fragment_ids_this_run)


def render_figures(progress: service.Progress, batch: Batch, live: bool) -> None:
    figures = shape.figures(progress)
    cols = st.columns(len(COUNT_LABELS) + (1 if figures.counts.get("invalid") else 0))
    for col, (status, label) in zip(cols, COUNT_LABELS.items(), strict=False):
        col.metric(label, f"{figures.counts[status]:,}")
    if figures.counts.get("invalid"):
        cols[-1].metric("Invalid", f"{figures.counts['invalid']:,}")
    rate, eta, tokens, cost = st.columns(4)
    rate.metric("Throughput", figures.rate, help="Documents ended per minute.")
    eta.metric("Time left", figures.eta)
    tokens.metric("Tokens", figures.tokens)
    cost.metric("Cost", figures.cost or "—",
                help="From the provider's price per million tokens (FIELDSTREAM_PRICES); "
                     "not shown when no price is configured.")
    if batch.stopped and progress.counts.left:
        st.caption("Stopped: the documents running when Stop was pressed are ending.")
    elif batch.stopped:
        st.caption("Stopped. Resume runs the documents that have no answer yet.")
    if live:
        st.caption(f"Updates every second while documents are queued or running "
                   f"(queue checked every {_poll():g} s).")


def _poll() -> float:
    from engine import settings

    return settings.queue_poll()


def render_actions(store: Store, batch: Batch, progress: service.Progress) -> None:
    counts = progress.counts
    stop_col, resume_col, retry_col, _ = st.columns([2, 2, 2, 6])
    if stop_col.button("Stop", key="fs_batch_stop", width="stretch",
                       disabled=batch.stopped or counts.left == 0,
                       help="Queued documents leave the queue; running ones end within a "
                            "second and keep what arrived."):
        taken = service.stop(store, batch.id)
        _say("success", f"Stopped: {taken:,} queued documents taken off the queue.")
    if resume_col.button("Resume", key="fs_batch_resume", width="stretch",
                         disabled=not (batch.stopped or counts[CANCELLED] or counts[QUEUED]),
                         help="Run every document that has no answer yet (not the failed "
                              "ones: Retry failed)."):
        _act(store, batch, "resume")
    if retry_col.button("Retry failed", key="fs_batch_retry", width="stretch",
                        disabled=not counts[FAILED],
                        help="Queue the failed documents again (a file that could not be "
                             "read stays failed)."):
        _act(store, batch, "retry")


def _act(store: Store, batch: Batch, what: str) -> None:
    """Resume or Retry failed, on this app's provider of the batch's name (and the key typed
    in the sidebar, for a batch that ran on one)."""
    providers, _ = context.providers(saved_problems=False)
    provider = next((p for p in providers if p.name == batch.spec.provider), None)
    if provider is None:
        _say("error", f"This app has no provider named {batch.spec.provider}: add it (Home "
                      "page, or the environment) and try again.")
    session = provider.api_key if provider and provider.key_source == "session" else None
    if provider is not None and batch.spec.session_key and not session:
        provider = None
        _say("error", "This batch runs with an API key typed in the sidebar: type it again, "
                      "then press the button.")
    if provider is None:
        return
    if what == "resume":
        count = service.resume(store, batch.id, provider, session_key=session)
        _say("success", f"Resumed: {count:,} documents queued again.")
    else:
        count = service.retry_failed(store, batch.id, provider, session_key=session)
        _say("success", f"Retrying {count:,} failed documents.")


def _say(kind: str, text: str) -> None:
    """Say it on the next run of the whole page (which also starts or stops the polling)."""
    st.session_state[NOTICE_KEY] = (kind, text)
    st.rerun(scope="app")


def _fields(store: Store, batch: Batch) -> list[str]:
    cache: dict[str, list[str]] = st.session_state.setdefault(FIELDS_KEY, {})
    if batch.id not in cache:
        cache[batch.id] = service.fields_of(store, batch)
    return cache[batch.id]


def render_table(store: Store, batch: Batch) -> None:
    fields = _fields(store, batch)
    page_count = shape.pages(batch.total, PAGE_SIZE)
    page = 1
    if page_count > 1:
        left, right = st.columns([2, 8])
        page = int(left.number_input("Page", min_value=1, max_value=page_count, step=1,
                                     key=f"fs_batch_page_{batch.id}"))
        first = (page - 1) * PAGE_SIZE
        right.caption(f"Documents {first + 1:,}–{min(first + PAGE_SIZE, batch.total):,} of "
                      f"{batch.total:,} ({PAGE_SIZE} a page)")
    rows = service.table(store, batch, fields, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    partials = {}
    for row in rows:
        runner = live_runner(row.run_id) if row.status == RUNNING else None
        if runner is not None:
            partials[row.run_id] = shape.partial_values(runner.json_text())
    names = shape.columns(fields)
    frame = pd.DataFrame(shape.table_rows(rows, fields, partials), columns=names)
    if any(r.status == QUEUED and r.reason == NEEDS_KEY for r in rows):
        st.warning(NEEDS_KEY)
    event = st.dataframe(
        frame, hide_index=True, width="stretch", on_select="rerun",
        selection_mode="single-row", key=f"fs_batch_table_{batch.id}_{page}",
        column_config={name: st.column_config.TextColumn(name) for name in names})
    chosen = event.selection.rows if event is not None else []
    if chosen and chosen[0] < len(rows):
        render_document(store, rows[chosen[0]])
    else:
        st.caption("Click a row for its document's form.")


def render_document(store: Store, row: Any) -> None:
    """The chosen document: its live form while it runs in this process, else its stored run
    drawn as a finished form (grounded in its text when the text was kept; `replay.settled`),
    and always a link to its run in History."""
    st.markdown(f"**{escape_md(row.item.name)}** · {escape_md(row.status)}")
    if row.reason:
        st.caption(escape_md(row.reason))
    if row.run_id:
        st.page_link(context.page("History"), label="Open its run in History: the form with "
                     "where each value stands in the text", icon=":material/history:",
                     query_params={"run": row.run_id})
    runner = live_runner(row.run_id) if row.status == RUNNING else None
    if runner is not None and runner.spec is not None:
        spec = runner.spec
        view = LiveView(spec.schema, KEYS, source=spec.text, document=spec.document)
        view.build()
        view.apply(runner.snapshot_all(), runner, final=runner.ended)
        return
    if row.run_id is None:
        return
    from engine import history
    from engine.history.replay import settled

    run = history.get_run(store, row.run_id)
    if run is None:
        st.caption("Its run is not in the history (yet).")
        return
    if row.not_in_text:
        st.warning(escape_md("Not in the text — check them: " + ", ".join(row.not_in_text)))
    runner = settled(run, store)
    schema = runner.spec.schema if runner is not None and runner.spec is not None else None
    if runner is None or not runner.ended:
        st.markdown("**Result**" if run.status == DONE else "**What arrived (partial)**")
        st.code(json_text(run.result), language="json")
        return
    from engine.history.replay import schema_for

    view = LiveView(schema or schema_for(run, store), KEYS, source=run.input_text,
                    document=run.document)
    view.build()
    view.apply(runner.snapshot_all(), runner, final=True)


# --- exports and the recent batches ------------------------------------------------------------


def export_bytes(store: Store, batch_id: str, kind: str) -> bytes:
    """The whole batch as `kind` (csv, jsonl, xlsx): made when its button is clicked (no
    Streamlit call here: it runs outside the script)."""
    batch = records.get(store, batch_id)
    if batch is None:
        raise KeyError(f"No batch {batch_id!r}.")
    out = io.BytesIO()
    service.export(store, batch, kind, out)
    return out.getvalue()


def render_exports(store: Store, batch: Batch) -> None:
    st.markdown("**Export** (one row per document: its fields, status and the fields not in "
                "the text; made when you click)")
    cols = st.columns([2, 2, 2, 6])
    stem = f"batch-{batch.id}"
    for col, (kind, label) in zip(cols, EXPORTS, strict=False):
        col.download_button(label, data=functools.partial(export_bytes, store, batch.id, kind),
                            file_name=f"{stem}.{kind}", mime=MEDIA_TYPES[kind],
                            key=f"fs_batch_export_{kind}", on_click="ignore",
                            icon=":material/download:", width="stretch")


def render_recent(store: Store) -> None:
    st.divider()
    st.subheader("Recent batches")
    batches = records.recent(store, limit=20)
    if not batches:
        st.caption("No batch yet.")
        return
    for batch in batches:
        counts = records.counts(store, batch.id)
        left = f", {counts.left:,} to go" if counts.left else ""
        label = (f"{batch.name or batch.id} · {batch.created_at:%Y-%m-%d %H:%M} · "
                 f"{batch.spec.schema_name} · {counts[DONE]:,} done, {counts[FAILED]:,} "
                 f"failed of {batch.total:,}{left}")
        st.page_link(context.page("Batch"), label=escape_md(label), icon=":material/dataset:",
                     query_params={PARAM: batch.id})
