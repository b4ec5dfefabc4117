"""Exits (离店) and pass-by crossings (过店) in the store: one row per crossing, written idempotently.

* ``exits``: every 'out' crossing of a door line, keyed by camera, line, time and track, so the same
  crossing saved again changes nothing; its ``visit_id`` is the visit it ends or NULL. A crossing saved
  again *without* a visit (a sighting delivered twice: the resolver links only the first delivery)
  keeps the link it has.
* ``passby_crossings``: every crossing of a pass-by line, both directions. The ``passby_counts`` of
  the hours they touch are then **recounted** from these rows (replacing what was there), so counts
  from several files, segments or live deliveries in one hour add up exactly once. A
  :class:`PassbyWatch` (a line watched over a span of time, e.g. a recorded file) also writes the
  zero counts of its hours: an hour watched with nobody passing is measured, not unknown.

:class:`CrossingData` is a mixin of :class:`keliu.store.Store`; the write helpers run inside the
caller's transaction (``Store.ingest``), which refreshes the rollups of the instants they return.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from keliu.domain.crossings import Exit, PassbyCrossing
from keliu.errors import InputError
from keliu.store import rollups
from keliu.store import schema as t
from keliu.store.engine import in_values
from keliu.store.reference import PassbyCount

__all__ = ["CrossingData", "PassbyWatch"]

_CHUNK = 5000
_MAX_WATCH = timedelta(days=31)  # a longer watched span is refused (a wrong clock, not a recording)


@dataclass(frozen=True)
class PassbyWatch:
    """The pass-by line ``line_id`` of ``camera_id`` was watched over ``[start, end)``: every local
    hour it overlaps gets a pass-by count, zero when nobody crossed."""

    camera_id: str
    line_id: str
    start: datetime
    end: datetime


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    return (pg_dialect if conn.dialect.name == "postgresql" else sqlite_dialect).insert(table)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _hours(start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    """The UTC starts of the local hours overlapping ``[start, end]`` (an instant: its own hour)."""
    h = rollups.floor_local_hour(start, tz)
    while True:
        yield h
        h = rollups.next_local_hour(h, tz)
        if h >= end:
            return


class CrossingData:
    """Exit and pass-by methods of :class:`keliu.store.Store` (see the module docstring)."""

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------------------- writes

    def save_crossings(
        self,
        site_id: str,
        exits: Iterable[Exit] = (),
        passby: Iterable[PassbyCrossing] = (),
        passby_watched: Iterable[PassbyWatch] = (),
    ) -> None:
        """Save exits and pass-by crossings (and the pass-by lines' watched spans) in one transaction
        and refresh the rollups of their hours. Linked visits must be stored already."""
        with self._begin() as conn:
            site = self._site(conn, site_id)
            instants = self._write_exits(conn, site_id, exits, known_visits=frozenset())
            instants += self._write_passby_crossings(conn, site_id, site.timezone, passby, passby_watched)
            rollups.refresh_instants(conn, site_id, site.timezone, instants)

    def _write_exits(
        self, conn: sa.Connection, site_id: str, exits: Iterable[Exit], *, known_visits: AbstractSet[str]
    ) -> list[datetime]:
        """Insert exits (see the module docstring); returns their times for the rollups. A linked
        visit must be stored or in ``known_visits`` (being saved in the same transaction)."""
        rows: dict[tuple[str, str, datetime, int], dict[str, Any]] = {}
        for x in exits:
            if x.site_id != site_id:
                raise InputError(f"exits for site {site_id!r} got an exit of {x.site_id!r}")
            at = _utc(x.at, "exit time")
            row = {
                "site_id": site_id,
                "camera_id": x.camera_id,
                "line_id": x.line_id,
                "at": at,
                "track_id": int(x.track_id),
                "visit_id": x.visit_id,
            }
            key = (x.camera_id, x.line_id, at, int(x.track_id))
            if key not in rows or x.visit_id is not None:
                rows[key] = row
        linked = sorted({r["visit_id"] for r in rows.values() if r["visit_id"] is not None} - known_visits)
        v = t.visits.c
        for chunk in _chunks(linked):
            found = set(
                conn.execute(
                    sa.select(v.visit_id).where(v.site_id == site_id, in_values(conn, v.visit_id, chunk))
                ).scalars()
            )
            missing = [i for i in chunk if i not in found]
            if missing:
                raise InputError(f"exits of unknown visits of site {site_id!r}: {', '.join(missing[:5])}")
        key_columns = ["site_id", "camera_id", "line_id", "at", "track_id"]
        with_visit = [r for r in rows.values() if r["visit_id"] is not None]
        without = [r for r in rows.values() if r["visit_id"] is None]
        if with_visit:
            stmt = _insert(conn, t.exits)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=key_columns, set_={"visit_id": stmt.excluded.visit_id}
                ),
                with_visit,
            )
        if without:  # never unlinks: a re-delivered crossing keeps the visit it was given
            conn.execute(_insert(conn, t.exits).on_conflict_do_nothing(index_elements=key_columns), without)
        return [r["at"] for r in rows.values()]

    def _unlink_exits(self, conn: sa.Connection, site_id: str, visit_ids: Sequence[str]) -> None:
        """Deleted visits leave their exits unlinked (still counted at their door)."""
        x = t.exits.c
        for chunk in _chunks(list(visit_ids)):
            conn.execute(
                sa.update(t.exits)
                .where(x.site_id == site_id, in_values(conn, x.visit_id, chunk))
                .values(visit_id=None)
            )

    def _write_passby_crossings(
        self,
        conn: sa.Connection,
        site_id: str,
        timezone: str,
        crossings: Iterable[PassbyCrossing],
        watched: Iterable[PassbyWatch],
    ) -> list[datetime]:
        """Insert pass-by crossings and recount ``passby_counts`` of every (local hour, camera, line)
        they or ``watched`` touch; returns those hours for the rollups."""
        tz = ZoneInfo(timezone)
        rows: dict[tuple[str, str, datetime, int], dict[str, Any]] = {}
        touched: set[tuple[str, str, datetime]] = set()
        for p in crossings:
            if p.site_id != site_id:
                raise InputError(f"pass-by crossings for site {site_id!r} got one of {p.site_id!r}")
            if p.direction not in ("in", "out"):
                raise InputError(f"a pass-by crossing's direction is 'in' or 'out', not {p.direction!r}")
            at = _utc(p.at, "pass-by crossing time")
            rows[(p.camera_id, p.line_id, at, int(p.track_id))] = {
                "site_id": site_id,
                "camera_id": p.camera_id,
                "line_id": p.line_id,
                "at": at,
                "track_id": int(p.track_id),
                "direction": p.direction,
            }
            touched.add((p.camera_id, p.line_id, rollups.floor_local_hour(at, tz)))
        for w in watched:
            start, end = _utc(w.start, "watched start"), _utc(w.end, "watched end")
            if end < start or end - start > _MAX_WATCH:
                raise InputError(f"pass-by line {w.camera_id}/{w.line_id}: bad watched span {start}..{end}")
            touched.update((w.camera_id, w.line_id, h) for h in _hours(start, end, tz))
        if rows:
            conn.execute(
                _insert(conn, t.passby_crossings).on_conflict_do_nothing(
                    index_elements=["site_id", "camera_id", "line_id", "at", "track_id"]
                ),
                list(rows.values()),
            )
        by_line: dict[tuple[str, str], list[datetime]] = {}
        for camera_id, line_id, hour in touched:
            by_line.setdefault((camera_id, line_id), []).append(hour)
        pc, pb = t.passby_crossings.c, t.passby_counts.c
        written: list[datetime] = []
        for (camera_id, line_id), hours in sorted(by_line.items()):
            hours.sort()
            counts = dict.fromkeys(hours, 0)
            for at in conn.execute(
                sa.select(pc.at).where(
                    pc.site_id == site_id,
                    pc.camera_id == camera_id,
                    pc.line_id == line_id,
                    pc.at >= hours[0],
                    pc.at < rollups.next_local_hour(hours[-1], tz),
                )
            ).scalars():
                hour = rollups.floor_local_hour(at, tz)
                if hour in counts:
                    counts[hour] += 1
            for chunk in _chunks(hours):
                conn.execute(
                    sa.delete(t.passby_counts).where(
                        pb.site_id == site_id,
                        pb.camera_id == camera_id,
                        pb.line_id == line_id,
                        pb.hour.in_(list(chunk)),
                    )
                )
            conn.execute(
                sa.insert(t.passby_counts),
                [
                    {"site_id": site_id, "hour": h, "camera_id": camera_id, "line_id": line_id, "count": n}
                    for h, n in counts.items()
                ],
            )
            written += hours
        return written

    # -------------------------------------------------------------------------------- reads

    def exits(self, site_id: str, start: datetime, end: datetime) -> list[Exit]:
        """The site's exits in ``[start, end)``, in time order."""
        start, end = _utc(start, "start"), _utc(end, "end")
        x = t.exits.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.exits)
                .where(x.site_id == site_id, x.at >= start, x.at < end)
                .order_by(x.at, x.camera_id, x.line_id, x.track_id)
            ).all()
        return [Exit(site_id, r.camera_id, r.line_id, r.at, r.track_id, r.visit_id) for r in rows]

    def passby_counts(self, site_id: str, start: datetime, end: datetime) -> list[PassbyCount]:
        """The site's hourly pass-by counts (过店客流) whose hour starts in ``[start, end)``, in order
        of hour, camera and line; video-counted, imported and simulated alike."""
        start, end = _utc(start, "start"), _utc(end, "end")
        pb = t.passby_counts.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(pb.hour, pb.camera_id, pb.line_id, pb["count"])
                .where(pb.site_id == site_id, pb.hour >= start, pb.hour < end)
                .order_by(pb.hour, pb.camera_id, pb.line_id)
            ).all()
        return [PassbyCount(hour, camera_id, line_id, int(n)) for hour, camera_id, line_id, n in rows]
