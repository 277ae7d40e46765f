"""The old module paths (`engine.history.compare`, `comparison`, `lanes`) still import, and give
the very objects of their new homes: branches made before the move keep working."""

from __future__ import annotations

import importlib

import pytest

OLD = ("engine.history.compare", "engine.history.comparison", "engine.history.lanes")


@pytest.mark.parametrize("old", OLD)
def test_an_old_path_re_exports_the_new_objects(old: str) -> None:
    module = importlib.import_module(old)
    assert "old imports" in (module.__doc__ or "")
    for name in module.__all__:
        value = getattr(module, name)
        home = getattr(value, "__module__", None)
        if home is not None and callable(value):
            assert not home.startswith(old), f"{old}.{name} is defined there, not re-exported"


def test_the_old_names_are_the_new_ones() -> None:
    from engine.compare import comparisons, lanes, verdict
    from engine.history import compare, comparison, diff
    from engine.history import lanes as old_lanes
    from engine.schemas import resolve

    assert compare.compare_results is diff.compare_results
    assert compare.compare_lanes is verdict.compare_lanes
    assert comparison.LaneSpec is lanes.LaneSpec
    assert comparison.get_comparison is comparisons.get_comparison
    assert old_lanes.resolve_schema is resolve.resolve_schema
    assert old_lanes.live_verdict is verdict.live_verdict
