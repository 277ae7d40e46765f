"""What a run was asked to do: the text, the schema, where it went, and who started it where.

A `RunSpec` holds no API key (only the provider's name and address, with any password in the
address masked), so it can be shown, logged and stored as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.redact import redact

if TYPE_CHECKING:
    from engine.documents.model import DocumentInfo
    from engine.llm.request import RequestSpec

#: Where a run was started (`RunSpec.source`): the Extract page, the CLI, the Compare page.
SOURCE_EXTRACT = "extract"
SOURCE_CLI = "cli"
SOURCE_COMPARE = "compare"
SOURCE_BATCH = "batch"

#: The kinds of `RunGroup` (batches and evaluations will be more, with no new column).
GROUP_COMPARE = "compare"
GROUP_BATCH = "batch"
GROUP_EVAL = "eval"  # an evaluation's lane batches: a batch's runs, in a group of this kind
#: The kinds whose `group_id` is a batch's id (an evaluation runs each lane as a batch).
BATCH_KINDS = (GROUP_BATCH, GROUP_EVAL)


@dataclass(frozen=True)
class RunGroup:
    """The runs started together that a run belongs to: `kind` (`GROUP_COMPARE`), the group's
    `id` (a comparison's id), and which `member` of it the run is (a comparison's lane, a
    batch's document; None when the group does not say). Stored as `runs.group_*`."""

    kind: str
    id: str
    member: str | None = None

    def __post_init__(self) -> None:
        for name in ("kind", "id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"a run group's {name} is non-empty text, got {self!r}")


@dataclass(frozen=True)
class RunSpec:
    """One extraction as it was asked for.

    `schema` is the class itself (a pydantic model or `list[Model]`; `json_schema()` gives
    its JSON Schema); `provider` is the provider's name and `base_url` its address (None for
    the embedded model); `source` is where it started (`extract`, `cli`, `compare`); `group`
    the runs started together that it is one of (a comparison's lane: `RunGroup("compare", id,
    lane)`), None for a run on its own; `who` is the person, when known (the CLI's OS user;
    the app has no sign-in, so None there); `schema_version` the saved schema's version when
    the schema is a saved one; `system` the schema's instruction. `document`: the file the
    text was read from (None: pasted); `chunking`: `auto` (split the text only when it does
    not fit the model) or `always` (`engine.settings.chunking`); `passes`: extra passes over
    a split text for the values still missing (0: none); `ground`: whether its values are
    looked for in `text` (False when the text is no source to find them in: a schema
    draft's description)."""

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
    group: RunGroup | None = None
    document: DocumentInfo | None = None
    chunking: str = "auto"
    passes: int = 0
    field_guide: bool = False  # list the fields in the prompt (the local model: `for_provider`)
    ground: bool = True
    compact: bool = False  # JSON without whitespace from the grammar (the local model)

    @classmethod
    def for_provider(
        cls, text: str, schema_name: str, schema: Any, provider: Any, model: str, mode: str,
        max_tokens: int | None = None, *, source: str = SOURCE_EXTRACT, who: str | None = None,
        schema_version: str | None = None, system: str | None = None,
        group: RunGroup | None = None, document: DocumentInfo | None = None,
        chunking: str = "auto", passes: int = 0, ground: bool = True,
    ) -> RunSpec:  # fmt: skip
        """The spec of a run on `provider` (an `engine.providers.registry.Provider`): its
        name and address are kept, its key is not."""
        from engine import settings

        base_url = provider.base_url
        local = getattr(provider, "kind", None) == "local"
        return cls(text, schema_name, schema, provider.name,
                   redact(base_url, None) if base_url else None, model, mode, max_tokens,
                   source, who, schema_version, system, group, document, chunking, passes,
                   field_guide=local and settings.field_guide(), ground=ground,
                   compact=local and settings.compact_json())

    @property
    def request(self) -> RequestSpec:
        """What is sent to the model, as the LLM layer takes it (one value, not ten keywords)."""
        from engine.llm.request import RequestSpec

        return RequestSpec(self.text, self.schema, self.model, self.mode, self.system,
                           self.max_tokens, field_guide=self.field_guide,
                           compact=self.compact)

    def json_schema(self) -> dict[str, Any]:
        """The schema as JSON Schema (what a stored run keeps of it)."""
        from pydantic import TypeAdapter

        return TypeAdapter(self.schema).json_schema()
