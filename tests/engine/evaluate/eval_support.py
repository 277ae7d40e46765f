"""Shared pieces of the evaluation tests: a labelled set of meeting notes written straight into
the tables of migration 0011, and its gold answers (the replay server's answers, some changed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from engine.evaluate.model import text_sha256
from engine.store.records import utcnow
from engine.store.tables import eval_examples, eval_sets, eval_texts
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


def add_set(store: Any, name: str, golds: Sequence[dict[str, Any]], *, version: int = 1,
            schema: str = SCHEMA, start: int = 0) -> None:
    """A set version whose document i is note(start + i) with gold golds[i]."""
    now = utcnow()
    with store.transaction() as conn:
        conn.execute(insert(eval_sets).values(name=name, version=version, schema_name=schema,
                                              schema_version=None, created_at=now))
        for idx, answer_ in enumerate(golds):
            text = note(start + idx)
            sha = text_sha256(text)
            if conn.execute(eval_texts.select().where(eval_texts.c.sha256 == sha)).first() \
                    is None:  # a text already kept stays as it is
                conn.execute(insert(eval_texts).values(sha256=sha, text=text))
            conn.execute(insert(eval_examples).values(
                set_name=name, version=version, idx=idx, name=f"note-{start + idx}.txt",
                sha256=sha, gold=json.dumps(answer_)))


def sets_reader() -> Any:
    """`engine.evaluate.sets` — or, until it lands on this branch, a reader of the two calls
    `engine.evaluate.evaluations` makes of it (`get_set`, `examples`)."""
    try:
        from engine.evaluate import sets
    except ImportError:
        return _Reader()
    return sets


class _Reader:
    @staticmethod
    def get_set(store: Any, name: str, version: int | None = None) -> Any:
        from sqlalchemy import func, select

        from engine.evaluate.model import LabelSet

        with store.reading() as conn:
            query = select(eval_sets).where(eval_sets.c.name == name)
            query = query.where(eval_sets.c.version == version) if version is not None \
                else query.order_by(eval_sets.c.version.desc())
            row = conn.execute(query.limit(1)).mappings().first()
            if row is None:
                return None
            size = conn.execute(select(func.count()).where(
                eval_examples.c.set_name == name,
                eval_examples.c.version == row["version"])).scalar()
        return LabelSet(row["name"], row["version"], row["schema_name"],
                        row["schema_version"], row["created_at"], row["created_by"],
                        row["note"], size)

    @staticmethod
    def examples(store: Any, name: str, version: int, *, with_text: bool = True) -> list[Any]:
        from sqlalchemy import select

        from engine.evaluate.model import Example

        query = (select(eval_examples, eval_texts.c.text)
                 .join(eval_texts, eval_texts.c.sha256 == eval_examples.c.sha256)
                 .where(eval_examples.c.set_name == name, eval_examples.c.version == version)
                 .order_by(eval_examples.c.idx))
        with store.reading() as conn:
            return [Example(r["idx"], r["name"], r["sha256"], json.loads(r["gold"]),
                            r["text"] if with_text else "")
                    for r in conn.execute(query).mappings()]
