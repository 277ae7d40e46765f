"""A lane queued for a slot of the local model says so (the Compare page's third local lane):
the live view's progress line while `Update.waiting` is WAIT_SLOT, then the usual count."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _lanes_page() -> None:
    import streamlit as st

    from engine.runs.runner import WAIT_SLOT, WAIT_TURN, Metrics, Runner, Update
    from engine.runs.status import RunStatus
    from engine.schemas.fields import leaves
    from engine.schemas.library import MeetingInfo
    from ui.keys import RunKeys
    from ui.live_form import LiveView

    queued = st.session_state.get("queued", True)
    for lane in ("a", "c", "d"):
        view = LiveView(MeetingInfo, RunKeys(lane), tabs=False)
        view.build()
        waiting = {"c": WAIT_SLOT, "d": WAIT_TURN}.get(lane) if queued else None
        update = Update({}, 0.0, 0, 5, Metrics(), RunStatus.RUNNING, waiting=waiting)
        view.apply(update, Runner(leaves(MeetingInfo), lambda cancel: iter(())))  # never started


def test_a_lane_waiting_for_a_local_slot_or_a_turn_says_so_and_the_others_do_not() -> None:
    from ui.live_form import WAITING, WAITING_FOR_SLOT, WAITING_FOR_TURN

    at = AppTest.from_function(_lanes_page).run()
    assert not at.exception, at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert texts == [WAITING, WAITING_FOR_SLOT, WAITING_FOR_TURN]
    at.session_state["queued"] = False
    at.run()
    assert [p.proto.text for p in at.get("progress")] == [WAITING, WAITING, WAITING]


def _lane_numbers_page() -> None:
    import streamlit as st

    from engine.runs.runner import Metrics, Runner, Update
    from engine.runs.status import RunStatus
    from engine.schemas.fields import leaves
    from engine.schemas.library import MeetingInfo
    from ui.keys import RunKeys
    from ui.live_form import LiveView

    view = LiveView(MeetingInfo, RunKeys("a"), tabs=False)
    view.build()
    if st.session_state.get("streamed"):
        metrics = Metrics(chunks=40, first_token=0.31, first_done=1.2, elapsed=4.5,
                          completion_tokens=90)
        update = Update({}, 0.2, 1, 5, metrics, RunStatus.RUNNING)
        view.apply(update, Runner(leaves(MeetingInfo), lambda cancel: iter(())), final=True)


def test_a_narrow_lane_says_its_numbers_in_one_line_not_four_metrics() -> None:
    at = AppTest.from_function(_lane_numbers_page).run()
    assert not at.exception, at.exception
    assert not at.metric  # four metrics per lane cost the browser most of a redraw
    lines = [t.value for t in at.text]
    assert lines == ["First token — · first done field — · elapsed — · tokens/s —"]
    at.session_state["streamed"] = True
    at.run()
    line = at.text[0].value
    assert line.startswith("First token 310 ms · first done field 1.20 s · elapsed 4.50 s")
    assert not at.metric
