"""Documents and parts: a run's `document` (the file its text was read from) and `run_parts`
(the chunks and extra passes of a document split to fit the model), issue #19.

`runs.document` is the document's metadata as JSON (`DocumentInfo.to_json()`: name, type,
size, sha256, pages, page starts; never the file's bytes), NULL for pasted text and for every
run recorded before. `run_parts` holds one row per part of a split run: its span of the
run's text and its pages, how its own request ended and when (`offset_ms` after the run's
start), its tokens, its answer, its grounding (offsets in the whole text) and its chunk log
packed like `runs.timeline`. (run_id, idx) is unique; its index is the one a run's parts
are read by (run_id leads it), so no second index on run_id. No foreign key: SQLite would not
enforce it without a pragma, so the store deletes a run's parts itself, in the transaction
that deletes the run (both databases alike).

A downgrade drops both: the older code knows no parts, and a split run's merged answer, its
text and its timings stay in `runs`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The seq key as tables.SEQ_TYPE declares it (an INTEGER rowid alias on SQLite).
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("runs", sa.Column("document", sa.Text()))
    op.create_table(
        "run_parts",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("span_start", sa.Integer(), nullable=False),
        sa.Column("span_end", sa.Integer(), nullable=False),
        sa.Column("first_page", sa.Integer(), nullable=False),
        sa.Column("last_page", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error_type", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("offset_ms", sa.Float()),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("first_field_ms", sa.Float()),
        sa.Column("total_ms", sa.Float()),
        sa.Column("usage", sa.Text()),
        sa.Column("tokens", sa.Integer()),
        sa.Column("answer", sa.Text()),
        sa.Column("grounding", sa.Text()),
        sa.Column("timeline", sa.LargeBinary()),
        sa.UniqueConstraint("run_id", "idx", name="uq_run_parts_run_idx"),
    )


def downgrade() -> None:
    op.drop_table("run_parts")
    op.drop_column("runs", "document")  # SQLite 3.35+ drops it in place (0004, 0007 too)
