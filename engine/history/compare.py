"""For old imports only (branches made before #18 part 5): History's value diff is
`engine.history.diff`, the Compare page's N-way verdict `engine.compare.verdict`. New code
imports those; this shim goes once no branch needs it."""

from engine.compare.verdict import (
    AGREE,
    AGREEMENTS,
    DIFFER,
    ONE_SIDED,
    LaneRow,
    compare_lanes,
    lane_scores,
)
from engine.history.diff import (
    DIFFERENT,
    ONLY_A,
    ONLY_B,
    SAME,
    VERDICTS,
    WHOLE,
    FieldDiff,
    compare_results,
    normalise,
    summary,
)

__all__ = [
    "AGREE", "AGREEMENTS", "DIFFER", "DIFFERENT", "ONE_SIDED", "ONLY_A", "ONLY_B", "SAME",
    "VERDICTS", "WHOLE", "FieldDiff", "LaneRow", "compare_lanes", "compare_results",
    "lane_scores", "normalise", "summary",
]
