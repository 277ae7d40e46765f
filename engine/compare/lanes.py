"""What the Compare page needs besides drawing: a lane's schema from its name and version (and a
preset lane's pinned one, found or named as missing, never swapped for another), the
reference a verdict is judged against (JSON text, or a History run), and the verdict of lanes
that just ended (their `RunEnd`s), built with the same `compare_lanes` as History's view.

Every problem is a `ValueError` whose message can be shown as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.history.comparison import LaneSpec
from engine.runs.hooks import RunEnd
from engine.schemas.resolve import resolve_schema
from engine.schemas.saved import SchemaChoice
from engine.store import Store
from engine.stream import document


@dataclass(frozen=True)
class LanePin:
    """A preset lane's pinned schema as this store has it: `choice` when found; else
    `problem`, a sentence naming what it pinned. `found_name` is the schema's
    stored name when only the pinned version is missing (the person picks a version of it);
    None when the schema itself is missing (they pick a schema)."""

    spec: LaneSpec
    choice: SchemaChoice | None = None
    problem: str | None = None
    found_name: str | None = None


def pin_schema(store: Store | None, spec: LaneSpec) -> LanePin:
    """The schema and version `spec` pins, or why it cannot be had here: a missing schema or
    version is named, never replaced by another (the default schema, the newest version)."""
    try:
        return LanePin(spec, resolve_schema(store, spec.schema_name, spec.schema_version))
    except ValueError:
        pass
    name = spec.schema_name
    try:
        # Only a saved schema has versions: a built-in of the same name is not the one pinned.
        newest = resolve_schema(store, name) if spec.schema_version else None
    except ValueError:
        newest = None
    if newest is not None and newest.version is not None:
        return LanePin(spec, problem=f"The preset pins version {spec.schema_version} "
                                     f"of schema {newest.name!r}, which is not saved here; "
                                     f"pick a version.", found_name=newest.name)
    which = f" (version {spec.schema_version})" if spec.schema_version else ""
    return LanePin(spec, problem=f"The preset pins schema {name!r}{which}, which is "
                                 f"not here; pick a schema.")


def pin_schemas(store: Store | None, specs: Iterable[LaneSpec]) -> dict[str, LanePin]:
    """`pin_schema` for each lane, by lane name."""
    return {spec.lane: pin_schema(store, spec) for spec in specs}


def parse_reference(text: str) -> Any:
    """The expected answer typed as JSON (None when the text is blank)."""
    if not text.strip():
        return None
    try:
        return document.load(text)
    except document.JSONDocumentError as exc:
        raise ValueError(f"The reference is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}.") from None


def reference_of_run(store: Store, run_id: str) -> Any:
    """The result (or, for a run that did not finish, the partial) of a History run."""
    from engine.history.queries import get_run

    wanted = run_id.strip()
    run = get_run(store, wanted) if wanted else None
    if run is None:
        raise ValueError(f"No run {wanted!r} in the History: copy its id from the History page.")
    return run.result


def lane_values(ends: Mapping[str, RunEnd]) -> dict[str, Any]:
    """Each lane's answer: the result when it finished, else what arrived (its partial)."""
    return {lane: end.result if end.result is not None else end.partial
            for lane, end in ends.items()}


def live_verdict(ends: Mapping[str, RunEnd], schemas: Mapping[str, Any], *,
                 reference: Any = None, has_reference: bool = False) -> list[Any]:
    """The verdict rows (`engine.history.compare.LaneRow`) of lanes that just ended."""
    from engine.history.compare import compare_lanes
    from engine.history.comparison import lane_fields

    return compare_lanes(lane_values(ends), reference=reference, has_reference=has_reference,
                         fields=lane_fields(schemas))
