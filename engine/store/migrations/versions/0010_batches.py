"""Batches (#20): `batches` (one per batch: what every document runs with) and `batch_items`
(one per document: its name, its converted text until it is done, its status, the run that
answered it), and `batch_executors` (the processes that run batches, with their heartbeats).

A batch is a run group (`runs.group_kind = "batch"`, `group_id` the batch's id, `group_member`
the item's index); its documents' runs are ordinary runs, keyed by their workflow id. The
queue's own state (DBOS Transact's tables) lives beside these, in `queue.db` on one machine or
in a schema of its own on Postgres: nothing here depends on it.

A downgrade drops the three tables (the older code knows no batches; the runs stay).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("name", sa.Text()),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
    )
    op.create_index("ix_batches_created", "batches", ["created_at"])
    op.create_table(
        "batch_items",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text()),
        sa.Column("document", sa.Text()),
        sa.Column("text", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text()),
        sa.Column("duplicate_of", sa.Integer()),
        sa.Column("executor", sa.Text()),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.UniqueConstraint("batch_id", "idx", name="uq_batch_items_batch_idx"),
    )
    op.create_index("ix_batch_items_status", "batch_items", ["batch_id", "status"])
    op.create_index("ix_batch_items_sha", "batch_items", ["sha256"])
    op.create_table(
        "batch_executors",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("host", sa.Text()),
        sa.Column("pid", sa.Integer()),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("beat_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("batch_executors")
    op.drop_index("ix_batch_items_sha", "batch_items")
    op.drop_index("ix_batch_items_status", "batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batches_created", "batches")
    op.drop_table("batches")
