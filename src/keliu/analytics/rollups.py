"""Keeping the traffic rollups (``traffic_hourly``/``traffic_daily``/``traffic_monthly``) consistent.

Every store write that changes what the rollups count refreshes them itself, in its own transaction
(``Store.save_visits``, ``delete_visits``, ``save_visit_zones``, ``save_passby``). Call these
functions after a bulk load done with ``save_visits(..., refresh_rollups=False)``, after changing
business hours, reception zones or the reception rule (to restate the past), or after upgrading a
database that had visits before the rollups existed. Recomputing is from the raw tables, so it is
always safe to repeat. The computation itself is ``keliu.store.rollups``; this module validates input
and picks ranges. It must not define metrics.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from keliu.errors import InputError
from keliu.store import Store
from keliu.store import rollups as _rollups
from keliu.store import schema as t
from keliu.store.rollups import RefreshStats

__all__ = ["RefreshStats", "rebuild_rollups", "refresh_rollups"]


def _engine(store_or_engine: Store | sa.Engine) -> sa.Engine:
    return store_or_engine.engine if isinstance(store_or_engine, Store) else store_or_engine


def _timezone(conn: sa.Connection, site_id: str) -> str:
    tz = conn.execute(sa.select(t.sites.c.timezone).where(t.sites.c.id == site_id)).scalar()
    if tz is None:
        raise InputError(f"unknown site {site_id!r}: add it first (Store.upsert_site)")
    return str(tz)


def refresh_rollups(
    store_or_engine: Store | sa.Engine, site_id: str, start: datetime, end: datetime
) -> RefreshStats:
    """Recompute, in one transaction, the rollups of the site's local hours overlapping
    ``[start, end)`` and of the local days and months that contain them (delete + insert from the
    raw tables). Returns how many hours, days and months were recomputed."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    if end <= start:
        raise InputError(f"empty or inverted time range: {start.isoformat()} .. {end.isoformat()}")
    with _engine(store_or_engine).begin() as conn:
        return _rollups.refresh(conn, site_id, _timezone(conn, site_id), start, end)


def rebuild_rollups(store_or_engine: Store | sa.Engine, site_id: str | None = None) -> RefreshStats:
    """Recompute the rollups of a site (or of every site) over all of its stored data."""
    engine = _engine(store_or_engine)
    with engine.connect() as conn:
        ids = (
            [site_id]
            if site_id is not None
            else list(conn.execute(sa.select(t.sites.c.id).order_by(t.sites.c.id)).scalars())
        )
    stats = RefreshStats()
    for sid in ids:
        with engine.begin() as conn:
            tz = _timezone(conn, sid)
            bounds = []
            for table, col in (
                (t.visits, "first_entry"),
                (t.entries, "at"),
                (t.exits, "at"),
                (t.passby_counts, "hour"),
                (t.traffic_hourly, "hour"),
            ):
                c = table.c
                lo, hi = conn.execute(
                    sa.select(sa.func.min(c[col]), sa.func.max(c[col])).where(c.site_id == sid)
                ).one()
                if lo is not None:
                    bounds.extend([lo, hi])
            if bounds:
                stats += _rollups.refresh(conn, sid, tz, min(bounds), max(bounds) + timedelta(hours=1))
    return stats
