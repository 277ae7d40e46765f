"""The schemas table: definitions made without code, one row per saved version.

A schema keeps every version it had (`version` counts up from 1 per name); the newest is the
row with the highest version. `definition` is the definition's JSON, `fingerprint` its sha256,
so saving an unchanged definition can be recognised without a new row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Plain types on purpose, as in 0001: a migration must not change when the code's types do.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schemas",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("author", sa.Text()),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_schemas_name_version"),
    )


def downgrade() -> None:
    op.drop_table("schemas")
