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
        """A JSON value with every string (keys included) masked."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.text(k): self.value(v) for k, v in value.items()}
        return value

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
