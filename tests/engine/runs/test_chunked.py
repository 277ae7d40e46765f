"""A text split into parts (engine.runs.chunked): each part a real request to a server on
127.0.0.1 (answering by what the part's text says), the answers merged live into one run."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engine import providers as pv
from engine.documents.chunks import split_text
from engine.documents.model import DocumentInfo
from engine.errors import Cancelled, PartsFailed
from engine.runs import hooks
from engine.runs.chunked import ChunkedRunner, plan_parts, split_needed
from engine.runs.limits import Limiter
from engine.runs.spec import RunSpec
from engine.runs.start import extraction_factory, start_run
from engine.runs.status import RunStatus
from engine.schemas.fields import leaves
from engine.testing.replay_server import ReplayServer, Reply


class Contract(BaseModel):
    party: str | None = None
    city: str | None = None
    amount: str | None = None
    signed_on: str | None = None
    tags: list[str] = []


FILLER = ("The parties agree that the following terms apply to the supply of services. "
          "Each obligation is described in its own clause below. ")
FACTS = {"party": "Party: Müller & Söhne GmbH.", "city": "Place of signing: Lyon.",
         "amount": "Amount due: 12,500 EUR.", "signed_on": "Signed on 2026-03-01."}


def document_text() -> str:
    """Four facts, far apart: a part of 700 characters holds one or two of them."""
    blocks = []
    for fact in FACTS.values():
        blocks.append(FILLER * 4 + fact + " Tag: clause-" + fact.split(":")[0].lower().split()[0]
                      + ".")
    return "\n\n".join(blocks)


PATTERNS = {"party": r"Party: ([^.]+GmbH)", "city": r"Place of signing: (\w+)",
            "amount": r"Amount due: ([\d,]+ EUR)", "signed_on": r"Signed on ([\d-]+)"}


def answer_for(text: str) -> dict[str, Any]:
    """What a careful model answers for one part: only what that part states."""
    out: dict[str, Any] = {}
    for name, pattern in PATTERNS.items():
        found = re.search(pattern, text)
        out[name] = found.group(1) if found else None
    out["tags"] = re.findall(r"Tag: ([\w-]+)", text)
    return out


def respond(body: dict[str, Any], pace: float = 0.002) -> Reply:
    text = body["messages"][-1]["content"]
    if "FAIL-HERE" in text:
        return Reply.error(500, "the part's server broke")
    answer = json.dumps(answer_for(text))
    return Reply.content([answer[i:i + 7] for i in range(0, len(answer), 7)], pace=pace)


def provider(srv: ReplayServer) -> pv.Provider:
    return pv.Provider(pv.CUSTOM_NAME, "compatible", srv.base_url, ("json_schema",), "m",
                       api_key="test-key")


def spec_for(srv: ReplayServer, text: str, **kw: Any) -> RunSpec:
    return RunSpec.for_provider(text, "Contract", Contract, provider(srv), "m", "json_schema",
                                **kw)


def chunked(srv: ReplayServer, text: str, size: int = 700, *, limit: int = 2,
            **kw: Any) -> ChunkedRunner:
    spec = spec_for(srv, text, **kw)
    prov = provider(srv)
    return ChunkedRunner(leaves(Contract), spec, plan=lambda: split_text(text, size, 60),
                         part_factory=lambda part: extraction_factory(part.request, prov),
                         limiter=Limiter(limit), secret="test-key")


@pytest.fixture
def server(srv: ReplayServer) -> ReplayServer:
    srv.responder = respond
    return srv


def test_each_value_comes_from_the_part_that_states_it_and_stands_where_it_is(
    server: ReplayServer,
) -> None:
    text = document_text()
    runner = chunked(server, text).start()
    assert runner.wait(20)
    assert runner.status is RunStatus.DONE, runner.error
    assert runner.result.model_dump() == {
        "party": "Müller & Söhne GmbH", "city": "Lyon", "amount": "12,500 EUR",
        "signed_on": "2026-03-01",
        "tags": ["clause-party", "clause-place", "clause-amount", "clause-signed"]}
    parts = runner.parts
    assert len(parts) >= 4 and all(status is RunStatus.DONE for _, _, status in parts)
    for path, grounding in runner.grounding.items():  # whole-text offsets, not the part's
        span = grounding.spans[0]
        assert grounding.status == "exact", path
        assert text[span.start:span.end] == _value_at(runner.result.model_dump(), path)


def _value_at(data: dict[str, Any], path: str) -> Any:
    match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", path)
    assert match is not None
    value = data[match.group(1)]
    return value[int(match.group(2))] if match.group(2) else value


def test_the_form_fills_in_as_parts_complete_and_says_how_far_it_is(
    server: ReplayServer,
) -> None:
    server.responder = lambda body: respond(body, pace=0.03)
    runner = chunked(server, document_text(), limit=1).start()
    seen_parts, done_counts = [], []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        update = runner.next_update(timeout=0.2)
        if update.parts is not None:
            seen_parts.append((update.parts.current, update.parts.total, update.parts.done))
        done_counts.append(update.done_leaves)
        if update.ended:
            break
    assert runner.status is RunStatus.DONE
    total = seen_parts[-1][1]
    assert total >= 4
    assert seen_parts[-1] == (total, total, total)
    assert any(0 < done < total for _, _, done in seen_parts)  # "chunk k of n" on the way
    assert any(0 < d < 5 for d in done_counts)  # fields filled in before the last part


def test_parts_run_through_the_providers_limiter(server: ReplayServer) -> None:
    server.responder = lambda body: respond(body, pace=0.02)
    runner = chunked(server, document_text(), limit=1).start()
    assert runner.wait(30)
    assert server.peak_in_flight == 1
    server.reset()
    server.responder = lambda body: respond(body, pace=0.02)
    runner = chunked(server, document_text(), limit=2).start()
    assert runner.wait(30)
    assert server.peak_in_flight == 2


def test_a_failed_part_is_named_and_the_others_still_merge(server: ReplayServer) -> None:
    text = document_text().replace("Amount due", "FAIL-HERE Amount due")
    info = DocumentInfo("c.pdf", "pdf", 1, "0" * 64, 2, len(text), (0, len(text) // 2))
    runner = chunked(server, text, document=info).start()
    assert runner.wait(20)
    assert runner.status is RunStatus.ERROR
    assert isinstance(runner.error, PartsFailed)
    assert re.search(r"chunk \d of \d \(page[s]? [\d–]+\): .*500", str(runner.error))
    merged = runner.report().partial
    read = [text[c.start:c.end] for c in split_text(text, 700, 60)]
    read = [chunk for chunk in read if "FAIL-HERE" not in chunk]  # the parts that answered
    expected = answer_for("\n".join(read))
    assert {k: merged[k] for k in PATTERNS} == {k: expected[k] for k in PATTERNS}
    assert merged["amount"] is None and merged["party"] == "Müller & Söhne GmbH"


def test_stop_keeps_what_was_merged_and_stops_every_part(server: ReplayServer) -> None:
    slow = threading.Event()

    def answer(body: dict[str, Any]) -> Reply:
        if "Signed on" in body["messages"][-1]["content"]:
            slow.set()
            return Reply.content(['{"party": null, "ci'] + ["  "] * 2000, pace=0.01)
        return respond(body)

    server.responder = answer
    runner = chunked(server, document_text(), limit=4).start()
    assert slow.wait(10)
    deadline = time.monotonic() + 10
    while runner.leaves_copy()["party"].cell.value is None and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.stop()
    assert runner.wait(10)
    assert isinstance(runner.error, Cancelled)
    report = runner.report()
    assert report.partial["party"] == "Müller & Söhne GmbH"
    assert any(p.status is RunStatus.CANCELLED for p in report.parts)


def test_the_hooks_see_one_run_with_its_parts(server: ReplayServer) -> None:
    text = document_text()
    starts, ends = [], []
    with hooks.registered(on_start=starts.append, on_end=ends.append):
        runner = chunked(server, text).start()
        assert runner.wait(20)
    assert [s.run_id for s in starts] == [runner.run_id] == [e.run_id for e in ends]
    end = ends[0]
    assert end.chunks == () and end.result["city"] == "Lyon"
    assert [p.index for p in end.parts] == list(range(len(end.parts)))
    assert end.parts[0].start == 0 and end.parts[-1].end == len(text)
    for part in end.parts:
        assert part.kind == "chunk" and part.status is RunStatus.DONE and part.chunks
        for grounding in part.grounding.values():
            span = grounding.spans[0]
            assert part.start <= span.start < span.end <= part.end


def test_extra_passes_ask_again_for_the_missing_fields(server: ReplayServer) -> None:
    asked: list[str] = []

    def answer(body: dict[str, Any]) -> Reply:
        system = body["messages"][0]["content"]
        asked.append(system)
        if "found no value for" in system and "Place of signing" in body["messages"][-1][
                "content"]:
            return Reply.content([json.dumps({**answer_for(""), "city": "Lyon"})])
        reply = answer_for(body["messages"][-1]["content"])
        reply["city"] = None  # the first reading misses the city
        return Reply.content([json.dumps(reply)])

    server.responder = answer
    runner = chunked(server, document_text(), passes=1).start()
    assert runner.wait(20)
    assert runner.result.city == "Lyon"
    kinds = [kind for kind, _, _ in runner.parts]
    assert "pass" in kinds and kinds.index("pass") > kinds.index("chunk")
    assert any("found no value for: city" in s for s in asked)


def test_start_run_splits_when_asked_or_when_the_text_cannot_fit(server: ReplayServer) -> None:
    prov = provider(server)
    short = spec_for(server, "Party: A GmbH.")
    assert not split_needed(short, prov)
    assert split_needed(dataclasses.replace(short, chunking="always"), prov)
    gpt4 = pv.Provider(pv.OPENAI_NAME, "openai", server.base_url, ("json_schema",), "gpt-4",
                       api_key="k")
    long = RunSpec.for_provider(document_text() * 30, "Contract", Contract, gpt4, "gpt-4",
                                "json_schema")
    assert split_needed(long, gpt4)
    plan = plan_parts(long, gpt4)
    assert len(plan) > 1 and plan[0].start == 0 and plan[-1].end == len(long.text)
    runner = start_run(dataclasses.replace(short, chunking="always"), prov)
    assert isinstance(runner, ChunkedRunner)
    assert runner.wait(20) and runner.result.party == "A GmbH"


def test_a_text_over_the_longest_allowed_is_refused_with_its_size(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDSTREAM_MAX_TEXT_CHARS", "1000")
    prov = provider(server)
    for chunking in ("auto", "always"):
        runner = start_run(spec_for(server, "x" * 1500, chunking=chunking), prov)
        assert runner.wait(10)
        assert "1,500 characters" in str(runner.error) and "1,000" in str(runner.error)
    assert server.requests == []


def test_a_recorded_split_run_replays_through_the_same_merge(
    server: ReplayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.history import get_run
    from engine.history.recorder import Recorder
    from engine.history.replay import start_replay
    from engine.schemas.definition import FieldDef, SchemaDefinition, build_model
    from engine.schemas.saved import save_schema
    from engine.store import Store
    from tests.support import isolate

    isolate(monkeypatch, tmp_path)
    text = document_text()
    info = DocumentInfo("c.pdf", "pdf", 1, "0" * 64, 2, len(text), (0, len(text) // 2))
    fields = [FieldDef(name=n, required=False) for n in PATTERNS]
    defn = SchemaDefinition(name="Contract", fields=[
        *fields, FieldDef(name="tags", type="list of text", required=False)])
    with Store(f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path) as store:
        saved = save_schema(store, defn)  # a replay finds the schema where the run found it
        schema, prov = build_model(defn), provider(server)
        spec = RunSpec.for_provider(text, "Contract", schema, prov, "m", "json_schema",
                                    schema_version=str(saved.version), document=info)
        recorder = Recorder(store, owns_store=False).register()
        try:
            runner = ChunkedRunner(
                leaves(schema), spec, plan=lambda: split_text(text, 700, 60),
                part_factory=lambda part: extraction_factory(part.request, prov),
                limiter=Limiter(2)).start()
            assert runner.wait(20) and runner.status is RunStatus.DONE
        finally:
            recorder.unregister()
        run = get_run(store, runner.run_id)
        assert run is not None and run.document == info
        assert [p.span_start for p in run.parts] == [c.start for _, c, _ in runner.parts]
        starts: list[Any] = []
        with hooks.registered(on_start=starts.append):
            again = start_replay(run, speed=4.0, store=store)
            assert again.wait(20)
        assert starts == []  # a replay is not a run: nothing recorded
    assert isinstance(again, ChunkedRunner) and again.status is RunStatus.DONE
    assert again.result == runner.result
    assert {p: g.spans for p, g in again.grounding.items()} == {
        p: g.spans for p, g in runner.grounding.items()}


def test_each_part_may_answer_null_for_what_it_does_not_mention() -> None:
    from engine.runs.chunked import part_schema
    from engine.schemas.library import MeetingInfo

    lenient = part_schema(MeetingInfo)
    assert lenient.model_validate({}).model_dump() == dict.fromkeys(MeetingInfo.model_fields)
    assert [n.path for n in leaves(lenient)] == [n.path for n in leaves(MeetingInfo)]
    assert lenient.model_fields["budget"].description == MeetingInfo.model_fields[
        "budget"].description


def test_the_timeline_has_a_bar_per_part(server: ReplayServer) -> None:
    text = document_text()
    runner = chunked(server, text, limit=1).start()
    assert runner.wait(20)
    rows = runner.timeline()
    assert [r["field"] for r in rows] == [f"chunk {i} of {len(rows)}"
                                          for i in range(1, len(rows) + 1)]
    assert len(rows) == len(runner.parts) and all(r["state"] == "done" for r in rows)
    assert rows[0]["start"] == 0.0
    for before, after in itertools.pairwise(rows):  # one at a time: one after another
        assert after["start"] >= before["end"] - 0.05 and after["end"] > after["start"]


def test_a_split_run_that_ends_invalid_is_recorded_with_what_it_found(
    server: ReplayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The merged answer holds typed values (a `date`); when the whole does not validate, the
    run's row still ends, `invalid`, with them in their JSON form (it once stayed `running`:
    the date could not be written)."""
    import datetime as dt

    from engine.history.queries import get_run
    from engine.history.recorder import Recorder
    from engine.store import SAVED, Store, load_settings

    class Signed(BaseModel):
        signed_on: dt.date
        missing: str  # no part states it: the merged answer cannot validate

    monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path))
    text = document_text()
    prov = provider(server)
    spec = RunSpec.for_provider(text, "Signed", Signed, prov, "m", "json_schema")
    with Store.from_settings(load_settings()).open() as store:
        recorder = Recorder(store, None).register()
        try:
            runner = ChunkedRunner(leaves(Signed), spec, plan=lambda: split_text(text, 700, 60),
                                   part_factory=lambda part: extraction_factory(part.request,
                                                                                prov),
                                   limiter=Limiter(2), secret="test-key").start()
            assert runner.wait(20)
            assert runner.status is RunStatus.INVALID, runner.error
            deadline = time.monotonic() + 10
            while recorder.recording(runner.run_id) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert recorder.recording(runner.run_id) == SAVED
            row = get_run(store, runner.run_id)
        finally:
            recorder.unregister()
    assert row is not None and row.status in (RunStatus.INVALID, RunStatus.INVALID.value)
    assert row.result["signed_on"] == "2026-03-01"
