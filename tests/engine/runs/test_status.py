"""Run statuses (engine.runs.status): one list, one rule from an ending to a status, and the
same status from the Runner, the outcome wording and the CLI for the same replayed stream.
Also the names that say what they hold (`Runner.ended`, `UsageError`) and the outcome hints."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from engine import cli
from engine import providers as pv
from engine.errors import (
    Cancelled,
    ContentFiltered,
    ExtractionError,
    JSONStreamError,
    ProviderError,
    Refused,
    StreamInterrupted,
    TextTooLong,
    TimedOut,
    Truncated,
    ValidationFailed,
)
from engine.llm.modes import MODES
from engine.runs.outcome import explain
from engine.runs.runner import Runner
from engine.runs.spec import RunSpec
from engine.runs.start import start_run
from engine.runs.status import RunStatus, status_for
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.stream.changes import DONE, INVALID, PENDING, STREAMING
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING, isolate

ANSWER = json.dumps(MEETING)


def chunks(text: str, size: int = 12) -> list[str]:
    return support.chunks(text, size)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


def custom(srv: ReplayServer) -> pv.Provider:
    return pv.Provider(pv.CUSTOM_NAME, "compatible", srv.base_url, MODES, "m", api_key="k")


def ended(runner: Runner, timeout: float = 10.0) -> Runner:
    assert runner.wait(timeout), "the run did not end"
    return runner


def run_cli(argv: list[str], text: str = MEETING_NOTE) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdin=io.StringIO(text), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# --- the list and the rule -------------------------------------------------------------------


def test_one_list_of_statuses_and_only_running_is_not_an_ending() -> None:
    assert [s.value for s in RunStatus] == [
        "running", "done", "invalid", "error", "cancelled", "truncated", "refused", "filtered",
        "interrupted",
    ]
    assert [s for s in RunStatus if not s.ended] == [RunStatus.RUNNING]
    # A run status is its own type: a field state string is not one.
    assert {PENDING, STREAMING} & {s.value for s in RunStatus} == set()
    assert isinstance(RunStatus(DONE), RunStatus) and RunStatus(INVALID) is RunStatus.INVALID


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (None, RunStatus.DONE),
        (Cancelled("stop"), RunStatus.CANCELLED),
        (Truncated("cut"), RunStatus.TRUNCATED),
        (Refused("no", refusal="no"), RunStatus.REFUSED),
        (ContentFiltered("filtered"), RunStatus.FILTERED),
        (ValidationFailed("bad"), RunStatus.INVALID),
        (JSONStreamError("not json"), RunStatus.INVALID),
        (StreamInterrupted("lost"), RunStatus.ERROR),
        (TimedOut("silent", seconds=1), RunStatus.ERROR),
        (TextTooLong("too long"), RunStatus.ERROR),
        (ProviderError("unreachable"), RunStatus.ERROR),
        (ExtractionError("other"), RunStatus.ERROR),
        (RuntimeError("a bug"), RunStatus.ERROR),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, RunStatus) else v.value,
)
def test_every_ending_maps_to_one_status(error: BaseException | None, status: RunStatus) -> None:
    assert status_for(error) is status
    assert explain(error).status is status  # the outcome wording says the same


def test_interrupted_is_left_to_the_history() -> None:
    """No live ending maps to INTERRUPTED: only a stored run whose process stopped reporting."""
    endings = [None, Cancelled(""), Truncated(""), Refused(""), ContentFiltered(""),
               ValidationFailed(""), JSONStreamError(""), StreamInterrupted(""), TimedOut(""),
               TextTooLong(""), ProviderError(""), RuntimeError("")]  # fmt: skip
    assert RunStatus.INTERRUPTED not in {status_for(e) for e in endings}


# --- the same status from the Runner, the outcome and the CLI ------------------------------


def _replies() -> dict[str, tuple[list[Reply], RunStatus, int]]:
    """Scripted endings: (replies, the run's status, the CLI's exit code)."""
    bad = json.dumps({**MEETING, "budget": "fifty thousand"})
    return {
        "done": ([Reply.content(chunks(ANSWER))], RunStatus.DONE, cli.EXIT_OK),
        "invalid": ([Reply.content(chunks(bad))], RunStatus.INVALID, cli.EXIT_FAILED),
        "truncated": ([Reply.content(chunks(ANSWER)[:4], finish_reason="length")],
                      RunStatus.TRUNCATED, cli.EXIT_FAILED),
        "refused": ([Reply.content([], refusal="I can't help with that.")],
                    RunStatus.REFUSED, cli.EXIT_FAILED),
        "filtered": ([Reply.content(chunks(ANSWER)[:4], finish_reason="content_filter")],
                     RunStatus.FILTERED, cli.EXIT_FAILED),
        "dropped": ([Reply.content(chunks(ANSWER), drop_after=4)], RunStatus.ERROR,
                    cli.EXIT_FAILED),
        "http 500": ([Reply.error(500, "boom"), Reply.error(500, "boom")], RunStatus.ERROR,
                     cli.EXIT_USAGE),
    }


@pytest.mark.parametrize("ending", list(_replies()))
def test_runner_outcome_and_cli_agree_on_the_status(
    ending: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies, status, code = _replies()[ending]
    with ReplayServer(models=["m"]) as srv:
        srv.queue(*replies)
        prov = custom(srv)
        runner = ended(start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo,
                                                      prov, "m", "json_schema"), prov))  # fmt: skip
        srv.queue(*replies)
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        exit_code, out, err = run_cli(["extract", "--schema", "MeetingInfo", "--provider",
                                       "custom"])  # fmt: skip
    assert runner.status is status, runner.error
    assert explain(runner.error).status is status
    assert runner.report().status is status
    assert f"# {status.value} · first field" in err
    assert exit_code == code, err
    if code == cli.EXIT_OK:
        assert json.loads(out) == MEETING
    elif code == cli.EXIT_FAILED:
        assert isinstance(json.loads(out), dict)  # what arrived is still printed
    else:
        assert out == "" and "error:" in err  # the provider could not be used: no JSON


def test_a_stopped_run_is_cancelled() -> None:
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(ANSWER, 2), pace=0.05))
        prov = custom(srv)
        runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                                "json_schema"), prov)
        while runner.take().metrics.chunks < 3:
            time.sleep(0.02)
        runner.stop(wait=2.0)
    assert runner.status is RunStatus.CANCELLED and runner.ended
    assert explain(runner.error).kind == "warning"


# --- names that say what they hold -----------------------------------------------------------


def test_ended_means_no_longer_running_whatever_the_outcome() -> None:
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(ANSWER)[:3], finish_reason="length"))
        prov = custom(srv)
        runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                                "json_schema"), prov)
        assert not hasattr(runner, "finished")
        ended(runner)
    assert runner.ended and runner.status is RunStatus.TRUNCATED  # ended, and did not succeed
    assert runner.take().ended


def test_bad_cli_input_is_a_usage_error_not_a_provider_error() -> None:
    with pytest.raises(cli.UsageError, match="Unknown schema 'Nope'"):
        cli.load_schema("Nope")
    with pytest.raises(cli.UsageError, match="Cannot load schema"):
        cli.load_schema("no_such_module:Thing")
    assert not issubclass(cli.UsageError, ProviderError)
    code, _, err = run_cli(["extract", "--schema", "MeetingInfo"], text="   ")
    assert code == cli.EXIT_USAGE and "error: No text to extract from" in err


def test_a_mode_the_provider_lacks_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSTREAM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("FIELDSTREAM_MODEL", "m")
    code, _, err = run_cli(["extract", "--schema", "MeetingInfo", "--provider", "local",
                            "--mode", "tools"])  # fmt: skip
    assert code == cli.EXIT_USAGE and "does not support mode 'tools'" in err


# --- wording ---------------------------------------------------------------------------------

ENDINGS = [Cancelled("x"), Truncated("x"), Refused("x"), ContentFiltered("x"),
           ValidationFailed("x"), JSONStreamError("x"), StreamInterrupted("x"),
           TimedOut("x"), TextTooLong("x"), ProviderError("x"), ExtractionError("x"),
           RuntimeError("x")]  # fmt: skip


@pytest.mark.parametrize("error", ENDINGS, ids=lambda e: type(e).__name__)
def test_no_outcome_sends_people_to_the_sidebar_for_the_provider(error: BaseException) -> None:
    """The provider and model are picked in the Extract page's right-hand column; the sidebar
    holds only the page links and the session's API key."""
    outcome = explain(error)
    words = f"{outcome.headline} {outcome.hint} {outcome.detail}"
    assert "sidebar" not in words
    if "provider and model" in words:
        assert "right-hand column" in words
