"""The starter sets (#21): every document has its gold, every gold value is found in its text
and fits the schema, the texts are what a run of the files would read, and the sets hold the
variety they promise."""

from __future__ import annotations

import contextlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from engine.evaluate import sets
from engine.evaluate.score import score_many
from engine.evaluate.starter import (
    SCHEMAS,
    STARTER_SETS,
    install_starter,
    starter_examples,
    starter_set_name,
)
from engine.history.diff import normalise
from engine.schemas.library import SCHEMAS as LIBRARY
from engine.store import Store
from engine.stream.partial import partial_model

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "engine" / "evaluate" / "starter"
#: The gold's nulls, each a value the document does not give (the schema wants one).
NULLS = {("meetings", "07-workshop.eml", "users[1].twitter"),
         ("meetings", "08-history-talk.txt", "budget")}
ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def words(text: str) -> str:
    return " ".join(text.split()).casefold()


def numbers_in(text: str) -> set[float]:
    """Every number the text writes, read both ways where the format is open: 1,234.50 and
    1.234,50 and 1'234.50 (Swiss) are 1234.5; 4.200 may be 4.2 or 4200."""
    found: set[float] = set()
    for token in re.findall(r"\d(?:[\d.,']*\d)?", text):
        plain = token.replace("'", "")
        for spelled in (plain.replace(",", ""), plain.replace(".", "").replace(",", ".")):
            with contextlib.suppress(ValueError):  # "1.2.3": not this reading
                found.add(round(float(spelled), 6))
    return found


@pytest.fixture(scope="module", params=STARTER_SETS)
def starter(request: pytest.FixtureRequest) -> tuple[str, str, list]:
    schema_name, examples = starter_examples(request.param)
    return request.param, schema_name, examples


def test_the_sets_and_their_schemas() -> None:
    assert STARTER_SETS == ("invoices", "meetings")
    assert {SCHEMAS[s] for s in STARTER_SETS} == {"Invoice", "MeetingInfo"}
    assert all(SCHEMAS[s] in LIBRARY for s in STARTER_SETS)
    assert starter_set_name("invoices") == "starter-invoices"
    assert starter_set_name("meetings", 3) == "starter-meetings-3"


def test_every_document_has_one_answer_and_every_answer_a_document(starter) -> None:
    name, _, examples = starter
    files = sorted(p.name for p in (DATA / name).iterdir() if p.name != "answers.jsonl")
    assert [e.name for e in examples] == files  # in order, each once
    assert len(examples) == 12
    assert (DATA / "PROVENANCE.md").is_file()


def test_every_gold_answer_fits_its_schema(starter) -> None:
    name, schema_name, examples = starter
    schema = LIBRARY[schema_name]
    nulls = set()
    for e in examples:
        nulls |= {(name, e.name, path) for path, v in leaves(e.gold) if v is None}
        assert partial_model(schema).model_validate(e.gold).model_dump() == e.gold, e.name
        filled = _fill_nulls(e.gold)
        assert schema.model_validate(filled).model_dump() == filled, e.name  # no key lost
    assert nulls == {n for n in NULLS if n[0] == name}


def _fill_nulls(value: Any) -> Any:
    """The gold with a null given a value of the schema's type (budget: int, else text)."""
    if isinstance(value, dict):
        return {k: (0 if k == "budget" else "x") if v is None else _fill_nulls(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_nulls(v) for v in value]
    return value


def test_every_gold_value_is_in_its_text(starter) -> None:
    """Text as written (case and spacing aside); numbers as the text writes them (US,
    European or Swiss thousands and decimals). Nothing is computed: every subtotal, tax and
    line amount is printed on its invoice, and the currency code too."""
    _, _, examples = starter
    checked = 0
    for e in examples:
        text, amounts = words(e.text), numbers_in(e.text)
        for path, value in leaves(e.gold):
            if value is None:
                continue
            if isinstance(value, int | float):
                assert round(float(value), 6) in amounts, (e.name, path, value)
            else:
                assert words(value) in text, (e.name, path, value)
            checked += 1
    assert checked > 130  # the meetings 136, the invoices more


def test_the_texts_are_what_a_run_of_the_files_reads(starter) -> None:
    _, _, examples = starter
    kinds = {e.document.type for e in examples}
    assert kinds == {"text", "markdown", "html", "email"}
    for e in examples:
        assert e.document.name == e.name and e.document.chars == len(e.text)
        assert 80 <= len(e.text.split()) <= 400, e.name
        if e.document.type == "html":
            assert "<" not in e.text and "display:none" not in e.text, e.name
            assert "internal ref" not in e.text  # hidden elements are not text
        if e.document.type == "email":
            assert e.text.startswith("From: ") and "Content-Type" not in e.text, e.name
    # the first three are short (a small model's test subset) and plain text or Markdown
    sizes = [len(e.text.split()) for e in examples]
    assert max(sizes[:3]) <= 100 < max(sizes[3:])
    assert all(e.document.type in {"text", "markdown"} for e in examples[:3])


def test_a_limit_gives_the_first_documents() -> None:
    for name in STARTER_SETS:
        schema_name, three = starter_examples(name, limit=3)
        assert (schema_name, three) == (SCHEMAS[name], starter_examples(name)[1][:3])
    assert len(starter_examples("invoices", limit=50)[1]) == 12


@pytest.mark.parametrize(("name", "limit", "message"), [
    ("recipes", None, "There is no starter set called 'recipes'; the starter sets are "
                      "invoices, meetings."),
    ("invoices", 0, "The number of documents must be a whole number of 1 or more, not 0."),
    ("invoices", "3", "The number of documents must be a whole number of 1 or more, not '3'."),
])
def test_an_unknown_set_or_a_bad_limit_is_one_clear_message(name, limit, message) -> None:
    with pytest.raises(ValueError) as caught:
        starter_examples(name, limit)
    assert str(caught.value) == message
    with pytest.raises(ValueError):
        starter_set_name(name, limit)


def test_the_invoices_vary_as_invoices_do() -> None:
    _, examples = starter_examples("invoices")
    golds = [e.gold for e in examples]
    assert {len(g["line_items"]) for g in golds} == {1, 2, 3, 4, 5}
    assert {g["currency"] for g in golds} == {"USD", "EUR", "GBP", "CAD", "CHF"}
    texts = "\n".join(e.text for e in examples)
    assert re.search(r"\b\d{1,3}(?:\.\d{3})+,\d{2} €", texts)  # 3.200,00 €
    assert re.search(r"\$\d{1,3}(?:,\d{3})+\.\d{2}", texts)  # $1,200.00
    assert re.search(r"\d'\d{3}\.\d{2}", texts)  # 1'250.00
    dates = [g["issue_date"] for g in golds]
    assert any(ISO.fullmatch(d) for d in dates)
    assert "April 1, 2025" in dates and "3 March 2025" in dates
    assert "06/14/2025" in dates and normalise("06/14/2025") == "06/14/2025"  # stays text
    for g in golds:  # the arithmetic was checked by hand: here again
        assert sum(i["amount"] for i in g["line_items"]) == pytest.approx(g["subtotal"])
        assert g["subtotal"] + g["tax"] == pytest.approx(g["total"])
        for i in g["line_items"]:
            assert i["quantity"] * i["unit_price"] == pytest.approx(i["amount"])


def test_the_meetings_vary_as_meeting_notes_do() -> None:
    _, examples = starter_examples("meetings")
    people = [len(e.gold["users"]) for e in examples]
    assert {1, 4} <= set(people) and people[:3] == [1, 2, 1]
    # a document names dates that are not the meeting's nor the deadline (distractors)
    for file in ("03-choir.txt", "04-tech-conference.txt", "09-summit.txt"):
        e = next(e for e in examples if e.name == file)
        dates = re.findall(r"\b(?:\d{1,2} [A-Z][a-z]+ \d{4}|[A-Z][a-z]+ \d{1,2}, \d{4})",
                           e.text)
        wanted = {normalise(e.gold["date"]), normalise(e.gold["deadline"])}
        assert {normalise(d) for d in dates} - wanted, file


def test_the_gold_scores_full_marks_and_so_do_its_dates_written_as_iso(starter) -> None:
    _, _, examples = starter
    golds = [e.gold for e in examples]
    assert score_many((g, g) for g in golds).totals().micro_f1 == 1.0
    as_iso = [_iso_dates(g) for g in golds]
    assert as_iso != golds  # some dates were respelled
    totals = score_many(zip(as_iso, golds, strict=True)).totals()
    assert (totals.micro_f1, totals.exact) == (1.0, 12)
    assert score_many(zip(as_iso, golds, strict=True), normalised=False).totals().exact < 12


def _iso_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v) for v in value]
    if isinstance(value, str) and isinstance(found := normalise(value), str) \
            and ISO.fullmatch(found):
        return found
    return value


def test_the_data_files_are_declared_package_data() -> None:
    """A wheel carries only the patterns pyproject.toml lists: every starter file must match."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    for path in DATA.rglob("*"):
        if path.is_file():
            assert any(path.match(p) for p in patterns), path.relative_to(ROOT)


def test_install_starter_stores_the_set_once(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as store:
        installed = install_starter(store, "meetings", limit=3, who="ana")
        assert (installed.name, installed.version, installed.schema_name, installed.size,
                installed.created_by) == ("starter-meetings-3", 1, "MeetingInfo", 3, "ana")
        assert installed.schema_version is None  # a built-in schema: no saved version
        assert sets.get_set(store, "starter-meetings-3") == installed
        _, wanted = starter_examples("meetings", limit=3)
        stored = sets.examples(store, installed.name, installed.version)
        assert [(e.idx, e.name, e.text, e.gold, e.document) for e in stored] == [
            (i, w.name, w.text, w.gold, w.document) for i, w in enumerate(wanted)]
        # installed again (by anyone): the set already there, no second version
        assert install_starter(store, "meetings", limit=3, who="bo") == installed
        assert [s.version for s in sets.versions(store, "starter-meetings-3")] == [1]
        invoices = install_starter(store, "invoices")
        assert (invoices.name, invoices.size, invoices.schema_name) == (
            "starter-invoices", 12, "Invoice")
        assert {s.name for s in sets.list_sets(store)} == {"starter-meetings-3",
                                                           "starter-invoices"}
