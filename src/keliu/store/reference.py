"""Analytics reference data of a site and the writes that keep the traffic rollups current.

Reference data (参数设置): entrances and entrance groups (出入口/出入口组), areas (zones as shops, floors,
areas and reception zones, with floor, 三级业态 and area), business hours (营业时间) per weekday, the site
profile (region, store type, weight 权重, reception rule, business cycle), targets (目标), manual counts
for the accuracy audit (准确率稽核), imported weather (天气) and pass-by counts (过店客流); and the zone
stays of visits (驻留).

:class:`ReferenceData` is a mixin of :class:`keliu.store.Store`; it relies on the store's
``_begin``/``_connect``/``_site`` helpers. Every method takes a known ``site_id`` (else
:class:`keliu.errors.InputError`). It stores and returns data; it must not compute metrics.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast, get_args

import sqlalchemy as sa

from keliu.errors import InputError
from keliu.store import rollups
from keliu.store import schema as t
from keliu.store.engine import in_values, insert_rows

__all__ = [
    "Area",
    "AreaKind",
    "Entrance",
    "ManualCount",
    "OpeningHours",
    "PassbyCount",
    "ReferenceData",
    "SiteProfile",
    "Target",
    "TargetMetric",
    "WeatherDay",
    "ZoneStay",
]

AreaKind = Literal["shop", "floor", "area", "reception"]
TargetMetric = Literal["total", "deduplicated"]
_CHUNK = 5000  # ids per statement (see repository._CHUNK)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
MINUTES_PER_DAY = rollups.MINUTES_PER_DAY


@dataclass(frozen=True)
class Entrance:
    """A door line named as an entrance (出入口), optionally in an entrance group (出入口组)."""

    camera_id: str
    line_id: str
    name: str
    group: str | None = None
    is_main: bool = False


@dataclass(frozen=True)
class Area:
    """What a zone id means: a shop (商铺, with 三级业态 ``category`` and ``area_m2``), a floor (楼层,
    ``floor`` number), an area (区域) or a reception zone (接待区). Zone stays name zones by this id."""

    zone_id: str
    kind: AreaKind
    name: str
    floor: int | None = None
    building: str | None = None
    category: tuple[str, ...] = ()  # up to three levels, e.g. ("餐饮", "地方菜", "粤菜")
    area_m2: float | None = None


@dataclass(frozen=True)
class OpeningHours:
    """Opening hours (营业时间) of one business day, ``weekday`` 0 = Monday, in local minutes.

    ``opens_min`` is minutes after that day's local midnight (00:00 ≤ opens < 24:00); ``closes_min``
    is minutes after the *same* midnight, later than ``opens_min`` and at most 24 h after it. A period
    that runs past midnight (overnight, e.g. Friday 22:00–02:00) has ``closes_min`` > 1440
    (1320..1560) and belongs to the business day on which it opens: its hours after midnight are
    Friday's hours, not Saturday's. Given a closing at or before the opening on the clock
    (``OpeningHours(4, 1320, 120)``), the closing is on the next day, so closes == opens is open
    24 hours; the stored and compared value is always the normalised one (``closes_min`` 1560).
    A day with no opening at all is a weekday left out of the site's hours.
    """

    weekday: int
    opens_min: int
    closes_min: int

    def __post_init__(self) -> None:
        # a closing at or before the opening is on the next day (equal: open 24 hours)
        object.__setattr__(
            self, "closes_min", rollups.business_hours_span(self.opens_min, self.closes_min)[1]
        )

    @property
    def overnight(self) -> bool:
        """Whether the period runs past midnight into the next day."""
        return self.closes_min > MINUTES_PER_DAY

    @property
    def span(self) -> tuple[int, int]:
        """``(opens_min, closes_min)``, as the rollups' hours table takes it."""
        return self.opens_min, self.closes_min

    def label(self) -> str:
        """``"22:00–02:00 (+1)"``: HH:MM, ``(+1)`` when it closes the next day (24:00 stays 24:00)."""

        def clock(minutes: int) -> str:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"

        if self.closes_min == MINUTES_PER_DAY:
            return f"{clock(self.opens_min)}–24:00"
        if self.overnight:
            return f"{clock(self.opens_min)}–{clock(self.closes_min - MINUTES_PER_DAY)} (+1)"
        return f"{clock(self.opens_min)}–{clock(self.closes_min)}"

    @classmethod
    def parse(cls, weekday: int, opens: str, closes: str) -> OpeningHours:
        """``OpeningHours.parse(0, "10:00", "22:00")``; ``"24:00"`` is midnight at the end of the day; a
        closing at or before the opening is on the next day (``"22:00", "02:00"``: overnight;
        ``"09:00", "09:00"``: 24 hours)."""

        def minutes(text: str, what: str) -> int:
            m = _HHMM.match(text.strip())
            if m is None or int(m.group(2)) > 59:
                raise InputError(f"invalid {what} time {text!r}: expected HH:MM")
            value = int(m.group(1)) * 60 + int(m.group(2))
            if value > MINUTES_PER_DAY or (what == "opening" and value == MINUTES_PER_DAY):
                limit = "23:59" if what == "opening" else "24:00"
                raise InputError(f"invalid {what} time {text!r}: expected 00:00 to {limit}")
            return value

        return cls(weekday, minutes(opens, "opening"), minutes(closes, "closing"))


@dataclass(frozen=True)
class SiteProfile:
    """Attributes of a site for multi-store views (多店) and for the analytics rules."""

    region: str | None = None
    store_type: str | None = None
    weight: float = 1.0  # 权重: higher first when stores are listed
    area_m2: float | None = None
    reception_min_s: float = rollups.DEFAULT_RECEPTION_MIN_S  # 接待: stay this long to count as received
    week_start: int = rollups.DEFAULT_WEEK_START  # 营业周期: first day of the business week (0 = Monday)


@dataclass(frozen=True)
class Target:
    """A traffic target (目标) for a month (1–12) or, with ``month=None``, for the whole year."""

    year: int
    month: int | None
    metric: TargetMetric
    value: float


@dataclass(frozen=True)
class ManualCount:
    """People counted by hand entering in ``[start, end)`` at an entrance, or the whole site when
    ``camera_id`` and ``line_id`` are empty; ``batches`` if groups were counted too."""

    start: datetime
    end: datetime
    entries: int
    camera_id: str = ""
    line_id: str = ""
    batches: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class WeatherDay:
    """Imported weather of one local day; ``condition`` is a free word such as sunny, cloudy, rain."""

    day: date
    condition: str
    temp_high: float | None = None
    temp_low: float | None = None
    precipitation_mm: float | None = None


@dataclass(frozen=True)
class PassbyCount:
    """People passing outside the door (过店客流) counted on a pass-by line during the hour from ``hour``."""

    hour: datetime
    camera_id: str
    line_id: str
    count: int


@dataclass(frozen=True)
class ZoneStay:
    """One stay of a visit in a zone (驻留); ``left_at`` None while the person is still there."""

    visit_id: str
    zone_id: str
    entered_at: datetime
    left_at: datetime | None = None


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def zone_stay_rows(site_id: str, stays: Iterable[ZoneStay]) -> list[dict[str, Any]]:
    """``visit_zones`` rows of ``stays`` (UTC, checked; a repeated stay counts once)."""
    rows: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for s in stays:
        entered = _utc(s.entered_at, "entered_at")
        left = None if s.left_at is None else _utc(s.left_at, "left_at")
        if left is not None and left < entered:
            raise InputError(f"visit {s.visit_id!r} zone {s.zone_id!r}: left before it entered")
        rows[(s.visit_id, s.zone_id, entered)] = {
            "site_id": site_id,
            "visit_id": s.visit_id,
            "zone_id": s.zone_id,
            "entered_at": entered,
            "left_at": left,
        }
    return list(rows.values())


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class ReferenceData:
    """Reference-data methods of :class:`keliu.store.Store` (see the module docstring)."""

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    def _replace(self, table: sa.Table, site_id: str, rows: list[dict[str, Any]]) -> None:
        with self._begin() as conn:
            self._site(conn, site_id)
            conn.execute(sa.delete(table).where(table.c.site_id == site_id))
            if rows:
                conn.execute(sa.insert(table), rows)

    def _rows(self, table: sa.Table, site_id: str, *order: Any, where: Sequence[Any] = ()) -> list[Any]:
        with self._connect() as conn:
            self._site(conn, site_id)
            return list(
                conn.execute(sa.select(table).where(table.c.site_id == site_id, *where).order_by(*order))
            )

    # -------------------------------------------------------------------------- entrances

    def set_entrances(self, site_id: str, entrances: Iterable[Entrance]) -> None:
        """Replace the site's entrances (出入口) and their groups (出入口组)."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for e in entrances:
            if not e.name:
                raise InputError(f"entrance {e.camera_id}/{e.line_id}: the name must not be empty")
            rows[(e.camera_id, e.line_id)] = {
                "site_id": site_id,
                "camera_id": e.camera_id,
                "line_id": e.line_id,
                "name": e.name,
                "entrance_group": e.group,
                "is_main": bool(e.is_main),
            }
        self._replace(t.entrances, site_id, list(rows.values()))

    def entrances(self, site_id: str) -> list[Entrance]:
        """The site's entrances, in (camera, line) order."""
        c = t.entrances.c
        return [
            Entrance(r.camera_id, r.line_id, r.name, r.entrance_group, bool(r.is_main))
            for r in self._rows(t.entrances, site_id, c.camera_id, c.line_id)
        ]

    # ------------------------------------------------------------------------------ areas

    def set_areas(self, site_id: str, areas: Iterable[Area]) -> None:
        """Replace the site's areas (shops, floors, areas, reception zones). Already computed rollups
        keep the old reception zones until refreshed (``keliu.analytics.rollups.refresh_rollups``)."""
        rows: dict[str, dict[str, Any]] = {}
        for a in areas:
            if a.kind not in get_args(AreaKind):
                raise InputError(
                    f"area {a.zone_id!r}: kind must be one of {get_args(AreaKind)}, not {a.kind!r}"
                )
            if len(a.category) > 3:
                raise InputError(f"area {a.zone_id!r}: at most three category levels (三级业态)")
            if a.area_m2 is not None and a.area_m2 <= 0:
                raise InputError(f"area {a.zone_id!r}: area_m2 must be positive")
            levels = [*a.category, None, None, None][:3]
            rows[a.zone_id] = {
                "site_id": site_id,
                "zone_id": a.zone_id,
                "kind": a.kind,
                "name": a.name,
                "floor": a.floor,
                "building": a.building,
                "category_l1": levels[0],
                "category_l2": levels[1],
                "category_l3": levels[2],
                "area_m2": a.area_m2,
            }
        self._replace(t.areas, site_id, list(rows.values()))

    def areas(self, site_id: str) -> list[Area]:
        """The site's areas, in zone id order."""
        return [
            Area(
                zone_id=r.zone_id,
                kind=cast(AreaKind, r.kind),
                name=r.name,
                floor=r.floor,
                building=r.building,
                category=tuple(x for x in (r.category_l1, r.category_l2, r.category_l3) if x is not None),
                area_m2=r.area_m2,
            )
            for r in self._rows(t.areas, site_id, t.areas.c.zone_id)
        ]

    # --------------------------------------------------------------------- business hours

    def set_business_hours(
        self, site_id: str, hours: Iterable[OpeningHours], *, source: str = "import"
    ) -> None:
        """Replace the site's opening hours (营业时间), one period per business day. Weekdays left out
        are closed; no hours at all means always open. An overnight period (Friday 22:00–02:00)
        belongs to the day it opens on (see :class:`OpeningHours`). They apply to rollups computed
        from now on; refresh a past range (``refresh_rollups``) to restate it with the new hours."""
        rows: dict[int, dict[str, Any]] = {}
        for h in hours:
            if not 0 <= h.weekday <= 6:
                raise InputError(f"weekday must be 0 (Monday) to 6 (Sunday), not {h.weekday}")
            if not 0 <= h.opens_min < MINUTES_PER_DAY or not (
                h.opens_min < h.closes_min <= h.opens_min + MINUTES_PER_DAY
            ):
                raise InputError(
                    f"weekday {h.weekday}: opening hours need 00:00 <= opens < 24:00 and a closing after "
                    f"the opening, at most 24 h later (got minutes {h.opens_min}..{h.closes_min})"
                )
            rows[h.weekday] = {
                "site_id": site_id,
                "weekday": h.weekday,
                "opens_min": h.opens_min,
                "closes_min": h.closes_min,
            }
        self._replace(t.business_hours, site_id, list(rows.values()))
        with self._begin() as conn:  # who set them: the config never overwrites an import or the API
            self._record_setting_source(conn, site_id, "business_hours", source)  # type: ignore[attr-defined]

    def business_hours(self, site_id: str) -> list[OpeningHours]:
        """The site's opening hours, Monday first (empty: always open)."""
        return [
            OpeningHours(r.weekday, r.opens_min, r.closes_min)
            for r in self._rows(t.business_hours, site_id, t.business_hours.c.weekday)
        ]

    # ----------------------------------------------------------------------- site profile

    def set_site_profile(self, site_id: str, profile: SiteProfile) -> None:
        """Set the site's multi-store attributes and analytics rules."""
        if profile.weight < 0 or profile.reception_min_s < 0:
            raise InputError("weight and reception_min_s must be >= 0")
        if not 0 <= profile.week_start <= 6:
            raise InputError(f"week_start must be 0 (Monday) to 6 (Sunday), not {profile.week_start}")
        row = {
            "site_id": site_id,
            "region": profile.region,
            "store_type": profile.store_type,
            "weight": float(profile.weight),
            "area_m2": profile.area_m2,
            "reception_min_s": float(profile.reception_min_s),
            "week_start": int(profile.week_start),
        }
        self._replace(t.site_profiles, site_id, [row])

    def site_profile(self, site_id: str) -> SiteProfile:
        """The site's profile (defaults when none was set)."""
        rows = self._rows(t.site_profiles, site_id)
        if not rows:
            return SiteProfile()
        r = rows[0]
        return SiteProfile(r.region, r.store_type, r.weight, r.area_m2, r.reception_min_s, r.week_start)

    # ---------------------------------------------------------------------------- targets

    def set_targets(self, site_id: str, targets: Iterable[Target]) -> None:
        """Add or replace targets (目标), each identified by (year, month, metric)."""
        rows: dict[tuple[int, int, str], dict[str, Any]] = {}
        for g in targets:
            month = 0 if g.month is None else g.month
            if not 0 <= month <= 12 or g.month == 0:
                raise InputError(f"target month must be 1–12 or None (the year), not {g.month}")
            if g.metric not in get_args(TargetMetric):
                raise InputError(f"target metric must be one of {get_args(TargetMetric)}, not {g.metric!r}")
            if g.value < 0:
                raise InputError("a target must be >= 0")
            rows[(g.year, month, g.metric)] = {
                "site_id": site_id,
                "year": g.year,
                "month": month,
                "metric": g.metric,
                "target": float(g.value),
            }
        c = t.targets.c
        with self._begin() as conn:
            self._site(conn, site_id)
            for year, month, metric in rows:
                conn.execute(
                    sa.delete(t.targets).where(
                        c.site_id == site_id, c.year == year, c.month == month, c.metric == metric
                    )
                )
            if rows:
                conn.execute(sa.insert(t.targets), list(rows.values()))

    def targets(self, site_id: str, year: int | None = None) -> list[Target]:
        """The site's targets (of ``year`` if given), by year, month (the yearly one first), metric."""
        c = t.targets.c
        where = [] if year is None else [c.year == year]
        return [
            Target(r.year, None if r.month == 0 else r.month, cast(TargetMetric, r.metric), r.target)
            for r in self._rows(t.targets, site_id, c.year, c.month, c.metric, where=where)
        ]

    # ---------------------------------------------------------------------- manual counts

    def save_manual_counts(self, site_id: str, counts: Iterable[ManualCount]) -> None:
        """Add or replace manual counts (准确率稽核), each identified by period and entrance."""
        rows: dict[tuple[datetime, datetime, str, str], dict[str, Any]] = {}
        for m in counts:
            start, end = _utc(m.start, "start"), _utc(m.end, "end")
            if end <= start:
                raise InputError(f"manual count: the period must not be empty ({start} .. {end})")
            if m.entries < 0 or (m.batches is not None and m.batches < 0):
                raise InputError("manual count: counts must be >= 0")
            rows[(start, end, m.camera_id, m.line_id)] = {
                "site_id": site_id,
                "period_start": start,
                "period_end": end,
                "camera_id": m.camera_id,
                "line_id": m.line_id,
                "entries": int(m.entries),
                "batches": m.batches,
                "note": m.note,
            }
        c = t.manual_counts.c
        with self._begin() as conn:
            self._site(conn, site_id)
            for start, end, camera_id, line_id in rows:
                conn.execute(
                    sa.delete(t.manual_counts).where(
                        c.site_id == site_id,
                        c.period_start == start,
                        c.period_end == end,
                        c.camera_id == camera_id,
                        c.line_id == line_id,
                    )
                )
            if rows:
                conn.execute(sa.insert(t.manual_counts), list(rows.values()))

    def manual_counts(self, site_id: str, start: datetime, end: datetime) -> list[ManualCount]:
        """Manual counts whose period starts in ``[start, end)``, in time then entrance order."""
        c = t.manual_counts.c
        where = [c.period_start >= _utc(start, "start"), c.period_start < _utc(end, "end")]
        return [
            ManualCount(r.period_start, r.period_end, r.entries, r.camera_id, r.line_id, r.batches, r.note)
            for r in self._rows(t.manual_counts, site_id, c.period_start, c.camera_id, c.line_id, where=where)
        ]

    # ---------------------------------------------------------------------------- weather

    def save_weather(self, site_id: str, days: Iterable[WeatherDay]) -> None:
        """Add or replace imported weather (天气), one row per local day."""
        rows = {
            w.day: {
                "site_id": site_id,
                "day": w.day,
                "condition": w.condition,
                "temp_high": w.temp_high,
                "temp_low": w.temp_low,
                "precipitation_mm": w.precipitation_mm,
            }
            for w in days
        }
        c = t.weather.c
        with self._begin() as conn:
            self._site(conn, site_id)
            days_list = sorted(rows)
            for i in range(0, len(days_list), _CHUNK):
                conn.execute(
                    sa.delete(t.weather).where(c.site_id == site_id, c.day.in_(days_list[i : i + _CHUNK]))
                )
            if rows:
                conn.execute(sa.insert(t.weather), list(rows.values()))

    def weather(self, site_id: str, first: date, last: date) -> list[WeatherDay]:
        """Imported weather of the local days ``first`` .. ``last`` (inclusive), in date order."""
        c = t.weather.c
        return [
            WeatherDay(r.day, r.condition, r.temp_high, r.temp_low, r.precipitation_mm)
            for r in self._rows(t.weather, site_id, c.day, where=[c.day >= first, c.day <= last])
        ]

    # ----------------------------------------------------------------------------- pass-by

    def save_passby(self, site_id: str, counts: Iterable[PassbyCount]) -> None:
        """Add or replace hourly pass-by counts (过店客流) and refresh the rollups of their hours."""
        with self._begin() as conn:
            site = self._site(conn, site_id)
            hours = self._write_passby(conn, site_id, counts)
            rollups.refresh_instants(conn, site_id, site.timezone, hours)

    def _write_passby(
        self, conn: sa.Connection, site_id: str, counts: Iterable[PassbyCount]
    ) -> list[datetime]:
        """Replace the given hours' pass-by counts; returns those hours (UTC) for the rollups."""
        rows: dict[tuple[datetime, str, str], dict[str, Any]] = {}
        for p in counts:
            hour = _utc(p.hour, "hour")
            if p.count < 0:
                raise InputError("a pass-by count must be >= 0")
            rows[(hour, p.camera_id, p.line_id)] = {
                "site_id": site_id,
                "hour": hour,
                "camera_id": p.camera_id,
                "line_id": p.line_id,
                "count": int(p.count),
            }
        c = t.passby_counts.c
        for hour, camera_id, line_id in rows:
            conn.execute(
                sa.delete(t.passby_counts).where(
                    c.site_id == site_id, c.hour == hour, c.camera_id == camera_id, c.line_id == line_id
                )
            )
        if rows:
            conn.execute(sa.insert(t.passby_counts), list(rows.values()))
        return [k[0] for k in rows]

    # -------------------------------------------------------------------------- zone stays

    def save_visit_zones(
        self, site_id: str, stays: Iterable[ZoneStay], *, visit_ids: Iterable[str] = ()
    ) -> int:
        """Replace the zone stays (驻留) of every visit named in ``stays`` or ``visit_ids`` (which may
        clear a visit's stays) and refresh the rollups of those visits. The visits must be stored.
        Returns how many stays were saved."""
        rows = zone_stay_rows(site_id, stays)
        ids = sorted({r["visit_id"] for r in rows} | set(visit_ids))
        with self._begin() as conn:
            site = self._site(conn, site_id)
            self._write_visit_zones(conn, site_id, ids, rows)
            instants, _ = rollups.visit_instants(conn, site_id, ids)
            rollups.refresh_instants(conn, site_id, site.timezone, instants)
        return len(rows)

    def _write_visit_zones(
        self,
        conn: sa.Connection,
        site_id: str,
        ids: Sequence[str],
        rows: list[dict[str, Any]],
        stored: Collection[str] | None = None,
    ) -> None:
        """Replace the zone stays of the visits ``ids`` with ``rows``. ``stored``: the visits that were
        stored before this transaction, when the caller has checked that every one of ``ids`` is stored
        now (only those can have stays to replace)."""
        v, z = t.visits.c, t.visit_zones.c
        if stored is None:
            found: set[str] = set()
            for chunk in _chunks(ids):
                found.update(
                    conn.execute(
                        sa.select(v.visit_id).where(v.site_id == site_id, in_values(conn, v.visit_id, chunk))
                    ).scalars()
                )
            missing = [i for i in ids if i not in found]
            if missing:
                raise InputError(f"unknown visits of site {site_id!r}: {', '.join(missing[:5])}")
            stored = found
        for chunk in _chunks([i for i in ids if i in stored]):
            conn.execute(
                sa.delete(t.visit_zones).where(z.site_id == site_id, in_values(conn, z.visit_id, chunk))
            )
        if rows:
            insert_rows(conn, t.visit_zones, rows)

    def zone_stays(
        self,
        site_id: str,
        start: datetime,
        end: datetime,
        *,
        customers_only: bool = True,
        zones: Collection[str] | None = None,
    ) -> list[ZoneStay]:
        """Zone stays of the visits whose first entry is in ``[start, end)`` (customer visits only by
        default; only the stays in ``zones`` when given), ordered by visit then entry time."""
        v, z = t.visits.c, t.visit_zones.c
        where = [
            v.site_id == site_id,
            v.first_entry >= _utc(start, "start"),
            v.first_entry < _utc(end, "end"),
        ]
        if customers_only:
            where.append(v.category == "customer")
        if zones is not None:
            where.append(z.zone_id.in_(sorted(zones)))
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(z.visit_id, z.zone_id, z.entered_at, z.left_at)
                .select_from(
                    t.visit_zones.join(t.visits, sa.and_(v.site_id == z.site_id, v.visit_id == z.visit_id))
                )
                .where(*where)
                .order_by(z.visit_id, z.entered_at, z.zone_id)
            ).all()
        return [ZoneStay(r.visit_id, r.zone_id, r.entered_at, r.left_at) for r in rows]

    def open_zone_stays(self, site_id: str, now: datetime, *, since_s: float = 12 * 3600.0) -> list[ZoneStay]:
        """Stays of customer visits present at ``now`` (entered at or before it, not yet left), looking
        back at most ``since_s``: live occupancy (实时驻留人数)."""
        now = _utc(now, "now")
        v, z = t.visits.c, t.visit_zones.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(z.visit_id, z.zone_id, z.entered_at, z.left_at)
                .select_from(
                    t.visit_zones.join(t.visits, sa.and_(v.site_id == z.site_id, v.visit_id == z.visit_id))
                )
                .where(
                    z.site_id == site_id,
                    z.entered_at <= now,
                    z.entered_at >= now - timedelta(seconds=since_s),
                    sa.or_(z.left_at.is_(None), z.left_at > now),
                    v.category == "customer",
                )
                .order_by(z.zone_id, z.entered_at, z.visit_id)
            ).all()
        return [ZoneStay(r.visit_id, r.zone_id, r.entered_at, r.left_at) for r in rows]
