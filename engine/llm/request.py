"""The request for one streamed extraction: messages, prompts and the mode's parameters.

List roots (`list[Model]`) are requested as `{"items": [...]}` (strict mode and tools need an
object; `engine.llm.strict_schema.ItemsUnwrapper` unwraps the answer), except in `md_json`,
which asks for the bare array directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.llm.modes import check_mode
from engine.llm.strict_schema import (
    field_guide,
    is_list_root,
    plain_json_schema,
    response_format,
    schema_name,
    schema_prompt,
    tool_param,
)

DEFAULT_SYSTEM = (
    "Extract the requested information from the user's text. Use only what the text states."
)
_JSON_OBJECT_RULE = "Answer with one JSON object and nothing else. It must follow this JSON Schema:"
_MD_JSON_RULE = (
    "Answer with JSON that follows this JSON Schema, inside a single ```json fenced code block:"
)


def tool_schemas(schema: Any) -> dict[str, Any]:
    """Tool name -> schema: a mapping as given, or one schema under its own name."""
    if isinstance(schema, Mapping):
        return dict(schema)
    return {schema_name(schema): schema}


@dataclass(frozen=True)
class RequestSpec:
    """One extraction request as asked: what `build_request`, `engine.llm.extract` and a run's
    stream factory pass along as one value, instead of the same keywords at every level.

    `schema` is a pydantic model class, `list[Model]`, or in tools mode a name -> schema
    mapping; `system` replaces the default instruction; `extra` is merged into the request
    last (e.g. `n=3`, `seed=1`; a value of None removes that key). `field_guide`: in
    `json_schema` and `tools` modes, list the fields with their types and descriptions in the
    system prompt as well (a local server turns the schema into a grammar only, so its model
    never reads the descriptions); before the text, so every document of a batch shares the
    prefix the server caches. `compact`: in `json_schema` mode, for the embedded llama.cpp
    server only: the schema goes as a llguidance grammar whose `x-guidance` allows one line of
    JSON (`", "` and `": "` between tokens, no newlines or indentation) instead of
    `response_format` (whose schema the server turns into a grammar allowing any whitespace,
    and it ignores `x-guidance` there)."""

    text: str
    schema: Any
    model: str
    mode: str = "json_schema"
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)
    field_guide: bool = False  # the fields and their descriptions in the prompt too
    compact: bool = False  # json_schema: ask a llguidance grammar for JSON without whitespace


def build_request(spec: RequestSpec) -> dict[str, Any]:
    """The keyword arguments for `client.chat.completions.create` (streaming, usage on).

    `spec.extra` is merged last; a value of None removes that key, so
    `extra={"stream_options": None}` serves servers that reject it.
    """
    mode, schema = spec.mode, spec.schema
    check_mode(mode)
    if isinstance(schema, Mapping) and mode != "tools":
        raise TypeError("Several schemas (a name -> schema mapping) need mode='tools'")
    request: dict[str, Any] = {
        "model": spec.model,
        "messages": _messages(spec.text, schema, mode, spec.system, spec.field_guide),
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": spec.temperature,
        "max_tokens": spec.max_tokens,
        **_mode_params(schema, mode, spec.compact),
        **spec.extra,
    }
    return {k: v for k, v in request.items() if v is not None}


def _messages(text: str, schema: Any, mode: str, system: str | None,
              guide: bool = False) -> list[dict[str, str]]:
    instruction = system or DEFAULT_SYSTEM
    if guide and mode in ("json_schema", "tools") and not isinstance(schema, Mapping):
        instruction += f"\n\n{field_guide(schema)}"
    elif mode == "json_object":
        instruction += f"\n\n{_JSON_OBJECT_RULE}\n{schema_prompt(schema)}"
    elif mode == "md_json":
        instruction += f"\n\n{_MD_JSON_RULE}\n{_md_schema(schema)}"
    return [{"role": "system", "content": instruction}, {"role": "user", "content": text}]


def _md_schema(schema: Any) -> str:
    """md_json asks for the bare array for list roots, so the prompt shows the array schema."""
    body = plain_json_schema(schema) if is_list_root(schema) else None
    if body is None:
        return schema_prompt(schema)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


#: llguidance's JSON options (its schema extension, top level only): one line, the separators
#: a model writes anyway. No space at all made the 0.5B model answer `"users": []` (#22).
ONE_LINE_JSON = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def llguidance_grammar(schema: Any) -> str:
    """The strict schema as a llguidance grammar for one line of JSON (llama.cpp's `grammar`)."""
    body = {"x-guidance": ONE_LINE_JSON, **response_format(schema)["json_schema"]["schema"]}
    return "%llguidance {}\nstart: %json " + json.dumps(body, ensure_ascii=False)


def _mode_params(schema: Any, mode: str, compact: bool = False) -> dict[str, Any]:
    if mode == "json_schema":
        if compact:
            return {"extra_body": {"grammar": llguidance_grammar(schema)}}
        return {"response_format": response_format(schema)}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if mode == "tools":
        named = tool_schemas(schema)
        tools = [tool_param(s, name) for name, s in named.items()]
        if len(tools) == 1:
            choice: Any = {"type": "function", "function": {"name": next(iter(named))}}
        else:
            choice = "required"
        return {"tools": tools, "tool_choice": choice}
    return {}
