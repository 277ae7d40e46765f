"""How a run stands: one list of statuses, and the one rule that turns an ending into one.

A run status describes a whole run; it is not a field's state (`engine.stream.changes`:
pending, streaming, done, invalid, one per field). Two words are shared on purpose, with the
same meaning one level up: a run is `done` when its result is complete and valid, `invalid`
when the answer arrived but does not fit the schema.

The Runner, the outcome wording, the CLI and the run history all use these values.
"""

from __future__ import annotations

from enum import StrEnum

from engine.errors import (
    Cancelled,
    ContentFiltered,
    JSONStreamError,
    Refused,
    Truncated,
    ValidationFailed,
)


class RunStatus(StrEnum):
    """Where a run stands. Every status but RUNNING is an ending."""

    RUNNING = "running"
    DONE = "done"  # the validated result arrived
    INVALID = "invalid"  # the answer arrived but is not valid JSON or does not fit the schema
    ERROR = "error"  # the provider could not be used, the connection broke, nothing in time
    CANCELLED = "cancelled"  # someone pressed Stop (or the page moved on); the partial is kept
    TRUNCATED = "truncated"  # cut off at the token limit
    REFUSED = "refused"  # the model declined
    FILTERED = "filtered"  # the provider's content filter stopped the answer
    #: Never set by a live run: a history row whose run stopped reporting (the process ended
    #: before the run did) becomes this.
    INTERRUPTED = "interrupted"

    @property
    def ended(self) -> bool:
        return self is not RunStatus.RUNNING


#: The endings that have a status of their own, most specific first (the rest are ERROR).
_STATUS_OF: tuple[tuple[type[BaseException], RunStatus], ...] = (
    (Cancelled, RunStatus.CANCELLED),
    (Truncated, RunStatus.TRUNCATED),
    (Refused, RunStatus.REFUSED),
    (ContentFiltered, RunStatus.FILTERED),
    (ValidationFailed, RunStatus.INVALID),
    (JSONStreamError, RunStatus.INVALID),
)


def status_for(error: BaseException | None) -> RunStatus:
    """The status of a run that ended with `error` (None: it ended with a valid result)."""
    if error is None:
        return RunStatus.DONE
    return next((status for cls, status in _STATUS_OF if isinstance(error, cls)),
                RunStatus.ERROR)
