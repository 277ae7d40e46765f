"""Evaluation (#21): labelled sets and evaluations.

- `eval_sets`: one row per version of a named labelled set (a change makes a new version; an
  evaluation pins one): the schema its gold answers fit, who made the version and when.
- `eval_texts`: a labelled document's text and `DocumentInfo` JSON, once per sha256 of the text
  (versions share them). Kept whatever FIELDSTREAM_KEEP_INPUT says: a set without its texts
  cannot be run.
- `eval_examples`: one row per document of a set version: its shown name, its text's sha256,
  its gold answer (JSON), the reviewer and when, and the run it was marked or corrected from.
- `evaluations`: one per evaluation: the set version it ran on, its lanes (JSON: each lane's
  settings and the batch that runs it; the runs are a run group of kind "eval"), the fuzzy
  threshold it was scored with.

A downgrade drops the four tables (older code knows no evaluations; the runs stay).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "eval_sets",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_name", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.Text()),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.UniqueConstraint("name", "version", name="uq_eval_sets_name_version"),
    )
    op.create_table(
        "eval_texts",
        sa.Column("sha256", sa.Text(), primary_key=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("document", sa.Text()),
    )
    op.create_table(
        "eval_examples",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("set_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("gold", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.Text()),
        sa.Column("reviewed_at", _WHEN),
        sa.Column("run_id", sa.Text()),
        sa.UniqueConstraint("set_name", "version", "idx", name="uq_eval_examples_set_idx"),
    )
    op.create_table(
        "evaluations",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("name", sa.Text()),
        sa.Column("set_name", sa.Text(), nullable=False),
        sa.Column("set_version", sa.Integer(), nullable=False),
        sa.Column("lanes", sa.Text(), nullable=False),
        sa.Column("fuzzy", sa.Float()),
    )
    op.create_index("ix_evaluations_set", "evaluations", ["set_name", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_set", "evaluations")
    op.drop_table("evaluations")
    op.drop_table("eval_examples")
    op.drop_table("eval_texts")
    op.drop_table("eval_sets")
