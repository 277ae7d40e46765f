"""AppTest tests for every page, against a local OpenAI-compatible ReplayServer (127.0.0.1).

The app finds the server through FIELDSTREAM_BASE_URL (the "Custom server" provider)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.schemas.fields import schema_rows
from engine.schemas.library import MEETING_NOTE, SCHEMAS, MeetingInfo
from engine.testing.replay_server import ReplayServer, Reply
from tests import support
from tests.support import MEETING

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
EXTRACT = "pages/1_Extract.py"


def chunks(text: str, size: int = 6) -> list[str]:
    return support.chunks(text, size)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        monkeypatch.setenv("FIELDSTREAM_BASE_URL", srv.base_url)
        monkeypatch.setenv("FIELDSTREAM_MODEL", "replay-model")
        monkeypatch.setenv("FIELDSTREAM_API_KEY", "test-key")
        monkeypatch.setenv("FIELDSTREAM_DEFAULT_PROVIDER", "Custom server")
        monkeypatch.setenv("FIELDSTREAM_DATA_DIR", str(tmp_path))
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        yield srv


def extract_page(timeout: float = 30) -> AppTest:
    return support.app_page(EXTRACT, timeout)


def texts(at: AppTest) -> str:
    return support.page_texts(at)


def press_extract(at: AppTest) -> AppTest:
    at.button(key="fs_extract").click().run()
    assert not at.exception, at.exception
    return at


# --- home ------------------------------------------------------------------------------------


def test_home_says_what_it_does_and_which_provider(server: ReplayServer) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    shown = texts(at)
    assert "watch every field arrive live" in shown
    assert "Custom server" in shown and server.base_url in shown
    assert any("Reachable" in s.value for s in at.success)
    assert at.button(key="fs_try_sample").label.startswith("▶ Try it on the sample")


def test_home_reports_unreachable_provider(server: ReplayServer, monkeypatch) -> None:
    monkeypatch.setenv("FIELDSTREAM_BASE_URL", "http://127.0.0.1:9/v1")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert any("Not reachable" in e.value for e in at.error)


def test_try_sample_runs_the_meeting_note(server: ReplayServer) -> None:
    server.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.button(key="fs_try_sample").click().run()
    assert not at.exception, at.exception
    assert MEETING_NOTE.splitlines()[0] in server.requests[0]["messages"][-1]["content"]
    assert any("Done" in s.value for s in at.success)


# --- extract: inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_schema_picker_shows_fields_with_types(server: ReplayServer, name: str) -> None:
    at = extract_page()
    at.selectbox(key="fs_schema").select(name).run()
    frame = at.dataframe[0].value
    expected = schema_rows(SCHEMAS[name])
    assert list(frame["Field"]) == [r["Field"] for r in expected]
    assert list(frame["Type"]) == [r["Type"] for r in expected]


def test_picking_a_schema_swaps_in_its_sample(server: ReplayServer) -> None:
    at = extract_page()
    at.selectbox(key="fs_schema").select("Invoice").run()
    assert "INV-2024-0117" in at.text_area(key="fs_text").value
    at.text_area(key="fs_text").input("My own text").run()
    at.selectbox(key="fs_schema").select("Recipe").run()
    assert at.text_area(key="fs_text").value == "My own text"


def test_provider_model_and_mode_pickers(server: ReplayServer) -> None:
    at = extract_page()
    assert at.selectbox(key="fs_provider").value == "Custom server"
    assert at.selectbox(key="fs_model").value == "replay-model"
    assert at.selectbox(key="fs_mode").value == "json_schema"


# --- extract: outcomes -----------------------------------------------------------------------


def test_extraction_ends_with_validated_result(server: ReplayServer) -> None:
    server.queue(Reply.content(chunks(json.dumps(MEETING)), pace=0.001))
    at = press_extract(extract_page())
    assert any("every field arrived" in s.value for s in at.success)
    assert at.get("progress")[0].proto.text == "5 of 5 fields done"
    result = json.loads(at.code[-1].value)
    assert MeetingInfo.model_validate(result).budget == 50000
    assert at.get("download_button")
    shown = texts(at)
    assert "John Doe" in shown and "Grand Tech Arena, 4521 Innovation Drive" in shown
    body = server.requests[0]
    assert body["stream"] is True and body["model"] == "replay-model"


def test_invalid_field_shows_the_validator_message(server: ReplayServer) -> None:
    bad = {**MEETING, "budget": "fifty thousand"}
    server.queue(Reply.content(chunks(json.dumps(bad)), pace=0.001))
    at = press_extract(extract_page())
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("fit the schema" in e for e in errors)
    assert any("integer" in e.lower() for e in errors)  # the validator's own words
    frame = at.dataframe[-1].value
    assert "budget" in list(frame["field"])
    assert "John Doe" in texts(at)  # the partial is kept


def test_truncated_answer_is_said_plainly(server: ReplayServer) -> None:
    text = json.dumps(MEETING)[:70]
    server.queue(Reply.content(chunks(text), pace=0.001, finish_reason="length"))
    at = press_extract(extract_page())
    shown = " ".join(e.value for e in at.error).replace("\\", "")
    assert "cut off" in shown and "token limit" in shown
    assert "John Doe" in texts(at)


def test_refusal_is_said_plainly(server: ReplayServer) -> None:
    server.queue(Reply.content([], refusal="I can't help with that."))
    at = press_extract(extract_page())
    shown = " ".join(e.value for e in at.error).replace("\\", "")
    assert "refused" in shown and "Rephrase" in shown


def test_content_filter_is_said_plainly(server: ReplayServer) -> None:
    server.queue(Reply.content(chunks(json.dumps(MEETING))[:5], finish_reason="content_filter"))
    at = press_extract(extract_page())
    shown = " ".join(e.value for e in at.error).replace("\\", "")
    assert "safety filter" in shown and "different text" in shown


def test_unreachable_server_is_said_plainly(server: ReplayServer, monkeypatch) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("FIELDSTREAM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    at = press_extract(extract_page())
    headline = " ".join(e.value for e in at.error)
    assert "could not be reached" in headline
    detail = " ".join(e.value for e in at.text)  # under "Technical detail"
    assert f"Could not reach http://127.0.0.1:{port}/v1" in detail
    assert "Is the server running?" in detail


def test_stop_keeps_the_partial_and_closes_the_request(server: ReplayServer) -> None:
    from engine.providers import available_providers
    from engine.runs.spec import RunSpec
    from engine.runs.start import start_run
    from ui.keys import EXTRACT_KEYS

    server.queue(Reply.content(chunks(json.dumps(MEETING), 2), pace=0.05))
    at = extract_page()
    provider = next(p for p in available_providers() if p.name == "Custom server")
    runner = start_run(RunSpec.for_provider(MEETING_NOTE, "MeetingInfo", MeetingInfo, provider,
                                            "replay-model", "json_schema"), provider)
    at.session_state[EXTRACT_KEYS.run] = runner  # an extraction in flight, as Extract leaves it
    deadline = time.monotonic() + 10
    while len(server.sent) < 25 and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    at.button(key="fs_stop").click().run()
    assert time.monotonic() - t0 < 5
    assert not at.exception, at.exception
    assert any("Stopped" in w.value for w in at.warning)
    assert "John" in texts(at)  # what arrived is kept
    sent = len(server.sent)
    deadline = time.monotonic() + 5
    while "client closed" not in server.outcomes and time.monotonic() < deadline:
        time.sleep(0.02)  # wait for the state: the server sees the request closed
    assert "client closed" in server.outcomes, server.outcomes
    assert len(server.sent) <= sent + 1, "the server stopped sending: the request is closed"
    assert not runner.thread_alive


def test_nested_model_is_a_card_and_list_of_strings_grows(server: ReplayServer) -> None:
    from engine.schemas.library import ContactCard, UserProfile

    card = ContactCard(
        full_name="Ingrid Solberg", job_title="Head of Clinical Partnerships",
        organization="Fjordline Medical AS", email="ingrid@example.org", phone="+47 912 34 567",
        address={"street": "Dronning Eufemias gate 42", "city": "Oslo", "postal_code": "0191",
                 "country": "Norway"},
        website="www.fjordline-medical.example",
    )
    server.queue(Reply.content(chunks(card.model_dump_json()), pace=0.001))
    at = extract_page()
    at.selectbox(key="fs_schema").select("ContactCard").run()
    press_extract(at)
    assert any("every field arrived" in s.value for s in at.success)
    group = at.get("flex_container")  # bordered cards
    assert group is not None
    shown = texts(at)
    assert "address" in shown and "Oslo" in shown and "**postal_code** · ✓ done" in shown

    profile = UserProfile(name="Alex", bio="Designer", interests=["ceramics", "cycling"])
    server.queue(Reply.content(chunks(profile.model_dump_json()), pace=0.001))
    at.selectbox(key="fs_schema").select("UserProfile").run()
    press_extract(at)
    shown = texts(at)
    assert "**interests** · ✓ done · 2 items" in shown
    assert "✓ ceramics" in shown and "✓ cycling" in shown


def test_extract_without_text_asks_for_one(server: ReplayServer) -> None:
    at = extract_page()
    at.text_area(key="fs_text").input("   ").run()
    press_extract(at)
    assert any("Paste or pick a text first" in w.value for w in at.warning)
    assert not server.requests


def test_idle_page_shows_the_waiting_form(server: ReplayServer) -> None:
    at = extract_page()
    shown = texts(at)
    assert "Press Extract to fill in this form." in shown
    assert "**budget** · ○ waiting" in shown
    assert at.get("progress")[0].proto.text == "0 of 5 fields done"


def test_home_saves_a_named_server_that_extract_offers_then_forgets_it(
    server: ReplayServer, tmp_path: Path
) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key="fs_new_name").input("Team server")
    at.text_input(key="fs_new_url").input("ftp://nowhere")
    at.button(key="fs_save_server").click().run()
    assert "is not a server address" in texts(at)  # a bad address is a message, not a crash
    assert not (tmp_path / "providers.json").exists()
    at.text_input(key="fs_new_url").input(server.base_url)
    at.text_input(key="fs_new_model").input("replay-model")
    at.text_input(key="fs_new_key_env").input("FIELDSTREAM_API_KEY")
    at.button(key="fs_save_server").click().run()
    assert not at.exception, at.exception
    assert "Saved Team server" in texts(at)
    saved = (tmp_path / "providers.json").read_text()
    assert server.base_url in saved and "test-key" not in saved  # the key is named, not stored
    at.switch_page(EXTRACT).run()
    assert "Team server" in at.selectbox(key="fs_provider").options
    at.selectbox(key="fs_provider").select("Team server").run()
    server.queue(Reply.content(chunks(json.dumps(MEETING))))
    press_extract(at)
    assert "every field arrived" in texts(at)
    at.switch_page("pages/0_Home.py").run()
    at.button(key="fs_remove_Team server").click().run()
    assert "Team server" not in (tmp_path / "providers.json").read_text()
