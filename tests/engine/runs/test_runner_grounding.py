"""The run carries grounding (engine.runs.runner): the text is indexed once in the runner's
thread, each leaf value is grounded as it becomes done, the cell and `Update.grounded` carry it
live, and the RunEnd keeps it, whatever the ending. Exact and not-found values carry the
tests; one number written differently checks that a normalised match counts as found."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from engine.grounding import EXACT, NORMALISED, NOT_FOUND, Grounding, Span
from engine.llm.request import RequestSpec
from engine.runs import hooks
from engine.runs.chunked import ChunkedRunner
from engine.runs.display import grounding_summary, span_context, value_at
from engine.runs.hooks import RunEnd
from engine.runs.runner import Runner, SharedIndexes
from engine.runs.spec import RunSpec
from engine.runs.start import extraction_factory, start_run
from engine.runs.status import RunStatus
from engine.schemas.fields import leaves
from engine.schemas.library import MeetingInfo, UserProfile
from engine.testing.replay_server import ReplayServer, Reply
from tests.engine.runs.test_hooks import custom
from tests.support import chunks, isolate

pytestmark = pytest.mark.timeout(30)

NOTE = """\
Kick-off on March 15th, 2024 at Grand Tech Arena. Budget: 50000 dollars.
- John Doe (johndoe@email.com, @TechGuru44)
- Jane Smith (janesmith@email.com, @DigitalDiva88)
Articles are due February 20th; John Doe chairs.
"""

INVENTED = "pm.okafor@quellbrook.biz"  # in no form anywhere in NOTE
ANSWER = {
    "users": [
        {"name": "John Doe", "email": "johndoe@email.com", "twitter": "@TechGuru44"},
        {"name": "Jane Smith", "email": INVENTED, "twitter": "@DigitalDiva88"},
    ],
    "date": "March 15th, 2024",
    "location": "Grand Tech Arena",
    "budget": 50000,
    "deadline": "February 20th",
}
LEAF_PATHS = {"users[0].name", "users[0].email", "users[0].twitter", "users[1].name",
              "users[1].email", "users[1].twitter", "date", "location", "budget", "deadline"}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


def run_meeting(srv: ReplayServer, text: str = NOTE) -> Runner:
    prov = custom(srv)
    return start_run(RunSpec.for_provider(text, "MeetingInfo", MeetingInfo, prov, "m",
                                          "json_schema"), prov)


def assert_exact(text: str, g: Grounding, value: object) -> None:
    assert g.status == EXACT and g.spans
    assert all(text[s.start:s.end] == str(value) for s in g.spans)


def test_values_in_the_text_get_their_spans_an_invented_email_is_not_found() -> None:
    ends: list[RunEnd] = []
    with ReplayServer() as srv, hooks.registered(on_end=ends.append):
        srv.queue(Reply.content(chunks(json.dumps(ANSWER), 9)))
        runner = run_meeting(srv)
        assert runner.wait(10)
    assert runner.status is RunStatus.DONE
    grounding = runner.grounding
    assert set(grounding) == LEAF_PATHS  # leaves only: no row, no list, no root
    for path in LEAF_PATHS - {"users[1].email"}:
        assert_exact(NOTE, grounding[path], value_at(ANSWER, path))
    assert len(grounding["users[0].name"].spans) == 2  # "John Doe" stands twice
    assert grounding["users[1].email"] == Grounding(NOT_FOUND)
    assert runner.not_found == ["users[1].email"]
    [end] = ends
    assert end.grounding == grounding
    # The form's cells carry it too (copies in an update).
    users = runner.snapshot_all().leaves["users"]
    assert users.cells[1]["email"].grounding == Grounding(NOT_FOUND)
    assert users.cells[0]["email"].grounding == grounding["users[0].email"]
    assert users.items[0].grounding is None  # a row is not a value to look for


def test_list_items_are_grounded_one_by_one() -> None:
    text = "Ada Lovelace writes about engines. She likes chess and poetry."
    answer = {"name": "Ada Lovelace", "bio": "writes about engines",
              "interests": ["chess", "poetry", "knitting"]}
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(json.dumps(answer), 7)))
        prov = custom(srv)
        runner = start_run(RunSpec.for_provider(text, "UserProfile", UserProfile, prov, "m",
                                                "json_schema"), prov)
        assert runner.wait(10)
    grounding = runner.grounding
    assert_exact(text, grounding["interests[0]"], "chess")
    assert grounding["interests[1]"].spans == (Span(text.index("poetry"), len(text) - 1),)
    assert runner.not_found == ["interests[2]"]
    items = runner.snapshot_all().leaves["interests"].items
    assert [c.grounding.status for c in items if c.grounding] == [EXACT, EXACT, NOT_FOUND]


def test_grounding_arrives_in_the_update_as_the_field_completes_then_a_stop_keeps_it() -> None:
    ends: list[RunEnd] = []
    with ReplayServer() as srv, hooks.registered(on_end=ends.append):
        srv.queue(Reply.content(chunks(json.dumps(ANSWER), 2), pace=0.05))  # about 10 s
        runner = run_meeting(srv)
        seen: dict[str, Grounding] = {}
        while "users[0].email" not in seen:
            update = runner.next_update()
            assert not set(update.grounded) & set(seen), "each path is news once"
            seen.update(update.grounded)
            assert not update.ended
        assert not runner.ended  # highlighted live, long before the run ends
        assert "users[0].name" in seen and "date" not in seen
        runner.stop()
        assert runner.wait(5)
    assert runner.status is RunStatus.CANCELLED
    [end] = ends
    assert set(seen) <= set(end.grounding) and "date" not in end.grounding
    assert_exact(NOTE, end.grounding["users[0].email"], "johndoe@email.com")


def test_a_cut_answer_keeps_the_grounding_of_the_fields_done_so_far() -> None:
    ends: list[RunEnd] = []
    answer = json.dumps(ANSWER)
    cut = answer[:answer.index('"date"') + 12]  # the date is still streaming
    with ReplayServer() as srv, hooks.registered(on_end=ends.append):
        srv.queue(Reply.content(chunks(cut), finish_reason="length"),
                  Reply.content(chunks(cut), drop_after=len(chunks(cut)) + 1))
        for _ in range(2):
            assert run_meeting(srv).wait(10)
    assert [e.status for e in ends] == [RunStatus.TRUNCATED, RunStatus.ERROR]
    for end in ends:
        assert set(end.grounding) == {p for p in LEAF_PATHS if p.startswith("users")}
        assert end.grounding["users[1].email"].status == NOT_FOUND


@pytest.mark.parametrize("text", [None, ""])
def test_no_text_no_index_and_nothing_grounded(text: str | None) -> None:
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(json.dumps(ANSWER))))
        spec = None if text is None else RunSpec(text, "MeetingInfo", MeetingInfo, "custom",
                                                 srv.base_url, "m", "json_schema")
        factory = extraction_factory(RequestSpec(NOTE, MeetingInfo, "m", "json_schema"),
                                     custom(srv))
        runner = Runner(leaves(MeetingInfo), factory, spec=spec).start()
        grounded: dict[str, Grounding] = {}
        while not runner.ended:
            grounded.update(runner.next_update().grounded)
        assert runner.wait(10)
    assert runner.status is RunStatus.DONE and runner._grounder.index is None
    assert grounded == {} and runner.grounding == {} and runner.report().grounding == {}
    users = runner.snapshot_all().leaves["users"]
    assert users.cells[0]["email"].grounding is None


def test_the_index_is_built_beside_the_request_and_early_values_wait_for_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow index (a long text) holds up neither the request nor the stream; values done
    before it is ready are grounded once it is, before the run reports its end."""
    from engine.runs import grounder as grounder_module

    threads: list[str] = []
    ready_at: list[float] = []
    real = grounder_module.TextIndex

    def slow(text: str) -> object:
        threads.append(threading.current_thread().name)
        time.sleep(0.5)
        ready_at.append(time.time())
        return real(text)

    monkeypatch.setattr(grounder_module, "TextIndex", slow)
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(json.dumps(ANSWER))))
        runner = run_meeting(srv)
        assert runner.wait(10)
        first_chunk_at = srv.sent[0][0]
    assert threads == ["fieldstream-index"]  # once, never in the caller's (the UI) thread
    assert first_chunk_at < ready_at[0]  # the answer streamed while the text was indexed
    assert runner.not_found == ["users[1].email"]
    assert set(runner.report().grounding) == LEAF_PATHS


def test_runs_given_one_text_share_one_index_built_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (Hardening II #12): each lane of a comparison built its own index of the
    same text (four lanes on 1 MB without spaces: about 2 GB). Runs given one `SharedIndexes`
    build it once, the first to ask while the others wait, and each is grounded from it; a
    different text gets its own."""
    from engine.runs import grounder as grounder_module

    built: list[str] = []
    real = grounder_module.TextIndex

    def counting(text: str) -> object:
        built.append(text)
        time.sleep(0.3)  # slow: the other runs ask while it is being built
        return real(text)

    monkeypatch.setattr(grounder_module, "TextIndex", counting)
    other = "Notes, second draft.\n" + NOTE
    texts = [NOTE[:9] + NOTE[9:] for _ in range(4)] + [other]  # equal texts, not one object
    shared = SharedIndexes()
    with ReplayServer() as srv:
        srv.queue(*[Reply.content(chunks(json.dumps(ANSWER))) for _ in texts])
        prov = custom(srv)
        runners = [start_run(RunSpec.for_provider(text, "MeetingInfo", MeetingInfo, prov, "m",
                                                  "json_schema"), prov, indexes=shared)
                   for text in texts]
        assert all(runner.wait(10) for runner in runners)
    assert sorted(built, key=len) == [NOTE, other]
    assert len({id(runner._grounder.index) for runner in runners[:4]}) == 1
    for runner in runners:
        assert runner.not_found == ["users[1].email"]
        assert set(runner.report().grounding) == LEAF_PATHS


def test_a_text_too_long_to_ground_is_not_indexed(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.runs import grounder as grounder_module

    monkeypatch.setattr(grounder_module, "MAX_TEXT_CHARS", len(NOTE) - 1)
    monkeypatch.setattr(grounder_module, "TextIndex", lambda text: pytest.fail("indexed"))
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(json.dumps(ANSWER))))
        runner = run_meeting(srv)
        assert runner.wait(10)
    assert runner.status.value == "done" and runner.grounding == {}


def test_the_summary_line() -> None:
    found = Grounding(EXACT, (Span(0, 3),))
    grounding = {"users[0].email": found, "users[1].email": Grounding(NOT_FOUND),
                 "date": found}
    assert grounding_summary({}) == ""
    assert grounding_summary({"date": found}) == "1 value found in the text."
    assert grounding_summary(grounding, ANSWER) == (
        f"2 values found in the text, 1 not in the text — check it: users[1].email ({INVENTED})")
    two = {**grounding, "budget": Grounding(NOT_FOUND)}
    assert grounding_summary(two) == ("2 values found in the text, 2 not in the text — check "
                                      "them: users[1].email, budget")
    assert value_at(ANSWER, "users[1].name") == "Jane Smith"
    assert value_at(ANSWER, "users[5].name") is None and value_at(None, "date") is None


def test_the_text_around_a_span() -> None:
    at = NOTE.index("johndoe@email.com")
    span = Span(at, at + len("johndoe@email.com"))
    assert span_context(NOTE, span, 6) == "… Doe («johndoe@email.com», @Tec…"
    assert span_context("ab\ncd", Span(0, 2)) == "«ab» cd"  # one line


def test_a_number_written_differently_is_normalised_and_counts_as_found() -> None:
    text = "The budget for the event is set at $50,000, agreed by John Doe."
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(json.dumps(ANSWER), 9)))
        runner = run_meeting(srv, text)
        assert runner.wait(10)
    g = runner.grounding["budget"]
    assert g.status == NORMALISED and [text[s.start:s.end] for s in g.spans] == ["50,000"]
    assert grounding_summary({"budget": g}) == "1 value found in the text."
    assert "budget" not in runner.not_found and "users[0].name" not in runner.not_found
    assert "users[1].email" in runner.not_found


def test_a_failing_aligner_never_breaks_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.runs import grounder as grounder_module

    class Broken(grounder_module.TextIndex):  # the real index, failing on the third value
        calls = 0

        def ground(self, value: object) -> Grounding | None:
            Broken.calls += 1
            if Broken.calls == 3:
                raise RuntimeError("aligner bug")
            return super().ground(value)

    monkeypatch.setattr(grounder_module, "TextIndex", Broken)
    with ReplayServer() as srv, caplog.at_level(logging.ERROR, logger="engine.runs.hooks"):
        srv.queue(Reply.content(chunks(json.dumps(ANSWER))))
        runner = run_meeting(srv)
        assert runner.wait(10)
    assert runner.status is RunStatus.DONE and runner.result is not None
    assert set(runner.grounding) == {"users[0].name", "users[0].email"}  # kept what it had
    assert any("grounding users[0].twitter failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("chunking", ["auto", "always"])
def test_a_run_with_grounding_off_grounds_nothing_and_records_none(chunking: str) -> None:
    """A schema draft's text is a description, no source to find values in: `ground=False`
    leaves every value ungrounded, live and at the end (a split run's parts too)."""
    ends: list[RunEnd] = []
    with ReplayServer() as srv, hooks.registered(on_end=ends.append):
        srv.queue(Reply.content(chunks(json.dumps(ANSWER), 9)))
        prov = custom(srv)
        spec = RunSpec.for_provider(NOTE, "MeetingInfo", MeetingInfo, prov, "m", "json_schema",
                                    chunking=chunking, ground=False)
        assert not spec.ground and RunSpec(NOTE, "M", MeetingInfo, "p", None, "m", "x").ground
        runner = start_run(spec, prov)
        assert isinstance(runner, ChunkedRunner) == (chunking == "always")
        seen: dict[str, Grounding] = {}
        while not (update := runner.next_update()).ended:
            seen.update(update.grounded)
        assert runner.wait(10)
    assert runner.status is RunStatus.DONE, runner.error
    assert runner.result is not None and runner.result.location == "Grand Tech Arena"
    assert seen == {} and runner.grounding == {} and runner.not_found == []
    leaves_now = runner.snapshot_all().leaves
    assert leaves_now["location"].cell.grounding is None
    assert all(c.grounding is None for row in leaves_now["users"].cells for c in row.values())
    [end] = ends
    assert end.grounding == {}
