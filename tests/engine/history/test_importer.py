"""The JSON Lines import's boundary, on SQLite and Postgres: any JSON value in any field of a
line is imported (and then exports and imports again) or refused with its line number, and
nothing of a refused file stays."""

from __future__ import annotations

import io
import json
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.history import ImportFormatError, export_csv, export_jsonl, import_jsonl, list_runs
from engine.store import Store, StoredRun
from engine.stream.json_stream import MAX_DEPTH
from tests.engine.history.test_export import raw_line
from tests.engine.store.test_store import sample_run

pytest_plugins = ["tests.postgres"]

pytestmark = pytest.mark.timeout(300)

FIELDS = sorted(f.name for f in fields(StoredRun) if f.name != "shown_status")

LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
          | st.sampled_from([2**31, 2**63, 2**70, -1, 10**400, 1e300, -1e300, 2.0**61 / 999,
                             "0001-01-01T00:00:00+01:00", "0001-01-02T00:00:00+00:00",
                             "9999-12-31T23:59:59-01:00", "2024-05-01T10:00:00+14:00",
                             "http://[::1", "[", "done", "\x00\ud800"]))
JSON = st.recursive(
    LEAVES,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids,
                                                              max_size=3),
    max_leaves=12,
)
# A field's JSON text as written: any value json.dumps writes (NaN and Infinity included),
# nesting up to far beyond the limit, and numbers json.dumps would never write.
RAW = st.one_of(
    JSON.map(json.dumps),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '[[' + '{"a":' * n + "0" + "}" * n + ', "x"]]'),
    st.sampled_from(["1e400", "-1e400", "9" * 401, "-" + "9" * 4300, "9" * 4301,
                     '[[1e400, "x"]]', f'{{"n": {"9" * 5000}}}']),
)


def _clear(store: Store) -> None:
    with store.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM runs")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), text=RAW)
def test_any_value_in_any_field_imports_whole_or_is_refused_with_its_line(
    store: Store, field: str, text: str
) -> None:
    good = json.dumps(sample_run(id="good").to_dict())
    try:
        result = import_jsonl(store, [good, raw_line(**{field: text})])
    except ImportFormatError as exc:
        assert exc.line == 2 and str(exc).startswith("line 2: ") and field in exc.reason
        assert list_runs(store)[1] == 0  # the good line went too: all or nothing
    else:
        # Accepted: the history still exports both ways, and what it exports imports again.
        export_csv(store, io.StringIO(newline=""))
        out = io.StringIO()
        assert export_jsonl(store, out) == result.imported
        _clear(store)
        assert import_jsonl(store, io.StringIO(out.getvalue())).imported == result.imported
    finally:
        _clear(store)


SECRET = "sk-fieldstream-deep-secret-0042"


def nested(depth: int) -> list[Any]:
    """`depth` lists, one inside the other (built without recursion)."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def at_depth(field: str, depth: int) -> Any:
    # usage and field_errors must be objects: their object is the first level.
    return {"a": nested(depth - 1)} if field in ("usage", "field_errors") else nested(depth)


@pytest.mark.parametrize("field", ["result", "usage", "field_errors", "json_schema"])
def test_the_deepest_accepted_value_round_trips_and_one_level_more_is_refused(
    db_url: str, field: str
) -> None:
    # A store with a secret to mask walks every value it writes: that walk must not recurse.
    with Store(db_url, secrets=[SECRET]) as store:
        deepest = {**sample_run(id="deepest").to_dict(), field: at_depth(field, MAX_DEPTH)}
        assert import_jsonl(store, [json.dumps(deepest)]).imported == 1
        out = io.StringIO()
        assert export_jsonl(store, out) == 1
        exported = out.getvalue()
        assert json.loads(exported)[field] == deepest[field]
        _clear(store)
        assert import_jsonl(store, io.StringIO(exported)).imported == 1
        _clear(store)
        deeper = {**deepest, field: at_depth(field, MAX_DEPTH + 1)}
        with pytest.raises(ImportFormatError,
                           match=f"^line 2: '{field}' nests deeper than {MAX_DEPTH} "):
            import_jsonl(store, [exported, json.dumps(deeper)])
        assert list_runs(store)[1] == 0
