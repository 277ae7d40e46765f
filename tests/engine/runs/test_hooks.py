"""Run hooks (engine.runs.hooks): every run, from the page path and the CLI alike, calls the
start hooks and then, once, the end hooks with everything a history row needs; a failing hook
never breaks a run. Timings come from the stream (one clock, one rule) in both paths."""

from __future__ import annotations

import getpass
import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import cli
from engine import providers as pv
from engine.llm.modes import MODES
from engine.llm.request import RequestSpec
from engine.runs import hooks
from engine.runs.display import format_seconds
from engine.runs.hooks import RunEnd, RunStart
from engine.runs.spec import SOURCE_CLI, SOURCE_EXTRACT, RunSpec
from engine.runs.start import extraction_factory, start_run
from engine.runs.status import RunStatus
from engine.schemas.library import MEETING_NOTE, MeetingInfo
from engine.stream.snapshot import Snapshot
from engine.testing.replay_server import ReplayServer, Reply
from tests.support import MEETING, isolate

KEY = "5e1f0a9b7c3d4e2f8a6b1c0d9e7f3a2b"
ANSWER = json.dumps(MEETING)
PACE = 0.01


def chunks(text: str, size: int = 9) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch, tmp_path)


class Recorder:
    """A stand-in for the history: keeps what the hooks got, and in which thread."""

    def __init__(self) -> None:
        self.starts: list[RunStart] = []
        self.ends: list[RunEnd] = []
        self.threads: list[str] = []

    def start(self, start: RunStart) -> None:
        self.starts.append(start)
        self.threads.append(threading.current_thread().name)

    def end(self, end: RunEnd) -> None:
        self.ends.append(end)
        self.threads.append(threading.current_thread().name)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    with hooks.registered(on_start=rec.start, on_end=rec.end):
        yield rec


def custom(srv: ReplayServer, key: str | None = KEY, base_url: str | None = None) -> pv.Provider:
    return pv.Provider(pv.CUSTOM_NAME, "compatible", base_url or srv.base_url, MODES, "m",
                       api_key=key)


def sent_deltas(srv: ReplayServer) -> list[str]:
    return [delta for _, delta in srv.sent if delta]


# --- the page path -----------------------------------------------------------------------------


def test_a_run_reports_its_start_and_its_end_with_everything_a_row_needs(
    recorder: Recorder,
) -> None:
    with ReplayServer(api_key=KEY) as srv:
        srv.queue(Reply.content(chunks(ANSWER), pace=PACE))
        prov = custom(srv)
        runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                                "json_schema", 1024), prov)
        assert runner.wait(10)
        deltas, base_url = sent_deltas(srv), srv.base_url
    [start], [end] = recorder.starts, recorder.ends
    assert start.run_id == end.run_id == runner.run_id
    assert recorder.threads == ["fieldstream-runner"] * 2  # called in the runner's thread
    spec = end.spec
    assert spec is start.spec is runner.spec
    assert (spec.text, spec.schema_name, spec.schema) == (MEETING_NOTE, "MeetingInfo",
                                                          MeetingInfo)
    assert (spec.provider, spec.base_url, spec.model, spec.mode, spec.max_tokens) == (
        pv.CUSTOM_NAME, base_url, "m", "json_schema", 1024)
    assert (spec.source, spec.who) == (SOURCE_EXTRACT, None)
    assert spec.json_schema()["title"] == "MeetingInfo"
    assert end.status is RunStatus.DONE and end.error is None and end.error_type is None
    assert end.result == MEETING and end.partial is None and end.field_errors == {}
    assert end.usage is not None and end.usage["completion_tokens"] > 0
    assert end.finish_reason == "stop"
    # The chunk timeline: each delta as it arrived, in order, offsets in ms from the request.
    assert [delta for _, delta in end.chunks] == deltas and end.text == ANSWER
    offsets = [offset for offset, _ in end.chunks]
    assert all(isinstance(o, int) for o in offsets) and offsets == sorted(offsets)
    t = end.timings
    assert t.started_at <= t.ended_at
    assert t.wait is not None and t.first_token is not None and t.first_done is not None
    assert t.first_token <= t.first_done <= t.total


def test_a_cut_answer_reports_its_partial_and_why(recorder: Recorder) -> None:
    bad = json.dumps({**MEETING, "budget": "fifty thousand"})
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(ANSWER)[:6], finish_reason="length"),
                  Reply.content(chunks(bad)))
        for _ in range(2):
            prov = custom(srv)
            assert start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov,
                                                  "m", "json_schema"), prov).wait(10)  # fmt: skip
    cut, invalid = recorder.ends
    assert cut.status is RunStatus.TRUNCATED and cut.error_type == "Truncated"
    assert cut.result is None and cut.partial["users"][0]["name"] == "John Doe"
    assert "token limit" in (cut.error_message or "")
    assert invalid.status is RunStatus.INVALID and invalid.error_type == "ValidationFailed"
    assert "budget" in invalid.field_errors and invalid.partial["location"] == MEETING["location"]


def test_the_end_hook_runs_once_for_a_stopped_run_after_its_request_closed(
    recorder: Recorder,
) -> None:
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(ANSWER, 2), pace=0.05))
        prov = custom(srv)
        runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                                "json_schema"), prov)
        while runner.take().metrics.chunks < 3:
            threading.Event().wait(0.02)
        runner.stop()
        assert runner.wait(5)
    [end] = recorder.ends
    assert end.status is RunStatus.CANCELLED and end.error_type == "Cancelled"
    assert end.partial is not None and len(end.chunks) >= 3


def test_a_failing_hook_is_logged_and_never_breaks_the_run(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(payload: Any) -> None:
        raise RuntimeError("the history database is gone")

    with ReplayServer() as srv, hooks.registered(on_start=broken, on_end=broken):
        srv.queue(Reply.content(chunks(ANSWER)))
        with caplog.at_level(logging.ERROR, logger="engine.runs.hooks"):
            prov = custom(srv)
            runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov,
                                                    "m", "json_schema"), prov)
            assert runner.wait(10)
    assert runner.status is RunStatus.DONE
    assert len(recorder.starts) == len(recorder.ends) == 1  # the other hooks still ran
    failures = [r for r in caplog.records if "hook" in r.getMessage()]
    assert len(failures) == 2 and all(r.exc_info for r in failures)
    assert {"start", "end"} <= {word for r in failures for word in r.getMessage().split()}


def test_unregistered_hooks_are_not_called() -> None:
    seen: list[RunEnd] = []
    handle = hooks.register(on_end=seen.append)
    hooks.unregister(handle)
    hooks.unregister(handle)  # twice is harmless
    with ReplayServer() as srv:
        srv.queue(Reply.content(chunks(ANSWER)))
        prov = custom(srv)
        assert start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                              "json_schema"), prov).wait(10)  # fmt: skip
    assert seen == []


def test_the_spec_holds_no_key_and_no_password(recorder: Recorder) -> None:
    with ReplayServer(api_key=KEY) as srv:
        secret_url = srv.base_url.replace("http://", "http://ann:hunter2pass@")
        srv.queue(Reply.error(401, f"Incorrect API key provided: {KEY}"))
        prov = custom(srv, base_url=secret_url)
        runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, prov, "m",
                                                "json_schema"), prov)
        assert runner.wait(10)
    [end] = recorder.ends
    assert end.status is RunStatus.ERROR
    assert end.spec is not None and end.spec.base_url is not None
    assert "hunter2pass" not in end.spec.base_url and "***@" in end.spec.base_url
    assert KEY not in repr(end) and KEY not in (end.error_message or "")


# --- the CLI uses the same hooks, and the same timings -------------------------------------


def test_the_cli_goes_through_the_same_hooks(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReplayServer(models=["m"]) as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        srv.queue(Reply.content(chunks(ANSWER), pace=PACE))
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["extract", "--schema", "meetinginfo", "--provider", "custom"],
                        stdin=io.StringIO(MEETING_NOTE), stdout=out, stderr=err)
        deltas = sent_deltas(srv)
    assert code == cli.EXIT_OK
    [start], [end] = recorder.starts, recorder.ends
    assert start.run_id == end.run_id
    assert end.spec is not None and end.spec.source == SOURCE_CLI
    assert end.spec.schema_name == "MeetingInfo" and end.spec.schema is MeetingInfo
    assert end.spec.who == getpass.getuser()
    assert end.status is RunStatus.DONE and json.loads(out.getvalue()) == end.result == MEETING
    assert [delta for _, delta in end.chunks] == deltas
    t = end.timings
    assert (f"# done · first field {format_seconds(t.first_done)} · total "
            f"{format_seconds(t.total)}") in err.getvalue()


def _first_done_chunk(deltas: list[str]) -> int:
    """The index of the chunk that completes the answer's first leaf (users[0].name)."""
    text, end = "", ANSWER.index('"John Doe"') + len('"John Doe"')
    for i, delta in enumerate(deltas):
        text += delta
        if len(text) >= end:
            return i
    raise AssertionError("the first field never completed")


def _assert_the_streams_clock(end: RunEnd) -> None:
    """first token <= first done, and the first done field falls between the offsets of the
    chunk before the one that completed it and that chunk: the same origin (the request's
    start) and the same rule as the stream's own chunk offsets."""
    t = end.timings
    assert t.first_token is not None and t.first_done is not None
    k = _first_done_chunk([delta for _, delta in end.chunks])
    before = end.chunks[k - 1][0] if k else 0
    assert t.first_token * 1000 <= t.first_done * 1000 + 0.5
    assert before - 0.5 <= t.first_done * 1000 <= end.chunks[k][0] + 0.5


def test_the_cli_and_the_page_take_first_done_from_the_stream(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same replayed stream through the page's path and the CLI's: both report the
    stream's own first-done time (from the request's start), and the page shows that very
    number."""
    script = chunks(ANSWER)
    snaps: list[Snapshot] = []
    with ReplayServer(models=["m"]) as srv:
        srv.queue(Reply.content(script, pace=PACE))
        provider = custom(srv)
        factory = extraction_factory(RequestSpec(MEETING_NOTE, MeetingInfo, "m", "json_schema"),
                                     provider)

        def watched(cancel: threading.Event) -> Iterator[Snapshot]:
            for snap in factory(cancel):
                snaps.append(snap)
                yield snap

        runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, provider,
                                                "m", "json_schema"), provider, factory=watched)
        assert runner.wait(10)
        srv.queue(Reply.content(script, pace=PACE))
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        err = io.StringIO()
        assert cli.main(["extract", "--schema", "MeetingInfo", "--provider", "custom"],
                        stdin=io.StringIO(MEETING_NOTE), stdout=io.StringIO(),
                        stderr=err) == cli.EXIT_OK  # fmt: skip
    page, command = recorder.ends
    stream = snaps[-1].timings
    assert stream is not None
    assert page.timings.first_done == stream.first_done  # the stream's number, as it is
    assert page.timings.first_token == stream.first_token
    assert runner.take().metrics.first_done == stream.first_done  # what the page shows
    assert (page.spec.source, command.spec.source) == (SOURCE_EXTRACT, SOURCE_CLI)
    for end in (page, command):
        _assert_the_streams_clock(end)
    assert f"first field {format_seconds(command.timings.first_done)}" in err.getvalue()
