"""The runs table: one row per run, written at start and updated at the end.

Revision ID: 0001
Revises:
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Plain types on purpose: a migration is frozen, it must not change when the code's
# column types (engine/store/textsafe.py) do. Their DDL is the same.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN),
        sa.Column("heartbeat_at", WHEN),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("schema_name", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.Text()),
        sa.Column("json_schema", sa.Text()),
        sa.Column("schema_fingerprint", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("base_url_host", sa.Text()),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text()),
        sa.Column("input_text", sa.Text()),
        sa.Column("result", sa.Text()),
        sa.Column("field_errors", sa.Text()),
        sa.Column("usage", sa.Text()),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("first_field_ms", sa.Float()),
        sa.Column("total_ms", sa.Float()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("compare_id", sa.Text()),
        sa.Column("ran_by", sa.Text()),
        sa.Column("timeline", sa.LargeBinary()),
    )
    # The History page lists newest first, filtered by one of these.
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_index("ix_runs_schema", "runs", ["schema_name", "started_at"])
    op.create_index("ix_runs_model", "runs", ["provider", "model", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status", "started_at"])
    op.create_index("ix_runs_compare", "runs", ["compare_id"])


def downgrade() -> None:
    op.drop_table("runs")
