"""Presets: named lane sets for the team, kept in the store's `compare_presets` (migration
0005), a new version per changed save of a name. Names are one preset whatever their case, as
saved schemas are (the same unique `name_key`, 0006). Stored lanes that do not parse (a
hand-edited or broken row) are skipped with a warning by the list, and `get_preset` gives None
for them: one bad row never hides the others.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from engine.compare.lanes import LaneSpec, check_lanes, check_name, lanes_from_json
from engine.schemas.saved import name_key, save_versioned, stored_name
from engine.store import Store
from engine.store.records import utcnow
from engine.store.tables import compare_presets
from engine.store.textsafe import dumps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """A named lane set for the team; each save of a name adds a version."""

    name: str
    version: int
    created_by: str | None
    created_at: datetime
    lanes: list[LaneSpec]


def _preset(row: Any) -> Preset | None:
    try:
        lanes = lanes_from_json(row["lanes"])
    except ValueError as exc:
        log.warning("Preset %r version %s is skipped: its stored lanes are broken (%s).",
                    row["name"], row["version"], exc)
        return None
    return Preset(row["name"], int(row["version"]), row["created_by"], row["created_at"], lanes)


def _latest_preset(conn: Connection, name: str) -> Any:
    query = (select(compare_presets).where(compare_presets.c.name_key == name_key(name))
             .order_by(compare_presets.c.version.desc()).limit(1))
    return conn.execute(query).mappings().first()


def save_preset(store: Store, name: str, lanes: list[LaneSpec], who: str | None = None) -> Preset:
    """Save the lane set as the next version of `name` (the newest version, untouched, when
    its lanes are the same). Raises ValueError for an empty or too long name, or bad lanes."""
    name = check_name("A preset", name)
    text = dumps([lane.to_json() for lane in check_lanes(lanes)])

    def save(conn: Connection) -> Preset:
        stored = stored_name(conn, compare_presets, name) or name
        latest = _latest_preset(conn, stored)
        if latest is not None and latest["lanes"] == text:  # unchanged: no new version
            return Preset(stored, int(latest["version"]), latest["created_by"],
                          latest["created_at"], list(lanes))
        return _new(conn, stored, latest["version"] + 1 if latest is not None else 1)

    def _new(conn: Connection, stored: str, version: int) -> Preset:
        values = {"name": stored, "name_key": name_key(stored), "version": version,
                  "created_by": who, "created_at": utcnow(), "lanes": text}
        conn.execute(insert(compare_presets).values(**values))
        return Preset(stored, version, who, values["created_at"], list(lanes))

    return save_versioned(store, save)


def list_presets(store: Store) -> list[Preset]:
    """The newest readable version of every preset, by name (broken rows skipped)."""
    query = select(compare_presets).order_by(compare_presets.c.name,
                                             compare_presets.c.version.desc())
    newest: dict[str, Preset] = {}
    with store.reading() as conn:
        for row in conn.execute(query).mappings():
            if row["name"] not in newest:
                preset = _preset(row)
                if preset is not None:
                    newest[row["name"]] = preset
    return list(newest.values())


def get_preset(store: Store, name: str, version: int | None = None) -> Preset | None:
    """One version of a preset (the newest without `version`), found ignoring case; None when
    there is none or its stored lanes are broken."""
    with store.reading() as conn:
        if version is None:
            row = _latest_preset(conn, name)
        else:
            row = conn.execute(select(compare_presets).where(
                compare_presets.c.name_key == name_key(name),
                compare_presets.c.version == version)
            ).mappings().first()
    return None if row is None else _preset(row)


def delete_preset(store: Store, name: str) -> int:
    """Delete every version of a preset (found ignoring case); returns how many rows went."""
    with store.transaction() as conn:
        return conn.execute(delete(compare_presets)
                            .where(compare_presets.c.name_key == name_key(name))).rowcount


def missing_providers(preset: Preset, available: Collection[str]) -> list[LaneSpec]:
    """The preset's lanes naming a provider this machine does not have."""
    have = set(available)
    return [lane for lane in preset.lanes if lane.provider not in have]
