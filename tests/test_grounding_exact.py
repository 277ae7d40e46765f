"""The index's build (engine/grounding/exact.py, sequence.py): nothing a look-up answers
changes when the way the index is built does."""

from __future__ import annotations

import json

from engine.grounding import TextIndex
from tests.grounding_corpus import FIXTURE, corpus, results


def test_the_corpus_grounds_as_before() -> None:
    """Every status, span and score of the corpus (the bench's 1,000 values, values inside
    and across long words) as recorded with the index of eeb6dfc."""
    want, got = json.loads(FIXTURE.read_text()), results(TextIndex)
    values = {name: pair[1] for name, pair in corpus().items()}
    assert got.keys() == want.keys()
    for name, recorded in want.items():
        assert got[name]["digest"] == recorded["digest"], f"the corpus {name!r} changed"
        changed = [(values[name][i], old, new) for i, (old, new) in
                   enumerate(zip(recorded["groundings"], got[name]["groundings"], strict=True))
                   if old != new]
        assert not changed, f"{name}: {len(changed)} changed, e.g. {changed[:3]}"
