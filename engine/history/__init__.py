"""What the History page asks of the store: listing, filtering, search, export and import."""

from engine.history.export import export_csv, export_jsonl
from engine.history.importer import ImportFormatError, ImportResult, import_bytes, import_jsonl
from engine.history.queries import (
    RunFilters,
    RunSummary,
    delete_run,
    get_run,
    list_runs,
    timeline,
)

__all__ = [
    "ImportFormatError",
    "ImportResult",
    "RunFilters",
    "RunSummary",
    "delete_run",
    "export_csv",
    "export_jsonl",
    "get_run",
    "import_bytes",
    "import_jsonl",
    "list_runs",
    "timeline",
]
