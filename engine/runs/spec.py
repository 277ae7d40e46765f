"""What a run was asked to do: the text, the schema, where it went, and who started it where.

A `RunSpec` holds no API key (only the provider's name and address, with any password in the
address masked), so it can be shown, logged and stored as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.redact import redact

#: Where a run was started (`RunSpec.source`); a Compare lane's is `compare_source(id, lane)`.
SOURCE_EXTRACT = "extract"
SOURCE_CLI = "cli"


COMPARE_PREFIX = "compare:"


def compare_source(compare_id: str, lane: str | None = None) -> str:
    """The source of one lane of a comparison: `compare:<id>:<lane>` (the lanes share the id;
    the lane name says which column the run was, so a comparison reopens each run in its
    lane), or `compare:<id>` without a lane. An id holds no `:`; a lane name may."""
    if not compare_id or ":" in compare_id:
        raise ValueError(f"a comparison id is non-empty and holds no ':', got {compare_id!r}")
    return f"{COMPARE_PREFIX}{compare_id}" + (f":{lane}" if lane else "")


def compare_parts(source: str) -> tuple[str | None, str | None] | None:
    """(compare id, lane) of a comparison lane's source; None for any other source."""
    if not source.startswith(COMPARE_PREFIX):
        return None
    compare_id, _, lane = source[len(COMPARE_PREFIX):].partition(":")
    return compare_id or None, lane or None


@dataclass(frozen=True)
class RunSpec:
    """One extraction as it was asked for.

    `schema` is the class itself (a pydantic model or `list[Model]`; `json_schema()` gives
    its JSON Schema); `provider` is the provider's name and `base_url` its address (None for
    the embedded model); `source` is `extract`, `cli` or `compare:<id>:<lane>`; `who` is the person,
    when known (the CLI's OS user; the app has no sign-in, so None there); `schema_version` the
    saved schema's version when the schema is a saved one; `system` the schema's instruction."""

    text: str
    schema_name: str
    schema: Any
    provider: str
    base_url: str | None
    model: str
    mode: str
    max_tokens: int | None = None
    source: str = SOURCE_EXTRACT
    who: str | None = None
    schema_version: str | None = None  # a saved schema's version (`engine.schemas.saved`)
    system: str | None = None  # the instruction sent as the system prompt (None: the default)

    @classmethod
    def for_provider(
        cls, text: str, schema_name: str, schema: Any, provider: Any, model: str, mode: str,
        max_tokens: int | None = None, *, source: str = SOURCE_EXTRACT, who: str | None = None,
        schema_version: str | None = None, system: str | None = None,
    ) -> RunSpec:  # fmt: skip
        """The spec of a run on `provider` (an `engine.providers.registry.Provider`): its
        name and address are kept, its key is not."""
        base_url = provider.base_url
        return cls(text, schema_name, schema, provider.name,
                   redact(base_url, None) if base_url else None, model, mode, max_tokens,
                   source, who, schema_version, system)

    def json_schema(self) -> dict[str, Any]:
        """The schema as JSON Schema (what a stored run keeps of it)."""
        from pydantic import TypeAdapter

        return TypeAdapter(self.schema).json_schema()
