"""Comparisons and their presets; the lane of a comparison's run.

`comparisons`: one row per comparison made on the Compare page; `id` is the public id its
lanes' runs carry in `runs.compare_id`, `lanes` the lane specs as JSON (no key), `reference`
the expected answer as JSON (or null) and `reference_run_id` the History run it came from.
`compare_presets`: named lane sets, one row per saved version of a name (schema versions
pinned in `lanes`). `runs.compare_lane` names the lane a run was, so a comparison reopens each
run in its own column whatever order the lanes started in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
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
    op.add_column("runs", sa.Column("compare_lane", sa.Text()))
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
    op.create_index("ix_comparisons_created", "comparisons", ["created_at"])
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
    op.drop_index("ix_comparisons_created", "comparisons")
    op.drop_table("comparisons")
    op.drop_column("runs", "compare_lane")
