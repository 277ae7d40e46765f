"""The fields listed in the local model's prompt (#22): a small model behind a grammar never
reads the schema's descriptions unless the prompt says them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from engine.llm.request import RequestSpec, build_request
from engine.llm.strict_schema import field_guide
from engine.providers import local_provider
from engine.runs.spec import RunSpec
from engine.schemas.library import Invoice


class Line(BaseModel):
    item: str
    qty: int = Field(description="Units, as a whole number.")


class Order(BaseModel):
    placed_on: str = Field(description="When it was ordered.", json_schema_extra={"format": "date"})
    status: Literal["open", "shipped"]
    lines: list[Line]
    tags: list[str]
    note: str | None = None
    paid: bool


def test_every_field_has_a_line_with_its_type_and_description() -> None:
    assert field_guide(Order).splitlines() == [
        "Fill these fields:",
        "- placed_on (a date, YYYY-MM-DD): When it was ordered.",
        '- status (one of "open", "shipped")',
        "- lines (a list; each item has the fields below)",
        "- lines[].item (text)",
        "- lines[].qty (whole number): Units, as a whole number.",
        "- tags (a list of text)",
        "- note (text, or null when the text does not say)",
        "- paid (true or false)",
    ]


def test_the_guide_is_in_the_system_prompt_before_the_text_only_when_asked() -> None:
    asked = build_request(RequestSpec("the text", Invoice, "m", field_guide=True))
    system, user = asked["messages"]
    assert system["role"] == "system" and user == {"role": "user", "content": "the text"}
    assert "- line_items[].unit_price (number): Price of one unit" in system["content"]
    assert "response_format" in asked  # the grammar still holds the answer to the schema
    plain = build_request(RequestSpec("the text", Invoice, "m"))
    assert "Fill these fields" not in plain["messages"][0]["content"]
    # json_object already has the schema in its prompt: no second copy
    other = build_request(RequestSpec("t", Invoice, "m", mode="json_object", field_guide=True))
    assert "Fill these fields" not in other["messages"][0]["content"]


def test_runs_on_the_local_model_ask_with_the_guide_when_switched_on(monkeypatch) -> None:
    from engine.providers.model import Provider

    monkeypatch.delenv("FIELDSTREAM_FIELD_GUIDE", raising=False)
    off = RunSpec.for_provider("t", "Invoice", Invoice, local_provider(), "m", "json_schema")
    assert not off.request.field_guide  # off by default: it measured worse (#22)
    monkeypatch.setenv("FIELDSTREAM_FIELD_GUIDE", "1")
    local = RunSpec.for_provider("t", "Invoice", Invoice, local_provider(), "m", "json_schema")
    hosted = RunSpec.for_provider("t", "Invoice", Invoice,
                                  Provider("Server", "compatible", "http://127.0.0.1:9", ()),
                                  "m", "json_schema")
    assert local.request.field_guide and not hosted.request.field_guide
    documents = [build_request(RunSpec.for_provider(text, "Invoice", Invoice, local_provider(),
                                                    "m", "json_schema").request)
                 for text in ("first invoice", "second invoice")]
    # the same prefix for every document of a batch (the server's prompt cache reuses it)
    assert documents[0]["messages"][0] == documents[1]["messages"][0]


def test_one_line_json_is_asked_of_the_local_grammar_only(monkeypatch) -> None:
    """The embedded server gets the schema as a llguidance grammar with `x-guidance` (one line
    of JSON); a hosted server gets `response_format` as before."""
    import json

    from engine.llm.request import ONE_LINE_JSON
    from engine.providers.model import Provider

    monkeypatch.delenv("FIELDSTREAM_COMPACT_JSON", raising=False)
    default = RunSpec.for_provider("t", "Invoice", Invoice, local_provider(), "m", "json_schema")
    assert "response_format" in build_request(default.request)  # off: it measured worse (#22)
    monkeypatch.setenv("FIELDSTREAM_COMPACT_JSON", "1")
    local = RunSpec.for_provider("t", "Invoice", Invoice, local_provider(), "m", "json_schema")
    asked = build_request(local.request)
    assert "response_format" not in asked
    head, body = asked["extra_body"]["grammar"].split("\nstart: %json ")
    assert head == "%llguidance {}"
    schema = json.loads(body)
    assert schema["x-guidance"] == ONE_LINE_JSON == {
        "whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
    assert schema["properties"]["invoice_number"]["type"] == "string"  # the schema untouched
    hosted = RunSpec.for_provider("t", "Invoice", Invoice,
                                  Provider("Server", "compatible", "http://127.0.0.1:9", ()),
                                  "m", "json_schema")
    plain = build_request(hosted.request)
    assert "extra_body" not in plain and "x-guidance" not in json.dumps(plain)
    monkeypatch.setenv("FIELDSTREAM_COMPACT_JSON", "0")
    off = RunSpec.for_provider("t", "Invoice", Invoice, local_provider(), "m", "json_schema")
    assert "response_format" in build_request(off.request)
