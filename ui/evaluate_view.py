"""The Evaluate page: which schema and which model extract *our* documents best, measured on a
labelled set. Its sections, top to bottom:

- what the embedded models score on the starter sets (`engine.evaluate.advice.reference`,
  measured by `bench/model_eval.py`);
- the labelled set (`ui.eval_sets`: pick, versions, documents and gold, starter, import, by
  hand, export; `?set=<name>`);
- **Run an evaluation**: 1–4 lanes as on Compare (schema version × provider × model × mode ×
  chunking; the schema defaults to the set's), a fuzzy threshold for text (off by default),
  Start (`engine.evaluate.evaluations.start_evaluation`: each lane a batch on the queue);
- the evaluation on show (`?eval=<id>`, or `?batch=<a lane's batch id>` as History links a
  run of one): live while documents run (a fragment redrawn every second): progress per lane,
  fields × lanes of F1 coloured by F1, each lane's totals, a chart of F1 per lane and field,
  Stop / Resume, a suggestion for a lane under `advice.SUGGEST_BELOW` (a larger model or a
  server); then a document's drill-down (its gold beside each lane's answer, the fields
  that differ marked) and the comparison with the earlier evaluation of the set (regressions
  first);
- the recent evaluations of the set, to reopen one.

Scores come from the engine (`evaluations.results`, read from the history database, so a
document run by another process counts the same); `ui.eval_shape` turns them into tables."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from engine.batch import records
from engine.batch.model import CANCELLED, QUEUED
from engine.compare.lanes import MAX_LANES, LaneSpec
from engine.evaluate import advice, evaluations
from engine.evaluate.model import Evaluation, Example, LabelSet
from engine.evaluate.starter import STARTER_SETS, starter_set_name
from engine.schemas.library import SCHEMAS
from engine.schemas.resolve import resolve_schema
from engine.schemas.saved import SchemaChoice
from engine.settings import CHUNKING_ALWAYS
from engine.store import Store
from ui import context
from ui import eval_shape as shape
from ui.charts import f1_chart
from ui.eval_sets import render_sets, table
from ui.run_lane import CHUNKED, SAVED_MARK, pick_lane_run, saved_schemas
from ui.text import escape_md

#: Query parameters: the evaluation on show, or one of its lanes' batches (History's link).
EVAL_PARAM, BATCH_PARAM = "eval", "batch"
#: Seconds between redraws while documents are queued or running.
REFRESH = 1.0
LANES = ("a", "b", "c", "d")[:MAX_LANES]
NOTICE_KEY = "fs_eval_notice"  # (kind, text) said once on the next run
COUNT_KEY = "fs_eval_lane_count"
LANES_SET_KEY = "fs_eval_lanes_set"  # the set whose schema the lanes' pickers default to
FUZZY_ON, FUZZY_KEY = "fs_eval_fuzzy_on", "fs_eval_fuzzy"
DEFAULT_FUZZY = 0.85
RECENT = 20


def lane_key(lane: str, what: str) -> str:
    """A lane picker's key: `fs_eval_<lane>_<what>` (schema, version, provider, model, mode,
    chunking)."""
    return f"fs_eval_{lane}_{what}"


def render_evaluate_page() -> None:
    st.title("Evaluate")
    st.caption("Which schema and which model extract your documents best: run lanes over a "
               "labelled set and read precision, recall and F1 field by field as documents "
               "complete.")
    _, problem = context.batch_runtime()
    if problem:
        st.warning(escape_md(problem.replace("Batches need", "Evaluations need")))
        return
    store = context.history_store()
    assert store is not None  # batch_runtime needs it
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        {"error": st.error, "warning": st.warning}.get(notice[0], st.success)(
            escape_md(notice[1]))
    render_reference()
    evaluation = _evaluation_asked(store)
    if evaluation is not None and not st.query_params.get("set"):
        st.query_params["set"] = evaluation.set_name  # its set shown above it
    st.subheader("Labelled set")
    label_set, _ = render_sets(store)
    if label_set is not None:
        with st.expander("Run an evaluation", expanded=evaluation is None):
            render_new_evaluation(store, label_set)
    if evaluation is not None:
        render_evaluation(store, evaluation)
    render_recent(store, label_set)


def render_reference() -> None:
    """The embedded models' scores on the starter sets, measured by the bench (no key, no
    run needed to see what the default model can do)."""
    ref = advice.reference()
    if ref is None:
        return
    with st.expander("What the embedded model scores on the starter sets"):
        for name in STARTER_SETS:
            rows = ref.for_set(name)
            if rows:
                st.markdown(f"**{escape_md(starter_set_name(name))}**")
                table(f"fs_eval_reference_{name}", shape.reference_frame(rows), hide_index=True)
        st.caption(escape_md(f"Measured by bench/model_eval.py ({ref.measured}): one lane at "
                             "a time, two documents at once. A lane of yours under F1 "
                             f"{advice.SUGGEST_BELOW:.2f} gets a suggestion."))


def _evaluation_asked(store: Store) -> Evaluation | None:
    eval_id, batch_id = st.query_params.get(EVAL_PARAM), st.query_params.get(BATCH_PARAM)
    if eval_id:
        found = evaluations.get_evaluation(store, eval_id)
        if found is None:
            st.warning(escape_md(f"There is no evaluation {eval_id} in the history."))
        return found
    if batch_id:
        found = evaluations.by_batch(store, batch_id)
        if found is None:
            st.warning(escape_md(f"No evaluation ran the batch {batch_id}."))
        return found
    return None


# --- a new evaluation -------------------------------------------------------------------------


def render_new_evaluation(store: Store, label_set: LabelSet) -> None:
    providers, problem = context.providers()
    if problem:
        st.error(escape_md(problem))
    if st.session_state.get(LANES_SET_KEY) != label_set.name:  # another set: its schema
        for lane in LANES:
            for what in ("schema", "version"):
                st.session_state.pop(lane_key(lane, what), None)
        st.session_state[LANES_SET_KEY] = label_set.name
    count = st.radio("Lanes", list(range(1, len(LANES) + 1)), index=1, key=COUNT_KEY,
                     horizontal=True, help="Each lane runs every document of the set.")
    saved = saved_schemas()
    cols = st.columns(count, gap="medium")
    picked: list[tuple[str, SchemaChoice | None, Any, str, str, str, str | None]] = []
    for lane, col in zip(LANES[:count], cols, strict=False):
        with col, st.container(border=True, key=f"fs_eval_lane_{lane}"):
            picked.append(_render_lane(store, lane, label_set, providers, saved))
    fuzzy = render_fuzzy()
    name_col, go_col = st.columns([4, 2], vertical_alignment="bottom")
    name = name_col.text_input("Name (optional)", key="fs_eval_name", max_chars=100,
                               placeholder="Invoice v3 vs v4")
    if not go_col.button("Start", type="primary", key="fs_eval_start", width="stretch"):
        return
    bad = [f"lane {lane.upper()}: {why}" for lane, *_, why in picked if why]
    if bad:
        st.warning(escape_md("Some lanes cannot run yet — " + "; ".join(bad)))
        return
    _start(store, label_set, picked, fuzzy, name.strip() or None)


def _render_lane(store: Store, lane: str, label_set: LabelSet, providers: list[Any],
                 saved: dict[str, Any]) -> tuple[Any, ...]:
    st.markdown(f"**Lane {lane.upper()}**")
    schema, why = _pick_schema(store, lane, label_set, saved)
    provider, model, mode, chunking, why = pick_lane_run(
        providers, lambda what: lane_key(lane, what), why)
    if why:
        st.caption(escape_md(why))
    return lane, schema, provider, model, mode, chunking, why


def _pick_schema(store: Store, lane: str, label_set: LabelSet,
                 saved: dict[str, Any]) -> tuple[SchemaChoice | None, str | None]:
    """The lane's schema (default: the set's, in its version) and, for a saved one, its
    version (newest first)."""
    from engine.schemas.saved import schema_versions

    options = [*SCHEMAS, *saved]
    own = label_set.schema_name + (SAVED_MARK if label_set.schema_version else "")
    key, version_key = lane_key(lane, "schema"), lane_key(lane, "version")
    if st.session_state.get(key) not in options:
        st.session_state[key] = own if own in options else next(iter(SCHEMAS))
        st.session_state.pop(version_key, None)
    label = st.selectbox("Schema", options, key=key)
    version = None
    if label in saved:
        versions = [str(s.version) for s in reversed(schema_versions(store, saved[label].name))]
        if st.session_state.get(version_key) not in versions:
            st.session_state[version_key] = (
                str(label_set.schema_version) if label == own
                and str(label_set.schema_version) in versions else versions[0])
        version = st.selectbox("Version", versions, key=version_key)
    name = saved[label].name if label in saved else label
    try:
        return resolve_schema(store, name, version), None
    except ValueError as exc:
        return None, str(exc)


def render_fuzzy() -> float | None:
    """Whether text counts as right above a similarity (off: equal after normalisation)."""
    on = st.toggle("Fuzzy match for text", key=FUZZY_ON,
                   help="Count a text value as right when it is this similar to the gold "
                        "(after the normalisation of case, spacing, numbers and dates).")
    if not on:
        return None
    if FUZZY_KEY not in st.session_state:
        st.session_state[FUZZY_KEY] = DEFAULT_FUZZY
    return float(st.slider("Similarity at least", min_value=0.5, max_value=1.0, step=0.05,
                           key=FUZZY_KEY))


def lane_label(lane: str, schema: SchemaChoice, model: str, chunking: str) -> str:
    """`A · Invoice v2 · model` (and `· chunked`): the lane's column in every table."""
    version = f" v{schema.version}" if schema.version else ""
    chunked = f" · {CHUNKED}" if chunking == CHUNKING_ALWAYS else ""
    return f"{lane.upper()} · {schema.name}{version} · {model}"[:80] + chunked


def _start(store: Store, label_set: LabelSet, picked: list[tuple[Any, ...]],
           fuzzy: float | None, name: str | None) -> None:
    specs, providers, keys = [], {}, {}
    for lane, schema, provider, model, mode, chunking, _ in picked:
        specs.append(LaneSpec(lane, lane_label(lane, schema, model, chunking), schema.name,
                              schema.version, provider.name, model, mode, chunking))
        providers[provider.name] = provider
        if getattr(provider, "key_source", None) == "session" and provider.api_key:
            keys[provider.name] = provider.api_key
    try:
        evaluation = evaluations.start_evaluation(
            store, label_set.name, specs, providers, version=label_set.version,
            who=context.current_user(), name=name, fuzzy=fuzzy, session_keys=keys or None)
    except ValueError as exc:
        st.error(escape_md(str(exc)))
        return
    st.session_state[NOTICE_KEY] = ("success", f"Started: {len(specs)} lanes over "
                                               f"{label_set.size:,} documents.")
    st.query_params.pop(BATCH_PARAM, None)
    st.query_params[EVAL_PARAM] = evaluation.id
    st.rerun()


# --- the evaluation on show -------------------------------------------------------------------


def render_evaluation(store: Store, evaluation: Evaluation) -> None:
    st.divider()
    st.subheader(escape_md(evaluation.name or f"Evaluation {evaluation.id}"))
    st.caption(escape_md(describe(evaluation)))
    # Live until the engine says finished, not only until no item is left: a document whose
    # item has ended may not have its run's answer written yet (scored on the next look).
    results = evaluations.results(store, evaluation)
    live = not results.finished
    st.fragment(run_every=REFRESH if live else None)(render_live)(store, evaluation.id, live)
    if live:  # what the fragment just drew may be newer: the rest of the page follows it
        results = evaluations.results(store, evaluation)
    render_drill(store, evaluation, shape.lane_labels(results))
    render_earlier(store, evaluation, results)


def describe(evaluation: Evaluation) -> str:
    who = f" by {evaluation.created_by}" if evaluation.created_by else ""
    return (f"Set {evaluation.set_name} v{evaluation.set_version} · {len(evaluation.lanes)} "
            f"lanes · {fuzzy_text(evaluation.fuzzy)} · started "
            f"{evaluation.created_at:%Y-%m-%d %H:%M}{who} · id {evaluation.id}")


def fuzzy_text(fuzzy: float | None) -> str:
    """How values are matched, as the table says it."""
    if fuzzy is None:
        return "values equal after normalisation (fuzzy off)"
    return f"text right at similarity ≥ {fuzzy:.2f} (fuzzy)"


def render_live(store: Store, eval_id: str, live: bool) -> None:
    """Progress, scores, totals, chart and Stop / Resume (a fragment: redrawn every second
    while documents run; the whole page once they all end, which stops the polling)."""
    evaluation = evaluations.get_evaluation(store, eval_id)
    if evaluation is None:
        st.warning("This evaluation is no longer in the history.")
        return
    results = evaluations.results(store, evaluation)
    if live and results.finished and _in_fragment_run():
        st.rerun()
    render_progress(results)
    render_actions(store, evaluation, results)
    render_scores(results, evaluation.fuzzy)
    for text in shape.advice(results):
        st.info(escape_md(text))
    if live:
        st.caption("Scores fill in as documents end (redrawn every second).")


def _in_fragment_run() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx and ctx.fragment_ids_this_run)


def render_progress(results: Any) -> None:
    rows = shape.progress_rows(results)
    cols = st.columns(len(rows) or 1)
    for col, (label, ended, total) in zip(cols, rows, strict=False):
        col.progress(ended / total if total else 1.0,
                     text=escape_md(f"{label}: {ended:,} of {total:,} documents"))


def render_scores(results: Any, fuzzy: float | None) -> None:
    st.markdown("**F1 per field** — " + escape_md(fuzzy_text(fuzzy)))
    table("fs_eval_scores", shape.styled_scores(results))
    st.markdown("**Per lane**")
    table("fs_eval_totals", shape.totals_frame(results), hide_index=True,
          column_config={c: st.column_config.TextColumn(c) for c in shape.TOTAL_COLUMNS})
    with st.expander("Precision, recall and counts per field"):
        table("fs_eval_detail", shape.detail_frame(results), hide_index=True)
    rows = shape.chart_rows(results)
    if rows:
        st.markdown("**F1 per lane per field**")
        st.altair_chart(f1_chart(rows, list(shape.lane_labels(results).values())),
                        width="stretch")


def render_actions(store: Store, evaluation: Evaluation, results: Any) -> None:
    left = sum(r.counts.left for r in results.lanes.values())
    stopped = any(getattr(records.get(store, lane.batch_id), "stopped", False)
                  for lane in evaluation.lanes)
    resumable = stopped or any(r.counts[CANCELLED] or r.counts[QUEUED]
                               for r in results.lanes.values())
    stop_col, resume_col, _ = st.columns([2, 2, 8])
    if stop_col.button("Stop", key="fs_eval_stop", width="stretch",
                       disabled=stopped or left == 0,
                       help="Queued documents leave the queue; running ones end within a "
                            "second and keep what arrived."):
        evaluations.stop_evaluation(store, evaluation)
        _say("success", "Stopped: the scores count the documents that ended.")
    if resume_col.button("Resume", key="fs_eval_resume", width="stretch",
                         disabled=not resumable,
                         help="Run every document that has no answer yet."):
        _resume(store, evaluation)


def _resume(store: Store, evaluation: Evaluation) -> None:
    found, _ = context.providers(saved_problems=False)
    providers = {p.name: p for p in found}
    keys = {p.name: p.api_key for p in found
            if getattr(p, "key_source", None) == "session" and p.api_key}
    try:
        evaluations.resume_evaluation(store, evaluation, providers, session_keys=keys or None)
    except ValueError as exc:
        _say("error", str(exc))
    _say("success", "Resumed: the documents without an answer are queued again.")


def _say(kind: str, text: str) -> None:
    """Say it on the next run of the whole page (which also starts or stops the polling)."""
    st.session_state[NOTICE_KEY] = (kind, text)
    st.rerun(scope="app")


# --- one document -----------------------------------------------------------------------------


def render_drill(store: Store, evaluation: Evaluation, labels: dict[str, str]) -> None:
    from engine.evaluate.sets import examples

    docs = examples(store, evaluation.set_name, evaluation.set_version, with_text=False)
    if not docs:
        return
    st.markdown("**One document: its gold beside each lane's answer**")
    by_idx = {d.idx: d for d in docs}
    idx = st.selectbox("Document", list(by_idx), key=f"fs_eval_drill_{evaluation.id}",
                       format_func=lambda i: f"{i + 1}. {by_idx[i].name}")
    drill = evaluations.drill(store, evaluation, idx)
    render_document(drill, labels, evaluation)


def render_document(drill: Any, labels: dict[str, str], evaluation: Evaluation) -> None:
    marks = shape.drill_marks(drill, labels)
    if len(marks):
        table(f"fs_eval_marks_{evaluation.id}", marks.style.map(shape.mark_colour))
    differences = shape.drill_differences(drill, labels)
    if len(differences):
        st.caption(escape_md(f"{len(differences):,} fields differ from the gold:"))
        table(f"fs_eval_diff_{evaluation.id}", differences, hide_index=True,
              column_config={c: st.column_config.TextColumn(c) for c in differences.columns})
    elif len(marks):
        st.caption("Every lane's answer matches the gold.")
    example: Example = drill.example
    cols = st.columns(1 + len(drill.lanes), gap="small")
    with cols[0]:
        st.markdown("**Gold**")
        st.code(_json(example.gold), language="json")
    for col, (lane, doc) in zip(cols[1:], drill.lanes.items(), strict=False):
        with col:
            st.markdown(f"**{escape_md(labels.get(lane, lane))}** · {escape_md(str(doc.status))}")
            if doc.answer is None:
                st.caption("No answer (yet).")
            else:
                st.code(_json(doc.answer), language="json")
            if doc.run_id and doc.scored:  # where its answer is marked or corrected as gold
                st.page_link(context.page("History"), label="Its run in History",
                             icon=":material/history:", query_params={"run": doc.run_id},
                             help="Mark this answer as correct there, or correct it: the "
                                  "set's gold, in a new version.")
    if example.text:
        with st.expander("The document's text"):
            st.text(example.text)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


# --- an earlier evaluation --------------------------------------------------------------------


def render_earlier(store: Store, evaluation: Evaluation, results: Any) -> None:
    before = evaluations.earlier(store, evaluation)
    if before is None:
        return
    st.markdown("**Compared with the earlier evaluation of this set**")
    st.page_link(context.page("Evaluate"), label=escape_md(
        f"{before.name or before.id} · set v{before.set_version} · "
        f"{before.created_at:%Y-%m-%d %H:%M}"), icon=":material/history:",
        query_params={EVAL_PARAM: before.id})
    changes = evaluations.compare(results, evaluations.results(store, before))
    st.caption(escape_md(shape.change_summary(changes) + " (F1 per lane and field; the worse "
                         "first)"))
    if not changes:
        return
    frame = shape.change_rows(changes)
    table(f"fs_eval_changes_{evaluation.id}",
          frame.style.map(shape.verdict_colour, subset=["verdict"]), hide_index=True)


# --- recent evaluations -----------------------------------------------------------------------


def render_recent(store: Store, label_set: LabelSet | None) -> None:
    st.divider()
    st.subheader("Recent evaluations" + (f" of {escape_md(label_set.name)}" if label_set
                                         else ""))
    found = evaluations.recent(store, label_set.name if label_set else None, limit=RECENT)
    if not found:
        st.caption("No evaluation yet.")
        return
    for ev in found:
        label = (f"{ev.name or ev.id} · {ev.created_at:%Y-%m-%d %H:%M} · {ev.set_name} "
                 f"v{ev.set_version} · " + " | ".join(lane.spec.label for lane in ev.lanes))
        st.page_link(context.page("Evaluate"), label=escape_md(label),
                     icon=":material/fact_check:", query_params={EVAL_PARAM: ev.id})

