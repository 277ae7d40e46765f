"""JSON Schema documents that cost a naive importer time and memory: the tests and
`bench/schema_import_bench.py` build them alike."""

from __future__ import annotations

from typing import Any


def fan_out(width: int, levels: int = 3) -> dict[str, Any]:
    """The issue's document: the root's `width` properties each `$ref` L0, whose `width`
    properties each `$ref` L1 ... (width ** (levels + 1) fields once expanded)."""
    defs: dict[str, Any] = {}
    for level in range(levels):
        prop = {"type": "string"} if level == levels - 1 else {"$ref": f"#/$defs/L{level + 1}"}
        defs[f"L{level}"] = {"type": "object",
                             "properties": {f"p{i}": prop for i in range(width)}}
    return {"type": "object", "$defs": defs,
            "properties": {f"p{i}": {"$ref": "#/$defs/L0"} for i in range(width)}}


def shared(target: dict[str, Any], count: int = 400) -> dict[str, Any]:
    """`count` root properties, each a `$ref` to one shared definition."""
    return {"type": "object", "$defs": {"T": target},
            "properties": {f"p{i}": {"$ref": "#/$defs/T"} for i in range(count)}}
