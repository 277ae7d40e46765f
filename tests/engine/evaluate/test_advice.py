"""What the product says about the embedded models (engine/evaluate/advice.py): the measured
figures shipped for the Evaluate page, and the suggestion for a lane that scores low."""

from __future__ import annotations

from engine.evaluate import advice
from engine.evaluate.starter import STARTER_SETS
from engine.local.weights import DEFAULT_MODEL, QWEN_05B, QWEN_15B
from engine.providers.model import LOCAL_NAME


def test_a_low_lane_on_the_small_local_model_is_pointed_at_the_larger_one() -> None:
    said = advice.suggestion(LOCAL_NAME, QWEN_05B.key, 0.62, 12)
    assert said is not None and said.startswith("F1 0.62 is under 0.80")
    assert QWEN_15B.title in said and "`make weights-1.5b`" in said and "server" in said


def test_the_largest_local_model_and_a_server_get_their_own_advice() -> None:
    said = advice.suggestion(LOCAL_NAME, QWEN_15B.key, 0.5, 3)
    assert said is not None and "make weights" not in said and "server" in said
    remote = advice.suggestion("My vLLM", "qwen2.5-7b", 0.7, 3)
    assert remote is not None and "larger model on this server" in remote


def test_no_advice_at_or_above_the_threshold_or_before_a_score() -> None:
    assert advice.suggestion(LOCAL_NAME, QWEN_05B.key, advice.SUGGEST_BELOW, 12) is None
    assert advice.suggestion(LOCAL_NAME, QWEN_05B.key, None, 0) is None
    assert advice.suggestion(LOCAL_NAME, QWEN_05B.key, 0.0, 0) is None  # nothing scored yet
    assert advice.suggestion(LOCAL_NAME, QWEN_05B.key, 0.9, 12, threshold=0.95) is not None


def test_the_shipped_figures_cover_the_default_model_on_every_starter_set() -> None:
    ref = advice.reference()
    assert ref is not None
    for name in STARTER_SETS:
        rows = ref.for_set(name)
        assert rows and rows[0].model == DEFAULT_MODEL and rows[0].default, name
        for row in rows:
            assert 0 <= row.micro_f1 <= 1 and row.documents == 12 and row.fields
            assert row.seconds_per_doc > 0 and row.tokens_per_doc > 0
            assert "CPU cores" in row.measured
    assert "CPU cores" in ref.measured
