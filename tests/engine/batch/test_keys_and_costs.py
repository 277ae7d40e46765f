"""A batch whose key was typed in a browser (never stored: it lives in the app's memory) waits
after a restart and says it needs the key again; a configured price gives the batch's cost."""

from __future__ import annotations

from engine.batch import records, service, work
from engine.batch.model import DONE, NEEDS_KEY, QUEUED
from tests.batch_support import batch_world, items, spec


def test_a_session_key_batch_waits_for_its_key_after_a_restart(monkeypatch, tmp_path):
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_API_KEY="") as world:
        world.srv.api_key = "typed-key"
        keyed = spec(session_key=True)
        batch = service.start_batch(world.store, keyed, items(2), world.provider,
                                    session_key="typed-key")
        assert service.wait_until_finished(world.store, batch.id, timeout=30)[DONE] == 2
        second = service.start_batch(world.store, keyed, items(2, start=2), world.provider,
                                     session_key="typed-key")
        service.stop(world.store, second.id)
        work.SESSION_KEYS.clear()  # the app restarted: the key is gone with its memory
        service.resume(world.store, second.id, world.provider)
        service.wait_until_finished(world.store, second.id, timeout=5)  # nothing can run
        waiting = records.items(world.store, second.id)
        assert {d.status for d in waiting} == {QUEUED}
        assert {d.reason for d in waiting} == {NEEDS_KEY}
        assert len(world.srv.requests) == 2
        service.resume(world.store, second.id, world.provider, session_key="typed-key")
        assert service.wait_until_finished(world.store, second.id, timeout=30)[DONE] == 2
    stored = (tmp_path / "data").rglob("*")
    assert not any(b"typed-key" in path.read_bytes() for path in stored if path.is_file())


def test_the_cost_is_the_configured_price_of_the_tokens(monkeypatch, tmp_path):
    prices = '{"Custom server": {"input": 1000000, "output": 2000000}}'  # $1 / $2 a token
    with batch_world(monkeypatch, tmp_path, FIELDSTREAM_PRICES=prices) as world:
        batch = service.start_batch(world.store, spec(), items(2), world.provider)
        service.wait_until_finished(world.store, batch.id, timeout=30)
        shown = service.progress(world.store, batch)
        counts = shown.counts
        assert counts.prompt_tokens == 20 and counts.completion_tokens > 0
        assert shown.cost == 20 + 2 * counts.completion_tokens
        assert shown.per_minute and shown.eta_seconds is None and shown.finished
