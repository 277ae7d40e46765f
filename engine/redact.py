"""The one policy that keeps API keys out of what the engine shows, logs and stores.

A key is found the same way everywhere (`_mask_key`): its surrounding whitespace is not part of
it; a key of `SHORT_KEY` characters or more is masked wherever it occurs, a shorter one (a test
key "k") only where it stands alone, since masking every "k" would garble the text without
protecting anything. Two outputs share that rule:

- messages (errors, logs, a server's text): `redact(text, key)` masks the key in use as `***`,
  and anything shaped like a key too (`API key provided: …`, `sk-…`, `Bearer …`, a URL's
  `user:password@`): a server may quote a key that is not ours.
- stored data (inputs, results, timelines): `Redactor` masks the known keys with one `*` per
  character, so a timeline's chunk boundaries stay where they were and a key split across two
  chunks is found in the joined text. Key shapes are left alone there: stored text is the
  person's own (a document about API keys must read back as written).

A bottom-layer module (standard library only): every layer redacts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

#: Shorter keys are masked only where they stand alone; shorter environment values are not
#: taken for secrets at all (`engine.settings.secret_values`).
SHORT_KEY = 8
MASK = "***"

#: Text shaped like a key, masked in messages whatever key is in use.
_KEY_SHAPES = (
    (re.compile(r"(API key provided:\s*)\S+"), r"\1***"),
    (re.compile(r"\b(sk-|Bearer\s+)[A-Za-z0-9_\-*.]{4,}"), r"\1***"),
    (re.compile(r"(://)[^/@\s]+@"), r"\1***@"),  # user:password@ in a base URL
)


def _key(secret: str | None) -> str | None:
    """The key as it is used (a pasted key's spaces are not part of it), or None."""
    return secret.strip() or None if secret else None


def _mask_key(text: str, key: str, mask: Callable[[str], str]) -> str:
    if len(key) >= SHORT_KEY:
        return text.replace(key, mask(key)) if key in text else text
    return re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", lambda m: mask(m.group()), text)


def redact(text: str, secret: str | None) -> str:
    """`text` with the key in use (any shape) and anything that looks like a key masked."""
    key = _key(secret)
    if key:
        text = _mask_key(text, key, lambda _: MASK)
    for shape, masked in _KEY_SHAPES:
        text = shape.sub(masked, text)
    return text


def redact_error(exc: BaseException, secret: str | None) -> BaseException:
    """`exc` with its message (first argument) redacted in place; returns it."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (redact(exc.args[0], secret), *exc.args[1:])
    return exc


def _same_length(key: str) -> str:
    return "*" * len(key)


class Redactor:
    """The known keys, masked in stored data (see the module doc)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        key = _key(secret)
        if key:
            self._secrets.add(key)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, text: str | None) -> str | None:
        if not text or not self._secrets:
            return text
        for key in self._secrets:
            text = _mask_key(text, key, _same_length)
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
