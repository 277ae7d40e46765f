"""How many runs may talk to one provider at once, in this process.

Every run enters its provider's `Limiter` before its request. A run that finds every place taken
waits in line holding no thread: the limiter keeps its `start` callback and calls it when a
place frees (first come, first served), from the thread of the run that left. Leaving the line
(Stop while waiting) is immediate. Limits across processes and machines belong to the batch
queue, not here.

The local model's limiter has as many places as the model has slots (two runs stream, a third
waits its turn instead of queueing inside the server); OpenAI and custom servers get
`settings.provider_limit()` (8 unless `FIELDSTREAM_PROVIDER_LIMIT` says otherwise).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from engine.runs.state import WAIT_SLOT, WAIT_TURN

#: A ticket's states.
WAITING = "waiting"
RUNNING = "running"
LEFT = "left"  # released after running, or cancelled while waiting


class Ticket:
    """One run's place in a limiter: `state` is WAITING, RUNNING or LEFT."""

    def __init__(self, limiter: Limiter, start: Callable[[], None]) -> None:
        self._limiter = limiter
        self._start = start
        self.state = WAITING

    def release(self) -> None:
        """Leave: a running run frees its place (the next in line starts), a waiting one
        leaves the line. Safe to call more than once."""
        self._limiter._leave(self)

    def leave_line(self) -> bool:
        """Leave the line if still waiting (Stop before its turn): True if it left; False if
        its turn had come (its run then frees the place when it ends)."""
        return self._limiter._leave_line(self)


class Limiter:
    """At most `size` tickets running at once; the others wait in arrival order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"A limit is at least 1, got {size}.")
        self.size = size
        self._running = 0
        self._line: deque[Ticket] = deque()
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._line)

    def enter(self, start: Callable[[], None]) -> Ticket:
        """A ticket for a run: `start()` is called at once when a place is free (the ticket
        is then RUNNING), else later, when its turn comes (the ticket WAITING until then)."""
        ticket = Ticket(self, start)
        with self._lock:
            if self._running < self.size and not self._line:
                self._running += 1
                ticket.state = RUNNING
            else:
                self._line.append(ticket)
        if ticket.state == RUNNING:
            self._begin(ticket)
        return ticket

    def _leave_line(self, ticket: Ticket) -> bool:
        with self._lock:
            return self._out_of_line(ticket)

    def _out_of_line(self, ticket: Ticket) -> bool:
        """Take a waiting ticket out of the line (lock held); False if it is not waiting."""
        if ticket.state != WAITING:
            return False
        self._line.remove(ticket)
        ticket.state = LEFT
        return True

    def _leave(self, ticket: Ticket) -> None:
        with self._lock:
            if self._out_of_line(ticket):
                return
            if ticket.state != RUNNING:
                return
            ticket.state = LEFT
            self._running -= 1
            nxt = None
            if self._line and self._running < self.size:
                nxt = self._line.popleft()
                nxt.state = RUNNING
                self._running += 1
        if nxt is not None:
            self._begin(nxt)

    def _begin(self, ticket: Ticket) -> None:
        """Start a run whose turn came; a start that fails frees its place again."""
        try:
            ticket._start()
        except BaseException:
            ticket.release()
            raise


_limiters: dict[Hashable, Limiter] = {}
_registry_lock = threading.Lock()


def provider_limiter(provider: Any, model: str) -> tuple[Limiter, str]:
    """The limiter of runs on `provider` and what a run waiting for it waits for: the local
    model's slots (one limiter per model, as many places as its server has slots), or a turn
    on a hosted or custom server (one limiter per address, `settings.provider_limit()`)."""
    from engine.settings import provider_limit

    if provider.kind == "local":
        from engine.local.server import ServerSettings
        from engine.local.weights import resolve

        key = ("local", resolve(model or provider.default_model).key)
        return limiter_for(key, ServerSettings.from_env().parallel), WAIT_SLOT
    return limiter_for((provider.kind, provider.base_url or ""), provider_limit()), WAIT_TURN


def local_server(provider: Any, model: str) -> Any | None:
    """The local model's server (`engine.local.server.LocalServer`) for a local provider,
    started when it is not running; None for any other provider."""
    if provider.kind != "local":
        return None
    from engine.local.server import ensure_server

    return ensure_server(model or provider.default_model)


def limiter_for(key: Hashable, size: int) -> Limiter:
    """The process's one limiter for `key` (a provider's address and model, say), made with
    `size` places the first time it is asked for."""
    with _registry_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = Limiter(size)
        return limiter
