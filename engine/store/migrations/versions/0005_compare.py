"""Comparisons and their presets (the Compare page).

`comparisons`: one row per Run all — its lanes (what each asked for, JSON), the reference it
is judged against (JSON, or a History run's id), who started it and from which preset. The
lanes' runs are ordinary rows of `runs` with `compare_id` = `comparisons.id`.
`compare_presets`: named lane sets for the team, one row per saved version of a name, schema
versions pinned in the lanes' JSON.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Plain types on purpose, as in 0001: a migration must not change when the code's types do.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "comparisons",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("preset", sa.Text()),
        sa.Column("lanes", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text()),
        sa.Column("reference_run_id", sa.Text()),
    )
    op.create_index("ix_comparisons_created_at", "comparisons", ["created_at"])
    op.create_table(
        "compare_presets",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Text()),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("lanes", sa.Text(), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_compare_presets_name_version"),
    )


def downgrade() -> None:
    op.drop_table("compare_presets")
    op.drop_index("ix_comparisons_created_at", "comparisons")
    op.drop_table("comparisons")
