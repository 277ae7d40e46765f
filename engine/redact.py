"""Mask known secret values (API keys) in everything the store writes.

The store has no key column, but a key can still ride along inside text: an error message
that echoes it, a pasted input. Masks keep the length (`*` per character) so chunk boundaries
of a timeline stay where they were, and a key split across two chunks is found in the joined
text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:  # shorter values would mask ordinary words
            self._secrets.add(secret)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, text: str | None) -> str | None:
        if not text or not self._secrets:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "*" * len(secret))
        return text

    def value(self, value: Any) -> Any:
        """A JSON value with every string (keys included) masked: a copy built with a stack of
        its own, since a stored value may nest as deep as the parser allows (512) and
        recursion costs two frames a level."""
        if not self._secrets:
            return value
        todo: list[tuple[Any, Any]] = []  # (a container, its masked copy still to fill)

        def copy(item: Any) -> Any:
            if isinstance(item, str):
                return self.text(item)
            if isinstance(item, list | dict):
                todo.append((item, type(item)()))
                return todo[-1][1]
            return item

        masked = copy(value)
        while todo:
            source, target = todo.pop()
            if isinstance(source, list):
                target.extend(copy(item) for item in source)
            else:
                target.update((self.text(k), copy(v)) for k, v in source.items())
        return masked

    def timeline(self, timeline: list[tuple[float, str]]) -> list[tuple[float, str]]:
        if not self._secrets:
            return timeline
        joined = "".join(text for _, text in timeline)
        masked = self.text(joined) or ""
        if masked == joined:
            return timeline
        out, pos = [], 0
        for ms, text in timeline:  # same-length masks: cut the masked text where it was cut
            out.append((ms, masked[pos : pos + len(text)]))
            pos += len(text)
        return out
