"""How a run ended, in words for people who write no code: a headline, the technical detail,
and what to try next."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    JSONStreamError,
    ProviderError,
    Refused,
    StreamInterrupted,
    TextTooLong,
    TimedOut,
    Truncated,
    ValidationFailed,
)
from engine.runs.status import RunStatus, status_for

_HEADLINES: list[tuple[type[BaseException], str]] = [
    (TextTooLong, "The text is too long for this model."),
    (TimedOut, "The model sent nothing for too long, so the run was given up."),
    (Truncated, "The answer was cut off before it was complete."),
    (Refused, "The model refused to answer."),
    (ContentFiltered, "The provider's safety filter stopped the answer."),
    (Cancelled, "Stopped. Everything that arrived before you pressed Stop is kept below."),
    (StreamInterrupted, "The connection to the model was lost in the middle of the answer."),
    (ValidationFailed, "The answer arrived, but some fields do not fit the schema."),
    (JSONStreamError, "The model's answer was not valid JSON."),
    (ProviderError, "The model could not be reached."),
    (ExtractionError, "The extraction did not finish with a valid result."),
]

#: Where the provider and model are picked: the Extract page's right-hand column.
CHECK_PROVIDER = ("Check the provider and model (Extract page, right-hand column), then try "
                  "again.")

_DEFAULT_HINTS: dict[type[BaseException], str] = {ProviderError: CHECK_PROVIDER}

#: The box a view draws the outcome in, by status (anything else is an error box).
_KINDS = {RunStatus.DONE: "success", RunStatus.CANCELLED: "warning"}


@dataclass(frozen=True)
class Outcome:
    """How a run ended, in words for people who write no code."""

    kind: str  # "success" | "warning" | "error"
    headline: str
    detail: str
    hint: str
    status: RunStatus


def explain(error: BaseException | None) -> Outcome:
    """Plain words for how a run ended: a headline, the technical detail, what to try next."""
    status = status_for(error)
    if error is None:
        return Outcome("success", "Done: every field arrived and the result is valid.", "", "",
                       status)
    headline = next((h for cls, h in _HEADLINES if isinstance(error, cls)), "Something failed.")
    if isinstance(error, TextTooLong):
        headline = error.headline  # the numbers are the news: they go first
    hint = getattr(error, "hint", "") or next(
        (h for cls, h in _DEFAULT_HINTS.items() if isinstance(error, cls)), ""
    )
    if isinstance(error, Cancelled):
        hint = "Press Extract to run it again."
    if isinstance(error, Refused) and error.refusal:
        detail = f"The model said: {error.refusal}"
    else:
        detail = str(error)
    return Outcome(_KINDS.get(status, "error"), headline, detail, hint, status)
