"""A provider: one place to run extractions (the embedded model, OpenAI, or any
OpenAI-compatible server), with the modes it supports and, in memory only, its key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.llm.modes import MODES, Mode, default_mode

KINDS = ("local", "openai", "compatible")
LOCAL_NAME, OPENAI_NAME, CUSTOM_NAME = "Local model", "OpenAI", "Custom server"
RESERVED_NAMES = (LOCAL_NAME, OPENAI_NAME, CUSTOM_NAME)
NO_KEY_MESSAGE = (
    "No OpenAI API key yet. Set the OPENAI_API_KEY environment variable, add OPENAI_API_KEY "
    "to .streamlit/secrets.toml, or type a key in the sidebar."
)


@dataclass(frozen=True)
class Provider:
    """A place to run extractions. `api_key` is kept out of repr, equality and saved files."""

    name: str
    kind: str  # local | openai | compatible
    base_url: str | None
    modes: tuple[str, ...]
    default_model: str | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)
    key_source: str | None = None  # session | secrets | env: where the key came from
    api_key_env: str | None = None  # saved providers: the env var / secret that holds the key
    origin: str = "builtin"  # builtin | env | saved | detected

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown provider kind {self.kind!r}; use one of {KINDS}")
        modes = tuple(self.modes) or MODES
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            raise ValueError(f"Unknown mode(s) {unknown}; use some of {MODES}")
        object.__setattr__(self, "modes", modes)

    @property
    def best_mode(self) -> Mode:
        """The default mode: the best this provider supports (json_schema when available)."""
        return default_mode(self.modes)

    def pick_mode(self, wanted: str | None = None) -> str:
        """`wanted` if this provider supports it, else the best supported mode."""
        return wanted if wanted in self.modes else self.best_mode

    @property
    def needs_key(self) -> bool:
        return self.kind == "openai" and not self.api_key

    def to_dict(self) -> dict[str, Any]:
        """What may be saved or shown: never the key itself."""
        return {
            "name": self.name,
            "kind": self.kind,
            "base_url": self.base_url,
            "modes": list(self.modes),
            "default_model": self.default_model,
            "api_key_env": self.api_key_env,
        }


def is_reserved(name: str) -> bool:
    """A built-in provider's name (any case): saved servers may not take it."""
    return name.strip().casefold() in {n.casefold() for n in RESERVED_NAMES}
