"""A lane queued for a slot of the local model says so (the Compare page's third local lane):
the live view's progress line while `Update.waiting` is WAIT_SLOT, then the usual count."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _lanes_page() -> None:
    import streamlit as st

    from engine.runs.runner import WAIT_SLOT, Metrics, Runner, Update
    from engine.runs.status import RunStatus
    from engine.schemas.fields import leaves
    from engine.schemas.library import MeetingInfo
    from ui.keys import RunKeys
    from ui.live_form import LiveView

    queued = st.session_state.get("queued", True)
    for lane in ("a", "c"):
        view = LiveView(MeetingInfo, RunKeys(lane), tabs=False)
        view.build()
        waiting = WAIT_SLOT if lane == "c" and queued else None
        update = Update({}, 0.0, 0, 5, Metrics(), RunStatus.RUNNING, waiting=waiting)
        view.apply(update, Runner(leaves(MeetingInfo), lambda cancel: iter(())))  # never started


def test_a_lane_waiting_for_a_local_slot_says_so_and_the_others_do_not() -> None:
    from ui.live_form import WAITING, WAITING_FOR_SLOT

    at = AppTest.from_function(_lanes_page).run()
    assert not at.exception, at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert texts == [WAITING, WAITING_FOR_SLOT]
    at.session_state["queued"] = False
    at.run()
    assert [p.proto.text for p in at.get("progress")] == [WAITING, WAITING]
