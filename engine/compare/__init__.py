"""The Compare feature: lanes run side by side on one text, judged field by field.

`lanes` (what a lane asks for, how it ended, a preset lane's pinned schema), `verdict` (the
N-way verdict over the lanes' values and the reference it is judged against), `comparisons`
(comparisons kept in the store, their lanes' runs, verdict and export), `presets` (named lane
sets). It stands on `history` (its queries, the value walk, the chart's field timeline).
"""

from engine.compare.comparisons import (
    Comparison,
    comparison_verdict,
    export_comparison,
    get_comparison,
    list_comparisons,
    new_compare_id,
    save_comparison,
)
from engine.compare.lanes import (
    MAX_LANES,
    MAX_NAME,
    LaneSpec,
    LaneSummary,
    done_over_time,
    summary_from_end,
    summary_from_run,
)
from engine.compare.presets import (
    Preset,
    delete_preset,
    get_preset,
    list_presets,
    missing_providers,
    save_preset,
)
from engine.compare.verdict import LaneRow, compare_lanes, lane_scores

__all__ = [
    "MAX_LANES", "MAX_NAME", "Comparison", "LaneRow", "LaneSpec", "LaneSummary", "Preset",
    "compare_lanes", "comparison_verdict", "delete_preset", "done_over_time",
    "export_comparison", "get_comparison", "get_preset", "lane_scores", "list_comparisons",
    "list_presets", "missing_providers", "new_compare_id", "save_comparison", "save_preset",
    "summary_from_end", "summary_from_run",
]
