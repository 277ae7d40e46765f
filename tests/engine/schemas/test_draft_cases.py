"""How a draft is checked against its description (engine/schemas/draft_cases.py), on worked
examples: other wording counts, a field counts once, children count under their parent."""

from __future__ import annotations

from typing import Any

from engine.schemas.definition import SchemaDefinition
from engine.schemas.draft_cases import CASES, covered


def schema(*fields: dict[str, Any]) -> SchemaDefinition:
    return SchemaDefinition.model_validate({"name": "S", "fields": list(fields)})


def f(name: str, *children: str, kind: str = "text") -> dict[str, Any]:
    if children:
        return {"name": name, "type": kind, "children": [{"name": c} for c in children]}
    return {"name": name}


def test_other_wording_counts_and_children_count_under_their_parent() -> None:
    case = CASES["invoice"]
    assert case.size == 8
    drafted = schema(f("Vendor name"), f("Invoice No."), f("Invoice date"),
                     f("Line items", "Product", "Qty", "Price", kind="list of objects"),
                     f("Grand total"))
    assert covered(drafted, case) == ["supplier", "invoice number", "invoice date", "lines",
                                      "lines.item", "lines.quantity", "lines.unit price",
                                      "total"]


def test_a_field_counts_once_and_flattened_children_do_not_count() -> None:
    case = CASES["invoice"]
    drafted = schema(f("Date"), f("Item"), f("Quantity"), f("Unit price"))
    # "Date" is the invoice date; the line's fields at the top level are no lines
    assert covered(drafted, case) == ["invoice date"]
    twice = schema(f("Supplier"), f("Supplier"))
    assert covered(twice, CASES["product review"]) == []


def test_a_named_field_may_sit_in_a_group() -> None:
    case = CASES["job posting"]
    drafted = schema(f("Title"), f("Salary", "Minimum", "Maximum", kind="object"),
                     f("Closing date"))
    assert covered(drafted, case) == ["job title", "salary minimum", "salary maximum",
                                      "closing date"]


def test_every_case_names_its_fields_in_its_description() -> None:
    for name, case in CASES.items():
        assert len(case.fields) >= 5 and case.size >= 7, name
        for named in case.fields:
            assert named.key in named.accepted
