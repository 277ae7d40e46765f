"""The History page's grounding (AppTest): the filter for runs with values not in the text,
and a run's grounding per field in its detail, as plain text."""

from __future__ import annotations

import pytest

from engine.grounding import EXACT, NOT_FOUND, Grounding, Span
from engine.store import Store, StoredRun
from engine.testing.replay_server import ReplayServer
from tests.pages.test_history import (  # noqa: F401  (the page's fixtures: server, store)
    HISTORY,
    page,
    seeded,
    select,
    server,
    store,
    table,
    texts,
)
from tests.support import MEETING

pytestmark = pytest.mark.timeout(120)

TEXT = "<b>Budget</b> review with John Doe on March 15th, 2024."


def grounded(i: int, missing: bool) -> StoredRun:
    """A seeded run whose name and date are in the text, and (when `missing`) an email not."""
    name, date = TEXT.index("John Doe"), TEXT.index("March 15th, 2024")
    grounding = {"users[0].name": Grounding(EXACT, (Span(name, name + 8),)),
                 "date": Grounding(EXACT, (Span(date, date + 16),))}
    if missing:
        grounding["users[0].email"] = Grounding(NOT_FOUND)
    run = seeded(i, input_text=TEXT, result=MEETING)
    run.set_grounding(grounding)
    return run


def test_the_filter_keeps_runs_with_values_not_in_the_text(
    server: ReplayServer, store: Store  # noqa: F811
) -> None:
    store.add(seeded(0))  # recorded before grounding
    store.add(grounded(1, missing=False))
    store.add(grounded(2, missing=True))
    at = page(HISTORY)
    assert list(table(at)["input"]) == [TEXT, TEXT, "note number 0"]
    assert list(table(at)["not in text"].fillna(-1)) == [1, 0, -1]
    at.checkbox(key="fs_hist_not_found").check().run()
    assert not at.exception, at.exception
    frame = table(at)
    assert len(frame) == 1 and list(frame["not in text"]) == [1]
    at.checkbox(key="fs_hist_not_found").uncheck().run()
    assert len(table(at)) == 3


def test_a_run_shows_where_each_value_stands_as_plain_text(
    server: ReplayServer, store: Store  # noqa: F811
) -> None:
    store.add(grounded(1, missing=True))
    at = select(page(HISTORY), 0)
    warning = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "2 values found in the text, 1 not in the text" in warning
    assert "users[0].email" in warning and MEETING["users"][0]["email"] in warning
    rows = next(df.value for df in at.dataframe if "in the text" in df.value.columns)
    by_field = {r["field"]: r for r in rows.to_dict("records")}
    assert by_field["users[0].name"]["status"] == EXACT
    assert by_field["users[0].name"]["in the text"] == (
        "<b>Budget</b> review with «John Doe» on March 15th, 2024.")  # as text, not HTML
    assert by_field["users[0].email"]["in the text"] == "not in the text — check it"
    assert by_field["users[0].email"]["value"] == MEETING["users"][0]["email"]
    assert "Where each value stands in the text" in texts(at)
