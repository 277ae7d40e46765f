"""Where a run goes: the provider model, the registry, clients, health checks, saved servers,
detection of local servers. Everything a caller needs is importable from here:

    from engine import providers
    provider = providers.default_provider(providers.available_providers())
"""

from engine.providers.address import normalize_base_url
from engine.providers.clients import client_for
from engine.providers.detect import DETECTED_MODES, detect_local_servers
from engine.providers.health import check, list_models
from engine.providers.model import (
    CUSTOM_NAME,
    KINDS,
    LOCAL_NAME,
    OPENAI_NAME,
    RESERVED_NAMES,
    Provider,
)
from engine.providers.registry import (
    LOCAL_MODES,
    OPENAI_MODES,
    available_providers,
    default_is_local,
    default_provider,
    find_provider,
    local_provider,
)
from engine.providers.saved import (
    SavedList,
    providers_file,
    read_saved,
    remove_provider,
    save_provider,
    saved_providers,
    set_aside_saved_file,
)

__all__ = [
    "CUSTOM_NAME",
    "DETECTED_MODES",
    "KINDS",
    "LOCAL_MODES",
    "LOCAL_NAME",
    "OPENAI_MODES",
    "OPENAI_NAME",
    "RESERVED_NAMES",
    "Provider",
    "SavedList",
    "available_providers",
    "check",
    "client_for",
    "default_is_local",
    "default_provider",
    "detect_local_servers",
    "find_provider",
    "list_models",
    "local_provider",
    "normalize_base_url",
    "providers_file",
    "read_saved",
    "remove_provider",
    "save_provider",
    "saved_providers",
    "set_aside_saved_file",
]
