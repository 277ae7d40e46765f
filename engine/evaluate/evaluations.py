"""Evaluations (#21): lanes run over one labelled set version on the batch engine, scored live.

    evaluation = start_evaluation(store, "Invoices", lanes, providers)   # a batch per lane
    figures = results(store, evaluation)       # what has ended so far, scored against the gold
    compare(figures, results(store, earlier(store, evaluation)))   # per field: better / worse

Each lane is a batch (`BatchSpec.kind = "eval"`: its runs are a run group of kind "eval", the
batch's id, the example's index) whose documents are the set version's examples in order, so a
batch item's `idx` is the example's. Nothing is kept about scores: `results` reads the batches'
items and their runs' stored answers each time and scores them (`score`), so it shows the
evaluation as it stands — mid-run, after a crash and Resume, or months later.

A document that failed counts as an empty answer (every gold value a false negative) and says
so (`DocResult.status`); an `invalid` one is scored on what arrived. Queued and running
documents are not scored yet, nor stopped (cancelled) ones: a Stop is not a wrong answer, and
Resume runs them (the CLI's `--timeout` exits 1 whatever the scores).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import insert, select

from engine.batch import records, service
from engine.batch.model import (
    CANCELLED,
    ENDED,
    FAILED,
    RUNNING,
    BatchSpec,
    Counts,
    Item,
    NewItem,
)
from engine.compare.lanes import LaneSpec, check_lanes
from engine.evaluate.model import EvalLane, Evaluation, Example
from engine.evaluate.score import Cell, FieldScore, Tally, Totals, score
from engine.grounding.model import NOT_FOUND
from engine.store import RUNNING as RUN_RUNNING
from engine.store import Store
from engine.store.records import utcnow
from engine.store.tables import evaluations, runs

__all__ = [
    "UNCHANGED", "Change", "DocResult", "Drill", "LaneResult", "Results", "by_batch", "compare",
    "drill", "earlier", "get_evaluation", "recent", "results", "resume_evaluation",
    "start_evaluation", "stop_evaluation",
]  # fmt: skip

#: An F1 that moved less than this between two evaluations is unchanged.
UNCHANGED = 0.005
#: Documents whose run ended without an answer: scored as an empty answer.
NO_ANSWER = (FAILED,)  # scored as an empty answer
UNSCORED = (CANCELLED,)  # ended without an answer to judge: stopped
_RUN_COLUMNS = (runs.c.id, runs.c.status, runs.c.result, runs.c.grounding, runs.c.total_ms,
                runs.c.usage)


# --- starting ----------------------------------------------------------------------------------


def start_evaluation(store: Store, set_name: str, lanes: Sequence[LaneSpec],
                     providers: Mapping[str, Any], *, version: int | None = None,
                     who: str | None = None, name: str | None = None,
                     fuzzy: float | None = None,
                     session_keys: Mapping[str, str] | None = None) -> Evaluation:
    """Run `lanes` over the set's version (its newest when None): a batch per lane, queued on
    its provider's queue (`providers`: provider name -> Provider; `session_keys`: provider
    name -> a key typed in a browser). Every lane is checked before any batch starts; a
    problem is a ValueError whose message can be shown as it is."""
    from engine.evaluate import sets

    label_set = sets.get_set(store, set_name, version)
    if label_set is None:
        which = f" version {version}" if version is not None else ""
        raise ValueError(f"No labelled set {set_name!r}{which}.")
    if fuzzy is not None and not 0.0 <= fuzzy <= 1.0:
        raise ValueError(f"The fuzzy threshold is between 0 and 1, not {fuzzy!r}.")
    pinned = [_pin(store, lane, providers) for lane in check_lanes(lanes)]
    examples = sets.examples(store, label_set.name, label_set.version)
    if not examples:
        raise ValueError(f"The set {label_set.name!r} version {label_set.version} has no "
                         "documents.")
    docs = [NewItem(e.name, text=e.text, document=e.document, sha256=e.sha256)
            for e in sorted(examples, key=lambda e: e.idx)]
    keys = session_keys or {}
    started: list[EvalLane] = []
    for lane in pinned:
        provider = providers[lane.provider]
        key = keys.get(lane.provider)
        spec = BatchSpec(lane.schema_name, provider.name, lane.model, lane.mode,
                         schema_version=lane.schema_version, chunking=lane.chunking, who=who,
                         session_key=bool(key), kind="eval")
        batch = service.start_batch(store, spec, docs, provider,
                                    name=f"{name or label_set.name} · {lane.label}",
                                    session_key=key)
        started.append(EvalLane(lane, batch.id))
    evaluation = Evaluation(uuid.uuid4().hex[:16], utcnow(), who, name, label_set.name,
                            label_set.version, tuple(started), fuzzy)
    with store.transaction() as conn:
        conn.execute(insert(evaluations).values(
            id=evaluation.id, created_at=evaluation.created_at, created_by=who, name=name,
            set_name=evaluation.set_name, set_version=evaluation.set_version,
            lanes=_lanes_json(evaluation.lanes), fuzzy=fuzzy))
    return evaluation


def _pin(store: Store, lane: LaneSpec, providers: Mapping[str, Any]) -> LaneSpec:
    """The lane with its schema's name as stored and its version pinned (the newest saved
    one when none is asked for), its provider known here."""
    from engine.schemas.resolve import resolve_schema

    if lane.provider not in providers:
        raise ValueError(f"Lane {lane.label!r}: no provider named {lane.provider!r} here.")
    provider = providers[lane.provider]
    if getattr(provider, "needs_key", False):
        raise ValueError(f"Lane {lane.label!r}: {provider.name} needs an API key.")
    try:
        choice = resolve_schema(store, lane.schema_name, lane.schema_version)
    except ValueError as exc:
        raise ValueError(f"Lane {lane.label!r}: {exc}") from None
    version = str(choice.version) if choice.version is not None else None
    return replace(lane, schema_name=choice.name, schema_version=version)


def _lanes_json(lanes: Iterable[EvalLane]) -> str:
    return json.dumps([{**lane.spec.to_json(), "batch_id": lane.batch_id} for lane in lanes])


# --- reading evaluations -----------------------------------------------------------------------


def get_evaluation(store: Store, eval_id: str) -> Evaluation | None:
    with store.reading() as conn:
        row = conn.execute(select(evaluations).where(evaluations.c.id == eval_id)
                           ).mappings().first()
    return _evaluation(row) if row is not None else None


def by_batch(store: Store, batch_id: str) -> Evaluation | None:
    """The evaluation one of whose lanes is this batch (History reopens a run's group)."""
    query = select(evaluations).where(evaluations.c.lanes.contains(batch_id))
    with store.reading() as conn:
        for row in conn.execute(query).mappings():
            found = _evaluation(row)
            if any(lane.batch_id == batch_id for lane in found.lanes):
                return found
    return None


def recent(store: Store, set_name: str | None = None, limit: int = 50) -> list[Evaluation]:
    """The newest evaluations first (of one set when named)."""
    query = select(evaluations)
    if set_name is not None:
        query = query.where(evaluations.c.set_name == set_name)
    query = query.order_by(evaluations.c.created_at.desc(), evaluations.c.seq.desc())
    with store.reading() as conn:
        return [_evaluation(row) for row in conn.execute(query.limit(limit)).mappings()]


def earlier(store: Store, evaluation: Evaluation) -> Evaluation | None:
    """The evaluation of the same set (any version) made just before this one."""
    with store.reading() as conn:
        seq = conn.execute(select(evaluations.c.seq).where(
            evaluations.c.id == evaluation.id)).scalar()
        if seq is None:
            return None
        row = conn.execute(select(evaluations).where(
            evaluations.c.set_name == evaluation.set_name, evaluations.c.seq < seq,
        ).order_by(evaluations.c.seq.desc()).limit(1)).mappings().first()
    return _evaluation(row) if row is not None else None


def _evaluation(row: Any) -> Evaluation:
    lanes = tuple(EvalLane(LaneSpec.from_json({k: v for k, v in d.items() if k != "batch_id"}),
                           str(d["batch_id"])) for d in json.loads(row["lanes"]))
    return Evaluation(row["id"], row["created_at"], row["created_by"], row["name"],
                      row["set_name"], row["set_version"], lanes, row["fuzzy"])


# --- scores ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocResult:
    """One document of one lane: its status (a duplicate's is its first document's), the
    answer scored (None until it ended; `{}` for a document that failed or was cancelled),
    its cells, and what its run took."""

    idx: int
    name: str
    status: str
    answer: Any
    cells: list[Cell]
    exact: bool
    seconds: float | None
    tokens: int | None
    not_in_text: int
    run_id: str | None = None
    reason: str | None = None

    @property
    def scored(self) -> bool:
        return self.status in ENDED and self.status not in UNSCORED

    @property
    def no_answer(self) -> bool:
        """Failed: scored as an empty answer."""
        return self.status in NO_ANSWER

    def wrong_fields(self) -> list[str]:
        """The fields of this document with a false positive or negative, in order."""
        return list(dict.fromkeys(c.field for c in self.cells if c.fp or c.fn))


@dataclass(frozen=True)
class LaneResult:
    spec: LaneSpec
    counts: Counts
    by_field: dict[str, FieldScore]
    totals: Totals
    documents: dict[int, DocResult]  # every document of the set, by index (scored or not)
    not_in_text: int  # values of the ended documents found nowhere in their text
    seconds_per_doc: float | None
    tokens_per_doc: float | None
    cost: float | None  # dollars so far, when the provider's price is configured
    batch_id: str = ""


@dataclass(frozen=True)
class Results:
    evaluation: Evaluation
    fields: list[str]  # every field key scored: the gold's in order, then answers' others
    lanes: dict[str, LaneResult]  # by lane name (`LaneSpec.lane`), in the lanes' order
    finished: bool  # no document of any lane is queued or running


@dataclass(frozen=True)
class Drill:
    example: Example
    lanes: dict[str, DocResult]


_DEFAULT: Any = object()


def results(store: Store, evaluation: Evaluation, *, fuzzy: Any = _DEFAULT) -> Results:
    """The evaluation as it stands: every lane's ended documents scored against their gold
    (`fuzzy`: the evaluation's own threshold unless given; None turns fuzzy matching off)."""
    from engine.evaluate import sets

    threshold = evaluation.fuzzy if fuzzy is _DEFAULT else fuzzy
    examples = sets.examples(store, evaluation.set_name, evaluation.set_version,
                             with_text=False)
    golds = {e.idx: e.gold for e in examples}
    lanes = {lane.spec.lane: _lane_result(store, lane, golds, threshold)
             for lane in evaluation.lanes}
    fields = _fields(golds.values(), lanes.values(), threshold)
    return Results(evaluation, fields, lanes, all(
        lane.counts.left == 0 and all(d.status in ENDED for d in lane.documents.values())
        for lane in lanes.values()))


def _lane_result(store: Store, lane: EvalLane, golds: Mapping[int, Any],
                 fuzzy: float | None) -> LaneResult:
    items = records.items(store, lane.batch_id)
    by_idx = {item.idx: item for item in items}
    found = _runs(store, {i.run_id for i in items if i.run_id})
    tally = Tally()
    documents: dict[int, DocResult] = {}
    for item in items:
        first = by_idx.get(item.duplicate_of) if item.duplicate_of is not None else None
        doc = _doc_result(item, first, found, golds.get(item.idx, {}), fuzzy)
        documents[item.idx] = doc
        if doc.scored:
            tally.add(doc.cells)
    batch = records.get(store, lane.batch_id)
    figures = service.progress(store, batch) if batch is not None else None
    counts = figures.counts if figures is not None else records.counts(store, lane.batch_id)
    ran = [d for d in documents.values() if d.scored and not d.no_answer]
    return LaneResult(
        spec=lane.spec, counts=counts, by_field=tally.by_field(), totals=tally.totals(),
        documents=documents, not_in_text=sum(d.not_in_text for d in ran),
        seconds_per_doc=_mean(d.seconds for d in ran), tokens_per_doc=_mean(d.tokens for d in ran),
        cost=figures.cost if figures is not None else None, batch_id=lane.batch_id)


def _doc_result(item: Item, first: Item | None, found: Mapping[str, dict[str, Any]],
                gold: Any, fuzzy: float | None) -> DocResult:
    """One document scored (a duplicate by its first document's run: it ran once)."""
    source = first if first is not None else item
    run = found.get(source.run_id or "")
    status, reason = source.status, source.reason or item.reason
    answered = status in ENDED and status not in NO_ANSWER + UNSCORED
    if answered and source.run_id and (run is None or run["status"] == RUN_RUNNING):
        status = RUNNING  # the item says ended, its run's row not yet: scored on the next look
    if status not in ENDED or status in UNSCORED:
        return DocResult(item.idx, item.name, status, None, [], False, None, None, 0,
                         source.run_id, reason)
    answer: Any = {}
    seconds = tokens = None
    not_in_text = 0
    if run is not None:
        seconds = run["total_ms"] / 1000.0 if run["total_ms"] is not None else None
        tokens = _tokens(run["usage"])
        if status not in NO_ANSWER:
            answer = run["result"] if run["result"] is not None else {}
            not_in_text = _count_not_in_text(run["grounding"])
    cells = score(answer, gold, fuzzy=fuzzy)
    exact = not any(c.fp or c.fn for c in cells)
    return DocResult(item.idx, item.name, status, answer, cells, exact, seconds, tokens,
                     not_in_text, source.run_id, reason)


def _runs(store: Store, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    return records.run_rows(store, sorted(run_ids), _RUN_COLUMNS)


def _count_not_in_text(grounding: Any) -> int:
    """How many of a run's values were found nowhere in its text."""
    if not isinstance(grounding, dict):
        return 0
    return sum(1 for g in grounding.values()
               if isinstance(g, dict) and g.get("status") == NOT_FOUND)


def _tokens(usage: Any) -> int | None:
    """A run's tokens: its usage's total, else read + written, when it said."""
    if not isinstance(usage, dict):
        return None
    counts = [usage.get(k) for k in ("total_tokens", "prompt_tokens", "completion_tokens")]
    total, *parts = [c if isinstance(c, int) and not isinstance(c, bool) else None
                     for c in counts]
    if total is not None:
        return total
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def _mean(values: Iterable[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _fields(golds: Iterable[Any], lanes: Iterable[LaneResult], fuzzy: float | None
            ) -> list[str]:
    """Every field key scored: those the gold holds (in the gold's order, document by
    document), then those only answers hold, as they first appear."""
    order: dict[str, None] = {}
    for gold in golds:
        order.update((c.field, None) for c in score(gold, gold, fuzzy=fuzzy))
    for lane in lanes:
        for doc in lane.documents.values():
            order.update((c.field, None) for c in doc.cells)
    return list(order)


def drill(store: Store, evaluation: Evaluation, idx: int) -> Drill:
    """One document: its example (text and gold) and each lane's answer scored against it."""
    from engine.evaluate import sets

    examples = {e.idx: e for e in sets.examples(store, evaluation.set_name,
                                                evaluation.set_version)}
    if idx not in examples:
        raise KeyError(f"The set has no document {idx}.")
    example = examples[idx]
    lanes: dict[str, DocResult] = {}
    for lane in evaluation.lanes:
        item = records.item(store, lane.batch_id, idx)
        if item is None:
            continue
        first = records.item(store, lane.batch_id, item.duplicate_of) \
            if item.duplicate_of is not None else None
        source = first or item
        found = _runs(store, [source.run_id] if source.run_id else [])
        lanes[lane.spec.lane] = _doc_result(item, first, found, example.gold,
                                            evaluation.fuzzy)
    return Drill(example, lanes)


# --- against an earlier evaluation -------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One field of one lane, this evaluation's F1 against the earlier one's (None: the field
    or the lane was not scored there)."""

    lane: str  # the lane's label
    field: str
    before: float | None
    after: float | None
    verdict: str  # "worse", "gone", "better", "new", "unchanged"

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


_ORDER = {"worse": 0, "gone": 1, "better": 2, "new": 3, "unchanged": 4}


def compare(now: Results, before: Results) -> list[Change]:
    """Per lane and field, better / worse / unchanged (|ΔF1| < `UNCHANGED`), new or gone;
    regressions first, the largest drop first. Lanes are matched by label, then by position;
    fields by key (the two may have scored different set versions)."""
    pairs = _match_lanes(list(now.lanes.values()), list(before.lanes.values()))
    fields = list(dict.fromkeys([*now.fields, *before.fields]))
    changes: list[Change] = []
    for after_lane, before_lane in pairs:
        label = (after_lane or before_lane).spec.label  # type: ignore[union-attr]
        for name in fields:
            a = _f1(after_lane, name)
            b = _f1(before_lane, name)
            if a is None and b is None:
                continue
            changes.append(Change(label, name, b, a, _verdict(b, a)))
    position = {id(c): n for n, c in enumerate(changes)}
    return sorted(changes, key=lambda c: (_ORDER[c.verdict], _steepness(c), position[id(c)]))


def _match_lanes(now: list[LaneResult], before: list[LaneResult]
                 ) -> list[tuple[LaneResult | None, LaneResult | None]]:
    taken: set[int] = set()
    matched: dict[int, int] = {}
    for i, lane in enumerate(now):
        j = next((j for j, b in enumerate(before)
                  if j not in taken and b.spec.label == lane.spec.label), None)
        if j is not None:
            matched[i] = j
            taken.add(j)
    for i in range(len(now)):
        if i not in matched and i < len(before) and i not in taken:
            matched[i] = i
            taken.add(i)
    pairs: list[tuple[LaneResult | None, LaneResult | None]] = [
        (lane, before[matched[i]] if i in matched else None) for i, lane in enumerate(now)]
    pairs += [(None, b) for j, b in enumerate(before) if j not in taken]
    return pairs


def _f1(lane: LaneResult | None, name: str) -> float | None:
    if lane is None:
        return None
    found = lane.by_field.get(name)
    return found.f1 if found is not None else None


def _verdict(before: float | None, after: float | None) -> str:
    if before is None:
        return "new"
    if after is None:
        return "gone"
    if abs(after - before) < UNCHANGED:
        return "unchanged"
    return "better" if after > before else "worse"


def _steepness(change: Change) -> float:
    """Within a verdict: the largest move first (a drop is negative, a gain positive)."""
    delta = change.delta
    if delta is None:
        return 0.0
    return delta if change.verdict == "worse" else -abs(delta)


# --- stop and go on ----------------------------------------------------------------------------


def stop_evaluation(store: Store, evaluation: Evaluation) -> int:
    """Stop every lane (`service.stop`); how many queued documents were cancelled."""
    return sum(service.stop(store, lane.batch_id) for lane in evaluation.lanes)


def resume_evaluation(store: Store, evaluation: Evaluation, providers: Mapping[str, Any],
                      session_keys: Mapping[str, str] | None = None) -> int:
    """Queue again every lane's documents that did not run (`service.resume`); how many."""
    keys = session_keys or {}
    total = 0
    for lane in evaluation.lanes:
        provider = providers.get(lane.spec.provider)
        if provider is None:
            raise ValueError(f"Lane {lane.spec.label!r}: no provider named "
                             f"{lane.spec.provider!r} here.")
        total += service.resume(store, lane.batch_id, provider,
                                session_key=keys.get(lane.spec.provider))
    return total
