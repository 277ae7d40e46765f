"""The labelled set of long documents (#22, bench/data/long-documents): six First Circuit
opinions of 5,000-27,000 characters, their no-code schema and hand-written gold. The schema
imports as a saved schema, the six documents import against it with no problem, each gold fits
it, and each gold value is written in its document."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.evaluate import sets
from engine.evaluate.importer import import_set, read_import
from engine.schemas.commands import read_document
from engine.schemas.saved import save_schema
from engine.store import Store

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "bench" / "data" / "long-documents"
DOCUMENTS = sorted(DATA.glob("*.txt"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as opened:
        yield opened


def golds() -> dict[str, dict]:
    lines = (DATA / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return {row["file"]: row["answer"] for row in rows}


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_set_imports_with_no_problem(store: Store) -> None:
    saved = save_schema(store, read_document((DATA / "schema.json").read_bytes()))
    assert (saved.name, saved.version) == ("AppealsCourtOpinion", 1)
    plan = read_import([(p.name, p.read_bytes()) for p in DOCUMENTS],
                       ("answers.jsonl", (DATA / "answers.jsonl").read_bytes()),
                       check=lambda gold: sets.check_gold(store, saved.name, None, gold))
    assert plan.problems == []
    assert [e.name for e in plan.examples] == [p.name for p in DOCUMENTS] == sorted(golds())
    assert len(plan.examples) == 6
    for example, path in zip(plan.examples, DOCUMENTS, strict=True):
        assert 5_000 <= len(example.text) <= 27_000, example.name
        assert example.text == path.read_text(encoding="utf-8")  # kept as found
    made = import_set(store, "long-documents", saved.name, plan, who="test")
    assert (made.version, made.size, made.schema_version) == (1, 6, "1")
    stored = sets.examples(store, "long-documents", 1)
    assert [e.gold for e in stored] == [golds()[p.name] for p in DOCUMENTS]


def test_every_gold_fits_the_schema_and_is_written_in_its_document(store: Store) -> None:
    saved = save_schema(store, read_document((DATA / "schema.json").read_bytes()))
    keys = {f.name for f in saved.definition.fields}
    choices = next(f.choices for f in saved.definition.fields if f.name == "Disposition")
    for name, gold in golds().items():
        assert set(gold) == keys, name  # every field answered (null where the text is silent)
        assert sets.check_gold(store, saved.name, None, gold) == [], name
        text = words((DATA / name).read_text(encoding="utf-8"))
        decided = dt.date.fromisoformat(gold["Date decided"])
        assert f"{decided:%B} {decided.day}, {decided.year}" in text, name
        assert f"No. {gold['Docket number']}" in text, name
        assert f"Hon. {gold['District judge']}," in text, name
        before = text[text.index("Before"):text.index(f"{decided:%B} {decided.day},")]
        assert all(judge in before for judge in gold["Panel"]), name
        author = gold["Opinion author"]
        assert (f"{author.upper()}, " in text if author != "Per Curiam"
                else "Per Curiam." in text or "PER CURIAM." in text), name
        assert gold["Disposition"] in choices, name
        amount = gold["Amount under review"]
        assert amount is None or f"${amount:,}" in text, name
