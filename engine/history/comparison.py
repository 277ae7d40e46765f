"""For old imports only (branches made before #18 part 5): the Compare feature is
`engine.compare` (lanes, verdict, comparisons, presets). New code imports that; this shim goes
once no branch needs it."""

from engine.compare.comparisons import (
    MAX_ID,
    NOT_RUN,
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
from engine.compare.verdict import LaneRow, lane_fields

__all__ = [
    "MAX_ID", "MAX_LANES", "MAX_NAME", "NOT_RUN", "Comparison", "LaneRow", "LaneSpec",
    "LaneSummary", "Preset", "comparison_verdict", "delete_preset", "done_over_time",
    "export_comparison", "get_comparison", "get_preset", "lane_fields", "list_comparisons",
    "list_presets", "missing_providers", "new_compare_id", "save_comparison", "save_preset",
    "summary_from_end", "summary_from_run",
]
