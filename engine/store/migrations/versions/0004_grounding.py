"""Grounding stored with each run: where each extracted value stands in the input text.

`grounding` is JSON, path -> {"status", "spans", "score"?} (`engine.grounding.Grounding`);
`not_found` counts the values found nowhere in the text (the History filter reads it without
parsing the JSON). Both stay NULL for runs recorded before this revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain types on purpose, as in 0001: a migration must not change when the code's types do.
    op.add_column("runs", sa.Column("grounding", sa.Text()))
    op.add_column("runs", sa.Column("not_found", sa.Integer()))


def downgrade() -> None:
    op.drop_column("runs", "not_found")
    op.drop_column("runs", "grounding")
