"""What an evaluation is made of (#21): labelled sets and their versions, a set's documents
with their gold answers, and evaluations (lanes run over one set version, scored by `score`).

- `LabelSet`: one version of a named set. A change (import, a document's gold marked or
  corrected, a document added or removed) makes a new version; an evaluation pins one.
  `schema_name` / `schema_version` name the schema the gold fits (versions of saved schemas
  as `engine.schemas.resolve` finds them; None for a library schema).
- `Example`: one document of a set version, with its text (kept whatever the keep-input
  setting says), its `DocumentInfo` when it came from a file, and its gold JSON; the reviewer
  and when, and the run it was marked or corrected from, when it was.
- `NewExample`: what makes one (import, a run, the form).
- `Evaluation`: the lanes (`engine.compare.lanes.LaneSpec`, as on Compare: schema version ×
  provider × model × mode × chunking) over one set version; each lane runs as a batch
  (`engine.batch`, `BatchSpec.kind = "eval"`, so its runs are a run group of kind "eval").

Stored in the tables of migration 0011 (`eval_sets`, `eval_texts`, `eval_examples`,
`evaluations`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.compare.lanes import LaneSpec
from engine.documents.model import DocumentInfo

__all__ = ["EvalLane", "Evaluation", "Example", "LabelSet", "NewExample", "text_sha256"]


def text_sha256(text: str) -> str:
    """The key a document's text is kept under (its UTF-8 bytes' sha256)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class LabelSet:
    name: str
    version: int
    schema_name: str
    schema_version: str | None
    created_at: datetime
    created_by: str | None
    note: str | None  # what changed in this version ("imported 24 documents", "corrected a.txt")
    size: int  # documents in this version


@dataclass(frozen=True)
class NewExample:
    name: str  # shown name, unique in a set (a file name for imported documents)
    text: str
    gold: dict[str, Any]
    document: DocumentInfo | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    run_id: str | None = None  # the run it was marked or corrected from


@dataclass(frozen=True)
class Example:
    idx: int  # its place in the set version (0-based, stable within a version)
    name: str
    sha256: str
    gold: dict[str, Any]
    text: str = ""
    document: DocumentInfo | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class EvalLane:
    spec: LaneSpec
    batch_id: str  # the batch that runs this lane over the set's documents (item idx = Example.idx)


@dataclass(frozen=True)
class Evaluation:
    id: str
    created_at: datetime
    created_by: str | None
    name: str | None
    set_name: str
    set_version: int
    lanes: tuple[EvalLane, ...] = field(default_factory=tuple)
    fuzzy: float | None = None  # text counted right above this similarity (None: exact only)
