"""Servers saved by name in FIELDSTREAM_DATA_DIR/providers.json, without losing a word of the
file: entries not understood are written back verbatim, and a file that cannot be read is never
overwritten (`set_aside_saved_file` moves it aside). The file never holds a key."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import settings
from engine.errors import ProviderError
from engine.llm.modes import MODES
from engine.providers.address import normalize_base_url
from engine.providers.model import Provider, is_reserved
from engine.stream import document


def providers_file() -> Path:
    return settings.data_dir() / "providers.json"


@dataclass(frozen=True)
class SavedList:
    """providers.json as far as it could be read.

    `entries`: every entry as written in the file, in order, with its Provider, or None when
    it was not understood (it is then written back verbatim on every rewrite). `unreadable`:
    why the whole file could not be read; such a file is never rewritten (see
    `set_aside_saved_file`). `problems`: plain-language notes on skipped entries."""

    entries: tuple[tuple[Any, Provider | None], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # other top-level keys, kept as they are
    problems: tuple[str, ...] = ()
    unreadable: str | None = None

    @property
    def providers(self) -> list[Provider]:
        return [p for _, p in self.entries if p is not None]


def read_saved() -> SavedList:
    """providers.json, without losing a word of it: see `SavedList`."""
    path = providers_file()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no file there: nothing to lose
        return SavedList()
    except UnicodeDecodeError:
        return _unreadable(path, "it is not UTF-8 text")
    except OSError as exc:
        return _unreadable(path, _os_reason(exc))
    if not text.strip():
        return SavedList()  # empty: nothing to lose
    try:
        raw = document.load(text)
    except document.JSONDocumentError as exc:
        return _unreadable(path, f"{exc.msg} at line {exc.lineno}, column {exc.colno}")
    items = raw.get("providers", []) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        return _unreadable(path, 'it is not a list of servers like {"providers": [...]}')
    return _parse_entries(path, raw, items)


def _unreadable(path: Path, reason: str) -> SavedList:
    return SavedList(unreadable=(
        f"Your saved servers in {path} could not be read: {reason}. Nothing in that file was "
        "changed or lost. Fix the file, or move it aside to start a new list."
    ))  # fmt: skip


def _parse_entries(path: Path, raw: dict[str, Any], items: list[Any]) -> SavedList:
    entries: list[tuple[Any, Provider | None]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, item in enumerate(items, 1):
        try:
            provider = _from_saved(item)
            if provider.name.casefold() in seen:
                raise ValueError("an earlier entry has the same name")
            seen.add(provider.name.casefold())
        except (KeyError, TypeError, ValueError, ProviderError) as exc:
            provider = None
            problems.append(_entry_problem(path, number, item, exc))
        entries.append((item, provider))
    extra = {k: v for k, v in raw.items() if k != "providers"}
    return SavedList(tuple(entries), extra, tuple(problems))


def _entry_problem(path: Path, number: int, item: Any, exc: Exception) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    label = f" ({name!r})" if isinstance(name, str) else ""
    reason = f"it has no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
    return (
        f"Saved server #{number}{label} in {path} was skipped: {reason}. It is kept in the "
        "file as it is; fix or remove it there."
    )


def _from_saved(item: Any) -> Provider:
    if not isinstance(item, dict):
        raise TypeError("it is not an object with a name and a base_url")
    name = _text_field(item, "name", required=True)
    if not name.isprintable():
        raise ValueError("its name is not one line of text")
    if is_reserved(name):
        raise ValueError(f"{name!r} is the name of a built-in provider")
    modes = item.get("modes") or MODES
    if not isinstance(modes, list | tuple) or not all(isinstance(m, str) for m in modes):
        raise TypeError("'modes' must be a list of mode names")
    return Provider(
        name=name,
        kind="compatible",
        base_url=normalize_base_url(_text_field(item, "base_url", required=True)),
        modes=tuple(modes),
        default_model=_text_field(item, "default_model") or None,
        api_key_env=_text_field(item, "api_key_env") or None,
        origin="saved",
    )


def _text_field(item: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = item[key] if required else item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TypeError(
            f"{key!r} must be a non-empty text" if required else f"{key!r} must be a text"
        )
    return value.strip()


def saved_providers() -> list[Provider]:
    """The named OpenAI-compatible servers saved in FIELDSTREAM_DATA_DIR/providers.json (the
    ones that could be understood; `read_saved` also says what was skipped and why)."""
    return read_saved().providers


def save_provider(
    name: str,
    base_url: str,
    *,
    default_model: str | None = None,
    modes: Iterable[str] = MODES,
    api_key_env: str | None = None,
) -> Provider:
    """Save (or replace) a named OpenAI-compatible server. The file never holds a key: a server
    that needs one names the environment variable / secret (`api_key_env`) that holds it.
    Entries this version does not understand are written back unchanged; a file that cannot be
    read is not overwritten (ProviderError)."""
    name = name.strip()
    if not name or not name.isprintable():
        raise ProviderError("Give the server a name, on one line.")
    if is_reserved(name):
        raise ProviderError(f"{name!r} is the name of a built-in provider; choose another name.")
    api_key_env = (api_key_env or "").strip() or None
    if api_key_env and not api_key_env.replace("_", "").isalnum():
        raise ProviderError("api_key_env must be the *name* of an environment variable.")
    provider = Provider(
        name, "compatible", normalize_base_url(base_url), tuple(modes),
        default_model=(default_model or "").strip() or None, api_key_env=api_key_env,
        origin="saved",
    )  # fmt: skip
    _rewrite(read_saved(), name, _entry(provider))
    return provider


def remove_provider(name: str) -> bool:
    """Forget a saved server; True if it was there."""
    saved = read_saved()
    if not any(p.name.casefold() == name.strip().casefold() for p in saved.providers):
        return False
    _rewrite(saved, name, None)
    return True


def set_aside_saved_file() -> Path:
    """Move an unreadable providers.json aside, to a timestamped backup next to it, so a new
    list can be started; returns where it went. Refuses when the file can be read."""
    target = providers_file()
    if read_saved().unreadable is None:
        raise ProviderError(f"{target} can be read: there is nothing to move aside.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = target.with_name(f"{target.name}.unreadable-{stamp}")
    for n in range(2, 1000):
        if not backup.exists():
            break
        backup = target.with_name(f"{target.name}.unreadable-{stamp}-{n}")
    try:
        os.rename(target, backup)
    except OSError as exc:
        raise ProviderError(f"Could not move {target} aside: {_os_reason(exc)}.") from None
    return backup


def _entry(provider: Provider) -> dict[str, Any]:
    entry = provider.to_dict()
    del entry["kind"]
    return entry


def _rewrite(saved: SavedList, name: str, new: dict[str, Any] | None) -> None:
    """Write the list back with the entry called `name` replaced by `new` (in place; appended
    if absent) or dropped (`new` None). Every other entry is written back as it was read."""
    if saved.unreadable:
        raise ProviderError(f"Nothing was saved. {saved.unreadable}")
    wanted = name.strip().casefold()
    entries: list[Any] = []
    for raw, provider in saved.entries:
        if provider is not None and provider.name.casefold() == wanted:
            if new is not None:
                entries.append(new)
                new = None
        else:
            entries.append(raw)
    if new is not None:
        entries.append(new)
    _write_saved({"version": 1, **saved.extra, "providers": entries})


def _write_saved(data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    target = providers_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="providers.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _unwritable(target: Path, exc: OSError) -> ProviderError:
    return ProviderError(
        f"Could not save your servers to {target}: {_os_reason(exc)}. Set FIELDSTREAM_DATA_DIR "
        "to a folder you can write to."
    )


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()
