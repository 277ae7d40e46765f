"""One saved schema (and one compare preset) per name whatever its case, on every database.

The code always found names ignoring case, but two saves of `Race1x` and `RACE1X` at the same
moment on Postgres both found nothing and wrote two schemas (SQLite takes its write lock at
BEGIN, so it never split one). Now `name_key` holds the name case-folded (Python's
`str.strip().casefold()`, the one fold the code uses: SQLite's lower() folds ASCII only and
Postgres's lower() follows the database's locale, so a SQL expression would fold `Ärger` one
way on one database and another way on the other) and (`name_key`, `version`) is unique: of
two racing saves one wins, the other tries again with the next version.

Before that, names already split are merged, in `schemas` and in `compare_presets` alike:
every row of a name takes the spelling of its oldest row, and the versions are numbered again
in the order they were made (created_at, then seq). What pointed at a renumbered schema
version follows it: `runs.schema_name` / `schema_version`, and the lanes pinned in
`comparisons.lanes` and `compare_presets.lanes`. A downgrade drops the key; the merge stays.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-15
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAMED = ("schemas", "compare_presets")
Moves = dict[tuple[str, int], tuple[str, int]]  # (name, version) before -> after


def fold(name: str) -> str:
    """A name's key (the code's `engine.schemas.saved.name_key`; copied, as a migration must
    not change when the code does)."""
    return name.strip().casefold()


def upgrade() -> None:
    conn = op.get_bind()
    moved = {table: _merge(conn, table) for table in NAMED}
    _follow_runs(conn, moved["schemas"])
    for table in ("comparisons", "compare_presets"):
        _follow_lanes(conn, table, moved["schemas"])
    for table in NAMED:
        op.add_column(table, sa.Column("name_key", sa.Text()))
        _fill_keys(conn, table)
        with op.batch_alter_table(table) as batch:  # SQLite: NOT NULL needs a new table
            batch.alter_column("name_key", existing_type=sa.Text(), nullable=False)
        op.create_index(f"uq_{table}_name_key_version", table, ["name_key", "version"],
                        unique=True)


def downgrade() -> None:
    for table in NAMED:
        op.drop_index(f"uq_{table}_name_key_version", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name_key")


def _named(table: str) -> sa.TableClause:
    return sa.table(table, sa.column("seq"), sa.column("name"), sa.column("version"),
                    sa.column("created_at"), sa.column("name_key"))


def _merge(conn: sa.Connection, table: str) -> Moves:
    """Give every name that has several spellings its oldest one and renumber its versions
    in the order they were made; returns what moved."""
    t = _named(table)
    rows = conn.execute(sa.select(t.c.seq, t.c.name, t.c.version)
                        .order_by(t.c.created_at, t.c.seq)).all()
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        groups[fold(row.name)].append(row)
    plan = {}  # seq -> (the row, its name and version after)
    for group in groups.values():
        if len({row.name for row in group}) < 2:
            continue  # one spelling: its versions are as they were saved
        for number, row in enumerate(group, 1):
            if (row.name, row.version) != (group[0].name, number):
                plan[row.seq] = (row, group[0].name, number)
    # Out of the way first (negative versions are free), so no step meets the unique
    # (name, version) of a row not yet moved.
    for seq in plan:
        conn.execute(sa.update(t).where(t.c.seq == seq).values(version=-seq))
    for seq, (_row, name, number) in plan.items():
        conn.execute(sa.update(t).where(t.c.seq == seq).values(name=name, version=number))
    return {(row.name, row.version): (name, number) for row, name, number in plan.values()}


def _follow_runs(conn: sa.Connection, moved: Moves) -> None:
    """Runs recorded with a schema version that moved name the version it is now."""
    if not moved:
        return
    runs = sa.table("runs", sa.column("seq"), sa.column("schema_name"),
                    sa.column("schema_version"))
    names = sorted({name for name, _version in moved})
    query = sa.select(runs.c.seq, runs.c.schema_name, runs.c.schema_version).where(
        runs.c.schema_name.in_(names), runs.c.schema_version.is_not(None))
    for row in conn.execute(query).all():
        after = moved.get((row.schema_name, _number(row.schema_version)))
        if after is not None:
            conn.execute(sa.update(runs).where(runs.c.seq == row.seq).values(
                schema_name=after[0], schema_version=str(after[1])))


def _follow_lanes(conn: sa.Connection, table: str, moved: Moves) -> None:
    """Lanes pinned to a schema version that moved pin the version it is now (lanes that are
    not readable JSON are left as they are: the code skips them with a log line)."""
    if not moved:
        return
    t = sa.table(table, sa.column("seq"), sa.column("lanes"))
    for row in conn.execute(sa.select(t.c.seq, t.c.lanes)).all():
        try:
            lanes = json.loads(row.lanes)
        except (TypeError, ValueError):
            continue
        if not isinstance(lanes, list):
            continue
        changed = [_follow_lane(lane, moved) for lane in lanes]
        if changed != lanes:
            conn.execute(sa.update(t).where(t.c.seq == row.seq).values(lanes=_dumps(changed)))


def _follow_lane(lane: Any, moved: Moves) -> Any:
    if not isinstance(lane, dict) or not isinstance(lane.get("schema_name"), str):
        return lane
    after = moved.get((lane["schema_name"], _number(lane.get("schema_version"))))
    if after is None:
        return lane
    return {**lane, "schema_name": after[0], "schema_version": str(after[1])}


def _fill_keys(conn: sa.Connection, table: str) -> None:
    t = _named(table)
    rows = conn.execute(sa.select(t.c.seq, t.c.name)).all()
    if rows:
        conn.execute(sa.update(t).where(t.c.seq == sa.bindparam("row_seq"))
                     .values(name_key=sa.bindparam("key")),
                     [{"row_seq": row.seq, "key": fold(row.name)} for row in rows])


def _dumps(value: Any) -> str:
    # As the code writes lanes (engine.store.textsafe.dumps): the same text for the same lanes,
    # and the stored text's escapes (a private-use marker) kept as they are.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _number(version: Any) -> int | None:
    try:
        return int(version)
    except (TypeError, ValueError):
        return None
