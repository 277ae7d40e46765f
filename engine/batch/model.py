"""What a batch is: its settings (`BatchSpec`), the batch (`Batch`), one document (`Item`), and
the names every process agrees on (statuses, workflow ids, queue names).

A batch's documents share one schema (its version pinned), provider, model, mode and chunking.
A document's run is keyed by its workflow id, `<batch>.<idx>.<attempt>`: a request may repeat
after a crash (the workflow runs again), its row may not (the run id is the same).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from engine.documents.model import DocumentInfo

#: A document's statuses, as its row shows them.
QUEUED, RUNNING, DONE, INVALID, FAILED, CANCELLED = (
    "queued", "running", "done", "invalid", "failed", "cancelled")
STATUSES = (QUEUED, RUNNING, DONE, INVALID, FAILED, CANCELLED)
#: A document in one of these has an answer (or none to come): nothing runs it again.
FINISHED = (DONE, INVALID)
#: Ended, one way or another (Resume leaves them; Retry failed takes FAILED).
ENDED = (DONE, INVALID, FAILED, CANCELLED)

#: A batch's states: its documents are taken from the queue, or Stop was pressed.
ACTIVE, STOPPED = "active", "stopped"

#: The runs' status (`engine.runs.status`) -> the document's.
_FROM_RUN = {"done": DONE, "invalid": INVALID, "cancelled": CANCELLED}

#: Why a document waits: its batch's key was typed in a browser session that is gone.
NEEDS_KEY = ("Needs the API key again: it was typed in a browser session that ended. Type it "
             "in the sidebar and press Resume.")


def item_status(run_status: str) -> str:
    """A document's status from its run's (errors, truncations, refusals: failed)."""
    return _FROM_RUN.get(run_status, FAILED)


def new_batch_id() -> str:
    return uuid.uuid4().hex[:16]


def workflow_id(batch_id: str, idx: int, attempt: int) -> str:
    """The document's workflow id, and its run's id: one per attempt (Retry makes a new one)."""
    return f"{batch_id}.{idx}.{attempt}"


_SLUG = re.compile(r"[^a-z0-9]+")


def queue_name(provider: str, *, session: bool = False) -> str:
    """The queue of a provider's documents: one per provider name, whose limits every process
    registers alike; a key typed in a browser lives only in that app process, so such a
    batch has a queue no worker listens to."""
    slug = _SLUG.sub("-", provider.casefold()).strip("-") or "provider"
    return f"fs-{'session-' if session else ''}{slug}"


@dataclass(frozen=True)
class BatchSpec:
    """What each document of a batch runs with. `schema_version`: the saved schema's version
    (pinned when the batch starts; None for a built-in schema). `session_key`: the provider's
    key was typed in the browser (never stored: only this app process can run it). `reuse`:
    a document answered before (same bytes, schema, provider, model, mode) takes that answer.
    `kind`: its runs' group kind ("batch", or "eval" for an evaluation's lane)."""

    schema_name: str
    provider: str
    model: str
    mode: str
    schema_version: str | None = None
    chunking: str = "auto"
    passes: int = 0
    who: str | None = None
    session_key: bool = False
    reuse: bool = False
    kind: str = "batch"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BatchSpec:
        data = json.loads(text)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def queue(self) -> str:
        return queue_name(self.provider, session=self.session_key)


@dataclass(frozen=True)
class Batch:
    id: str
    created_at: datetime
    created_by: str | None
    name: str | None
    spec: BatchSpec
    state: str
    total: int

    @property
    def stopped(self) -> bool:
        return self.state == STOPPED


@dataclass(frozen=True)
class NewItem:
    """A document as a batch is made: its shown name, and its text and `DocumentInfo` (read),
    or why it cannot run (`reason`), or the index of the first document with the same bytes."""

    name: str
    text: str | None = None
    document: DocumentInfo | None = None
    sha256: str | None = None
    reason: str | None = None
    duplicate_of: int | None = None


@dataclass(frozen=True)
class Item:
    """One document of a batch as stored (its text only when asked for)."""

    batch_id: str
    idx: int
    name: str
    status: str
    attempt: int
    sha256: str | None = None
    document: DocumentInfo | None = None
    reason: str | None = None
    run_id: str | None = None
    duplicate_of: int | None = None
    executor: str | None = None
    updated_at: datetime | None = None
    text: str | None = field(default=None, repr=False)

    @property
    def workflow_id(self) -> str:
        return workflow_id(self.batch_id, self.idx, self.attempt)


@dataclass(frozen=True)
class Row:
    """One document as the Batch page and the exports show it: the item, and what its run
    says (a duplicate shows its first document's run)."""

    item: Item
    status: str
    values: dict[str, Any]
    not_in_text: tuple[str, ...] = ()
    seconds: float | None = None
    tokens: int | None = None
    run_id: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None  # the first document's name


@dataclass(frozen=True)
class Counts:
    """How many documents are in each status, and the totals the page's header shows."""

    by_status: dict[str, int]
    tokens: int = 0
    first_start: datetime | None = None
    last_end: datetime | None = None
    done_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def ended(self) -> int:
        return sum(self[status] for status in ENDED)

    @property
    def left(self) -> int:
        return self[QUEUED] + self[RUNNING]
