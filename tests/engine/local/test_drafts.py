"""Schema drafts on the embedded default model (#22): two of the five described schemas
(`engine.schemas.draft_cases.CASES`), drafted as the Schemas page drafts them (the draft prompt,
`DraftDefinition`, `DRAFT_MAX_TOKENS`) at temperature 0 with a fixed seed. Each must be a valid
definition holding at least 80 % of the fields its description names, under any of the names a
person would accept for them; the wording is the model's own. All five, timed: bench/draft_bench.py.
"""

from __future__ import annotations

import pytest

from engine import extract
from engine.providers import client_for, local_provider
from engine.schemas import draft
from engine.schemas.draft_cases import CASES, covered

SEED = 7


@pytest.mark.local_model
@pytest.mark.parametrize("name", ["support ticket", "meeting"])
def test_a_draft_names_the_described_fields(name: str) -> None:
    provider = local_provider()
    client = client_for(provider)
    case = CASES[name]
    *_, snap = extract(draft.draft_request(case.description), draft.DraftDefinition,
                       client=client, model=provider.default_model,
                       system=draft.DRAFT_INSTRUCTION, max_tokens=draft.DRAFT_MAX_TOKENS,
                       temperature=0.0, seed=SEED)
    assert snap.error is None, snap.error
    defn = draft.proposal(snap.final)  # raises, saying why, when it is not a usable schema
    found = covered(defn, case)
    assert len(found) >= 0.8 * case.size, (found, defn.model_dump())
    for f in defn.fields:  # what a person would keep: choices only where they choose
        assert not f.choices or f.type == "choice", f
