"""The History page's queries on SQLite and Postgres: filters, search, paging, get, delete."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from engine.history import RunFilters, delete_run, get_run, list_runs, timeline
from engine.store import Store
from tests.engine.store.test_store import sample_run

pytest_plugins = ["tests.postgres"]

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def group(i: int) -> dict[str, str | None]:
    """run-20..23: the lanes a..d of comparison cmp-1; run-19: a document of another kind of
    group with the same id (the Comparison filter must not list it)."""
    if i >= 20:
        return {"group_kind": "compare", "group_id": "cmp-1", "group_member": "abcd"[i - 20]}
    if i == 19:
        return {"group_kind": "batch", "group_id": "cmp-1", "group_member": "doc-1"}
    return {}


def fill(store: Store) -> None:
    """24 runs, an hour apart (run-00 oldest): 2 schemas, 3 models, 3 statuses."""
    for i in range(24):
        store.add(sample_run(
            id=f"run-{i:02d}", started_at=T0 + timedelta(hours=i),
            schema_name="Invoice" if i % 2 else "MeetingInfo",
            provider="local" if i % 3 == 0 else "openai",
            model=("qwen", "gpt-4o", "gpt-4o-mini")[i % 3],
            status=("done", "invalid", "error")[i % 4 % 3],
            source="compare" if i >= 20 else "page", **group(i),
            input_text=f"Minutes number {i}. The budget committee met in Zürich.",
            result={"topic": f"topic-{i}", "note": "Müller signed" if i == 7 else "ok"},
        ))


def ids(store: Store, filters: RunFilters | None = None, **kwargs: int) -> list[str]:
    return [row.id for row in list_runs(store, filters, **kwargs)[0]]


def test_pages_are_newest_first_with_the_total(store: Store) -> None:
    fill(store)
    rows, total = list_runs(store, limit=5)
    assert total == 24 and [r.id for r in rows] == [f"run-{i:02d}" for i in (23, 22, 21, 20, 19)]
    rows, total = list_runs(store, limit=5, offset=20)
    assert total == 24 and [r.id for r in rows] == ["run-03", "run-02", "run-01", "run-00"]
    assert list_runs(store, limit=5, offset=40) == ([], 24)
    first = rows[-1]
    assert (first.schema_name, first.provider, first.model, first.status) == (
        "MeetingInfo", "local", "qwen", "done")
    assert first.input_preview == "Minutes number 0. The budget committee met in Zürich."


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (RunFilters(schema="Invoice"), [i for i in range(24) if i % 2]),
        (RunFilters(provider="openai", model="gpt-4o"), [i for i in range(24) if i % 3 == 1]),
        (RunFilters(model="qwen"), [i for i in range(24) if i % 3 == 0]),
        (RunFilters(status="invalid"), [i for i in range(24) if i % 4 % 3 == 1]),
        (RunFilters(status=["error", "invalid"]), [i for i in range(24) if i % 4 % 3]),
        (RunFilters(started_from=T0 + timedelta(hours=5), started_to=T0 + timedelta(hours=8)),
         [5, 6, 7]),
        (RunFilters(source="compare", compare_id="cmp-1"), [20, 21, 22, 23]),
        (RunFilters(compare_id="cmp-1"), [20, 21, 22, 23]),
        (RunFilters(schema="Invoice", status="done", started_from=T0 + timedelta(hours=10)),
         [i for i in range(10, 24) if i % 2 and i % 4 % 3 == 0]),
        (RunFilters(schema="Nope"), []),
    ],
)
def test_filters(store: Store, filters: RunFilters, expected: list[int]) -> None:
    fill(store)
    want = [f"run-{i:02d}" for i in sorted(expected, reverse=True)]
    assert ids(store, filters, limit=100) == want
    assert list_runs(store, filters, limit=2)[1] == len(want)  # the total ignores the page


def test_running_and_interrupted_are_told_apart_by_the_heartbeat(store: Store) -> None:
    now = datetime.now(UTC)
    store.add(sample_run(id="silent", status="running", heartbeat_at=now - timedelta(hours=1)))
    store.add(sample_run(id="never-beat", status="running", heartbeat_at=None,
                         started_at=now - timedelta(hours=2)))  # judged by its start
    store.add(sample_run(id="finished", status="done"))
    alive = sample_run(id="alive", status="running")
    store.start(alive)  # beats every 0.2 s (the fixture's store)
    assert set(ids(store, RunFilters(status="interrupted"))) == {"silent", "never-beat"}
    assert ids(store, RunFilters(status="running")) == ["alive"]
    assert set(ids(store, RunFilters(status=["running", "done"]))) == {"alive", "finished"}
    shown = {row.id: row.status for row in list_runs(store)[0]}
    assert shown == {"silent": "interrupted", "never-beat": "interrupted", "finished": "done",
                     "alive": "running"}
    # The threshold is the caller's: with a day of patience nothing is interrupted yet.
    patient = list_runs(store, RunFilters(status="interrupted"), stale_after=86400.0)
    assert patient == ([], 0)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("committee", list(range(24))),  # in every input
        ("COMMITTEE", list(range(24))),  # case-insensitive
        ("topic-13", [13]),  # only in an output
        ("number 1.", [1]),  # substring with punctuation
        ("müller", [7]),  # output only
        ("MÜLLER SIGNED", [7]),  # non-ASCII letters case folded too
        ("zürich", list(range(24))),
        ("nowhere-to-be-found", []),
        ("12", [12]),  # shorter than a trigram: scanned, same meaning
        ('"budget', []),  # a quote is text, not query syntax
        ("100%", []),  # LIKE wildcards are text too
        ("number_1", []),
    ],
)
def test_search_in_input_and_output(store: Store, term: str, expected: list[int]) -> None:
    fill(store)
    want = [f"run-{i:02d}" for i in sorted(expected, reverse=True)]
    rows, total = list_runs(store, RunFilters(search=term), limit=100)
    assert ([r.id for r in rows], total) == (want, len(want))


def test_search_combines_with_filters_and_paging(store: Store) -> None:
    fill(store)
    filters = RunFilters(search="budget committee", schema="Invoice", status="error")
    expected = [f"run-{i:02d}" for i in range(23, -1, -1) if i % 2 and i % 4 % 3 == 2]
    rows, total = list_runs(store, filters, limit=2, offset=1)
    assert total == len(expected) and [r.id for r in rows] == expected[1:3]


@pytest.mark.parametrize("term", ["committee", "topic-1", "1", "ZÜRICH"])
def test_a_search_beyond_the_count_cap_pages_the_same_runs(store: Store, term: str) -> None:
    fill(store)
    exact = list_runs(store, RunFilters(search=term), limit=100)
    assert exact.exact and exact.total == len(exact.rows)
    for offset in (0, 2, 5):
        capped = list_runs(store, RunFilters(search=term), limit=3, offset=offset, count_cap=1)
        assert (capped.exact, capped.total) == (False, 1)
        assert [r.id for r in capped.rows] == [r.id for r in exact.rows[offset : offset + 3]]
    filtered = RunFilters(search=term, schema="Invoice")
    capped = list_runs(store, filtered, limit=100, count_cap=1)
    assert [r.id for r in capped.rows] == [r.id for r in exact.rows if r.schema_name == "Invoice"]


def test_a_page_survives_pickling(store: Store) -> None:
    fill(store)
    page = list_runs(store, RunFilters(search="committee"), limit=2, count_cap=3)
    again = pickle.loads(pickle.dumps(page))  # what st.cache_data does with it
    assert (again, again.exact, again.rows, again.total) == (page, False, page.rows, 3)


def test_get_run_and_timeline(store: Store) -> None:
    run = sample_run(timeline=[(0.0, "{"), (1.001, '"a"'), (250.5, ":1}")])
    store.add(run)
    stored = get_run(store, run.id)
    assert stored is not None and stored.to_dict() == run.to_dict()
    assert timeline(store, run.id) == [(0.0, "{"), (1.001, '"a"'), (250.5, ":1}")]
    assert get_run(store, "missing") is None and timeline(store, "missing") == []


def test_delete_run_removes_it_from_lists_and_search(store: Store) -> None:
    fill(store)
    assert delete_run(store, "run-13") is True
    assert get_run(store, "run-13") is None
    assert list_runs(store)[1] == 23
    assert list_runs(store, RunFilters(search="topic-13"))[1] == 0
    assert list_runs(store, RunFilters(search="topic-12"))[1] == 1
    assert delete_run(store, "run-13") is False
