"""Run groups: a run's `compare_id` / `compare_lane` become `group_kind` / `group_id` /
`group_member`.

A comparison's lanes were the only runs started together; batches and evaluations will be
more kinds of group, each a `group_kind` with no column of its own. `compare_id` is renamed
`group_id` and `compare_lane` `group_member` (renamed, not copied: no rewrite of a big table),
and every run that had a comparison id gets the kind "compare". The index on the id becomes
one on (kind, id), what a group's lookup asks.

A downgrade renames them back; runs of another kind of group lose their group then (the
older code knows comparisons only), comparisons' runs keep theirs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COMPARE = "compare"  # the kind of a comparison's lanes (`engine.runs.spec.GROUP_COMPARE`)


def _runs(*names: str) -> sa.TableClause:
    return sa.table("runs", *(sa.column(name) for name in names))


def upgrade() -> None:
    # Both databases rename a column in place (SQLite since 3.25), indexes following it.
    op.drop_index("ix_runs_compare", "runs")
    op.alter_column("runs", "compare_id", new_column_name="group_id")
    op.alter_column("runs", "compare_lane", new_column_name="group_member")
    op.add_column("runs", sa.Column("group_kind", sa.Text()))
    runs = _runs("group_kind", "group_id")
    op.execute(sa.update(runs).where(runs.c.group_id.is_not(None)).values(group_kind=COMPARE))
    op.create_index("ix_runs_group", "runs", ["group_kind", "group_id"])


def downgrade() -> None:
    runs = _runs("group_kind", "group_id", "group_member")
    op.execute(sa.update(runs).where(sa.or_(runs.c.group_kind.is_(None),
                                            runs.c.group_kind != COMPARE))
               .values(group_id=None, group_member=None))
    op.drop_index("ix_runs_group", "runs")
    op.drop_column("runs", "group_kind")  # SQLite 3.35+ drops it in place (0004 and 0005 do too)
    op.alter_column("runs", "group_member", new_column_name="compare_lane")
    op.alter_column("runs", "group_id", new_column_name="compare_id")
    op.create_index("ix_runs_compare", "runs", ["compare_id"])
