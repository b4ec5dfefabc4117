"""Reports from the store (报表取数): fill a ``ReportInput`` from the analytics queries, then build.

The numbers come only from ``keliu.analytics.queries`` (which reads the traffic rollups); this
module maps them onto the report's input: 去重客流 = ``Traffic.visits``, 总进店人次 =
``Traffic.entries``, 批次 = ``batches``, 新客/回头客 = ``new_visits``/``returning_visits``, 员工 =
``staff``, 无效客流 = ``invalid``.

What this module must not do: write to the store, define metrics, or read the clock.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from keliu.analytics import queries
from keliu.analytics.metrics import Traffic, same_elapsed_window
from keliu.analytics.report.builder import (
    HOURS,
    EntranceCounts,
    ReportInput,
    TrafficCounts,
    build_report_from_input,
)
from keliu.analytics.report.model import Report
from keliu.analytics.report.periods import Period, PeriodKind, custom_period, period_containing
from keliu.errors import InputError
from keliu.store import Store

__all__ = ["build_report", "report_input"]


def _counts(t: Traffic) -> TrafficCounts:
    # whole days come from the daily/monthly rollups: their sums are whole numbers
    return TrafficCounts(
        customers=round(t.visits),
        entries=round(t.entries),
        batches=round(t.batches),
        staff=round(t.staff),
        invalid=round(t.invalid),
        new=round(t.new_visits),
        returning=round(t.returning_visits),
        exits=round(t.exits),
    )


def _hourly(store: Store, site_id: str, period: Period, location: str | None) -> dict[date, list[int]]:
    """Customers per local day and wall-clock hour (labels ``YYYY-MM-DD HH:00`` from the query)."""
    out: dict[date, list[int]] = defaultdict(lambda: [0] * HOURS)
    trend = queries.trend(
        store, site_id, period.first_day, period.last_day, "deduplicated", by="hour", entrance_group=location
    )
    for label, value in trend.points:
        out[date.fromisoformat(label[:10])][int(label[11:13])] += round(value)
    return dict(out)


def report_input(
    store: Store, site_id: str, period: Period, now: datetime | None = None, location: str | None = None
) -> ReportInput:
    """Everything the report of ``period`` shows for one site, read through the analytics queries.

    ``location``: an entrance group (出入口组) of the site; the report then covers that group's doors
    only — their entries and exits, and the customers whose visit began through them (the analytics
    queries' ``entrance_group``). An unknown group is an ``InputError`` naming the known ones.

    ``now``: when the report is made. A period still in progress then (or not yet begun) is compared
    with the same elapsed part of the previous period (a week on Wednesday 15:00 with last Monday to
    Wednesday 15:00: :func:`keliu.analytics.metrics.same_elapsed_window`, the home dashboard's rule),
    never with the whole of it; the day-by-day comparison lines stay whole days."""
    site = store.site(site_id)
    if site.timezone != period.tz:
        raise InputError(f"period is in {period.tz} but site {site_id!r} is in {site.timezone}")
    group = {"entrance_group": location}
    days = {d: _counts(queries.traffic(store, site_id, d, d, **group)) for d in period.days}
    prev = period.previous()
    previous_daily = queries.trend(
        store, site_id, prev.first_day, prev.last_day, "deduplicated", by="day", **group
    )
    window = None
    if now is not None and now.astimezone(period.zone) < period.end:
        cutoff = max(now.astimezone(period.zone), period.start)
        window = same_elapsed_window(period.kind.value, period.start, cutoff, period.n_days)
        previous_totals = _counts(
            queries.traffic_between(store, site_id, window.previous_start, window.previous_end, **group)
        )
        previous_heat = queries.entrance_heat_between(
            store, site_id, window.previous_start, window.previous_end, top=None, **group
        )
    else:
        previous_totals = _counts(queries.traffic(store, site_id, prev.first_day, prev.last_day, **group))
        previous_heat = queries.entrance_heat(
            store, site_id, prev.first_day, prev.last_day, top=None, **group
        )
    before = {e.key: round(e.entries) for e in previous_heat.entrances}
    heat = queries.entrance_heat(store, site_id, period.first_day, period.last_day, top=None, **group)
    entrances = [
        EntranceCounts(e.name, round(e.entries), before.get(e.key, 0), round(e.exits)) for e in heat.entrances
    ]
    previous_hourly = None
    if period.kind is PeriodKind.DAY:
        previous_hourly = _hourly(store, site_id, prev, location).get(prev.first_day, [0] * HOURS)
    return ReportInput(
        site_name=site.name,
        site_id=site_id,
        period=period,
        days=days,
        hourly_customers=_hourly(store, site_id, period, location),
        previous_totals=previous_totals,
        compared_until=None if window is None else (window.end, window.previous_end),
        previous_daily_customers=[round(v) for _, v in previous_daily.points],
        previous_hourly_customers=previous_hourly,
        entrances=entrances,
        location=location,
    )


def build_report(
    store: Store,
    site_id: str,
    kind: PeriodKind | str,
    day_or_range: date | tuple[date, date],
    *,
    generated_at: datetime,
    location: str | None = None,
) -> Report:
    """The ``kind`` report (day, week, month, year: the one containing the given day; custom: the
    given ``(first, last)`` days) of one site, in the site's time zone; ``location``: of one entrance
    group only (see :func:`report_input`)."""
    tz = store.site(site_id).timezone
    if isinstance(day_or_range, tuple):
        if str(kind) != PeriodKind.CUSTOM:
            raise InputError(f"a {kind!s} report takes one day; only a custom report takes (first, last)")
        period = custom_period(day_or_range[0], day_or_range[1], tz)
    else:
        period = period_containing(kind, day_or_range, tz)
    return build_report_from_input(report_input(store, site_id, period, generated_at, location), generated_at)
