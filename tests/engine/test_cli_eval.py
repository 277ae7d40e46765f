"""`fieldstream eval …` run in this process (`engine.cli.main`, as the batch CLI would be run:
the queue launched as role cli for the command and shut down after it) on a data folder of the
test's own, against a replay server as the "Custom server" answering by model: `replay-model`
as the gold says, `worse-model` worse (tests/engine/evaluate/eval_support.py)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from engine.cli import main
from engine.testing.replay_server import ReplayServer
from tests.batch_support import MODEL
from tests.engine.evaluate.eval_support import WORSE, add_set, golds, two_models
from tests.support import HISTORY_ENV, isolate
from tests.ui_support import custom_server_env

GOOD = f'schema=MeetingInfo,provider="Custom server",model={MODEL},mode=json_object,label=good'
BAD = f'schema=MeetingInfo,provider="Custom server",model={WORSE},mode=json_object,label=bad'


@pytest.fixture
def world(monkeypatch, tmp_path) -> Iterator[Any]:
    """The environment a person's shell would have (history in tmp_path, the replay server as
    the Custom server), and a labelled set "Notes" of 4 meeting notes in its database."""
    from engine.store import Store, load_settings

    with ReplayServer() as srv:
        isolate(monkeypatch, tmp_path, home=True)
        for name in HISTORY_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in {**custom_server_env(srv.base_url, model=MODEL),
                            "FIELDSTREAM_QUEUE_POLL": "0.05",
                            "FIELDSTREAM_BATCH_RETRIES": "0"}.items():
            monkeypatch.setenv(name, value)
        srv.responder = two_models()
        with Store.from_settings(load_settings()).open() as store:
            add_set(store, "Notes", golds())
        yield srv


def fieldstream(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_min_f1_fails_the_lane_below_it_and_passes_the_one_above(world):
    code, out, err = fieldstream("eval", "run", "Notes", "--lane", GOOD, "--lane", BAD,
                                 "--min-f1", "0.8")
    assert code == 1, err
    assert "Traceback" not in err
    assert re.search(r"^# evaluation [0-9a-f]{16} · set Notes v1 · 4 documents × 2 lanes$",
                     err, re.M), err
    assert "# 8 of 8 documents ended" in err
    assert "error: lane B (bad): micro F1 0.681 is under --min-f1 0.8" in err
    assert "lane A (good)" not in err
    assert "# lane B: F1 0.68 is under 0.80: a larger model on this server" in err
    assert "# lane A:" not in err  # 0.982: no suggestion
    lines = out.splitlines()
    assert re.match(r"evaluation [0-9a-f]{16} · set Notes v1 · fuzzy off · finished$", lines[0])
    assert lines[1].split() == ["lane", "micro", "F1", "macro", "F1", "exact", "not", "in",
                                "text", "s/doc", "tokens/doc", "cost", "label"]
    a_row, b_row = lines[2].split(), lines[3].split()
    assert a_row[:6] == ["A", "0.982", "0.980", "3/4", "75%", "0"] and a_row[-1] == "good"
    assert b_row[:6] == ["B", "0.681", "0.687", "0/4", "0%", "4"] and b_row[-1] == "bad"
    assert lines[5].split() == ["field", "A", "B"]
    fields = {line.split()[0]: line.split()[1:] for line in lines[6:13]}
    assert fields == {"users[].name": ["1.000", "0.857"], "users[].email": ["1.000", "0.667"],
                      "users[].twitter": ["0.857", "1.000"], "date": ["1.000", "0.857"],
                      "location": ["1.000", "0.000"], "budget": ["1.000", "0.571"],
                      "deadline": ["1.000", "0.857"]}
    assert lines[13].startswith("  B  note-3.txt: failed, scored as an empty answer (")

    code, out, err = fieldstream("eval", "run", "Notes", "--lane", GOOD, "--min-f1", "0.8",
                                 "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert [(lane["label"], lane["passed"]) for lane in figures["lanes"]] == [("good", True)]
    assert figures["lanes"][0]["micro_f1"] == pytest.approx(54 / 55)
    assert figures["lanes"][0]["fields"]["users[].twitter"]["fp"] == 1

    # show: the table again, and what changed since the first evaluation (lanes by label)
    second = figures["id"]
    code, out, err = fieldstream("eval", "show", second)
    assert code == 0, err
    assert re.search(r"^compared with evaluation [0-9a-f]{16} \([\d-]+ [\d:]+, set v1\):$",
                     out, re.M), out
    assert "  7 unchanged" in out  # lane "good" both times
    assert "  gone      bad · location: 0.000 → —" in out
    code, out, _ = fieldstream("eval", "list")
    listed = out.splitlines()
    assert len(listed) == 2 and listed[0].startswith(f"{second}\t")
    assert "\tNotes v1\tfinished\tmicro F1 A 0.982\t" in listed[0]
    assert "\tmicro F1 A 0.982 B 0.681\t" in listed[1]


@pytest.mark.parametrize(("args", "said"), [
    (["--lane", "schema=MeetingInfo"], "needs provider="),
    (["--lane", 'schema="MeetingInfo,provider=x'], "no closing quotation"),
    (["--lane", GOOD, "--min-f1", "2"], "--min-f1 takes a number from 0 to 1, not 2."),
    (["--lane", GOOD, "--version", "7"], "No labelled set 'Notes' version 7"),
    (["--lanes", "missing.json"], "missing.json cannot be read"),
    (["--lane", GOOD.replace("MeetingInfo", "Nope")], "Lane 'good': "),
])
def test_bad_input_is_one_message(world, args, said):
    code, out, err = fieldstream("eval", "run", "Notes", *args)
    assert code == 2, err
    assert said in err and "Traceback" not in err and out == ""
    assert world.requests == []


def test_show_names_an_unknown_evaluation(world):
    code, _, err = fieldstream("eval", "show", "nope")
    assert code == 2 and "No evaluation 'nope'" in err


def test_sets_import_names_every_problem_then_list_and_export(world, tmp_path):
    import zipfile

    from tests.batch_support import note
    from tests.engine.evaluate.eval_support import gold

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(4):
        (docs / f"n{n}.txt").write_text(note(n), encoding="utf-8")
    answers = tmp_path / "gold.jsonl"
    lines = [{"file": "n0.txt", "answer": gold(0)}, {"file": "n1", "answer": gold(1)},
             {"file": "n2.txt", "answer": {**gold(2), "budget": "lots"}},
             {"file": "gone.txt", "answer": gold(5)}]
    answers.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    code, out, err = fieldstream("eval", "sets", "import", "Meetings", "--schema", "MeetingInfo",
                                 "--answers", str(answers), str(docs))
    assert code == 1, err  # imported what fits, every problem said
    problems = [line for line in err.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 3, err
    assert any(p.startswith("problem: n2.txt: budget: ") for p in problems)
    assert any("n3.txt" in p and "no answer" in p for p in problems)
    assert any("gone.txt" in p and "no document" in p for p in problems)
    assert out == "Meetings v1: 2 documents (2 imported, 3 problems)\n"

    code, out, _ = fieldstream("eval", "sets", "list")
    assert code == 0
    assert [line.split("\t")[:4] for line in out.splitlines()] == [
        ["Meetings", "v1", "MeetingInfo", "2 documents"], ["Notes", "v1", "MeetingInfo",
                                                          "4 documents"]]
    target = tmp_path / "meetings.zip"
    code, _, err = fieldstream("eval", "sets", "export", "Meetings", "--out", str(target))
    assert code == 0 and "# 2 documents written to" in err
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["answers.jsonl", "documents/n0.txt",
                                              "documents/n1.txt"]
    code, _, err = fieldstream("eval", "sets", "export", "Meetings", "--out", str(target))
    assert code == 2 and "exists: pass --force" in err
    code, _, err = fieldstream("eval", "sets", "import", "X", "--schema", "Nope",
                               "--answers", str(answers), str(docs))
    assert code == 2 and "Nope" in err and "Traceback" not in err


def test_sets_starter_installs_every_starter_set_or_the_one_named(world):
    from engine.evaluate.starter import STARTER_SETS, starter_set_name

    code, out, err = fieldstream("eval", "sets", "starter", "--limit", "3")
    assert code == 0, err
    installed = ["starter-invoices-3 v1: 3 documents (schema Invoice)",
                 "starter-meetings-3 v1: 3 documents (schema MeetingInfo)"]
    assert out.splitlines() == installed
    code, out, _ = fieldstream("eval", "sets", "list")
    listed = {line.split("\t")[0] for line in out.splitlines()}
    assert listed == {"Notes", *(starter_set_name(name, 3) for name in STARTER_SETS)}
    code, out, err = fieldstream("eval", "sets", "starter", "--limit", "3")  # no second copy
    assert (code, out.splitlines()) == (0, installed), err
    code, out, err = fieldstream("eval", "sets", "starter", "meetings")
    assert code == 0, err
    assert out == "starter-meetings v1: 12 documents (schema MeetingInfo)\n"
    code, out, err = fieldstream("eval", "sets", "starter", "recipes")
    assert code == 2 and out == "" and "No starter set 'recipes': invoices, meetings." in err


def test_a_timeout_stops_the_evaluation_and_fails_the_lanes_it_left_unscored(world):
    """Notes 2 and 3 answer only after 20 s: `--timeout` stops them, they are not scored (a
    stop is not a wrong answer), and the lane fails `--min-f1` however well 0 and 1 went."""
    world.responder = two_models(slow_from=2, delay=20.0)
    code, out, err = fieldstream("eval", "run", "Notes", "--lane", GOOD, "--min-f1", "0.5",
                                 "--timeout", "4")
    assert code == 1, err
    assert "error: stopped after --timeout 4 s; documents that did not run are not scored" in err
    assert "error: lane A (good): 2 of 4 documents not scored" in err
    rows = out.splitlines()
    assert rows[2].split()[:4] == ["A", "1.000", "1.000", "2/2"]
    assert any(r.startswith("  A  note-2.txt: cancelled, not scored (") for r in rows), out


def test_the_figures_wait_for_the_last_answers_to_be_written(world, monkeypatch):
    """A document's queue item can end a moment before its run's row has the answer: `eval
    run` prints the figures once the engine says every ended document is scored."""
    import dataclasses

    from engine.evaluate import console
    from engine.evaluate import evaluations as ev

    real, calls = ev.results, []

    def late(store, evaluation, **kw):
        figures = real(store, evaluation, **kw)
        calls.append(figures.finished)
        return figures if len(calls) > 2 else dataclasses.replace(figures, finished=False)

    monkeypatch.setattr(console.ev, "results", late)
    code, out, err = fieldstream("eval", "run", "Notes", "--lane", GOOD)
    assert code == 0, err
    assert len(calls) >= 3 and calls[-1] is True  # read again until finished
    assert out.splitlines()[0].endswith("· finished")
