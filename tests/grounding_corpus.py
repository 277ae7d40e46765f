"""A fixed grounding corpus and what the index said about it before long words were scanned
instead of indexed (Hardening II #12), so a change to how the index is built can be checked
to leave every status, span and score as it was.

The corpus: the grounding bench's meeting notes with its 1,000 values (exact, normalised,
fuzzy, invented), texts holding long words (a base64 blob, runs of one letter, random letters,
hex digests, a long identifier, a minified line) with values inside, across and around them,
and the unit tests' note. `tests/fixtures/grounding_corpus.json` holds the results, recorded
with the index of commit eeb6dfc:

    PYTHONPATH=<a checkout of that commit> python tests/grounding_corpus.py --record
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grounding_corpus.json"
NOTE = (
    "Kick-off with Jason  Liu\n(jason.liu@acme.com, @jliu) and José O'Brien.\n"
    "Date: Friday, March 15th, 2024 at 2:30 pm. Budget: $18,500.00 (about 18.5k).\n"
    "Jason Liu will book the room; Jason Liu pays.\n"
)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def corpus() -> dict[str, tuple[str, list[Any]]]:
    """Name -> (text, values), the same on every call."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from bench.grounding_bench import build

    notes, pairs = build(60_000, 7)
    out = {"bench notes": (notes, [value for _, value in pairs])}
    rnd = random.Random(12)
    for name, text in _long_word_texts(rnd).items():
        out[name] = (text, _values_for(text, rnd))
    out["unit note"] = (NOTE, ["Jason Liu", "son", "JASON LIU", "Jasn Liu", 18500, 2024,
                               dt.date(2024, 3, 15), "jose obrien", "Zanzibar", "@jliu"])
    return out


def _long_word_texts(rnd: random.Random) -> dict[str, str]:
    blob = base64.b64encode(rnd.randbytes(4_500)).decode()
    digests = " ".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(40))
    prose = ("The team met on March 3, 2024 with Maria Gonzalez (maria.g@acme.com) and agreed "
             "to pay $12,500.00 by Friday. ")
    minified = "function(a,b){return a.concat(b)};var x=[1,2,3].map(function(v){return v*2});"
    ident = "customer_account_identifier_value_for_the_quarterly_billing_export_2024"
    return {
        "prose and blobs": (prose + blob + "\n" + prose + "a" * 3_000 + " " + prose
                            + "".join(rnd.choices(LETTERS, k=2_500)) + ". " + digests + " "
                            + ident + " = 42;\n" + minified * 20 + prose),
        "random letters": "".join(rnd.choices(LETTERS, k=20_000)),
        "one letter": "a" * 20_000,
        "base64": base64.b64encode(rnd.randbytes(15_000)).decode(),
    }


def _values_for(text: str, rnd: random.Random) -> list[Any]:
    """Substrings (inside, across and around long words), changed ones, numbers, inventions."""
    values: list[Any] = []
    for _ in range(300):
        start = rnd.randrange(len(text))
        values.append(text[start : start + rnd.choice([1, 2, 3, 5, 8, 13, 30, 60, 120])])
    for _ in range(40):
        start = rnd.randrange(len(text) - 20)
        piece = text[start : start + rnd.randint(6, 20)]
        values.append(piece.upper())
        at = rnd.randrange(len(piece))
        values.append(piece[:at] + ("q" if piece[at] != "q" else "z") + piece[at + 1 :])
    values += [7, 42, 2024, 12500, dt.date(2024, 3, 3), "Maria Gonzalez", "maria gonzalez",
               "Maria Gonzales", "aaab", "a" * 50, "a" * 3_001, "Zebulon Quackenbush",
               "zzzzzzzz", "The team met", "2024 with"]
    return values


def results(make_index: Callable[[str], Any]) -> dict[str, Any]:
    """Per text: a digest of the text and values (to notice a corpus that changed) and each
    value's grounding, as its status and a digest of its spans and score (the whole JSON
    would make a 300 KB fixture)."""
    out = {}
    for name, (text, values) in corpus().items():
        index = make_index(text)
        found = [_brief(g) for g in index.ground_many(values)]
        out[name] = {"digest": _digest(repr((text, values))), "groundings": found}
    return out


def _brief(grounding: Any) -> str | None:
    if grounding is None:
        return None
    data = grounding.to_json()
    return f"{data['status']} {_digest(json.dumps(data, sort_keys=True))}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _record() -> None:
    from engine.grounding import TextIndex

    FIXTURE.write_text(json.dumps(results(TextIndex), separators=(",", ":")) + "\n")
    print(f"recorded {FIXTURE}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        raise SystemExit(__doc__)
    _record()
