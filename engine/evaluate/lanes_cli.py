"""An evaluation's lanes as the CLI takes them: `--lane KEY=VALUE,…` or `--lanes FILE`.

    --lane schema=Invoice@3,provider=local,label=baseline
    --lane 'schema="Acme, Inc@v2"@3,provider="My vLLM",model=qwen2.5-7b,mode=json_schema'

The rule (read with `shlex`, POSIX quoting, commas as the separators):

- pairs are `key=value` separated by commas; keys are `schema`, `provider`, `model`, `mode`,
  `chunking` (`auto` or `always`) and `label`; `schema` and `provider` are needed, the rest
  default to the provider's model and first mode, `auto`, and Compare's label
  (`A · Invoice v3 · model`);
- a value may be double-quoted (`"…"`, a backslash escapes a quote inside): then `,`, `=`
  and `@` are part of it. Unquoted, a value may not hold `,` or `=`; spaces around a value are
  dropped;
- `schema=NAME@N` pins version N of a saved schema: the version is an unquoted `@` and a
  whole number after the name, so `schema="Acme, Inc@v2"@3` is version 3 of the schema named
  `Acme, Inc@v2`, and `schema="Name@3"` is the schema named `Name@3`, newest version. Other
  values keep an unquoted `@` as written (`model=org/model@rev`).

`--lanes FILE` reads Compare's JSON: a list of lanes, or an object with `lanes` (a preset) or
`comparison.lanes` (the first line of a comparison's export). Every problem is a ValueError
whose message can be shown as it is.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.compare.lanes import CHUNKINGS, LaneSpec, check_lanes, lanes_from_json
from engine.settings import CHUNKING_ALWAYS, CHUNKING_AUTO

__all__ = ["KEYS", "lane_names", "lanes_from_file", "parse_lane", "parse_lanes"]

KEYS = ("schema", "provider", "model", "mode", "chunking", "label")
_PUNCTUATION = "=@"  # unquoted, each stands as a token of its own; quoted, part of a value
#: (provider name or kind, model or None, mode or None) -> (provider, model, mode): the CLI's
#: defaults (`engine.cli.pick_provider`).
Pick = Callable[[str | None, str | None, str | None], tuple[Any, str, str]]


def lane_names(count: int) -> list[str]:
    """The lanes' names as on Compare: A, B, C, D."""
    return [chr(ord("A") + n) for n in range(count)]


def parse_lanes(texts: Sequence[str], *, pick: Pick | None = None) -> list[LaneSpec]:
    """Several `--lane` values, named A, B, … in order (1 to 4 of them)."""
    lanes = [parse_lane(text, lane=name, pick=pick)
             for text, name in zip(texts, lane_names(len(texts)), strict=True)]
    return check_lanes(lanes)


def parse_lane(text: str, *, lane: str = "A", pick: Pick | None = None) -> LaneSpec:
    """One `--lane` value (the module doc's rule). `pick` fills a missing model or mode (and
    gives the provider's name for a kind such as `local`); without it both are needed."""
    values, version = _pairs(text)
    missing = [key for key in ("schema", "provider") if not values.get(key)]
    if missing:
        raise ValueError(f"The lane {text!r} needs {' and '.join(f'{k}=' for k in missing)}.")
    provider, model, mode = values["provider"], values.get("model"), values.get("mode")
    if pick is not None:
        found, model, mode = pick(provider, model, mode)
        provider = found.name
    elif not (model and mode):
        raise ValueError(f"The lane {text!r} needs model= and mode=.")
    chunking = values.get("chunking") or CHUNKING_AUTO
    if chunking not in CHUNKINGS:
        raise ValueError(f"chunking= is one of {', '.join(CHUNKINGS)}, not {chunking!r}.")
    label = values.get("label") or _label(lane, values["schema"], version, model, chunking)
    return LaneSpec(lane, label, values["schema"], version, provider, str(model), str(mode),
                    chunking)


def _label(lane: str, schema: str, version: str | None, model: str | None,
           chunking: str) -> str:
    """Compare's label: `A · Invoice v3 · model`, `· chunked` for a lane that splits."""
    chunked = " · chunked" if chunking == CHUNKING_ALWAYS else ""
    return f"{lane} · {schema}{f' v{version}' if version else ''} · {model}{chunked}"


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=_PUNCTUATION)
    lexer.whitespace = ","
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ValueError(f"The lane {text!r} cannot be read: {str(exc).lower()}.") from None


def _punctuation(token: str) -> bool:
    return bool(token) and not token.strip(_PUNCTUATION)


def _equals(token: str) -> bool:
    """An unquoted run of `=` and `@` holding an `=` (a quoted value is a word)."""
    return _punctuation(token) and "=" in token


def _pairs(text: str) -> tuple[dict[str, str], str | None]:
    """The lane's values by key, and the schema's version (`@N`)."""
    tokens = _tokens(text)
    values: dict[str, str] = {}
    version: str | None = None
    at = 0
    while at < len(tokens):
        key = tokens[at].strip()
        if key not in KEYS:
            raise ValueError(f"Unknown key {key!r} in the lane {text!r} (keys: "
                             f"{', '.join(KEYS)}; quote a value that holds ',', '=' or '@').")
        if key in values:
            raise ValueError(f"{key}= is given twice in the lane {text!r}.")
        sign = tokens[at + 1] if at + 1 < len(tokens) else ""
        if not _equals(sign):
            raise ValueError(f"{key} needs a value in the lane {text!r}: {key}=….")
        if sign != "=":
            raise ValueError(f"An unquoted {sign[1:]!r} after {key}= in the lane "
                             f"{text!r}: quote the value ({key}=\"…\").")
        at, parts = _value(tokens, at + 2)
        if key == "schema" and len(parts) >= 3 and parts[-2] == "@":
            version = parts[-1].strip()
            if not version.isdigit():
                raise ValueError(f"The schema's version in the lane {text!r} is a whole "
                                 f"number (schema=NAME@3), not {version!r}; quote a name "
                                 "that holds '@'.")
            parts = parts[:-2]
        value = "".join(parts).strip()
        if not value:
            raise ValueError(f"{key}= has no value in the lane {text!r} (quote a value that "
                             "holds ',' or '=').")
        values[key] = value
    return values, version


def _value(tokens: list[str], at: int) -> tuple[int, list[str]]:
    """One value's tokens from `at` (a word, `@` pieces), and where the next pair starts: at a
    word after a word (the comma between them was a separator), or at a word followed by `=`
    (the next key)."""
    parts: list[str] = []
    while at < len(tokens):
        token = tokens[at]
        if _equals(token):
            raise ValueError("An unquoted '=' in a value: quote it (key=\"a=b\").")
        if not _punctuation(token):
            follows_word = bool(parts) and not _punctuation(parts[-1])
            is_key = at + 1 < len(tokens) and _equals(tokens[at + 1])
            if follows_word or is_key:
                break
        parts.append(token)
        at += 1
    return at, parts


def lanes_from_file(path: str | Path) -> list[LaneSpec]:
    """Compare's lanes from a JSON file (the module doc's shapes), 1 to 4 of them."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        first = text.strip().splitlines()[0] if text.strip() else ""
        try:
            data = json.loads(first)  # a comparison's export: JSON Lines
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict):
        data = (data.get("comparison") or {}).get("lanes") if "comparison" in data \
            else data.get("lanes")
    if not isinstance(data, list):
        raise ValueError(f"{path} holds no lanes: a JSON list of lanes, or an object with "
                         "'lanes'.")
    try:
        return check_lanes(lanes_from_json(json.dumps(data)))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
