"""The Evaluate page (AppTest): "Try the starter set" (a 3-document subset), two lanes started
on the replay server (the "Custom server"), the scores filling in from the queue launched by
the page, a document's drill-down, the evaluation reopened by `?eval=` and by a lane's batch
(History's link), and a second evaluation compared with the first.

The replay server answers each starter document with its gold when asked in `json_schema`
mode (lane A), and with its first field emptied in `json_object` mode (lane B): lane A scores
1.0 everywhere, lane B misses one field of each document."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.runtime.state.common import user_key_from_element_id
from streamlit.testing.v1 import AppTest

from engine.evaluate import advice, starter
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from ui import eval_sets

pytestmark = pytest.mark.timeout(180)

PAGE = "pages/6_Evaluate.py"
SUBSET = 3


def first_field(gold: dict[str, Any]) -> str:
    """The first field of a gold answer that holds a value (lane B leaves it out)."""
    return next(k for k, v in gold.items() if v not in (None, "", [], {}))


def responder(golds: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any]], Reply]:
    def respond(body: dict[str, Any]) -> Reply:
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", [])
                        if m.get("role") == "user")
        gold = next((g for t, g in golds.items() if t.strip() and t.strip() in text), None)
        if gold is None:
            return Reply.error(400, "not a starter document")
        answer = dict(gold)
        if (body.get("response_format") or {}).get("type") == "json_object":  # lane B
            answer[first_field(gold)] = None
        return Reply.content(support.chunks(json.dumps(answer), 40))

    return respond


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with support.app_server(monkeypatch, tmp_path, "test-key") as srv:
        monkeypatch.setenv("FIELDSTREAM_QUEUE_POLL", "0.05")
        monkeypatch.setattr(eval_sets, "STARTER_LIMIT", SUBSET)
        _, examples = starter.starter_examples(starter.STARTER_SETS[0], limit=SUBSET)
        srv.responder = responder({e.text: e.gold for e in examples})
        yield srv


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return support.page_texts(at)


def param(at: AppTest, name: str) -> str:
    value = at.query_params[name]
    return str(value[0] if isinstance(value, list) else value)


def frame(at: AppTest, key: str) -> pd.DataFrame:
    """The table with this key, or the one in the container of this key (a display table)."""
    found = [d for d in at.dataframe if d.key == key]
    found += [d for box in containers(at.main, key) for d in box.dataframe]
    assert len(found) == 1, key
    return found[0].value


def containers(node: Any, key: str) -> list[Any]:
    from streamlit.testing.v1.element_tree import Block

    found = []
    if isinstance(node, Block):
        block_id = getattr(node.proto, "id", "") or ""
        if block_id and user_key_from_element_id(block_id) == key:
            found.append(node)
        for child in node.children.values():
            found += containers(child, key)
    return found


def progress(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def wait_finished(at: AppTest, timeout: float = 60) -> None:
    """Rerun the page (as its fragment does every second) until every lane has ended."""
    deadline = time.monotonic() + timeout
    while True:
        run(at)
        shown = progress(at)
        if shown and all(f"{SUBSET} of {SUBSET} documents" in t for t in shown) \
                and "Scores fill in" not in texts(at):
            return
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


def start_two_lanes(at: AppTest) -> str:
    at.selectbox(key="fs_eval_a_mode").set_value("json_schema")
    at.selectbox(key="fs_eval_b_mode").set_value("json_object")
    run(at)
    at.button(key="fs_eval_start").click()
    run(at)
    return param(at, "eval")


def test_the_starter_subset_evaluated_on_two_lanes(server: ReplayServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(advice, "SUGGEST_BELOW", 0.99)  # lane B's score is under it
    at = support.app_page(PAGE)
    assert at.title[0].value == "Evaluate"
    # before anything runs: what the default model scores on each starter set (the bench's)
    for name in starter.STARTER_SETS:
        reference = frame(at, f"fs_eval_reference_{name}")
        assert "(default)" in reference["model"][0]
        assert 0 < float(reference["micro F1"][0]) <= 1
    at.button(key="fs_eval_starter").click()
    run(at)
    name = starter.starter_set_name(starter.STARTER_SETS[0], SUBSET)
    assert param(at, "set") == name
    assert at.selectbox(key=eval_sets.SET_KEY).value == name
    docs = frame(at, f"fs_eval_docs_{name}_1")
    assert len(docs) == SUBSET
    schema_name, examples = starter.starter_examples(starter.STARTER_SETS[0], limit=SUBSET)
    assert list(docs["document"]) == [e.name for e in examples]
    assert at.selectbox(key="fs_eval_a_schema").value == schema_name  # the set's schema

    eval_id = start_two_lanes(at)
    assert eval_id
    wait_finished(at)
    run(at)  # the page once it all ended: no more polling
    scores = frame(at, "fs_eval_scores")
    lane_a, lane_b = scores.columns
    assert lane_a.startswith("A · ") and lane_b.startswith("B · ")
    assert scores[lane_a].dropna().eq(1.0).all()  # lane A answers the gold
    missed = first_field(examples[0].gold)
    assert scores.loc[missed, lane_b] < 1.0
    totals = frame(at, "fs_eval_totals")
    assert list(totals["documents scored"]) == [f"{SUBSET} of {SUBSET}"] * 2
    assert totals["micro F1"][0] == "1.00" and totals["micro F1"][1] != "1.00"
    assert totals["exact documents"][0] == f"100% ({SUBSET} of {SUBSET})"
    assert at.button(key="fs_eval_stop").disabled
    said = [i.value.replace("\\", "") for i in at.info]  # lane B only (a server's lane)
    assert len(said) == 1 and said[0].startswith(lane_b) and "larger model" in said[0], said

    # a document's drill-down: lane B's emptied field marked, the gold beside each answer
    at.selectbox(key=f"fs_eval_drill_{eval_id}").set_value(0)
    run(at)
    marks = frame(at, f"fs_eval_marks_{eval_id}")
    assert marks.loc[missed, lane_b] == "missing" and marks.loc[missed, lane_a] == "✓"
    diff = frame(at, f"fs_eval_diff_{eval_id}")
    assert (list(diff["lane"]), list(diff["field"])) == ([lane_b], [missed])
    shown = [json.loads(c.value) for c in at.code if c.language == "json"]
    assert shown[0] == examples[0].gold  # the gold, then each lane's answer
    assert shown[1] == examples[0].gold and shown[2][missed] is None

    # reopened by its id in a fresh session, and by a lane's batch (History's link)
    fresh = support.app_page(PAGE)
    fresh.query_params["eval"] = eval_id
    run(fresh)
    assert frame(fresh, "fs_eval_scores").equals(scores)
    batch_id = _lane_batch(eval_id)
    again = support.app_page(PAGE)
    again.query_params["batch"] = batch_id
    run(again)
    assert f"id {eval_id}" in texts(again)
    # History: a lane's run links to its evaluation by its batch
    again.switch_page("pages/2_History.py")
    again.query_params["run"] = f"{batch_id}.0.1"
    run(again)
    links = [link for link in again.get("page_link") if link.proto.page == "Evaluate"]
    assert len(links) == 1 and f"batch={batch_id}" in str(links[0].proto), links

    # the recent evaluations link to it; a second run is compared with the first
    links = [link for link in at.get("page_link") if link.proto.page == "Evaluate"]
    assert any(f"eval={eval_id}" in str(link.proto) for link in links)
    second = start_two_lanes(at)
    assert second != eval_id
    wait_finished(at)
    run(at)
    changes = frame(at, f"fs_eval_changes_{second}")
    assert set(changes["verdict"]) == {"= unchanged"}
    assert "unchanged" in texts(at)


def _lane_batch(eval_id: str) -> str:
    from engine.evaluate import evaluations
    from ui import context

    found = evaluations.get_evaluation(context.shared_store().open(), eval_id)
    assert found is not None
    return found.lanes[1].batch_id


def test_an_unknown_evaluation_is_said(server: ReplayServer) -> None:
    at = support.app_page(PAGE)
    at.query_params["eval"] = "nope"
    run(at)
    assert "There is no evaluation nope in the history." in texts(at)
    assert "No labelled set yet" in texts(at)


def test_stop_leaves_documents_cancelled_and_resume_finishes_them(server: ReplayServer) -> None:
    """Stop while every answer is held back: no document ends done, the queued and running
    ones are cancelled (not scored: a Stop is not a wrong answer); Resume (the server
    answering again at once) runs them all and the lanes finish as they would have."""
    from engine.batch import records
    from engine.batch.model import CANCELLED, DONE, INVALID
    from engine.evaluate import evaluations
    from ui import context

    answer = server.responder
    held = {"on": True}

    def slow(body: dict[str, Any]) -> Reply:
        reply = answer(body)
        if held["on"]:
            reply.delay = 30.0
        return reply

    server.responder = slow
    at = support.app_page(PAGE)
    at.button(key="fs_eval_starter").click()
    run(at)
    eval_id = start_two_lanes(at)
    store = context.shared_store().open()
    evaluation = evaluations.get_evaluation(store, eval_id)
    assert evaluation is not None
    deadline = time.monotonic() + 30
    while not server.requests:  # a document has started
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run(at)
    assert not at.button(key="fs_eval_stop").disabled
    assert at.button(key="fs_eval_resume").disabled  # nothing stopped or cancelled yet
    at.button(key="fs_eval_stop").click()
    run(at)
    assert "Stopped: the scores count the documents that ended." in texts(at)
    deadline = time.monotonic() + 30
    while True:  # running documents end within a second of the stop
        counts = [records.counts(store, lane.batch_id) for lane in evaluation.lanes]
        if all(c.left == 0 for c in counts):
            break
        assert time.monotonic() < deadline, counts
        time.sleep(0.1)
    assert [(c[CANCELLED], c[DONE]) for c in counts] == [(SUBSET, 0), (SUBSET, 0)]
    run(at)
    assert at.button(key="fs_eval_stop").disabled and not at.button(key="fs_eval_resume").disabled
    totals = frame(at, "fs_eval_totals")  # a cancelled document is not scored
    assert list(totals["documents scored"]) == [f"0 of {SUBSET}"] * 2
    assert list(totals["micro F1"]) == ["—", "—"]

    held["on"] = False
    at.button(key="fs_eval_resume").click()
    run(at)
    assert "Resumed: the documents without an answer are queued again." in texts(at)
    wait_finished(at)
    counts = [records.counts(store, lane.batch_id) for lane in evaluation.lanes]
    # lane B's answers lack a required field: they end invalid, scored on what arrived
    assert [(c[DONE], c[INVALID], c[CANCELLED]) for c in counts] == [(SUBSET, 0, 0),
                                                                     (0, SUBSET, 0)]
    run(at)
    totals = frame(at, "fs_eval_totals")
    assert list(totals["documents scored"]) == [f"{SUBSET} of {SUBSET}"] * 2
    assert totals["micro F1"][0] == "1.00" and totals["micro F1"][1] not in ("0.00", "1.00")
    assert at.button(key="fs_eval_stop").disabled and at.button(key="fs_eval_resume").disabled
