"""Several runs on one page, driven by one polling loop (the Compare page's lanes, or the Extract
page's single run: one loop for both).

    group = RunnerGroup({"a": runner_a, "b": runner_b})
    try:
        while not group.ended:
            for lane, update in group.next_update().items():
                views[lane].apply(update, group.runners[lane])
    finally:
        group.stop()

`next_update()` wakes as soon as any runner has news and returns an `Update` per lane (only
what changed in each), at most `hz` times a second for the whole group: two lanes cost no more
redraws than one. Each runner streams in its own thread and `take()` never waits for a
stream, so a slow, stalled or failing lane never holds the others back. A lane's ending
update is delivered once; after that the lane is left out.

Lanes on one text share its grounding index: start them with one `runner.SharedIndexes`
(`start_run(..., indexes=shared)`), as the Compare page does; the index is built once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from engine.runs.runner import DRAW_HZ, Runner, Update


class RunnerGroup:
    """Runners polled together, each under its lane name (a view's key prefix, say)."""

    def __init__(self, runners: Mapping[str, Runner]) -> None:
        self.runners = dict(runners)
        self._wake = threading.Event()
        self._delivered: set[str] = set()  # lanes whose ending update was returned
        self._last_take = 0.0
        for runner in self.runners.values():
            runner.subscribe(self._wake)

    @property
    def ended(self) -> bool:
        """Every lane has ended and its ending update was returned."""
        return self._delivered >= set(self.runners)

    def next_update(self, timeout: float = 0.2, hz: float = DRAW_HZ) -> dict[str, Update]:
        """Wait until any lane changed (or `timeout`, so clocks can tick), never sooner than
        1/hz after the previous call; then one update per lane still to be drawn."""
        gap = 1.0 / hz - (time.perf_counter() - self._last_take)
        if gap > 0:
            time.sleep(gap)
        self._wake.wait(timeout)
        self._wake.clear()  # before taking: news arriving meanwhile wakes the next call
        updates: dict[str, Update] = {}
        for lane, runner in self.runners.items():
            if lane in self._delivered:
                continue
            update = updates[lane] = runner.take()
            if update.ended:
                self._delivered.add(lane)
        self._last_take = time.perf_counter()
        return updates

    def stop(self, wait: float = 0.0) -> None:
        """Stop every lane (no UI calls: safe in a `finally`); then wait up to `wait` seconds
        in all for their threads to close their requests."""
        for runner in self.runners.values():
            runner.stop()
        deadline = time.monotonic() + wait
        for runner in self.runners.values():
            runner.wait(max(0.0, deadline - time.monotonic()) if wait else 0.0)
