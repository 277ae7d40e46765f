"""Five described schemas and how to tell whether a draft covers them (#22): what
`bench/draft_bench.py` measures on the default model and `tests/local_model/test_drafts.py`
checks on two of them.

A case lists the fields the description names, each with the names a person would accept for
it (the draft's wording is its own: "Vendor" is the supplier, "Qty" the quantity). A drafted
field counts for a named field when its name, lower-cased and with punctuation as spaces,
holds one of the accepted names as whole words; each drafted field counts once; a named
field may also be a drafted field's child ("Minimum" in "Salary"), but a named child counts
only among the children of the field that matched its parent.

    case = CASES["invoice"]
    found = covered(proposal(answer), case)   # the named fields the draft has
    share = len(found) / case.size            # target: >= 0.8
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.schemas.definition import FieldDef, SchemaDefinition

__all__ = ["CASES", "Case", "Named", "covered"]


@dataclass(frozen=True)
class Named:
    """A field the description names: its key in the report, the names accepted for it, and
    for a list of objects the named fields of each item."""

    key: str
    accepted: tuple[str, ...]
    children: tuple[Named, ...] = field(default=())


@dataclass(frozen=True)
class Case:
    description: str
    fields: tuple[Named, ...]

    @property
    def size(self) -> int:
        """Every named field, children included."""
        return sum(1 + len(f.children) for f in self.fields)


def _n(key: str, *accepted: str, children: Sequence[Named] = ()) -> Named:
    return Named(key, (key, *accepted), tuple(children))


CASES: dict[str, Case] = {
    "invoice": Case(
        "invoices from our suppliers: supplier's name, invoice number and date, lines with "
        "item, quantity and unit price, total",
        (_n("supplier", "vendor", "seller"), _n("invoice number", "number", "invoice no", "id"),
         _n("invoice date", "date", "issued"),
         _n("lines", "line items", "items", "line", "products", children=(
             _n("item", "description", "product", "name"), _n("quantity", "qty", "count"),
             _n("unit price", "price", "rate"))),
         _n("total", "amount due", "amount", "grand total", "total amount")),
    ),
    "support ticket": Case(
        "support tickets from customers: the customer's name and email, the product, a "
        "summary of the problem, the priority (low, medium, high or urgent), the date it was "
        "opened and whether it is resolved",
        (_n("customer name", "name", "customer"), _n("email", "e mail", "customer email"),
         _n("product"), _n("summary", "problem", "issue", "description"),
         _n("priority", "urgency"), _n("date opened", "opened", "date", "created"),
         _n("resolved", "status", "is resolved")),
    ),
    "job posting": Case(
        "job postings: the job title, the company, the location, whether remote work is "
        "allowed, the salary range (minimum and maximum), the required skills and the closing "
        "date for applications",
        (_n("job title", "title", "position", "role"), _n("company", "employer", "organisation",
                                                          "organization"),
         _n("location", "city", "place"), _n("remote", "remote work", "remote allowed"),
         _n("salary minimum", "minimum", "min", "salary min", "minimum salary", "salary from"),
         _n("salary maximum", "maximum", "max", "salary max", "maximum salary", "salary to"),
         _n("skills", "required skills", "requirements"),
         _n("closing date", "deadline", "close", "closes", "application deadline")),
    ),
    "meeting": Case(
        "meeting notes: the people attending with their name, email and Twitter handle, the "
        "meeting's date, the location, the budget and the deadline",
        (_n("attendees", "people", "participants", "users", "persons", "members", children=(
            _n("name", "full name"), _n("email", "e mail"), _n("twitter", "twitter handle",
                                                               "handle"))),
         _n("date", "meeting date"), _n("location", "place", "venue"), _n("budget"),
         _n("deadline", "due date")),
    ),
    "product review": Case(
        "product reviews: the product's name, the reviewer's name, the rating from 1 to 5, "
        "the date of the review, the pros and the cons, and whether the reviewer recommends it",
        (_n("product", "product name"), _n("reviewer", "reviewer name", "author", "name"),
         _n("rating", "stars", "score"), _n("review date", "date"),
         _n("pros", "advantages", "positives"), _n("cons", "disadvantages", "negatives"),
         _n("recommend", "recommends", "recommended", "would recommend", "recommendation")),
    ),
}


def _words(name: str) -> str:
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split()) + " "


def _match(named: Named, fields: Sequence[FieldDef], used: set[int]) -> FieldDef | None:
    """The first unused field whose name holds an accepted name (the most specific accepted
    names are tried first, so "Invoice date" goes to the date, not to the number)."""
    for accepted in sorted(named.accepted, key=len, reverse=True):
        for i, f in enumerate(fields):
            if i not in used and _words(accepted) in _words(f.name):
                used.add(i)
                return f
    return None


def covered(defn: SchemaDefinition, case: Case) -> list[str]:
    """The keys of the named fields the draft has (a child as `parent.child`)."""
    found: list[str] = []
    used: set[int] = set()
    # a named field may sit in a group the draft made ("Salary" with "Minimum" and "Maximum")
    fields = [*defn.fields, *(c for f in defn.fields for c in f.children)]
    for named in case.fields:
        hit = _match(named, fields, used)
        if hit is None:
            continue
        found.append(named.key)
        inner: set[int] = set()
        found.extend(f"{named.key}.{child.key}" for child in named.children
                     if _match(child, hit.children, inner) is not None)
    return found
