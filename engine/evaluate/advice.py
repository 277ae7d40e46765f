"""What the product says about the embedded models (#22): their measured scores on the starter
sets, and a suggestion when a lane of an evaluation scores low.

- `reference()`: the figures `bench/model_eval.py --reference` measured for each shipped local
  model on each starter set (micro F1, precision, recall, seconds and tokens per document, F1
  per field), kept in `reference.json` beside this module, each with when, on how many cores
  and at which commit it was measured. The Evaluate page shows them, the default model
  first, so a new user knows what the model without a key can do before running anything.
- `suggestion(lane)`: a lane whose micro F1 is under `SUGGEST_BELOW` gets one sentence: on the
  embedded model, the larger local model (and how to install it) or a server; on a server, a
  larger model there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from engine.local.weights import DEFAULT_MODEL, WEIGHT_SETS
from engine.providers.model import LOCAL_NAME

__all__ = ["SUGGEST_BELOW", "Reference", "ReferenceRow", "for_results", "reference",
           "suggestion"]

#: Under this micro F1 an evaluation suggests a larger model: about one value in five wrong
#: or missing, more than a reviewer should have to correct.
SUGGEST_BELOW = 0.8
REFERENCE_FILE = "reference.json"


@dataclass(frozen=True)
class ReferenceRow:
    set: str  # a starter set's name (`engine.evaluate.starter.STARTER_SETS`) or "long"
    model: str  # a local model's key
    micro_f1: float
    precision: float
    recall: float
    seconds_per_doc: float
    tokens_per_doc: float
    documents: int
    fields: dict[str, float]  # F1 per field key
    measured: str  # when, on how many cores, at which commit

    @property
    def title(self) -> str:
        ws = WEIGHT_SETS.get(self.model)
        return ws.title if ws else self.model

    @property
    def default(self) -> bool:
        return self.model == DEFAULT_MODEL


@dataclass(frozen=True)
class Reference:
    rows: list[ReferenceRow]

    @property
    def measured(self) -> str:
        """When and where, each once ("2026-12-03, 2 CPU cores, 1a2b3c4")."""
        return "; ".join(dict.fromkeys(r.measured for r in self.rows))

    def for_set(self, name: str) -> list[ReferenceRow]:
        """The set's rows, the default model first."""
        return sorted((r for r in self.rows if r.set == name), key=lambda r: not r.default)


def reference() -> Reference | None:
    """The shipped figures, or None when the file is missing (a checkout without them)."""
    source = resources.files("engine.evaluate").joinpath(REFERENCE_FILE)
    if not source.is_file():
        return None
    data = json.loads(source.read_text(encoding="utf-8"))
    return Reference([_row(r) for r in data["rows"]])


def _row(data: dict[str, Any]) -> ReferenceRow:
    return ReferenceRow(
        set=data["set"], model=data["model"], micro_f1=data["micro_f1"],
        precision=data["precision"], recall=data["recall"],
        seconds_per_doc=data["seconds_per_doc"], tokens_per_doc=data["tokens_per_doc"],
        documents=data["documents"], fields=dict(data["fields"]), measured=data["measured"],
    )  # fmt: skip


def suggestion(provider: str, model: str, micro_f1: float | None, documents: int,
               threshold: float | None = None) -> str | None:
    """One sentence for a lane (its provider's name, its model, its micro F1 over `documents`
    scored documents) that scored under `threshold` (default `SUGGEST_BELOW`); None otherwise
    or before any score."""
    threshold = SUGGEST_BELOW if threshold is None else threshold
    if micro_f1 is None or documents == 0 or micro_f1 >= threshold:
        return None
    said = f"F1 {micro_f1:.2f} is under {threshold:.2f}"
    if provider != LOCAL_NAME:
        return (f"{said}: a larger model on this server may do better (or clearer field "
                "descriptions in the schema).")
    here = WEIGHT_SETS.get(model)
    larger = sorted((ws for ws in WEIGHT_SETS.values() if here and ws.size > here.size),
                    key=lambda ws: ws.size)
    server = "a server (OpenAI, vLLM, Ollama, LM Studio: set one up on the Home page)"
    if larger:
        ws = larger[0]
        return (f"{said}: try the larger local model, {ws.title} (install it with "
                f"`{ws.install}`, then pick it as the lane's model), or {server}.")
    return f"{said}: try a larger model on {server}."


def for_results(results: Any) -> dict[str, str]:
    """Lane name -> its suggestion, for an evaluation's `Results` once every document has
    ended (an early score can be low by chance)."""
    if not results.finished:
        return {}
    said = {lane: suggestion(r.spec.provider, r.spec.model, r.totals.micro_f1,
                             r.totals.documents) for lane, r in results.lanes.items()}
    return {lane: text for lane, text in said.items() if text}
