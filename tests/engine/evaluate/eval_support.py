"""Shared pieces of the evaluation tests: a labelled set of meeting notes, their gold answers
(the replay server's answers, one changed), and a replay responder answering by model: the gold
for `replay-model`, worse for `worse-model`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.evaluate import sets
from engine.evaluate.model import NewExample
from engine.testing.replay_server import Reply
from tests.batch_support import SCHEMA, answer, note, room_of
from tests.support import chunks


def gold(n: int) -> dict[str, Any]:
    """What the replay server answers for note n (its gold unless a test changes it)."""
    return json.loads(answer(n))


WORSE = "worse-model"  # the model lane B asks for: it answers worse


def worse(n: int) -> dict[str, Any]:
    """Lane B's answers: the location always wrong, note 1's email blank, note 2's budget
    wrong; note 3 fails (the server answers 500)."""
    out = gold(n)
    out["location"] = "Hall Z"
    if n == 1:
        out["users"][0]["email"] = ""
    if n == 2:
        out["budget"] = 777
    return out


def two_models(*, slow_from: int | None = None, delay: float = 20.0):
    """The replay server answering by model: `replay-model` as the gold says, `worse-model`
    as `worse`; `slow_from`: notes from this room on wait `delay` seconds first."""
    def respond(body: dict[str, Any]) -> Reply:
        n = room_of(body)
        wait = delay if slow_from is not None and n >= slow_from else 0.0
        if body.get("model") != WORSE:
            return Reply.content(chunks(answer(n), 12), delay=wait)
        if n == 3:
            return Reply.error(500, "the server fell over")
        return Reply.content(chunks(json.dumps(worse(n)), 12), delay=wait)

    return respond


def golds() -> list[dict[str, Any]]:
    out = [gold(n) for n in range(4)]
    out[3]["users"][0]["twitter"] = None  # the gold says no handle: "@ana3" is a FP
    return out


def examples(golds: Sequence[dict[str, Any]], start: int = 0) -> list[NewExample]:
    """Document i is note(start + i), named note-<n>.txt, with gold golds[i]."""
    return [NewExample(f"note-{start + i}.txt", note(start + i), g)
            for i, g in enumerate(golds)]


def add_set(store: Any, name: str, golds: Sequence[dict[str, Any]]) -> None:
    """A labelled set (version 1) of meeting notes with these gold answers."""
    sets.create_set(store, name, SCHEMA, examples(golds))
