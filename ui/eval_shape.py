"""The Evaluate page's figures as tables (no Streamlit here: each function takes what the
engine returns, `engine.evaluate.evaluations.Results`, `Drill`, `Change`, and gives rows or a
pandas frame, so each is tested with hand-built results).

- `scores_frame`: fields × lanes of F1, the colour of each cell by `f1_colour` (a Styler map);
- `detail_frame`: per field and lane, precision, recall, F1 and the counts behind them;
- `totals_frame`: a row per lane (micro and macro F1, exact documents, values not in the text,
  seconds and tokens per document, cost);
- `chart_rows`: F1 per lane per field, for `ui.charts.f1_chart`;
- `drill_marks` / `drill_differences`: one document, each lane's fields marked against the gold;
- `change_rows`: an earlier evaluation against this one, regressions first (the engine's
  order kept).

Values are text or plain numbers; names are never Markdown here (the page shows them in
dataframes, whose cells are text)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from engine.evaluate.advice import ReferenceRow, for_results

#: The row of the scores table with every field's counts summed (micro F1).
ALL_FIELDS = "(all fields, micro)"
#: A drill-down cell's mark, by what its counts say.
RIGHT, WRONG, MISSING, EXTRA, PARTLY, NOTHING = "✓", "✗ wrong", "missing", "extra", "partly", "—"
VERDICT_MARKS = {"better": "▲ better", "worse": "▼ worse", "unchanged": "= unchanged",
                 "new": "new", "gone": "gone"}
#: F1 colours, low to high (red, amber, green as Tailwind's 200 shades: dark text stays legible).
_STOPS = ((0.0, (254, 202, 202)), (0.5, (253, 230, 138)), (1.0, (187, 247, 208)))


def lane_labels(results: Any) -> dict[str, str]:
    """Lane id -> the column name shown (the lane's label, else its letter), made unique."""
    labels: dict[str, str] = {}
    for lane, result in results.lanes.items():
        label = (getattr(result.spec, "label", "") or lane.upper()).strip() or lane
        while label in labels.values():
            label = f"{label} ({lane})"
        labels[lane] = label
    return labels


def f1_colour(value: Any) -> str:
    """The CSS of an F1 cell: a background from red (0) through amber (0.5) to green (1); an
    empty cell (the lane has not scored that field yet) stays plain."""
    if value is None or value != value:  # None or NaN
        return ""
    x = min(1.0, max(0.0, float(value)))
    for (x0, c0), (x1, c1) in itertools.pairwise(_STOPS):
        if x <= x1:
            t = (x - x0) / (x1 - x0)
            r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(c0, c1, strict=True))
            return f"background-color: rgb({r}, {g}, {b}); color: #111827"
    return ""


def scores_frame(results: Any) -> pd.DataFrame:
    """Fields (the schema's order, then any other field scored) × lanes of F1 (None: no
    document of that lane has the field yet), and the micro F1 row last."""
    labels = lane_labels(results)
    fields = ordered_fields(results)
    data = {labels[lane]: [_f1(r.by_field.get(f)) for f in fields] + [_micro(r)]
            for lane, r in results.lanes.items()}
    return pd.DataFrame(data, index=pd.Index([*fields, ALL_FIELDS], name="field"))


def styled_scores(results: Any) -> Any:
    """`scores_frame` coloured by F1 and shown with two decimals (a pandas Styler)."""
    frame = scores_frame(results)
    return frame.style.map(f1_colour).format("{:.2f}", na_rep="")


def ordered_fields(results: Any) -> list[str]:
    seen = list(results.fields)
    for result in results.lanes.values():
        seen += [f for f in result.by_field if f not in seen]
    return seen


def _f1(score: Any) -> float | None:
    return None if score is None else round(score.f1, 4)


def _micro(result: Any) -> float | None:
    return round(result.totals.micro_f1, 4) if result.totals.documents else None


def detail_frame(results: Any) -> pd.DataFrame:
    """A row per field and lane: precision, recall, F1 and the true / false positives and
    false negatives counted."""
    labels = lane_labels(results)
    rows = []
    for field in ordered_fields(results):
        for lane, result in results.lanes.items():
            score = result.by_field.get(field)
            if score is None:
                continue
            rows.append({"field": field, "lane": labels[lane],
                         "precision": round(score.precision, 4),
                         "recall": round(score.recall, 4), "F1": round(score.f1, 4),
                         "right (TP)": score.tp, "wrong or extra (FP)": score.fp,
                         "missed (FN)": score.fn})
    return pd.DataFrame(rows, columns=["field", "lane", "precision", "recall", "F1",
                                       "right (TP)", "wrong or extra (FP)", "missed (FN)"])


def progress_rows(results: Any) -> list[tuple[str, int, int]]:
    """(lane label, documents ended, documents in all) per lane."""
    labels = lane_labels(results)
    return [(labels[lane], int(r.counts.ended), int(r.counts.total))
            for lane, r in results.lanes.items()]


TOTAL_COLUMNS = ["lane", "documents scored", "micro F1", "macro F1", "exact documents",
                 "not in the text", "s / doc", "tokens / doc", "cost"]


def totals_frame(results: Any) -> pd.DataFrame:
    """A row per lane: its figures over the documents scored so far. Exact documents as a
    rate and a count ("67% (2 of 3)"); cost only where the provider has a price."""
    labels = lane_labels(results)
    rows = []
    for lane, r in results.lanes.items():
        t = r.totals
        scored = t.documents
        rows.append({
            "lane": labels[lane],
            "documents scored": f"{scored:,} of {r.counts.total:,}",
            "micro F1": _two(t.micro_f1 if scored else None),
            "macro F1": _two(t.macro_f1 if scored else None),
            "exact documents": f"{t.exact_rate:.0%} ({t.exact:,} of {scored:,})" if scored
                               else "—",
            "not in the text": f"{r.not_in_text:,}",
            "s / doc": _num(r.seconds_per_doc, "{:.2f}"),
            "tokens / doc": _num(r.tokens_per_doc, "{:,.0f}"),
            "cost": _cost(r.cost),
        })
    return pd.DataFrame(rows, columns=TOTAL_COLUMNS)


def advice(results: Any) -> list[str]:
    """Each lane's suggestion (`engine.evaluate.advice.for_results`), after its label."""
    labels = lane_labels(results)
    return [f"{labels[lane]}: {text}" for lane, text in for_results(results).items()]


def reference_frame(rows: Sequence[ReferenceRow]) -> pd.DataFrame:
    """The embedded models' measured figures on a starter set, a row per model."""
    return pd.DataFrame([{
        "model": row.title + (" (default)" if row.default else ""),
        "micro F1": _two(row.micro_f1), "precision": _two(row.precision),
        "recall": _two(row.recall), "s / doc": _num(row.seconds_per_doc, "{:.1f}"),
        "tokens / doc": _num(row.tokens_per_doc, "{:,.0f}"), "documents": row.documents,
    } for row in rows])


def _two(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else spec.format(value)


def _cost(value: Any) -> str:
    if value is None:
        return "—"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def chart_rows(results: Any) -> list[dict[str, Any]]:
    """F1 per lane per field (fields in the table's order; fields not scored yet left out)."""
    labels = lane_labels(results)
    return [{"field": field, "lane": labels[lane], "F1": round(r.by_field[field].f1, 4)}
            for field in ordered_fields(results)
            for lane, r in results.lanes.items() if field in r.by_field]


# --- one document ------------------------------------------------------------------------------


def cell_mark(cells: Iterable[Any]) -> str:
    """One field of one document in one lane, from its cells' counts: right, wrong (a value
    given but not the gold's), missing, extra (a value where the gold has none), partly (a list
    with some right), or nothing to count (empty in both)."""
    tp = fp = fn = 0
    for cell in cells:
        tp, fp, fn = tp + cell.tp, fp + cell.fp, fn + cell.fn
    if not (fp or fn):
        return RIGHT if tp else NOTHING
    if tp:
        return PARTLY
    if fp and fn:
        return WRONG
    return MISSING if fn else EXTRA


def _by_field(cells: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for cell in cells:
        out.setdefault(cell.field, []).append(cell)
    return out


def drill_marks(drill: Any, labels: Mapping[str, str],
                fields: Sequence[str] = ()) -> pd.DataFrame:
    """Fields × lanes of marks for one document (`drill.lanes`: lane -> DocResult; a lane
    whose document has not ended shows its status)."""
    grouped = {lane: _by_field(doc.cells) for lane, doc in drill.lanes.items()}
    order = list(fields)
    for cells in grouped.values():
        order += [f for f in cells if f not in order]
    data = {}
    for lane, doc in drill.lanes.items():
        ended = bool(doc.cells) or doc.answer is not None
        data[labels.get(lane, lane)] = [
            cell_mark(grouped[lane].get(f, ())) if ended else str(doc.status) for f in order]
    return pd.DataFrame(data, index=pd.Index(order, name="field"))


def drill_differences(drill: Any, labels: Mapping[str, str]) -> pd.DataFrame:
    """Every cell of the document a lane got wrong: lane, field, the gold, the answer, and
    what is wrong (values as JSON text, so a list or a number reads as written)."""
    rows = []
    for lane, doc in drill.lanes.items():
        for cell in doc.cells:
            mark = cell_mark((cell,))
            if mark in (RIGHT, NOTHING):
                continue
            rows.append({"lane": labels.get(lane, lane), "field": cell.field, "mark": mark,
                         "gold": _text(cell.gold), "answer": _text(cell.answer)})
    return pd.DataFrame(rows, columns=["lane", "field", "mark", "gold", "answer"])


def mark_colour(mark: Any) -> str:
    if mark == RIGHT:
        return "background-color: rgb(187, 247, 208); color: #111827"
    if mark in (WRONG, MISSING, EXTRA, PARTLY):
        return "background-color: rgb(254, 202, 202); color: #111827"
    return ""


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


# --- an earlier evaluation ---------------------------------------------------------------------


def change_rows(changes: Sequence[Any]) -> pd.DataFrame:
    """An earlier evaluation against this one, per lane (its label) and field (the engine's
    order: regressions first): F1 before, after, the difference and the verdict."""
    rows = [{"lane": c.lane, "field": c.field,
             "before": _two(c.before), "after": _two(c.after),
             "change": "—" if c.before is None or c.after is None
                       else f"{c.after - c.before:+.2f}",
             "verdict": VERDICT_MARKS.get(c.verdict, c.verdict)} for c in changes]
    return pd.DataFrame(rows, columns=["lane", "field", "before", "after", "change", "verdict"])


def change_summary(changes: Sequence[Any]) -> str:
    """"2 worse, 5 better, 10 unchanged" (only the verdicts that occur, regressions first)."""
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.verdict] = counts.get(change.verdict, 0) + 1
    order = ["worse", "better", "unchanged", "new", "gone"]
    return ", ".join(f"{counts[v]:,} {v}" for v in order if counts.get(v)) or "nothing to compare"


def verdict_colour(verdict: Any) -> str:
    if verdict == VERDICT_MARKS["worse"]:
        return "background-color: rgb(254, 202, 202); color: #111827"
    if verdict == VERDICT_MARKS["better"]:
        return "background-color: rgb(187, 247, 208); color: #111827"
    return ""
