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
from tests.batch_support import SCHEMA, answer, note


def gold(n: int) -> dict[str, Any]:
    """What the replay server answers for note n (its gold unless a test changes it)."""
    return json.loads(answer(n))


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
