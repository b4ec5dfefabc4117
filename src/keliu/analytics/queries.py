"""Analytics queries: read the traffic rollups (and, for zone, index and audit metrics, the raw tables)
of one site or the whole chain, and hand typed inputs to the pure functions of
``keliu.analytics.metrics``.

Dashboards read rollups only: ``traffic_monthly`` for whole months, ``traffic_daily`` for whole days,
``traffic_hourly`` for the hours of the current day, so a chain of hundreds of stores answers in a
few small indexed queries. Periods are local to each site (its IANA time zone); a chain whose sites
are in several time zones is queried per time zone and added up by local period.

Bad input (unknown site, naive time, empty or inverted range) is a :class:`keliu.errors.InputError`
with a clear message. This module must not write anything and must not define metrics itself.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from keliu.analytics import metrics as m
from keliu.errors import InputError
from keliu.store import Store
from keliu.store import schema as t
from keliu.store.engine import unavailable_as_store_error
from keliu.store.reference import Area, ZoneStay
from keliu.store.rollups import floor_local_hour, local_midnight, month_start, next_month

__all__ = [
    "HomeDashboard",
    "SiteInfo",
    "accuracy_audit",
    "business_hours_effect",
    "categories",
    "data_span",
    "dwell",
    "entrance_heat",
    "entrance_heat_between",
    "floors",
    "funnel",
    "holidays",
    "home_dashboard",
    "indices",
    "kpis",
    "multi_store",
    "occupancy",
    "paths",
    "peaks",
    "profile",
    "return_intervals",
    "shops",
    "targets",
    "traffic",
    "traffic_between",
    "trend",
    "zone_comparison",
    "zone_conversion",
]

_METRICS = t.ROLLUP_METRICS
_CHUNK = 500


# ------------------------------------------------------------------------------------ sites


@dataclass(frozen=True)
class SiteInfo:
    """A site with its profile (defaults where none was set)."""

    site_id: str
    name: str
    timezone: str
    region: str | None = None
    store_type: str | None = None
    weight: float = 1.0
    area_m2: float | None = None
    week_start: int = 0


@dataclass(frozen=True)
class _Group:
    """Sites sharing a time zone and business week: their local periods are the same instants."""

    tz: ZoneInfo
    week_start: int
    site_ids: tuple[str, ...] | None  # None: every site of the store (no filter needed)
    sites: tuple[SiteInfo, ...]
    # an entrance group (出入口组) of one site: only its door lines' rows; None: every entrance
    lines: tuple[tuple[str, str], ...] | None = None


@contextmanager
def _conn(store: Store) -> Iterator[sa.Connection]:
    with unavailable_as_store_error(), store.engine.connect() as conn:
        yield conn


def _load_sites(conn: sa.Connection, site_id: str | None) -> list[SiteInfo]:
    s, p = t.sites.c, t.site_profiles.c
    stmt = (
        sa.select(s.id, s.name, s.timezone, p.region, p.store_type, p.weight, p.area_m2, p.week_start)
        .select_from(t.sites.outerjoin(t.site_profiles, p.site_id == s.id))
        .order_by(s.id)
    )
    if site_id is not None:
        stmt = stmt.where(s.id == site_id)
    rows = conn.execute(stmt).all()
    if site_id is not None and not rows:
        known = sorted(conn.execute(sa.select(s.id)).scalars())
        listed = f"known sites: {', '.join(known[:20])}" if known else "no sites yet"
        raise InputError(f"unknown site {site_id!r} ({listed})")
    return [
        SiteInfo(
            r.id,
            r.name,
            r.timezone,
            r.region,
            r.store_type,
            1.0 if r.weight is None else float(r.weight),
            r.area_m2,
            0 if r.week_start is None else int(r.week_start),
        )
        for r in rows
    ]


def _groups(sites: Sequence[SiteInfo], whole_store: bool) -> list[_Group]:
    by: dict[tuple[str, int], list[SiteInfo]] = defaultdict(list)
    for s in sites:
        by[(s.timezone, s.week_start)].append(s)
    single = whole_store and len(by) == 1
    return [
        _Group(ZoneInfo(tz), week, None if single else tuple(x.site_id for x in xs), tuple(xs))
        for (tz, week), xs in sorted(by.items())
    ]


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _check_days(first: date, last: date) -> None:
    if last < first:
        raise InputError(
            f"inverted date range: {first.isoformat()} .. {last.isoformat()} (last before first)"
        )


# ------------------------------------------------------------------------- rollup reading


_DWELL = _METRICS.index("dwell_sum_s")


def _traffic_of(row: Any) -> m.Traffic:
    sums = tuple(row)[-len(_METRICS) :]
    return m.Traffic(*[(float(x or 0.0) if i == _DWELL else int(x or 0)) for i, x in enumerate(sums)])


def _sum(
    conn: sa.Connection,
    table: sa.Table,
    key: str,
    lo: Any,
    hi: Any,
    g: _Group,
    *by: str,
    per_site: bool = True,
) -> list[Any]:
    """Sums of every rollup column over ``lo <= key < hi`` for the group's sites, grouped by site
    (unless ``per_site`` is False: one row for them all) and by the columns ``by``."""
    c = table.c
    keys = [*([c.site_id] if per_site else []), *(c[b] for b in by)]
    stmt = sa.select(*keys, *(sa.func.sum(c[n]).label(n) for n in _METRICS)).where(c[key] >= lo, c[key] < hi)
    if g.site_ids is not None:
        stmt = stmt.where(c.site_id.in_(g.site_ids))
    if g.lines is not None:
        stmt = stmt.where(sa.or_(*(sa.and_(c.camera_id == cam, c.line_id == line) for cam, line in g.lines)))
    if keys:
        stmt = stmt.group_by(*keys)
    return list(conn.execute(stmt))


_ALL = ""  # the key of a sum over all the group's sites


def _add(
    into: dict[Any, m.Traffic],
    rows: Sequence[Any],
    factor: float = 1.0,
    per_site: bool = True,
    by: Sequence[str] = (),
) -> None:
    for r in rows:
        if not per_site and r.entries is None:  # no rows matched: SUM is NULL
            continue
        traffic = _traffic_of(r)
        key = tuple(getattr(r, b) for b in by) if by else (r.site_id if per_site else _ALL)
        into[key] = into.get(key, m.Traffic()) + (traffic if factor == 1.0 else traffic.scaled(factor))


def _next_local_hour(hour: datetime, tz: ZoneInfo) -> datetime:
    nxt = floor_local_hour(hour + timedelta(hours=1, seconds=1), tz)
    return nxt if nxt > hour else hour + timedelta(hours=1)


def _range(
    conn: sa.Connection,
    g: _Group,
    start: datetime,
    end: datetime,
    *,
    current: bool,
    per_site: bool = True,
    by: Sequence[str] = (),
) -> dict[Any, m.Traffic]:
    """Traffic per site (or, unless ``per_site``, for all the group's sites under the key ``""``; or,
    with ``by`` such as ``("camera_id", "line_id")``, per tuple of those columns) in ``[start, end)``;
    ``start`` is a local midnight. Whole months come from the monthly rollup (not with ``by`` or an
    entrance group: it has no entrance columns), whole days from the daily one, the hours of ``end``'s
    day from the hourly one. The hour containing ``end``: in full when ``current`` (nothing after now
    exists yet), else pro rata of its elapsed part (the same elapsed part of a previous period)."""
    out: dict[Any, m.Traffic] = {}
    tz = g.tz
    cursor = start.astimezone(tz).date()
    end_day = end.astimezone(tz).date()

    def add(table: sa.Table, key: str, lo: Any, hi: Any, factor: float = 1.0) -> None:
        _add(out, _sum(conn, table, key, lo, hi, g, *by, per_site=per_site), factor, per_site, by)

    if not by and g.lines is None and cursor.day == 1 and cursor < month_start(end_day):
        add(t.traffic_monthly, "month", cursor, month_start(end_day))
        cursor = month_start(end_day)
    if cursor < end_day:
        add(t.traffic_daily, "day", cursor, end_day)
    midnight = local_midnight(end_day, tz)
    hour = floor_local_hour(end, tz)
    if current:
        if end > midnight:
            add(t.traffic_hourly, "hour", midnight, _next_local_hour(hour, tz))
        return out
    if hour > midnight:
        add(t.traffic_hourly, "hour", midnight, hour)
    nxt = _next_local_hour(hour, tz)
    part = (end.astimezone(UTC) - hour) / (nxt - hour)
    if part > 0:
        add(t.traffic_hourly, "hour", hour, nxt, part)
    return out


def _days(
    conn: sa.Connection, g: _Group, first: date, last: date, per_site: bool = True
) -> dict[str, m.Traffic]:
    """Traffic per site (or all together) of the local dates ``first`` .. ``last`` (inclusive)."""
    return _range(
        conn,
        g,
        local_midnight(first, g.tz),
        local_midnight(last + timedelta(days=1), g.tz),
        current=False,
        per_site=per_site,
    )


def _total(per_site: Mapping[str, m.Traffic]) -> m.Traffic:
    total = m.Traffic()
    for v in per_site.values():
        total = total + v
    return total


def _scope(
    store: Store, conn: sa.Connection, site_id: str | None, entrance_group: str | None = None
) -> tuple[list[SiteInfo], list[_Group]]:
    """The sites asked for and their groups. ``entrance_group`` (出入口组, a report of one location):
    only the rollup rows of that group's door lines — its entries and exits, and the customers
    (去重客流) whose visit began through one of its doors."""
    if entrance_group is None:
        sites = _load_sites(conn, site_id)
        return sites, _groups(sites, whole_store=site_id is None)
    if site_id is None:
        raise InputError("an entrance group belongs to one site: give the site too")
    group = _site_group(conn, site_id, entrance_group)
    return list(group.sites), [group]


def _group_lines(conn: sa.Connection, site_id: str, entrance_group: str) -> tuple[tuple[str, str], ...]:
    e = t.entrances.c
    rows = conn.execute(
        sa.select(e.entrance_group, e.camera_id, e.line_id)
        .where(e.site_id == site_id)
        .order_by(e.camera_id, e.line_id)
    ).all()
    lines = tuple((r.camera_id, r.line_id) for r in rows if r.entrance_group == entrance_group)
    if not lines:
        known = sorted({r.entrance_group for r in rows if r.entrance_group})
        listed = f"its entrance groups: {', '.join(known)}" if known else "it has no entrance groups yet"
        raise InputError(f"site {site_id!r} has no entrance group {entrance_group!r} ({listed})")
    return lines


# -------------------------------------------------------------------------- home dashboard


@dataclass(frozen=True)
class HomeDashboard:
    """Everything the home page (首页) shows, for one site or (``site_id`` None) the whole chain."""

    site_id: str | None
    now: datetime
    sites: int
    brief: m.Brief  # 客流简报 (A1)
    today: m.Traffic  # today so far
    today_vs_yesterday: m.HourlyComparison  # 趋势 by hour, 总客流 (A2)
    trend_today: m.Trend  # mean and peak of today's hours so far (A2)
    funnel: m.Funnel  # 转化漏斗, today (A4)
    return_intervals: m.ReturnIntervals  # 活跃分析, this month (A5)
    entrance_heat: m.EntranceHeat  # 进场热力, today (A6)
    kpis: tuple[m.Kpi, ...]  # 客流 KPI, 总客流 (A9)
    kpis_deduplicated: tuple[m.Kpi, ...]  # 客流 KPI, 去重客流
    month_target: m.TargetProgress  # 目标监控 (A10)
    year_target: m.TargetProgress
    ranking: m.MultiStore | None  # 门店排行, today (A20; the chain only)


def home_dashboard(store: Store, site_id: str | None, now: datetime) -> HomeDashboard:
    """The home dashboard at ``now`` from the rollups only (see the module docstring)."""
    now = _aware(now, "now")
    windows_n = 4
    current = [m.Traffic()] * windows_n
    previous = [m.Traffic()] * windows_n
    today_by_site: dict[str, m.Traffic] = {}
    yesterday_by_site: dict[str, m.Traffic] = {}
    month_traffic = m.Traffic()
    today_hours: dict[int, float] = defaultdict(float)
    yesterday_hours: dict[int, float] = defaultdict(float)
    kpi_values: list[list[m.Traffic]] = [[m.Traffic()] * 3 for _ in range(4)]
    heat_rows: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0] * 5)
    names: dict[tuple[str, str, str], tuple[str, str | None]] = {}
    targets: dict[str, float] = defaultdict(float)
    has_target = {"month": False, "year": False}
    passby_measured = False
    windows: tuple[m.PeriodWindow, ...] = ()
    kwindows: tuple[m.KpiWindow, ...] = ()
    local_now = now
    with _conn(store) as conn:
        sites, groups = _scope(store, conn, site_id)
        for g in groups:
            local_now = now.astimezone(g.tz)
            windows = m.period_to_date_windows(local_now, g.week_start)
            for i, w in enumerate(windows):
                by_site = w.period == "day" and site_id is None  # the ranking needs today per site
                cur = _range(conn, g, w.start, w.end, current=True, per_site=by_site)
                prev = _range(conn, g, w.previous_start, w.previous_end, current=False, per_site=by_site)
                current[i] = current[i] + _total(cur)
                previous[i] = previous[i] + _total(prev)
                if w.period == "day":
                    today_by_site.update(cur)
                    yesterday_by_site.update(prev)
                if w.period == "month":
                    month_traffic = month_traffic + _total(cur)
            # today and yesterday by local hour
            midnight = windows[0].start
            y_midnight = windows[0].previous_start
            h_stmt = sa.select(
                t.traffic_hourly.c.hour,
                sa.func.sum(t.traffic_hourly.c.entries),
            ).where(
                t.traffic_hourly.c.hour >= y_midnight.astimezone(UTC),
                t.traffic_hourly.c.hour < _next_local_hour(floor_local_hour(now, g.tz), g.tz),
            )
            if g.site_ids is not None:
                h_stmt = h_stmt.where(t.traffic_hourly.c.site_id.in_(g.site_ids))
            for hour, entries in conn.execute(h_stmt.group_by(t.traffic_hourly.c.hour)):
                local = hour.astimezone(g.tz)
                (today_hours if local >= midnight else yesterday_hours)[local.hour] += float(entries or 0)
            # entrance heat, today
            for r in _sum(
                conn,
                t.traffic_hourly,
                "hour",
                midnight.astimezone(UTC),
                _next_local_hour(floor_local_hour(now, g.tz), g.tz),
                g,
                "camera_id",
                "line_id",
            ):
                door = (r.entries, r.visits, r.exits, r.door_in, r.door_out)
                if any(door):
                    row = heat_rows[(r.site_id, r.camera_id, r.line_id)]
                    for i, value in enumerate(door):
                        row[i] += int(value or 0)
            # KPIs
            kwindows = m.kpi_windows(local_now.date(), g.week_start)
            for i, k in enumerate(kwindows):
                parts = [
                    _days(conn, g, k.first, k.last, per_site=False),
                    _days(conn, g, k.previous_first, k.previous_last, per_site=False),
                ]
                if k.year_ago_first is not None and k.year_ago_last is not None:
                    parts.append(_days(conn, g, k.year_ago_first, k.year_ago_last, per_site=False))
                for j, part in enumerate(parts):
                    kpi_values[i][j] = kpi_values[i][j] + _total(part)
            # targets
            tg = t.targets.c
            stmt = sa.select(tg.month, sa.func.sum(tg.target)).where(
                tg.metric == "total", tg.year == local_now.year, tg.month.in_([0, local_now.month])
            )
            if g.site_ids is not None:
                stmt = stmt.where(tg.site_id.in_(g.site_ids))
            for month, value in conn.execute(stmt.group_by(tg.month)):
                key = "year" if month == 0 else "month"
                targets[key] += float(value)
                has_target[key] = True
            pb = t.passby_counts.c
            pstmt = sa.select(pb.site_id).limit(1)
            if g.site_ids is not None:
                pstmt = pstmt.where(pb.site_id.in_(g.site_ids))
            passby_measured = passby_measured or conn.execute(pstmt).first() is not None
        e = t.entrances.c
        estmt = sa.select(e.site_id, e.camera_id, e.line_id, e.name, e.entrance_group)
        if site_id is not None:
            estmt = estmt.where(e.site_id == site_id)
        for r in conn.execute(estmt):
            names[(r.site_id, r.camera_id, r.line_id)] = (r.name, r.entrance_group)

    chain = site_id is None
    heat_items = []
    for (sid, cam, line), (entries, visits, exits, door_in, door_out) in heat_rows.items():
        name, group = names.get((sid, cam, line), (f"{cam}/{line}" if cam or line else "unknown", None))
        if chain:
            name, group = f"{sid}: {name}", f"{sid}: {group}" if group else None
        heat_items.append(
            m.EntranceTraffic(
                cam if not chain else f"{sid}:{cam}",
                line,
                name,
                group,
                entries,
                visits,
                exits,
                door_in,
                door_out,
            )
        )
    now_hour = local_now.hour
    points = [(f"{h:02d}:00", today_hours.get(h, 0.0)) for h in range(now_hour + 1)]
    kpis = tuple(
        m.kpi(k, v[0].entries, v[1].entries, v[2].entries if k.year_ago_first else None)
        for k, v in zip(kwindows, kpi_values, strict=True)
    )
    kpis_dedup = tuple(
        m.kpi(k, v[0].visits, v[1].visits, v[2].visits if k.year_ago_first else None)
        for k, v in zip(kwindows, kpi_values, strict=True)
    )
    month_start_local = windows[2].start if windows else local_now
    month_end_local = month_start_local.replace(tzinfo=None)
    month_end_local = datetime.combine(next_month(month_end_local.date()), datetime.min.time()).replace(
        tzinfo=month_start_local.tzinfo
    )
    month_share = (local_now - month_start_local) / (month_end_local - month_start_local)
    year_start_local = windows[3].start if windows else local_now
    year_end_local = year_start_local.replace(year=year_start_local.year + 1)
    year_share = (local_now - year_start_local) / (year_end_local - year_start_local)
    ranking = None
    if chain:
        ranking = m.rank_sites(
            [
                m.SiteTraffic(
                    s.site_id,
                    s.name,
                    today_by_site.get(s.site_id, m.Traffic()).entries,
                    yesterday_by_site.get(s.site_id, m.Traffic()).entries,
                    s.store_type,
                    s.region,
                    s.weight,
                )
                for s in sites
            ]
        )
    return HomeDashboard(
        site_id=site_id,
        now=local_now,
        sites=len(sites),
        brief=m.brief(windows, current, previous),
        today=current[0],
        today_vs_yesterday=m.hourly_comparison(today_hours, yesterday_hours, now_hour),
        trend_today=m.trend(points),
        funnel=m.funnel(current[0], passby_measured),
        return_intervals=m.return_intervals(month_traffic),
        entrance_heat=m.entrance_heat(heat_items, top=15),
        kpis=kpis,
        kpis_deduplicated=kpis_dedup,
        month_target=m.target_progress(
            "month", current[2].entries, targets["month"] if has_target["month"] else None, month_share
        ),
        year_target=m.target_progress(
            "year", current[3].entries, targets["year"] if has_target["year"] else None, year_share
        ),
        ranking=ranking,
    )


# ------------------------------------------------------------------ period queries (rollups)


def traffic(
    store: Store, site_id: str | None, first: date, last: date, entrance_group: str | None = None
) -> m.Traffic:
    """All traffic sums of the local dates ``first`` .. ``last`` for a site or the chain; with
    ``entrance_group``, of that entrance group of the site only (see :func:`_scope`)."""
    _check_days(first, last)
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id, entrance_group)
        return _total(
            {f"{i}": _total(_days(conn, g, first, last, per_site=False)) for i, g in enumerate(groups)}
        )


def _site_group(conn: sa.Connection, site_id: str, entrance_group: str | None = None) -> _Group:
    sites = _load_sites(conn, site_id)
    g = _groups(sites, whole_store=False)[0]
    if entrance_group is None:
        return g
    return dataclasses.replace(g, lines=_group_lines(conn, site_id, entrance_group))


def _check_window(g: _Group, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _aware(start, "start"), _aware(end, "end")
    local = start.astimezone(g.tz)
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        raise InputError(f"start {start.isoformat()} must be a local midnight of the site")
    if end < start:
        raise InputError(f"inverted range: {start.isoformat()} .. {end.isoformat()} (end before start)")
    return start, end


def traffic_between(
    store: Store, site_id: str, start: datetime, end: datetime, entrance_group: str | None = None
) -> m.Traffic:
    """One site's traffic in ``[start, end)``: ``start`` a local midnight, ``end`` any time; the hour
    containing ``end`` counts pro rata of its elapsed part. What a period in progress is compared
    with: the previous period of :func:`keliu.analytics.metrics.same_elapsed_window` (as the home
    dashboard's brief does). ``entrance_group``: that group's doors only."""
    with _conn(store) as conn:
        g = _site_group(conn, site_id, entrance_group)
        start, end = _check_window(g, start, end)
        if end == start:
            return m.Traffic()
        return _total(_range(conn, g, start, end, current=False, per_site=False))


def entrance_heat_between(
    store: Store,
    site_id: str,
    start: datetime,
    end: datetime,
    top: int | None = 15,
    entrance_group: str | None = None,
) -> m.EntranceHeat:
    """进场热力 (A6) of one site in ``[start, end)``, counted like :func:`traffic_between` (entries of
    the hour containing ``end`` pro rata, rounded per entrance); ``entrance_group``: its doors only."""
    with _conn(store) as conn:
        g = _site_group(conn, site_id, entrance_group)
        start, end = _check_window(g, start, end)
        by = ("camera_id", "line_id")
        sums = {} if end == start else _range(conn, g, start, end, current=False, per_site=False, by=by)
        names = _entrance_names(conn, site_id)
    rows = [
        (camera_id, line_id, *(round(x) for x in (v.entries, v.visits, v.exits, v.door_in, v.door_out)))
        for (camera_id, line_id), v in sums.items()
    ]
    return m.entrance_heat(_entrance_items(rows, names), top)


def data_span(store: Store, site_id: str) -> tuple[date, date] | None:
    """The first and last local days of one site that have rows in the daily rollup (any traffic:
    visits, entries, staff, pass-by …); None when it has none. Days before the first are unknown —
    the site was not counting yet — and must not be read as zero traffic."""
    d = t.traffic_daily.c
    with _conn(store) as conn:
        _load_sites(conn, site_id)
        first, last = conn.execute(
            sa.select(sa.func.min(d.day), sa.func.max(d.day)).where(d.site_id == site_id)
        ).one()
    if first is None or last is None:
        return None
    return _as_date(first), _as_date(last)


def _as_date(value: Any) -> date:
    # SQLite hands MIN/MAX of a DATE column back as text
    return date.fromisoformat(value) if isinstance(value, str) else value


def trend(
    store: Store,
    site_id: str | None,
    first: date,
    last: date,
    metric: m.MetricName = "total",
    by: Literal["day", "hour"] = "day",
    entrance_group: str | None = None,
) -> m.Trend:
    """趋势分析 (A2): the metric per local day (or hour) of ``first`` .. ``last``, with mean and peak;
    ``entrance_group``: of that entrance group of the site only."""
    _check_days(first, last)
    values: dict[str, float] = defaultdict(float)
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id, entrance_group)
        for g in groups:
            if by == "day":
                labels = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
                for label in labels:
                    values[label] += 0.0
                for r in _sum(conn, t.traffic_daily, "day", first, last + timedelta(days=1), g, "day"):
                    values[r.day.isoformat()] += _traffic_of(r).metric(metric)
            else:
                lo, hi = local_midnight(first, g.tz), local_midnight(last + timedelta(days=1), g.tz)
                h = lo
                while h < hi:
                    values[h.astimezone(g.tz).strftime("%Y-%m-%d %H:00")] += 0.0
                    h = _next_local_hour(h, g.tz)
                for r in _sum(conn, t.traffic_hourly, "hour", lo, hi, g, "hour"):
                    values[r.hour.astimezone(g.tz).strftime("%Y-%m-%d %H:00")] += _traffic_of(r).metric(
                        metric
                    )
    return m.trend(sorted(values.items()))


def profile(store: Store, site_id: str | None, first: date, last: date) -> m.Profile:
    """客户画像 (A3). No gender or age attribute model exists (docs/metrics.md), so the profile is
    ``available: false`` with the reason, and no chart data (not a split of 100 % unknown); ``total``
    is the number of visits of the days."""
    total = traffic(store, site_id, first, last).visits
    return m.profile_unavailable(int(total))


def funnel(store: Store, site_id: str | None, first: date, last: date) -> m.Funnel:
    """客流漏斗 (A4) of the days ``first`` .. ``last``."""
    sums = traffic(store, site_id, first, last)
    with _conn(store) as conn:
        pb = t.passby_counts.c
        stmt = sa.select(pb.site_id).limit(1)
        if site_id is not None:
            stmt = stmt.where(pb.site_id == site_id)
        measured = conn.execute(stmt).first() is not None
    return m.funnel(sums, measured)


def return_intervals(store: Store, site_id: str | None, first: date, last: date) -> m.ReturnIntervals:
    """活跃分析 (A5) of the returning visits of the days ``first`` .. ``last``."""
    return m.return_intervals(traffic(store, site_id, first, last))


def business_hours_effect(
    store: Store, site_id: str | None, first: date, last: date
) -> m.BusinessHoursEffect:
    """营业时间 (A21): what business hours left out of the counts in the days ``first`` .. ``last``."""
    return m.business_hours_effect(traffic(store, site_id, first, last))


def entrance_heat(
    store: Store,
    site_id: str,
    first: date,
    last: date,
    top: int | None = 15,
    entrance_group: str | None = None,
) -> m.EntranceHeat:
    """进场热力 / 出入口分布 (A6) of one site over the days ``first`` .. ``last`` (``entrance_group``:
    the doors of that group only)."""
    _check_days(first, last)
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id, entrance_group)
        rows = _sum(
            conn, t.traffic_daily, "day", first, last + timedelta(days=1), groups[0], "camera_id", "line_id"
        )
        names = _entrance_names(conn, site_id)
    counts = [
        (
            r.camera_id,
            r.line_id,
            *(int(x or 0) for x in (r.entries, r.visits, r.exits, r.door_in, r.door_out)),
        )
        for r in rows
    ]
    return m.entrance_heat(_entrance_items(counts, names), top)


def _entrance_names(conn: sa.Connection, site_id: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    e = t.entrances.c
    return {
        (r.camera_id, r.line_id): (r.name, r.entrance_group)
        for r in conn.execute(
            sa.select(e.camera_id, e.line_id, e.name, e.entrance_group).where(e.site_id == site_id)
        )
    }


def _entrance_items(
    counts: Sequence[tuple[str, str, int, int, int, int, int]],
    names: Mapping[tuple[str, str], tuple[str, str | None]],
) -> list[m.EntranceTraffic]:
    """Entrances with any traffic (entries, visits, exits, door_in, door_out), named (``camera/line``
    when not named)."""
    items = []
    for camera_id, line_id, *door in counts:
        if not any(door):
            continue
        name, group = names.get((camera_id, line_id), (f"{camera_id}/{line_id}", None))
        items.append(m.EntranceTraffic(camera_id, line_id, name, group, *door))
    return items


def kpis(store: Store, site_id: str | None, today: date, metric: m.MetricName = "total") -> tuple[m.Kpi, ...]:
    """客流 KPI (A9) as seen on local date ``today`` (yesterday, last week, last month, last year)."""
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id)
        windows = m.kpi_windows(today, groups[0].week_start if groups else 0)
        out = []
        for k in windows:

            def value(first: date | None, last: date | None) -> float:
                if first is None or last is None:
                    return 0.0
                return sum(_total(_days(conn, g, first, last, per_site=False)).metric(metric) for g in groups)

            year_ago = value(k.year_ago_first, k.year_ago_last) if k.year_ago_first else None
            out.append(m.kpi(k, value(k.first, k.last), value(k.previous_first, k.previous_last), year_ago))
    return tuple(out)


def targets(
    store: Store, site_id: str, now: datetime, metric: Literal["total", "deduplicated"] = "total"
) -> tuple[m.TargetProgress, m.TargetProgress]:
    """目标监控 (A10): this month's and this year's completion at ``now``."""
    now = _aware(now, "now")
    site = store.site(site_id)
    tz = ZoneInfo(site.timezone)
    local = now.astimezone(tz)
    month0 = local.date().replace(day=1)
    year0 = date(local.year, 1, 1)
    goals = {(g.month or 0): g.value for g in store.targets(site_id, local.year) if g.metric == metric}
    name: m.MetricName = metric
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id)
        g = groups[0]
        month_actual = _total(_range(conn, g, local_midnight(month0, tz), now, current=True, per_site=False))
        year_actual = _total(_range(conn, g, local_midnight(year0, tz), now, current=True, per_site=False))
    m_lo, m_hi = local_midnight(month0, tz), local_midnight(next_month(month0), tz)
    y_lo, y_hi = local_midnight(year0, tz), local_midnight(date(local.year + 1, 1, 1), tz)
    return (
        m.target_progress(
            "month", month_actual.metric(name), goals.get(local.month), (now - m_lo) / (m_hi - m_lo)
        ),
        m.target_progress("year", year_actual.metric(name), goals.get(0), (now - y_lo) / (y_hi - y_lo)),
    )


def peaks(
    store: Store, site_id: str, last: date, days: int = 30
) -> tuple[m.SlotPeaks, tuple[m.MeanBy, ...], tuple[m.MeanBy, ...]]:
    """到访峰值 / 峰值透视 (A12) over the ``days`` local days ending with ``last``: mean visits (去重客流)
    per time slot, mean daily visits per weekday, and per imported weather condition."""
    if days < 1:
        raise InputError(f"days must be at least 1, not {days}")
    first = last - timedelta(days=days - 1)
    by_hour: dict[int, float] = defaultdict(float)
    daily: dict[date, float] = {first + timedelta(days=i): 0.0 for i in range(days)}
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id)
        g = groups[0]
        lo, hi = local_midnight(first, g.tz), local_midnight(last + timedelta(days=1), g.tz)
        for r in _sum(conn, t.traffic_hourly, "hour", lo, hi, g, "hour"):
            by_hour[r.hour.astimezone(g.tz).hour] += int(r.visits or 0)
        for r in _sum(conn, t.traffic_daily, "day", first, last + timedelta(days=1), g, "day"):
            daily[r.day] += int(r.visits or 0)
    weather = {w.day: w.condition for w in store.weather(site_id, first, last)}
    return m.time_slot_peaks(by_hour, days), m.means_by_weekday(daily), m.means_by_weather(daily, weather)


def multi_store(
    store: Store, first: date, last: date, metric: m.MetricName = "total", previous: bool = True
) -> m.MultiStore:
    """门店概览 / 门店排行 (A20): every site's traffic in ``first`` .. ``last`` vs the period of the same
    length just before, ranked, compared with all stores, the same store type and the top store."""
    _check_days(first, last)
    length = (last - first).days + 1
    with _conn(store) as conn:
        sites, groups = _scope(store, conn, None)
        now_: dict[str, m.Traffic] = {}
        before: dict[str, m.Traffic] = {}
        for g in groups:
            now_.update(_days(conn, g, first, last))
            if previous:
                before.update(_days(conn, g, first - timedelta(days=length), first - timedelta(days=1)))
    return m.rank_sites(
        [
            m.SiteTraffic(
                s.site_id,
                s.name,
                now_.get(s.site_id, m.Traffic()).metric(metric),
                before.get(s.site_id, m.Traffic()).metric(metric),
                s.store_type,
                s.region,
                s.weight,
            )
            for s in sites
        ]
    )


def _daily(store: Store, site_id: str, first: date, last: date, metric: m.MetricName) -> dict[date, float]:
    """The metric per local date ``first`` .. ``last`` (days without traffic are 0)."""
    daily = {first + timedelta(days=i): 0.0 for i in range((last - first).days + 1)}
    with _conn(store) as conn:
        _, groups = _scope(store, conn, site_id)
        for r in _sum(conn, t.traffic_daily, "day", first, last + timedelta(days=1), groups[0], "day"):
            daily[r.day] += _traffic_of(r).metric(metric)
    return daily


def _festival_days(year: int) -> list[m.HolidayPeriod]:
    from keliu.analytics import calendar as cal

    return [
        m.HolidayPeriod(f.name, day, day, "festival")
        for day, festivals in sorted(cal.festival_dates(year).items())
        for f in festivals
    ]


def holidays(
    store: Store, site_id: str, year: int, metric: m.MetricName = "total", today: date | None = None
) -> tuple[m.HolidayStats, ...]:
    """节日分析 / 节日客流 (A13) of ``year``: each official break (法定节假日, from
    ``keliu.analytics.calendar``) and each festival day (情人节, 妇女节, 国庆节 Oct 1, …): its traffic,
    burst vs the normal days of the four weeks before it, vs the previous holiday **of the same
    kind** (a break with the break before it, ``calendar.previous_period``; a festival day with the
    festival day before it, last year's for the first), and vs the same one last year. ``today``
    (default: the site's local date now) decides the status: a holiday that has not begun is
    ``upcoming``, with no figures. Newest first."""
    from keliu.analytics import calendar as cal

    site = store.site(site_id)
    if today is None:
        today = datetime.now(ZoneInfo(site.timezone)).date()
    items: list[tuple[m.HolidayPeriod, list[date], m.HolidayPeriod | None, m.HolidayPeriod | None]] = []
    for p in cal.holiday_periods(year):
        ly = cal.same_period_last_year(p)
        prev = cal.previous_period(p)
        items.append(
            (
                m.HolidayPeriod(p.name, p.start, p.end, "break"),
                [i.date for i in cal.normal_days(p.start)],
                None if prev is None else m.HolidayPeriod(prev.name, prev.start, prev.end, "break"),
                None if ly is None else m.HolidayPeriod(ly.name, ly.start, ly.end, "break"),
            )
        )
    last_year_festivals = {f.key: d for d, fs in cal.festival_dates(year - 1).items() for f in fs}
    festival_days = _festival_days(year - 1) + _festival_days(year)
    for day, festivals in sorted(cal.festival_dates(year).items()):
        normal = [i.date for i in cal.normal_days(day)]
        before = [f for f in festival_days if f.first < day]
        prev_festival = before[-1] if before else None
        for f in festivals:
            ly_day = last_year_festivals.get(f.key)
            items.append(
                (
                    m.HolidayPeriod(f.name, day, day, "festival"),
                    normal,
                    prev_festival,
                    None if ly_day is None else m.HolidayPeriod(f.name, ly_day, ly_day, "festival"),
                )
            )
    items.sort(key=lambda x: (x[0].first, x[0].last, x[0].kind, x[0].name))
    if not items:
        return ()
    first = min(
        [x[0].first - timedelta(weeks=4) for x in items]
        + [p.first for x in items for p in (x[2], x[3]) if p is not None]
    )
    last = max(x[0].last for x in items)
    daily = _daily(store, site_id, first, min(last, max(today, first)), metric)
    out = [
        m.holiday_stats(daily, period, normal, previous, last_year, today)
        for period, normal, previous, last_year in items
    ]
    return tuple(reversed(out))


# ----------------------------------------------------------------- raw-table queries (zones)


def _day_bounds(store: Store, site_id: str, first: date, last: date) -> tuple[datetime, datetime]:
    _check_days(first, last)
    tz = ZoneInfo(store.site(site_id).timezone)
    return local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)


def _paths(
    store: Store, site_id: str, start: datetime, end: datetime, zones: Collection[str] | None = None
) -> list[m.VisitPath]:
    """The customer visits' paths; with ``zones``, only their stays in those zones (enough for a
    metric that looks at no other zone, and a small part of a mall's stays)."""
    stays: dict[str, list[ZoneStay]] = defaultdict(list)
    for s in store.zone_stays(site_id, start, end, zones=zones):
        stays[s.visit_id].append(s)
    if not stays:
        return []
    v = t.visits.c
    with _conn(store) as conn:
        returning = set(
            conn.execute(
                sa.select(v.visit_id).where(
                    v.site_id == site_id,
                    v.first_entry >= start,
                    v.first_entry < end,
                    v.category == "customer",
                    v.is_returning.is_(True),
                )
            ).scalars()
        )
    return [m.VisitPath(vid, vid in returning, tuple(ss)) for vid, ss in sorted(stays.items())]


# Zone stays of customer visits, aggregated in the database: the metrics below count distinct
# visits per zone (or per category, floor) in SQL instead of loading every stay (demo mall: ~50 000
# visits and ~200 000 stays a month), see docs/benchmarks.md "Zone metrics".
_STAYS = t.visit_zones.join(
    t.visits,
    sa.and_(t.visits.c.site_id == t.visit_zones.c.site_id, t.visits.c.visit_id == t.visit_zones.c.visit_id),
)


def _customer_stays(site_id: str, start: datetime, end: datetime) -> tuple[Any, ...]:
    """WHERE clauses over ``_STAYS``: the stays of the site's customer visits whose first entry is in
    ``[start, end)`` (the visits :meth:`Store.zone_stays` returns the stays of)."""
    v, z = t.visits.c, t.visit_zones.c
    return (
        z.site_id == site_id,
        v.site_id == site_id,
        v.first_entry >= start.astimezone(UTC),
        v.first_entry < end.astimezone(UTC),
        v.category == "customer",
    )


def _shop_counts(
    conn: sa.Connection,
    site_id: str,
    start: datetime,
    end: datetime,
    shop_ids: Sequence[str],
    *,
    first_shop: bool,
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per shop zone: distinct customer visits that stayed in it, of them returning, and (with
    ``first_shop``) the visits whose first shop stay (earliest entry, then zone id) it was.

    Counted for every zone and kept for the shops here: a ``zone_id IN (shops)`` condition makes
    SQLite probe the stays of each visit once per shop (3x slower on the demo mall)."""
    if not shop_ids:
        return {}, {}, {}
    _fast_plans(conn)
    v = t.visits.c
    shops = set(shop_ids)
    sub = _visit_zone_pairs(conn, site_id, start, end)
    visits: dict[str, int] = {}
    returning: dict[str, int] = {}
    for zone, n, r in conn.execute(
        sa.select(
            sub.c.zone_id, sa.func.count(), sa.func.sum(sa.case((sub.c.was_returning.is_(True), 1), else_=0))
        ).group_by(sub.c.zone_id)
    ):
        if zone in shops:
            visits[zone], returning[zone] = int(n), int(r or 0)
    first: dict[str, int] = {}
    if first_shop:  # per visit, its earliest shop stay (a stay outside the shops sorts last)
        s = t.visit_zones.alias("s")
        not_shop = sa.case((s.c.zone_id.in_(shop_ids), 0), else_=1)
        first_zone = (
            sa.select(s.c.zone_id)
            .where(s.c.site_id == v.site_id, s.c.visit_id == v.visit_id)
            .order_by(not_shop, s.c.entered_at, s.c.zone_id)
            .limit(1)
            .scalar_subquery()
        )
        per_visit = (
            sa.select(first_zone.label("zone_id"))
            .where(
                v.site_id == site_id, v.first_entry >= start, v.first_entry < end, v.category == "customer"
            )
            .subquery()
        )
        for zone, n in conn.execute(
            sa.select(per_visit.c.zone_id, sa.func.count()).group_by(per_visit.c.zone_id)
        ):
            if zone in shops:
                first[zone] = int(n)
    return visits, returning, first


def _visit_zone_pairs(conn: sa.Connection, site_id: str, start: datetime, end: datetime) -> Any:
    """A subquery of the distinct (visit, zone) pairs of the window's customer visits, with the
    visit's ``was_returning`` flag. Counting its rows per zone is counting distinct visits per zone;
    SQLite answers it faster as DISTINCT, PostgreSQL as GROUP BY (0.24 s vs 0.43 s of CPU on
    SQLite for COUNT(DISTINCT) per zone over a month of the demo mall)."""
    v, z = t.visits.c, t.visit_zones.c
    pairs = (
        sa.select(z.visit_id, z.zone_id, v.is_returning.label("was_returning"))
        .select_from(_STAYS)
        .where(*_customer_stays(site_id, start, end))
    )
    if conn.dialect.name == "sqlite":
        return pairs.distinct().subquery()
    return pairs.group_by(z.visit_id, z.zone_id, v.is_returning).subquery()


def _fast_plans(conn: sa.Connection) -> None:
    """PostgreSQL: no JIT compilation for the zone aggregates of this transaction (it cost ~0.8 s
    per query on the demo mall, more than the query), and room to sort a month's stays in memory."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


def _areas(store: Store, site_id: str) -> dict[str, Area]:
    return {a.zone_id: a for a in store.areas(site_id)}


def floors(store: Store, site_id: str, first: date, last: date) -> m.FloorClimb:
    """楼层转化 (A7) of the customer visits of ``first`` .. ``last``."""
    start, end = _day_bounds(store, site_id, first, last)
    floor_of = {z: a.floor for z, a in _areas(store, site_id).items() if a.floor is not None}
    order = sorted(set(floor_of.values()))
    if not floor_of:
        return m.floor_climb_of([], order)
    z = t.visit_zones.c
    floor = sa.case(floor_of, value=z.zone_id, else_=None)  # None: a zone on no floor
    seen: dict[str, set[int]] = defaultdict(set)
    with _conn(store) as conn:  # (visit, floor) pairs, not every stay: see _STAYS
        _fast_plans(conn)
        pairs = (
            sa.select(z.visit_id, floor)
            .select_from(_STAYS)
            .where(*_customer_stays(site_id, start, end), floor.is_not(None))
            .distinct()
        )
        for visit_id, on in conn.execute(pairs):
            seen[visit_id].add(int(on))
    return m.floor_climb_of(seen.values(), order)


def shops(
    store: Store,
    site_id: str,
    month: date,
    by: Literal["visits", "returning", "per_m2", "first_shop", "mom_change"] = "visits",
) -> tuple[m.ShopRank, ...]:
    """品牌排行 (A8) of the local month containing ``month``, with month-on-month change."""
    m0 = month_start(month)
    p0 = month_start(m0 - timedelta(days=1))
    start, end = _day_bounds(store, site_id, m0, next_month(m0) - timedelta(days=1))
    p_start, p_end = _day_bounds(store, site_id, p0, m0 - timedelta(days=1))
    areas = _areas(store, site_id)
    shop_ids = sorted(z for z, a in areas.items() if a.kind == "shop")
    with _conn(store) as conn:
        visits, returning, first = _shop_counts(conn, site_id, start, end, shop_ids, first_shop=True)
        previous = _shop_counts(conn, site_id, p_start, p_end, shop_ids, first_shop=False)[0]
    return m.shop_ranks(areas, visits, returning, first, previous, by)


def categories(
    store: Store, site_id: str, first: date, last: date, level: int = 1
) -> tuple[tuple[str, int, float | None], ...]:
    """业态热度 (A8) at category level 1–3."""
    if level not in (1, 2, 3):
        raise InputError(f"category level must be 1, 2 or 3, not {level}")
    start, end = _day_bounds(store, site_id, first, last)
    of = {
        z: a.category[level - 1]
        for z, a in _areas(store, site_id).items()
        if a.kind == "shop" and len(a.category) >= level
    }
    if not of:
        return ()
    z = t.visit_zones.c
    category = sa.case(of, value=z.zone_id, else_=None)  # None: not a categorised shop
    with _conn(store) as conn:
        _fast_plans(conn)
        where = _customer_stays(site_id, start, end)  # no zone_id IN (…): see _shop_counts
        counts = {
            c: int(n)
            for c, n in conn.execute(
                sa.select(category, sa.func.count(sa.distinct(z.visit_id)))
                .select_from(_STAYS)
                .where(*where)
                .group_by(category)
            )
            if c is not None
        }
        reached_visit = sa.case((category.is_not(None), z.visit_id), else_=None)
        reached = int(
            conn.execute(
                sa.select(sa.func.count(sa.distinct(reached_visit))).select_from(_STAYS).where(*where)
            ).scalar()
            or 0
        )
    return m.category_shares(counts, reached)


def _epoch_us(conn: sa.Connection, column: Any) -> Any:
    """``column`` (a ``UTCDateTime``) as whole microseconds since 1970 UTC, computed by the database
    (no ``datetime`` per row): exact on both engines. SQLite stores SQLAlchemy's fixed-width naive
    UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``; PostgreSQL's ``EXTRACT(EPOCH …)`` is an exact numeric."""
    if conn.dialect.name == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.BigInteger) * 1_000_000 + sa.cast(
            sa.func.substr(column, 21, 6), sa.BigInteger
        )
    return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger)


def indices(store: Store, site_id: str, last: date, days: int = 30) -> m.Indices:
    """运营指标 (A11) over the ``days`` local days ending with ``last``.

    The visits are read as plain numbers (:func:`keliu.analytics.metrics.indices_us`), and the
    browsing index's distinct shops per visit are summed per shop in the database (Σ over visits of
    their distinct shops = the distinct (visit, shop) pairs)."""
    if days < 1:
        raise InputError(f"days must be at least 1, not {days}")
    start, end = _day_bounds(store, site_id, last - timedelta(days=days - 1), last)
    areas = _areas(store, site_id)
    shop_ids = sorted(z for z, a in areas.items() if a.kind == "shop")
    v = t.visits.c
    with _conn(store) as conn:
        shops_total = sum(_shop_counts(conn, site_id, start, end, shop_ids, first_shop=False)[0].values())
        result = conn.execute(
            sa.select(
                v.visit_id,
                _epoch_us(conn, v.first_entry),
                _epoch_us(conn, v.last_exit),
                v.is_returning,
                v.since_previous_s,
            ).where(
                v.site_id == site_id, v.first_entry >= start, v.first_entry < end, v.category == "customer"
            )
        )
        # plain tuples straight from the driver: the columns need no conversion (~0.15 s less)
        rows = sorted(result.cursor.fetchall(), key=lambda r: (r[1], r[0]))  # first entry, visit id
        result.close()
    return m.indices_us(
        [r[1] for r in rows],
        [r[2] for r in rows],
        [None if not r[3] or r[4] is None else m.seconds_us(r[4]) for r in rows],
        shops_total,
        m.epoch_us(start),
    )


def zone_comparison(
    store: Store, site_id: str, first: date, last: date, zone: str, other: str
) -> tuple[m.ZoneStats, m.ZoneStats]:
    """区域对比 (A16)."""
    start, end = _day_bounds(store, site_id, first, last)
    paths = _paths(store, site_id, start, end, zones={zone, other})
    return m.zone_comparison(paths, _areas(store, site_id), zone, other)


def zone_conversion(
    store: Store, site_id: str, first: date, last: date, from_zone: str, to_zone: str
) -> m.ZoneConversion:
    """转化分析 (A16): of the visitors of ``from_zone``, the share that went on to ``to_zone``."""
    start, end = _day_bounds(store, site_id, first, last)
    paths = _paths(store, site_id, start, end, zones={from_zone, to_zone})
    return m.zone_conversion(paths, from_zone, to_zone)


def paths(store: Store, site_id: str, first: date, last: date) -> tuple[m.ZoneFlow, ...]:
    """动线分析 / 关联度 (A19): per shop or zone, where its customers came from and went next, and
    which other zones they also visited.

    The routes are made in the database (the answer of :func:`keliu.analytics.metrics.zone_flows`
    over every stay, without loading them): each visit's stays in the zones A19 looks at, by entry
    time then zone id, a stay in the zone it is already in merged into it, with the zone before and
    after each step from window functions; only (visit, zone, before, after) per step reaches Python,
    which counts them. (Counting the association in SQL too, a self-join of the steps on the visit,
    made SQLite compute the window query once per row: 58 CPU s for a week of the demo mall.)"""
    start, end = _day_bounds(store, site_id, first, last)
    areas = _areas(store, site_id)
    zones = m.flow_zones(areas)
    if not zones:
        return ()
    z = t.visit_zones.c
    looked_at = sa.case({zone: 1 for zone in zones}, value=z.zone_id, else_=0)  # see _shop_counts on IN
    step_order = (z.entered_at, z.zone_id)
    stays = (
        sa.select(
            z.visit_id,
            z.zone_id,
            z.entered_at,
            sa.func.lag(z.zone_id).over(partition_by=z.visit_id, order_by=step_order).label("before"),
        )
        .select_from(_STAYS)
        .where(*_customer_stays(site_id, start, end), looked_at == 1)
        .subquery()
    )
    s = stays.c
    order = (s.entered_at, s.zone_id)
    steps = sa.select(
        s.visit_id,
        s.zone_id,
        sa.func.lag(s.zone_id).over(partition_by=s.visit_id, order_by=order).label("came"),
        sa.func.lead(s.zone_id).over(partition_by=s.visit_id, order_by=order).label("went"),
    ).where(sa.or_(s.before.is_(None), s.before != s.zone_id))  # before the windows: the route
    came: dict[str, Counter[str]] = defaultdict(Counter)
    went: dict[str, Counter[str]] = defaultdict(Counter)
    reached: dict[str, set[str]] = defaultdict(set)  # visit → the zones it reached
    with _conn(store) as conn:
        _fast_plans(conn)
        for visit_id, zone, before, after in conn.execute(steps):
            came[zone][before or m.ENTRANCE] += 1
            went[zone][after or m.EXIT] += 1
            reached[visit_id].add(zone)
    visits: Counter[str] = Counter()
    both: Counter[tuple[str, str]] = Counter()
    for zones_of_visit in reached.values():
        visits.update(zones_of_visit)
        both.update((a, b) for a in zones_of_visit for b in zones_of_visit if a != b)
    return m.zone_flows_of(came, went, visits, both, areas)


def dwell(
    store: Store, site_id: str, first: date, last: date, by: Literal["zone", "floor", "category"] = "zone"
) -> tuple[m.ZoneStats, ...]:
    """驻留时长 (A17) per zone, floor or first-level category."""
    start, end = _day_bounds(store, site_id, first, last)
    return m.dwell_by(_paths(store, site_id, start, end), _areas(store, site_id), by)


def occupancy(
    store: Store, site_id: str, now: datetime, by: Literal["zone", "floor", "category"] = "zone"
) -> tuple[tuple[str, int], ...]:
    """实时驻留人数 (A17): customer visits present at ``now`` per zone, floor or category."""
    now = _aware(now, "now")
    return m.occupancy_by(store.open_zone_stays(site_id, now), _areas(store, site_id), by)


# ----------------------------------------------------------------------------- A22 audit


def accuracy_audit(store: Store, site_id: str, start: datetime, end: datetime) -> m.Audit:
    """准确率稽核 (A22): every manual count whose period starts in ``[start, end)`` against the system's
    customer entries (and, for whole-site counts, batches) of the same period and entrance."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise InputError(f"empty time range: {start.isoformat()} .. {end.isoformat()}")
    counts = store.manual_counts(site_id, start, end)
    names = {(e.camera_id, e.line_id): e.name for e in store.entrances(site_id)}
    e, v, b = t.entries.c, t.visits.c, t.batches.c
    items = []
    with _conn(store) as conn:
        for mc in counts:
            stmt = (
                sa.select(sa.func.count())
                .select_from(
                    t.entries.join(t.visits, sa.and_(v.site_id == e.site_id, v.visit_id == e.visit_id))
                )
                .where(e.site_id == site_id, e.at >= mc.start, e.at < mc.end, v.category == "customer")
            )
            whole_site = not mc.camera_id and not mc.line_id
            if not whole_site:
                stmt = stmt.where(e.camera_id == mc.camera_id, e.line_id == mc.line_id)
            system = int(conn.execute(stmt).scalar() or 0)
            system_batches = None
            if whole_site and mc.batches is not None:
                system_batches = int(
                    conn.execute(
                        sa.select(sa.func.count()).where(
                            b.site_id == site_id, b.started_at >= mc.start, b.started_at < mc.end, b.size >= 1
                        )
                    ).scalar()
                    or 0
                )
            key = (
                "site"
                if whole_site
                else names.get((mc.camera_id, mc.line_id), f"{mc.camera_id}/{mc.line_id}")
            )
            label = f"{key} {mc.start.isoformat()}"
            items.append(m.AuditInput(label, system, mc.entries, system_batches, mc.batches))
    return m.accuracy_audit(items)
