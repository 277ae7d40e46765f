"""The tables as the code sees them (the shape after the newest migration).

Migrations in `engine/store/migrations/versions/` create and change them; this module only
describes them for queries (nothing creates tables from it). Keep the two in step:
tests/engine/store/test_tables.py upgrades an empty SQLite and Postgres database to the newest
migration and compares it with this metadata, columns, types, indexes and unique constraints.
Kept outside the metadata on purpose: the search (0002 and 0009: SQLite's FTS5 tables
`runs_*_fts` and their triggers, Postgres's pg_trgm GIN indexes `ix_runs_*_trgm`) and the
migrations' own version table.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    UniqueConstraint,
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
    # The group a run was started in (0007): a comparison's lanes are kind "compare", its id,
    # the lane; NULL for a run in no group (`engine.runs.spec.RunGroup`).
    Column("group_kind", SafeText()),
    Column("group_id", SafeText()),
    Column("group_member", SafeText()),
    Column("ran_by", SafeText()),
    Column("timeline", LargeBinary()),
    Column("grounding", SafeJSON()),  # path -> Grounding.to_json(); NULL before grounding
    Column("not_found", Integer()),  # how many values are not in the text; NULL: not known
    # The file the text was read from (0008): DocumentInfo.to_json(), NULL for pasted text.
    Column("document", SafeJSON()),
    # Its `name` (0009), a column of its own so search can index it; NULL for pasted text.
    Column("document_name", SafeText()),
    # The History page lists newest first, filtered by one of these (0001).
    Index("ix_runs_started", "started_at"),
    Index("ix_runs_schema", "schema_name", "started_at"),
    Index("ix_runs_model", "provider", "model", "started_at"),
    Index("ix_runs_status", "status", "started_at"),
    Index("ix_runs_group", "group_kind", "group_id"),  # 0007
)

# The parts of a split document's run (0008): one row per chunk or extra pass, `run_id` the
# run's `id` (no foreign key: the store deletes a run's parts with it, on both databases);
# (run_id, idx) unique, its index the one a run's parts are read by. Spans and grounding are
# offsets in the run's whole text; `offset_ms` is when the part's request started after the
# run's; `timeline` its chunk log, packed as runs.timeline (`engine.store.timeline`).
run_parts = Table(
    "run_parts",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("run_id", SafeText(), nullable=False),
    Column("idx", Integer(), nullable=False),
    Column("kind", SafeText(), nullable=False),  # "chunk" or "pass"
    Column("span_start", Integer(), nullable=False),
    Column("span_end", Integer(), nullable=False),
    Column("first_page", Integer(), nullable=False),
    Column("last_page", Integer(), nullable=False),
    Column("status", SafeText(), nullable=False),
    Column("error_type", SafeText()),
    Column("error_message", SafeText()),
    Column("offset_ms", Float()),
    Column("ttft_ms", Float()),
    Column("first_field_ms", Float()),
    Column("total_ms", Float()),
    Column("usage", SafeJSON()),
    Column("tokens", Integer()),  # completion tokens, when the server said
    Column("answer", SafeJSON()),  # the part's result, or its partial
    Column("grounding", SafeJSON()),  # path -> Grounding.to_json()
    Column("timeline", LargeBinary()),
    UniqueConstraint("run_id", "idx", name="uq_run_parts_run_idx"),
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
    UniqueConstraint("name", "version", name="uq_schemas_name_version"),  # 0003
    Index("uq_schemas_name_key_version", "name_key", "version", unique=True),  # 0006
)

# Comparisons made on the Compare page (engine/compare/comparisons.py): `id` is the public id
# the lanes' runs carry in runs.group_id (group_kind "compare"). `lanes` and `reference` are
# JSON kept as text and parsed by the reader, so one broken row is skipped instead of breaking
# the list.
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
    Index("ix_comparisons_created", "created_at"),
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
    UniqueConstraint("name", "version", name="uq_compare_presets_name_version"),  # 0005
    Index("uq_compare_presets_name_key_version", "name_key", "version", unique=True),  # 0006
)

# Batches (0010, #20): a batch's settings (`spec`, JSON kept as text: `engine.batch.model`),
# whether it is running or stopped, and how many documents it has. Its documents' runs are the
# run group ("batch", id); `batch_items` is one row per document: its name as shown, sha256,
# its DocumentInfo JSON, its converted text until it is done (kept only under
# FIELDSTREAM_KEEP_INPUT), status and why, which attempt, the run that answered it (its
# workflow id), the first item with the same bytes (a duplicate runs once).
batches = Table(
    "batches",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("id", SafeText(), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", SafeText()),
    Column("name", SafeText()),
    Column("spec", SafeText(), nullable=False),
    Column("state", SafeText(), nullable=False),
    Column("total", Integer(), nullable=False),
    Index("ix_batches_created", "created_at"),
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("batch_id", SafeText(), nullable=False),
    Column("idx", Integer(), nullable=False),
    Column("name", SafeText(), nullable=False),
    Column("sha256", SafeText()),
    Column("document", SafeText()),
    Column("text", SafeText()),
    Column("status", SafeText(), nullable=False),
    Column("reason", SafeText()),
    Column("attempt", Integer(), nullable=False),
    Column("run_id", SafeText()),
    Column("duplicate_of", Integer()),
    Column("executor", SafeText()),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("batch_id", "idx", name="uq_batch_items_batch_idx"),
    Index("ix_batch_items_status", "batch_id", "status"),
    Index("ix_batch_items_sha", "sha256"),
)

# The processes that run batches (the app, each `fieldstream worker`): a heartbeat each, so a
# live one can take over a dead one's documents (`engine.batch.executors`).
batch_executors = Table(
    "batch_executors",
    metadata,
    Column("id", SafeText(), primary_key=True),
    Column("role", SafeText(), nullable=False),
    Column("host", SafeText()),
    Column("pid", Integer()),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("beat_at", UTCDateTime(), nullable=False),
)

# Evaluation (0011, #21): a labelled set's versions (`eval_sets`), its documents' texts once per
# sha256 (`eval_texts`, kept whatever the keep-input setting says), each version's documents
# with their gold JSON (`eval_examples`), and the evaluations run on a set version
# (`evaluations`: lanes as JSON, each with the batch that runs it: `engine.evaluate`).
eval_sets = Table(
    "eval_sets",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("name", SafeText(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("schema_name", SafeText(), nullable=False),
    Column("schema_version", SafeText()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", SafeText()),
    Column("note", SafeText()),
    UniqueConstraint("name", "version", name="uq_eval_sets_name_version"),
)

eval_texts = Table(
    "eval_texts",
    metadata,
    Column("sha256", SafeText(), primary_key=True),
    Column("text", SafeText(), nullable=False),
    Column("document", SafeText()),
)

eval_examples = Table(
    "eval_examples",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("set_name", SafeText(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("idx", Integer(), nullable=False),
    Column("name", SafeText(), nullable=False),
    Column("sha256", SafeText(), nullable=False),
    Column("gold", SafeText(), nullable=False),
    Column("reviewer", SafeText()),
    Column("reviewed_at", UTCDateTime()),
    Column("run_id", SafeText()),
    UniqueConstraint("set_name", "version", "idx", name="uq_eval_examples_set_idx"),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("seq", SEQ_TYPE, primary_key=True, autoincrement=True),
    Column("id", SafeText(), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", SafeText()),
    Column("name", SafeText()),
    Column("set_name", SafeText(), nullable=False),
    Column("set_version", Integer(), nullable=False),
    Column("lanes", SafeText(), nullable=False),
    Column("fuzzy", Float()),
    Index("ix_evaluations_set", "set_name", "created_at"),
)
