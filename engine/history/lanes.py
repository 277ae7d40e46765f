"""For old imports only (branches made before #18 part 5): a lane's pinned schema is
`engine.compare.lanes`, the reference and the live verdict `engine.compare.verdict`, a schema
by name and version `engine.schemas.resolve`. New code imports those; this shim goes once no
branch needs it."""

from engine.compare.lanes import LanePin, lane_values, pin_schema, pin_schemas
from engine.compare.verdict import live_verdict, parse_reference, reference_of_run
from engine.schemas.resolve import resolve_schema

__all__ = [
    "LanePin", "lane_values", "live_verdict", "parse_reference", "pin_schema", "pin_schemas",
    "reference_of_run", "resolve_schema",
]
