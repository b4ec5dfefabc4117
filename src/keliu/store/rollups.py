"""Traffic rollups: ``traffic_hourly``, ``traffic_daily`` and ``traffic_monthly``, recomputed from the raw
tables (visits, entries, exits, batches, zone stays, pass-by counts) for exactly the hours, days and months
that a change touches.

This module is where each visit is *classified* for the dashboards (which hour, which entrance,
new/returning, high-frequency returning, return interval, received, dwell, inside business hours);
``keliu.analytics.metrics`` re-exports these rules and computes every ratio from the sums. All
rollup columns are additive counts, so a day is the sum of its hours and a month the sum of its days.

Keys: ``hour`` is the UTC instant at which a *local* hour of the site starts (every hour lies in one
local day, also for half-hour time zones and around daylight-saving changes); ``day`` and ``month``
are local dates. Counting rules (docs/metrics.md):

* a visit counts in the hour of its first entry, at the entrance (camera, line) of that entry;
* an entry counts in its own hour at its own entrance; customer entries outside the site's business
  hours (``business_hours`` table; none configured: always open; an overnight period belongs to the
  day it opens on, so Saturday 01:00 is inside Friday 22:00–02:00) go to ``entries_outside_hours``;
  the entry itself stays in its calendar hour and day;
* a batch counts in the hour it started, at the entrance of its earliest customer visit;
* an exit (离店, ``exits`` table) counts in its own hour at its own door: in ``door_out`` always,
  and in ``exits`` when it is linked to a customer visit (at any hour: a customer who came in before
  closing and leaves after it still leaves); every entry counts in ``door_in`` whoever made it;
* pass-by counts go to the local hour containing their ``hour`` instant.

Refreshing is delete + insert inside the caller's transaction, so late and corrected data replace
what was there. It must not decide *who* a visit is (the resolver does) and never reads signatures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from keliu.store import schema as t
from keliu.store.engine import in_values as _in
from keliu.store.engine import insert_rows

__all__ = [
    "DEFAULT_RECEPTION_MIN_S",
    "DEFAULT_WEEK_START",
    "HIGH_FREQUENCY_S",
    "MINUTES_PER_DAY",
    "OUTSIDE_HOURS_REASON",
    "RECEPTION_KIND",
    "RETURN_BUCKETS",
    "RefreshStats",
    "batch_starts",
    "business_hours_span",
    "floor_local_hour",
    "is_high_frequency",
    "is_received",
    "local_midnight",
    "month_start",
    "next_local_hour",
    "next_month",
    "refresh",
    "refresh_instants",
    "return_bucket",
    "stored_visits",
    "visit_instants",
    "within_business_hours",
]

HIGH_FREQUENCY_S = 3 * 86400.0  # 高频回头客: the previous visit at most 3 days before
# 活跃度 buckets of days since the previous visit: (column, upper bound in days, inclusive)
RETURN_BUCKETS: tuple[tuple[str, float], ...] = (
    ("ret_1_3", 3.0),
    ("ret_4_7", 7.0),
    ("ret_8_15", 15.0),
    ("ret_gt15", math.inf),
)
DEFAULT_RECEPTION_MIN_S = 300.0  # 接待: a customer who stays 5 minutes has been received
DEFAULT_WEEK_START = 0  # Monday
OUTSIDE_HOURS_REASON = "outside_hours"
RECEPTION_KIND = "reception"
_CUSTOMER, _STAFF, _INVALID = "customer", "staff", "invalid"
_CHUNK = 5000  # ids per statement (see repository._CHUNK)
_HOUR = timedelta(hours=1)
MINUTES_PER_DAY = 1440
_MAX_RUN = timedelta(days=31)  # at most this much raw data is read per refresh step
_IDX = {name: i for i, name in enumerate(t.ROLLUP_METRICS)}

Key = tuple[datetime, str, str]  # (hour, camera_id, line_id)


# -------------------------------------------------------------------------- per-visit rules


def is_high_frequency(returning: bool, since_previous_s: float | None) -> bool:
    """高频回头客: a returning visit whose previous visit was at most 3 days before."""
    return returning and since_previous_s is not None and since_previous_s <= HIGH_FREQUENCY_S


def return_bucket(since_previous_s: float) -> str:
    """The 活跃度 bucket of an interval: ``ret_1_3`` (up to 3 days, same-day returns included),
    ``ret_4_7`` (over 3, up to 7), ``ret_8_15`` (over 7, up to 15), ``ret_gt15`` (over 15)."""
    days = since_previous_s / 86400.0
    for name, upper in RETURN_BUCKETS:
        if days <= upper:
            return name
    return RETURN_BUCKETS[-1][0]  # pragma: no cover - inf bound


def is_received(dwell_s: float | None, reached_reception: bool, reception_min_s: float) -> bool:
    """接待: the customer reached a reception zone, or stayed at least ``reception_min_s``."""
    return reached_reception or (dwell_s is not None and dwell_s >= reception_min_s)


def within_business_hours(local: datetime, hours: Mapping[int, tuple[int, int]]) -> bool:
    """Whether a local time is inside the opening hours ``{weekday: (opens_min, closes_min)}``
    (weekday 0 = Monday; minutes after that weekday's local midnight; closing time excluded). No hours
    at all: always open. A weekday missing from a non-empty table is closed.

    An overnight period (``closes_min`` > 1440, e.g. Friday ``(1320, 1560)`` = 22:00–02:00) belongs to
    the business day on which it opens: Saturday 01:00 is inside Friday's hours whatever Saturday's
    own hours are. Spans are as :class:`keliu.store.reference.OpeningHours` normalises them
    (``business_hours_span`` turns a stored row into one)."""
    if not hours:
        return True
    minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60.0
    today = hours.get(local.weekday())
    if today is not None and today[0] <= minute < today[1]:
        return True
    yesterday = hours.get((local.weekday() - 1) % 7)
    return yesterday is not None and minute + MINUTES_PER_DAY < yesterday[1]


def business_hours_span(opens_min: int, closes_min: int) -> tuple[int, int]:
    """A stored opening period as ``(opens_min, closes_min)`` with the closing after the opening: a
    closing at or before the opening on the clock is on the next day (equal: open 24 hours)."""
    if 0 <= closes_min <= opens_min:
        closes_min += MINUTES_PER_DAY
    return opens_min, closes_min


# ------------------------------------------------------------------------------ local time


def floor_local_hour(at: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local hour containing ``at`` started."""
    local = at.astimezone(tz)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _next_hour(hour: datetime, tz: ZoneInfo) -> datetime:
    nxt = floor_local_hour(hour + _HOUR + timedelta(seconds=1), tz)
    return nxt if nxt > hour else hour + _HOUR


def next_local_hour(hour: datetime, tz: ZoneInfo) -> datetime:
    """The UTC start of the local hour after the one starting at ``hour`` (a ``floor_local_hour``)."""
    return _next_hour(hour, tz)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local ``day`` starts."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


# ---------------------------------------------------------------------------------- refresh


@dataclass(frozen=True)
class RefreshStats:
    """How many rollup buckets a refresh recomputed."""

    hours: int = 0
    days: int = 0
    months: int = 0

    def __add__(self, other: RefreshStats) -> RefreshStats:
        return RefreshStats(self.hours + other.hours, self.days + other.days, self.months + other.months)


def _profile(conn: sa.Connection, site_id: str) -> tuple[float, dict[int, tuple[int, int]]]:
    p = t.site_profiles.c
    reception = conn.execute(sa.select(p.reception_min_s).where(p.site_id == site_id)).scalar()
    b = t.business_hours.c
    hours = {
        int(w): business_hours_span(int(o), int(c))
        for w, o, c in conn.execute(
            sa.select(b.weekday, b.opens_min, b.closes_min).where(b.site_id == site_id)
        )
    }
    return (DEFAULT_RECEPTION_MIN_S if reception is None else float(reception)), hours


def _zero() -> list[float]:
    return [0] * len(t.ROLLUP_METRICS)


def _hourly_rows(
    conn: sa.Connection, site_id: str, tz: ZoneInfo, h0: datetime, h1: datetime
) -> dict[Key, list[float]]:
    # Simple index-driven queries only (no joins): they plan well even before PostgreSQL has
    # statistics on freshly loaded tables.
    reception_min_s, hours = _profile(conn, site_id)
    v, e, bt, x = t.visits.c, t.entries.c, t.batches.c, t.exits.c
    vz, ar, pb = t.visit_zones.c, t.areas.c, t.passby_counts.c
    bucket_cache: dict[datetime, datetime] = {}

    def bucket(at: datetime) -> datetime:
        # instants repeat (a batch starts at its first visit's entry): cache the time-zone maths
        found = bucket_cache.get(at)
        if found is None:
            found = bucket_cache[at] = floor_local_hour(at, tz)
        return found

    rows: dict[Key, list[float]] = {}

    def add(key: Key, name: str, n: float = 1) -> None:
        row = rows.get(key)
        if row is None:
            row = rows[key] = _zero()
        row[_IDX[name]] += n

    visits = conn.execute(
        sa.select(
            v.visit_id,
            v.category,
            v.first_entry,
            v.last_exit,
            v.exclusion_reason,
            v.batch_id,
            v.is_returning,
            v.since_previous_s,
        )
        .where(v.site_id == site_id, v.first_entry >= h0, v.first_entry < h1)
        .order_by(v.first_entry, v.visit_id)
    ).all()
    category = {r.visit_id: r.category for r in visits}
    ids = sorted(category)
    entries = conn.execute(
        sa.select(e.visit_id, e.at, e.camera_id, e.line_id).where(e.site_id == site_id, e.at >= h0, e.at < h1)
    ).all()
    exits = conn.execute(
        sa.select(x.visit_id, x.at, x.camera_id, x.line_id).where(x.site_id == site_id, x.at >= h0, x.at < h1)
    ).all()
    earlier = sorted(  # visits started before h0
        ({r.visit_id for r in entries} | {r.visit_id for r in exits if r.visit_id is not None})
        - category.keys()
    )
    for i in range(0, len(earlier), _CHUNK):
        found = conn.execute(
            sa.select(v.visit_id, v.category).where(
                v.site_id == site_id, _in(conn, v.visit_id, earlier[i : i + _CHUNK])
            )
        )
        category.update((r.visit_id, r.category) for r in found)
    first_door: dict[str, tuple[datetime, str, str]] = {}

    def door(visit_id: str, at: datetime, camera_id: str, line_id: str) -> None:
        seen = first_door.get(visit_id)
        if seen is None or (at, camera_id, line_id) < seen:
            first_door[visit_id] = (at, camera_id, line_id)

    for r in entries:
        door(r.visit_id, r.at, r.camera_id, r.line_id)
    late = [r.visit_id for r in visits if r.visit_id not in first_door]  # entries past h1 (rare)
    for i in range(0, len(late), _CHUNK):
        for r in conn.execute(
            sa.select(e.visit_id, e.at, e.camera_id, e.line_id).where(
                e.site_id == site_id, _in(conn, e.visit_id, late[i : i + _CHUNK])
            )
        ):
            door(r.visit_id, r.at, r.camera_id, r.line_id)

    received_zone: set[str] = set()
    reception_zones = list(
        conn.execute(sa.select(ar.zone_id).where(ar.site_id == site_id, ar.kind == RECEPTION_KIND)).scalars()
    )
    if reception_zones:
        for i in range(0, len(ids), _CHUNK):
            received_zone.update(
                conn.execute(
                    sa.select(vz.visit_id).where(
                        vz.site_id == site_id,
                        _in(conn, vz.visit_id, ids[i : i + _CHUNK]),
                        _in(conn, vz.zone_id, reception_zones),
                    )
                ).scalars()
            )

    batch_door: dict[tuple[str, datetime], tuple[str, str]] = {}
    for vr in visits:
        _, camera_id, line_id = first_door.get(vr.visit_id, (vr.first_entry, "", ""))
        key = (bucket(vr.first_entry), camera_id, line_id)
        if vr.category == _CUSTOMER:
            add(key, "visits")
            if vr.is_returning:
                add(key, "returning_visits")
                if is_high_frequency(True, vr.since_previous_s):
                    add(key, "returning_hf")
                if vr.since_previous_s is not None:
                    add(key, return_bucket(float(vr.since_previous_s)))
            else:
                add(key, "new_visits")
            dwell = None
            if vr.last_exit is not None and vr.last_exit >= vr.first_entry:
                dwell = (vr.last_exit - vr.first_entry).total_seconds()
                add(key, "dwell_sum_s", dwell)
                add(key, "dwell_count")
            if is_received(dwell, vr.visit_id in received_zone, reception_min_s):
                add(key, "received")
            if vr.batch_id is not None:
                batch_door.setdefault((vr.batch_id, vr.first_entry), (camera_id, line_id))
        elif vr.category == _STAFF:
            add(key, "staff")
        elif vr.category == _INVALID:
            add(key, "invalid")
            if vr.exclusion_reason == OUTSIDE_HOURS_REASON:
                add(key, "outside_hours")

    for r in entries:
        key = (bucket(r.at), r.camera_id, r.line_id)
        add(key, "door_in")
        if category.get(r.visit_id) != _CUSTOMER:
            continue
        inside = within_business_hours(r.at.astimezone(tz), hours)
        add(key, "entries" if inside else "entries_outside_hours")

    for r in exits:
        key = (bucket(r.at), r.camera_id, r.line_id)
        add(key, "door_out")
        if r.visit_id is not None and category.get(r.visit_id) == _CUSTOMER:
            add(key, "exits")

    for batch_id, started_at in conn.execute(
        sa.select(bt.batch_id, bt.started_at).where(
            bt.site_id == site_id, bt.started_at >= h0, bt.started_at < h1, bt.size >= 1
        )
    ):
        camera_id, line_id = batch_door.get((batch_id, started_at), ("", ""))
        add((bucket(started_at), camera_id, line_id), "batches")

    for hour, camera_id, line_id, count in conn.execute(
        sa.select(pb.hour, pb.camera_id, pb.line_id, pb.count).where(
            pb.site_id == site_id, pb.hour >= h0, pb.hour < h1
        )
    ):
        add((bucket(hour), camera_id, line_id), "passby", int(count))
    return rows


def _metric_values(values: Sequence[float]) -> dict[str, Any]:
    return {
        name: (float(values[i]) if name == "dwell_sum_s" else int(values[i]))
        for i, name in enumerate(t.ROLLUP_METRICS)
    }


def _sum_into(target: list[float], row: Any) -> None:
    for i, name in enumerate(t.ROLLUP_METRICS):
        target[i] += getattr(row, name)


def _replace_rows(conn: sa.Connection, table: sa.Table, where: Any, rows: list[dict[str, Any]]) -> None:
    """Delete ``table``'s rows matching ``where`` and insert ``rows`` in their place."""
    conn.execute(sa.delete(table).where(where))
    insert_rows(conn, table, rows)


def _refresh_run(conn: sa.Connection, site_id: str, tz: ZoneInfo, h0: datetime, h1: datetime) -> RefreshStats:
    hourly = _hourly_rows(conn, site_id, tz, h0, h1)
    th, td, tm = t.traffic_hourly.c, t.traffic_daily.c, t.traffic_monthly.c
    _replace_rows(
        conn,
        t.traffic_hourly,
        sa.and_(th.site_id == site_id, th.hour >= h0, th.hour < h1),
        [
            {"site_id": site_id, "hour": h, "camera_id": c, "line_id": line, **_metric_values(vals)}
            for (h, c, line), vals in sorted(hourly.items())
        ],
    )
    hours = 0
    h = h0
    while h < h1:
        hours += 1
        h = _next_hour(h, tz)

    # days: recomputed whole from their hours
    d0 = h0.astimezone(tz).date()
    d1 = (h1 - timedelta(microseconds=1)).astimezone(tz).date()
    lo, hi = local_midnight(d0, tz), local_midnight(d1 + timedelta(days=1), tz)
    daily: dict[tuple[date, str, str], list[float]] = {}
    for r in conn.execute(
        sa.select(t.traffic_hourly).where(th.site_id == site_id, th.hour >= lo, th.hour < hi)
    ):
        day = r.hour.astimezone(tz).date()
        _sum_into(daily.setdefault((day, r.camera_id, r.line_id), _zero()), r)
    _replace_rows(
        conn,
        t.traffic_daily,
        sa.and_(td.site_id == site_id, td.day >= d0, td.day <= d1),
        [
            {"site_id": site_id, "day": d, "camera_id": c, "line_id": line, **_metric_values(vals)}
            for (d, c, line), vals in sorted(daily.items())
        ],
    )

    # months: recomputed whole from their days
    m0, m1 = month_start(d0), month_start(d1)
    monthly: dict[date, list[float]] = {}
    for r in conn.execute(
        sa.select(t.traffic_daily).where(td.site_id == site_id, td.day >= m0, td.day < next_month(m1))
    ):
        _sum_into(monthly.setdefault(month_start(r.day), _zero()), r)
    _replace_rows(
        conn,
        t.traffic_monthly,
        sa.and_(tm.site_id == site_id, tm.month >= m0, tm.month <= m1),
        [{"site_id": site_id, "month": m, **_metric_values(vals)} for m, vals in sorted(monthly.items())],
    )
    months = (m1.year - m0.year) * 12 + m1.month - m0.month + 1
    return RefreshStats(hours=hours, days=(d1 - d0).days + 1, months=months)


def refresh(conn: sa.Connection, site_id: str, timezone: str, start: datetime, end: datetime) -> RefreshStats:
    """Recompute the rollups of the local hours overlapping ``[start, end)`` and of the days and months
    containing them, from the raw tables, inside ``conn``'s transaction. The caller checks the site."""
    tz = ZoneInfo(timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return RefreshStats()
    stats = RefreshStats()
    last = floor_local_hour(end, tz)
    if last < end:
        last = _next_hour(last, tz)
    h = floor_local_hour(start, tz)
    while h < last:
        h1 = min(last, floor_local_hour(h + _MAX_RUN, tz))
        if h1 <= h:
            h1 = last
        stats += _refresh_run(conn, site_id, tz, h, h1)
        h = h1
    return stats


def refresh_instants(
    conn: sa.Connection, site_id: str, timezone: str, instants: Iterable[datetime]
) -> RefreshStats:
    """Recompute the rollups of the local hours containing ``instants`` (runs of hours less than a
    day apart are refreshed together)."""
    tz = ZoneInfo(timezone)
    hours = sorted({floor_local_hour(at, tz) for at in instants})
    stats = RefreshStats()
    if not hours:
        return stats
    run_start = prev = hours[0]
    for h in [*hours[1:], None]:
        if h is not None and h - prev < timedelta(days=1) and h - run_start < _MAX_RUN:
            prev = h
            continue
        stats += refresh(conn, site_id, timezone, run_start, _next_hour(prev, tz))
        if h is not None:
            run_start = prev = h
    return stats


def visit_instants(
    conn: sa.Connection, site_id: str, visit_ids: Sequence[str], batch_ids: Iterable[str] = ()
) -> tuple[list[datetime], set[str]]:
    """The times at which the stored visits ``visit_ids`` count in the rollups (first entries, entries,
    linked exits) and the start times of their batches and of ``batch_ids``; also every batch id
    involved."""
    v, e, x = t.visits.c, t.entries.c, t.exits.c
    instants: list[datetime] = []
    batches = set(batch_ids)
    for i in range(0, len(visit_ids), _CHUNK):
        chunk = visit_ids[i : i + _CHUNK]
        for first_entry, batch_id in conn.execute(
            sa.select(v.first_entry, v.batch_id).where(v.site_id == site_id, _in(conn, v.visit_id, chunk))
        ):
            instants.append(first_entry)
            if batch_id is not None:
                batches.add(batch_id)
        instants.extend(
            conn.execute(sa.select(e.at).where(e.site_id == site_id, _in(conn, e.visit_id, chunk))).scalars()
        )
        instants.extend(
            conn.execute(sa.select(x.at).where(x.site_id == site_id, _in(conn, x.visit_id, chunk))).scalars()
        )
    instants.extend(batch_starts(conn, site_id, batches))
    return instants, batches


def batch_starts(conn: sa.Connection, site_id: str, batch_ids: Iterable[str]) -> list[datetime]:
    """The stored start times of the batches ``batch_ids`` (batches no longer stored have none)."""
    bt = t.batches.c
    ordered = sorted(set(batch_ids))
    starts: list[datetime] = []
    for i in range(0, len(ordered), _CHUNK):
        starts.extend(
            conn.execute(
                sa.select(bt.started_at).where(
                    bt.site_id == site_id, _in(conn, bt.batch_id, ordered[i : i + _CHUNK])
                )
            ).scalars()
        )
    return starts


def stored_visits(conn: sa.Connection, site_id: str, visit_ids: Sequence[str]) -> dict[str, str | None]:
    """Which of ``visit_ids`` are stored, each with its stored batch id."""
    v = t.visits.c
    found: dict[str, str | None] = {}
    for i in range(0, len(visit_ids), _CHUNK):
        rows = conn.execute(
            sa.select(v.visit_id, v.batch_id).where(
                v.site_id == site_id, _in(conn, v.visit_id, visit_ids[i : i + _CHUNK])
            )
        )
        found.update((r.visit_id, r.batch_id) for r in rows)
    return found
