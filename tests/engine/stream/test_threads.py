"""A schema's streaming pieces (its partial class, its field tables) are built once per
process and shared: threads building them at the same moment (a batch's documents start
together in a fresh worker) all get the finished pieces, never a half-built one."""

from __future__ import annotations

import sys
import threading

from pydantic import BaseModel, create_model

from engine.stream.nodes import root_node
from engine.stream.partial import partial_model


def _fresh_schema(n: int) -> type[BaseModel]:
    """A model no other test has built (the caches are per class)."""
    person = create_model(f"Person{n}", name=(str, ...), email=(str | None, None))
    return create_model(f"Meeting{n}", people=(list[person], ...), room=(str, ...),
                        host=(person, ...))  # type: ignore[valid-type]


def test_threads_building_one_schema_at_once_all_get_it_whole() -> None:
    errors: list[BaseException] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: a half-built piece would be seen
    try:
        _build_at_once(errors)
    finally:
        sys.setswitchinterval(switch)
    assert errors == []


def _build_at_once(errors: list[BaseException]) -> None:
    for n in range(15):
        schema, start = _fresh_schema(n), threading.Barrier(8)

        def build(schema: type[BaseModel] = schema, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                assert set(partial_model(schema).model_fields) == {"people", "room", "host"}
                node = root_node(schema)
                assert {key for key in node.fields} == {"people", "room", "host"}
                assert set(node.fields["people"][1].item.fields) == {"name", "email"}
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        threads = [threading.Thread(target=build) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
