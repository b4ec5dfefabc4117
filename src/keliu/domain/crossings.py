"""Crossings that are not entries: exits (离店) of door lines and crossings of pass-by lines (过店).

A sighting's crossings are split by the kind of line they cross (docs/metrics.md, "Exits and
pass-by"):

* **door lines**: an ``in`` crossing is an entry (the resolver's business); every ``out`` crossing is
  an :class:`Exit`, linked to the visit the resolver put the sighting in when the exit is at or after
  that visit's first entry (the same rule that sets ``Visit.last_exit``), else unlinked (e.g. somebody
  who was inside before the camera started);
* **pass-by lines** (``kind: passby`` in the site config): every crossing, in either direction, is a
  :class:`PassbyCrossing` and never reaches the resolver, so a passer-by is never an entry.

Pure functions over the domain types; stdlib only. Must not know about storage or frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from keliu.domain.visits import Sighting, Visit

__all__ = ["Exit", "PassbyCrossing", "exits_of", "split_passby"]


@dataclass(frozen=True)
class Exit:
    """One ``out`` crossing of a door line (离店): the camera, line, time and track that made it, and
    the visit it ends (None: no visit claimed it)."""

    site_id: str
    camera_id: str
    line_id: str
    at: datetime
    track_id: int
    visit_id: str | None = None


@dataclass(frozen=True)
class PassbyCrossing:
    """One crossing of a pass-by line (过店), in either direction."""

    site_id: str
    camera_id: str
    line_id: str
    at: datetime
    track_id: int
    direction: Literal["in", "out"]


def split_passby(
    sighting: Sighting, passby_lines: Collection[tuple[str, str]]
) -> tuple[Sighting, list[PassbyCrossing]]:
    """The sighting with only its door-line crossings (what the resolver may see), and its crossings
    of the pass-by lines ``passby_lines`` ((camera_id, line_id) pairs)."""
    passby = [c for c in sighting.crossings if (sighting.camera_id, c.line_id) in passby_lines]
    if not passby:
        return sighting, []
    door = tuple(c for c in sighting.crossings if (sighting.camera_id, c.line_id) not in passby_lines)
    return dataclasses.replace(sighting, crossings=door), [
        PassbyCrossing(sighting.site_id, sighting.camera_id, c.line_id, c.at, sighting.track_id, c.direction)
        for c in passby
    ]


def exits_of(sighting: Sighting, visit: Visit | None) -> list[Exit]:
    """Every ``out`` crossing of the (door-line-only) ``sighting`` as an :class:`Exit`; linked to
    ``visit`` (the visit the resolver put the sighting in) when at or after its first entry."""
    return [
        Exit(
            sighting.site_id,
            sighting.camera_id,
            c.line_id,
            c.at,
            sighting.track_id,
            visit.visit_id if visit is not None and c.at >= visit.first_entry else None,
        )
        for c in sighting.exits
    ]
