"""The Compare page: one text, 2 to 4 lanes (schema version, provider, model, mode, and
whether the text is split into chunks even when it fits, each), an optional reference; Run all
streams every lane into its own column from one polling loop, then the verdict, the lane
summaries and a chart of fields done over time. Presets keep lane sets.

The lane set lives in non-widget session state (`LANES_KEY`, `KEPT_KEY`) so it survives moving
between pages (Streamlit drops the widget keys of a page that is not drawn) and is put back into
the widget keys before they are drawn. Runners stay under each lane's `RunKeys.run`, so a rerun
redraws them as Extract does. Logic lives in engine/compare (lanes, verdict, comparisons, presets).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from engine.compare import verdict
from engine.compare.lanes import LanePin, LaneSpec, pin_schemas
from engine.documents import Document, DocumentInfo
from engine.runs.group import RunnerGroup
from engine.runs.runner import Runner, SharedIndexes
from engine.runs.spec import GROUP_COMPARE, SOURCE_COMPARE, RunGroup, RunSpec
from engine.runs.start import start_run
from engine.schemas.library import SCHEMAS
from engine.schemas.resolve import resolve_schema
from engine.schemas.saved import SchemaChoice
from engine.settings import CHUNKING_ALWAYS, CHUNKING_AUTO
from ui import context
from ui.document_input import render_document_input
from ui.keys import UPLOAD_KEYS, RunKeys
from ui.live_form import LiveView, stream_lanes
from ui.run_lane import (
    CHUNKED,
    SAVED_MARK,
    build_view,
    pick_lane_run,
    render_outcome,
    render_text_input,
)
from ui.run_lane import saved_schemas as saved_schema_labels
from ui.saved_comparisons import PARAM as COMPARISON_PARAM
from ui.text import escape_md

LANES = ("a", "b", "c", "d")
MIN_LANES = 2
LANES_KEY = "fs_cmp_lanes"  # the lanes on show, in order
KEPT_KEY = "fs_cmp_kept"  # lane -> {picker: value}: the lane set, kept across pages
CURRENT_KEY = "fs_cmp_current"  # the comparison started last (a CompareRun)
NOTICE_KEY = "fs_cmp_notice"  # (kind, text) left by a preset callback for the next run
#: lane -> `LanePin`: a loaded preset's pinned schema or version that is not here. The
#: lane picks nothing and cannot run until the person picks a schema (or a version) for it.
PINS_KEY = "fs_cmp_missing_pins"
PICKERS = ("schema", "version", "provider", "model", "mode", "chunking")
REF_NONE, REF_JSON, REF_RUN = "None", "Expected answer (JSON)", "A History run"
MAX_TOKENS = 2048
#: Several lanes redraw in one loop: their JSON / raw tabs refresh less often and their
#: timeline charts (an Altair chart each) only at the end, so the forms keep up.
LANE_VIEW = {"tabs": False}


@dataclass
class LaneChoice:
    """What one lane's pickers say (`problem`: why it cannot run as picked)."""

    lane: str
    schema: SchemaChoice | None
    provider: Any
    model: str
    mode: str
    problem: str | None = None
    chunking: str = CHUNKING_AUTO

    @property
    def label(self) -> str:
        """The lane in the verdict and the chart: `A · Invoice v2 · model`, and `· chunked`
        for a lane that splits its text (beside a single-shot lane of the same model)."""
        name = self.schema.name if self.schema else "?"
        version = f" v{self.schema.version}" if self.schema and self.schema.version else ""
        return lane_label(self.lane, f"{name}{version} · {self.model}", self.chunking)


def lane_label(lane: str, what: str, chunking: str) -> str:
    chunked = f" · {CHUNKED}" if chunking == CHUNKING_ALWAYS else ""
    return f"{lane.upper()} · {what}{chunked}"


@dataclass
class Reference:
    value: Any = None
    has: bool = False
    run_id: str | None = None
    problem: str | None = None


@dataclass
class CompareRun:
    """The comparison on show: its id, lanes (in order), what each lane ran and the reference."""

    id: str
    lanes: list[str]
    labels: dict[str, str]
    schemas: dict[str, Any]
    reference: Reference = field(default_factory=Reference)
    saved: bool = False
    captions: dict[str, str] = field(default_factory=dict)  # what each lane runs where
    pending: dict[str, Callable[[], Runner]] = field(default_factory=dict)  # not started yet
    document: DocumentInfo | None = None  # the file the lanes' text was read from


# --- the lane set, kept across pages ---------------------------------------------------------


def active_lanes() -> list[str]:
    lanes = st.session_state.setdefault(LANES_KEY, list(LANES[:MIN_LANES]))
    return list(lanes)


def restore_lanes() -> None:
    """Put the kept lane set back into the widget keys (before the widgets are drawn)."""
    kept: dict[str, dict[str, Any]] = st.session_state.setdefault(KEPT_KEY, {})
    for lane in active_lanes():
        keys = RunKeys(lane)
        for what, value in kept.get(lane, {}).items():
            if keys.picker(what) not in st.session_state and value is not None:
                st.session_state[keys.picker(what)] = value


def keep_lanes() -> None:
    """Copy the lanes' widget values into non-widget state (after they are drawn)."""
    kept = {lane: {what: st.session_state.get(RunKeys(lane).picker(what)) for what in PICKERS}
            for lane in active_lanes()}
    st.session_state[KEPT_KEY] = kept


def _add_lane() -> None:
    lanes = active_lanes()
    free = [lane for lane in LANES if lane not in lanes]
    if free:
        st.session_state[LANES_KEY] = [*lanes, free[0]]


def _remove_lane(lane: str) -> None:
    lanes = active_lanes()
    if len(lanes) > MIN_LANES and lane in lanes:
        st.session_state[LANES_KEY] = [x for x in lanes if x != lane]
        st.session_state.get(KEPT_KEY, {}).pop(lane, None)
        _missing_pins().pop(lane, None)
        for what in PICKERS:
            st.session_state.pop(RunKeys(lane).picker(what), None)


# --- the page --------------------------------------------------------------------------------


def render_compare_page() -> None:
    st.title("Compare")
    st.caption("One text, several schemas or models side by side: press Run all and watch "
               "every lane fill in, then read the verdict field by field.")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        (st.warning if notice[0] == "warning" else st.success)(escape_md(notice[1]))
    providers, problem = context.providers()
    if problem:
        st.error(escape_md(problem))
    context.store_warning("Comparisons still run, without being recorded; saved schemas and "
                          "presets need the history database.")
    restore_lanes()
    text_col, ref_col = st.columns([3, 2], gap="medium")
    with text_col:
        text = render_text_input()
        document = render_document_input(UPLOAD_KEYS["compare"])
    with ref_col:
        reference = render_reference()
        render_presets(providers)
    choices = render_lanes(providers)
    keep_lanes()
    go_col, stop_col, _ = st.columns([2, 2, 6])
    run_all = go_col.button("Run all", type="primary", key="fs_cmp_run", width="stretch")
    stop = stop_col.button("Stop", key="fs_cmp_stop", width="stretch")
    current: CompareRun | None = st.session_state.get(CURRENT_KEY)
    if stop and current is not None:
        RunnerGroup(_runners(current)).stop(wait=1.0)
    if run_all:
        current = _start_all(text, choices, reference, current, document) or current
    st.divider()
    if current is None:
        st.caption("Press Run all to stream every lane side by side.")
    else:
        render_lanes_run(current)


def render_reference() -> Reference:
    kind = st.radio("Reference (optional)", [REF_NONE, REF_JSON, REF_RUN], key="fs_cmp_ref_kind",
                    horizontal=True,
                    help="With a reference, the verdict says which lane is right, not only "
                         "whether the lanes agree.")
    try:
        if kind == REF_JSON:
            text = st.text_area("Expected answer (JSON)", key="fs_cmp_ref_json", height=120)
            value = verdict.parse_reference(text)
            return Reference(value, value is not None)
        if kind == REF_RUN:
            run_id = st.text_input("History run id", key="fs_cmp_ref_run").strip()
            if not run_id:
                return Reference()
            store = context.history_store()
            if store is None:
                raise ValueError("A History run cannot be the reference: the history database "
                                 "is not available.")
            return Reference(verdict.reference_of_run(store, run_id), True, run_id)
    except ValueError as exc:
        st.error(escape_md(str(exc)))
        return Reference(problem=str(exc))
    return Reference()


def render_lanes(providers: list[Any]) -> list[LaneChoice]:
    lanes = active_lanes()
    saved = saved_schema_labels()
    cols = st.columns(len(lanes), gap="medium")
    choices = []
    for lane, col in zip(lanes, cols, strict=True):
        with col, st.container(border=True, key=f"fscmp_lane_{lane}"):
            choices.append(_render_lane(lane, providers, saved, removable=len(lanes) > MIN_LANES))
    if len(lanes) < len(LANES):
        st.button("Add lane", key="fs_cmp_add", on_click=_add_lane)
    return choices


def _missing_pins() -> dict[str, LanePin]:
    pins: dict[str, LanePin] = st.session_state.setdefault(PINS_KEY, {})
    return pins


def _picked_schema(lane: str) -> None:
    """The person picked a schema or version for the lane: a missing pin no longer holds it."""
    _missing_pins().pop(lane, None)


def _render_lane(lane: str, providers: list[Any], saved: dict[str, Any],
                 removable: bool) -> LaneChoice:
    keys = RunKeys(lane)
    head, remove = st.columns([3, 2])
    head.markdown(f"**Lane {lane.upper()}**")
    if removable:
        remove.button("Remove lane", key=f"fs_{lane}_remove", on_click=_remove_lane,
                      args=(lane,))
    picked, problem = _pick_schema(lane, keys, saved)
    provider, model, mode, chunking, problem = pick_lane_run(providers, keys.picker, problem)
    if problem:
        st.warning(escape_md(problem))
    return LaneChoice(lane, picked, provider, model, mode, problem, chunking)


def _pick_schema(lane: str, keys: RunKeys,
                 saved: dict[str, Any]) -> tuple[SchemaChoice | None, str | None]:
    """The lane's schema pickers and what they pick (a `SchemaChoice`, or None and why not).
    While a preset's missing pin holds the lane, the picker it concerns shows no choice (a
    default there would run another schema than the preset's without saying so)."""
    pin = _missing_pins().get(lane)
    options = [*SCHEMAS, *saved]
    if pin is not None and pin.found_name is None:
        st.session_state[keys.picker("schema")] = None
    elif st.session_state.get(keys.picker("schema")) not in options:
        st.session_state[keys.picker("schema")] = next(iter(SCHEMAS))
    label = st.selectbox("Schema", options, key=keys.picker("schema"), placeholder="Pick a schema",
                         on_change=_picked_schema, args=(lane,))
    if label in saved:
        version = _pick_version(lane, keys, saved[label].name, unpicked=pin is not None)
    else:
        version = None
    if pin is not None:
        return None, pin.problem
    name = saved[label].name if label in saved else label
    try:
        return resolve_schema(context.history_store(), name, version), None
    except ValueError as exc:
        return None, str(exc)


def _pick_version(lane: str, keys: RunKeys, name: str, *, unpicked: bool = False) -> str | None:
    """The saved schema's version picker (the newest first and by default; `unpicked`: no
    version shown, the person picks one)."""
    from engine.schemas.saved import schema_versions

    versions = [str(s.version) for s in reversed(schema_versions(context.history_store(), name))]
    if unpicked:
        st.session_state[keys.picker("version")] = None
    elif st.session_state.get(keys.picker("version")) not in versions:
        st.session_state[keys.picker("version")] = versions[0]
    return st.selectbox("Version", versions, key=keys.picker("version"),
                        placeholder="Pick a version", on_change=_picked_schema, args=(lane,),
                        help="Saved schemas keep every version; the newest is first.")


# --- running ---------------------------------------------------------------------------------


def _runners(current: CompareRun) -> dict[str, Runner]:
    return {lane: st.session_state[RunKeys(lane).run] for lane in current.lanes
            if RunKeys(lane).run in st.session_state}


def _cannot_start(text: str, choices: list[LaneChoice], reference: Reference) -> str | None:
    if not text.strip():
        return "Paste or pick a text first."
    if reference.problem:
        return "Fix the reference first (or pick None)."
    bad = [f"lane {c.lane.upper()}: {c.problem}" for c in choices if c.problem]
    return "Some lanes cannot run yet — " + "; ".join(bad) if bad else None


def _start_all(text: str, choices: list[LaneChoice], reference: Reference,
               old: CompareRun | None, document: Document | None = None) -> CompareRun | None:
    """Record the comparison and get every lane ready to start (`CompareRun.pending`: the
    page builds the lanes' placeholders first, then starts them); None when the inputs are
    not ready. With a `document`, every lane reads its text."""
    from engine.compare.comparisons import new_compare_id

    info = document.info if document is not None else None
    if document is not None:
        text = document.text

    problem = _cannot_start(text, choices, reference)
    if problem:
        st.warning(escape_md(problem))
        return None
    if old is not None:
        RunnerGroup(_runners(old)).stop()
    compare_id = new_compare_id()
    specs = [LaneSpec(c.lane, c.label, c.schema.name, c.schema.version, c.provider.name,
                      c.model, c.mode, c.chunking) for c in choices if c.schema is not None]
    saved = _save_comparison(compare_id, specs, reference)
    indexes = SharedIndexes()  # the lanes' one text is indexed once, not once per lane
    pending = {c.lane: functools.partial(
        start_run, RunSpec.for_provider(
            text, c.schema.name, c.schema.schema, c.provider, c.model, c.mode, MAX_TOKENS,
            source=SOURCE_COMPARE, group=RunGroup(GROUP_COMPARE, compare_id, c.lane),
            who=context.current_user(), schema_version=c.schema.version,
            system=c.schema.system, document=info, chunking=c.chunking),
        c.provider, indexes=indexes)
        for c in choices if c.schema is not None}  # checked by _cannot_start
    for lane in pending:
        st.session_state.pop(RunKeys(lane).run, None)
    current = CompareRun(compare_id, [c.lane for c in choices],
                         {c.lane: c.label for c in choices},
                         {c.lane: c.schema.schema for c in choices if c.schema}, reference, saved,
                         {c.lane: f"{c.label} · {c.provider.name} · {c.mode}" for c in choices},
                         pending, info)
    st.session_state[CURRENT_KEY] = current
    return current


def _save_comparison(compare_id: str, specs: list[Any], reference: Reference) -> bool:
    """Record the comparison when the history is on; False when it was not recorded."""
    from engine.compare.comparisons import save_comparison

    if not context.history_settings().enabled:
        return False
    store = context.history_store()
    if store is None:
        return False
    save_comparison(store, compare_id, specs,
                    reference=reference.value if reference.run_id is None else None,
                    reference_run_id=reference.run_id, who=context.current_user())
    return True


def render_lanes_run(current: CompareRun) -> None:
    """Every lane's live area side by side: streamed from one loop while any lane runs, then
    each lane's outcome and, once all ended, the verdict. Lanes just asked for start once
    their placeholders exist (as on the Extract page)."""
    cols = st.columns(len(current.lanes), gap="medium")
    views: dict[str, LiveView] = {}
    for lane, col in zip(current.lanes, cols, strict=True):
        with col:
            views[lane] = build_view(current.schemas[lane], RunKeys(lane),
                                     escape_md(current.captions[lane]), **LANE_VIEW,
                                     document=current.document)
    pending, current.pending = current.pending, {}
    for lane, start in pending.items():
        st.session_state[RunKeys(lane).run] = start()
    runners = _runners(current)
    if not all(r.ended for r in runners.values()):
        stream_lanes(views, RunnerGroup(runners))
    for (lane, runner), col in zip(runners.items(), cols, strict=True):
        with col:
            views[lane].apply(runner.snapshot_all(), runner, final=True)
            render_outcome(runner, RunKeys(lane))
    if all(r.ended for r in runners.values()):
        render_verdict_section(current, runners)


def render_verdict_section(current: CompareRun, runners: dict[str, Runner]) -> None:
    from engine.compare.lanes import done_over_time, summary_from_end
    from ui.charts import lanes_done_chart
    from ui.verdict_table import render_verdict

    st.divider()
    st.subheader("Verdict")
    ends = {lane: runner.report() for lane, runner in runners.items()}
    rows = verdict.live_verdict(ends, current.schemas, reference=current.reference.value,
                                   has_reference=current.reference.has)
    summaries = [summary_from_end(lane, current.labels[lane], end) for lane, end in ends.items()]
    render_verdict(rows, summaries, current.labels)
    st.markdown("**Fields done over time**")
    series = {current.labels[lane]: done_over_time(current.schemas[lane], end.chunks)
              for lane, end in ends.items()}
    st.altair_chart(lanes_done_chart(series), width="stretch")
    if current.saved:
        st.page_link(context.page("History"), label="Open this comparison in History",
                     query_params={COMPARISON_PARAM: current.id})


# --- presets ---------------------------------------------------------------------------------


def render_presets(providers: list[Any]) -> None:
    """Save the lane set under a name, or load one (schema versions pinned)."""
    from engine.compare.presets import list_presets

    store = context.history_store()
    with st.expander("Presets"):
        if store is None:
            st.caption("Presets need the history database, which could not be opened.")
            return
        st.text_input("Preset name", key="fs_cmp_preset_name", max_chars=80)
        st.button("Save this lane set", key="fs_cmp_preset_save", on_click=_save_preset)
        presets = list_presets(store)
        if not presets:
            st.caption("No presets saved yet.")
            return
        names = [p.name for p in presets]
        st.selectbox("Saved presets", names, key="fs_cmp_preset_pick")
        st.button("Load preset", key="fs_cmp_preset_load", on_click=_load_preset,
                  args=([p.name for p in providers],))


def _current_specs() -> list[Any]:
    """The lane set as picked now (`LaneSpec`s; saved schemas with their version)."""
    specs = []
    pins = _missing_pins()
    for lane, values in st.session_state.get(KEPT_KEY, {}).items():
        chunking = CHUNKING_ALWAYS if values.get("chunking") else CHUNKING_AUTO
        if lane in pins:  # nothing picked yet: the lane keeps what its preset pinned
            specs.append(replace(pins[lane].spec, chunking=chunking,
                                 **{what: str(values.get(what) or "") for what in
                                    ("provider", "model", "mode")}))
            continue
        label = str(values.get("schema") or "")
        saved = label.endswith(SAVED_MARK)
        name = label.removesuffix(SAVED_MARK)
        version = values.get("version") if saved else None
        specs.append(LaneSpec(lane, lane_label(lane, name, chunking), name, version,
                              str(values.get("provider") or ""), str(values.get("model") or ""),
                              str(values.get("mode") or ""), chunking))
    return specs


def _save_preset() -> None:
    from engine.compare.presets import save_preset

    name = str(st.session_state.get("fs_cmp_preset_name") or "")
    store = context.history_store()
    if store is None:
        st.session_state[NOTICE_KEY] = ("warning", context.store_problem() or "")
        return
    try:
        preset = save_preset(store, name, _current_specs(), context.current_user())
    except ValueError as exc:
        st.session_state[NOTICE_KEY] = ("warning", str(exc))
        return
    st.session_state[NOTICE_KEY] = ("success", f"Saved preset {preset.name} "
                                               f"(version {preset.version}).")


def _load_preset(available: list[str]) -> None:
    """Put a preset's lanes into the pickers. A lane naming a provider this machine does not
    have keeps the picker's default; a lane whose pinned schema or version is not here picks
    none (`PINS_KEY`) and cannot run until the person picks one. Either is named."""
    from engine.compare.presets import get_preset, missing_providers

    store = context.history_store()
    if store is None:
        st.session_state[NOTICE_KEY] = ("warning", context.store_problem() or "")
        return
    preset = get_preset(store, str(st.session_state.get("fs_cmp_preset_pick")))
    if preset is None:
        st.session_state[NOTICE_KEY] = ("warning", "That preset no longer exists.")
        return
    missing = {spec.lane for spec in missing_providers(preset, available)}
    lanes = [spec.lane for spec in preset.lanes if spec.lane in LANES][: len(LANES)]
    specs = [spec for spec in preset.lanes if spec.lane in lanes]
    pins = pin_schemas(store, specs)
    kept: dict[str, dict[str, Any]] = {}
    for spec in specs:
        kept[spec.lane] = {
            **_schema_pickers(pins[spec.lane]),
            **({} if spec.lane in missing else
               {"provider": spec.provider, "model": spec.model, "mode": spec.mode}),
            "chunking": spec.chunking == CHUNKING_ALWAYS,
        }
        for what in PICKERS:
            st.session_state.pop(RunKeys(spec.lane).picker(what), None)
    st.session_state[LANES_KEY] = lanes
    st.session_state[KEPT_KEY] = kept
    st.session_state[PINS_KEY] = {lane: pin for lane, pin in pins.items() if pin.problem}
    problems = [f"Lane {lane.upper()}: {pin.problem}" for lane, pin in pins.items()
                if pin.problem]
    if missing:
        named = ", ".join(f"lane {s.lane.upper()} ({s.provider})" for s in specs
                          if s.lane in missing)
        problems.append(f"Preset {preset.name} names providers this machine does not have: "
                        f"{named}. Pick another provider for those lanes.")
    st.session_state[NOTICE_KEY] = (
        ("warning", f"Loaded preset {preset.name}, but not all of it is here. "
                    + " ".join(problems)) if problems
        else ("success", f"Loaded preset {preset.name}."))


def _schema_pickers(pin: LanePin) -> dict[str, Any]:
    """The schema and version pickers' values for a preset lane (`LanePin`): the schema
    found, under its stored name; nothing for what is missing."""
    if pin.choice is not None:
        saved = pin.choice.version is not None
        return {"schema": pin.choice.name + SAVED_MARK if saved else pin.choice.name,
                "version": pin.choice.version}
    if pin.found_name is not None:  # only the version is missing: keep the schema
        return {"schema": pin.found_name + SAVED_MARK, "version": None}
    return {"schema": None, "version": None}

