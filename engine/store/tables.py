"""The tables as the code sees them (the shape after the newest migration).

Migrations in `engine/store/migrations/versions/` create and change them; this module only
describes them for queries. Keep the two in step.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Table,
)

from engine.store.textsafe import SafeJSON, SafeText, UTCDateTime

metadata = MetaData()

# `seq` is an integer key of its own because SQLite's full-text index addresses rows by an
# integer rowid, and an implicit rowid may change on VACUUM; `id` is the public uuid.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "runs",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("id", SafeText(), nullable=False, unique=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("heartbeat_at", UTCDateTime()),
    Column("status", SafeText(), nullable=False),
    Column("schema_name", SafeText(), nullable=False),
    Column("schema_version", SafeText()),
    Column("json_schema", SafeJSON()),
    Column("schema_fingerprint", SafeText(), nullable=False),
    Column("provider", SafeText(), nullable=False),
    Column("base_url_host", SafeText()),
    Column("model", SafeText(), nullable=False),
    Column("mode", SafeText()),
    Column("input_text", SafeText()),
    Column("result", SafeJSON()),
    Column("field_errors", SafeJSON()),
    Column("usage", SafeJSON()),
    Column("ttft_ms", Float()),
    Column("first_field_ms", Float()),
    Column("total_ms", Float()),
    Column("source", SafeText(), nullable=False),
    Column("compare_id", SafeText()),
    Column("compare_lane", SafeText()),  # 0004
    Column("ran_by", SafeText()),
    Column("timeline", LargeBinary()),
    Column("grounding", SafeJSON()),  # path -> Grounding.to_json(); NULL before grounding
    Column("not_found", Integer()),  # how many values are not in the text; NULL: not known
)

# NAME_KEY: `schemas` and `compare_presets` keep one row per version of a name, and a name is
# one whatever its case: `name_key` is the name case-folded (`engine.schemas.saved.name_key`)
# and (name_key, version) is unique, so two saves of one name at once cannot both take a
# version, nor write two spellings of it.

# Saved schema definitions (engine/schemas/saved.py): one row per version of a name.
schemas = Table(
    "schemas",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("name", SafeText(), nullable=False),
    Column("name_key", SafeText(), nullable=False),  # see NAME_KEY below (0006)
    Column("version", Integer(), nullable=False),
    Column("description", SafeText()),
    Column("author", SafeText()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("definition", SafeJSON(), nullable=False),
    Column("fingerprint", SafeText(), nullable=False),
)

# Comparisons made on the Compare page (engine/history/comparison.py): `id` is the public id
# the lanes' runs carry in runs.compare_id. `lanes` and `reference` are JSON kept as text and
# parsed by the reader, so one broken row is skipped instead of breaking the list.
comparisons = Table(
    "comparisons",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("id", SafeText(), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", SafeText()),
    Column("preset", SafeText()),
    Column("lanes", SafeText(), nullable=False),
    Column("reference", SafeText()),
    Column("reference_run_id", SafeText()),
)

# Named lane sets for the team: one row per saved version of a name (like `schemas`).
compare_presets = Table(
    "compare_presets",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("name", SafeText(), nullable=False),
    Column("name_key", SafeText(), nullable=False),  # see NAME_KEY below (0006)
    Column("version", Integer(), nullable=False),
    Column("created_by", SafeText()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("lanes", SafeText(), nullable=False),
)
