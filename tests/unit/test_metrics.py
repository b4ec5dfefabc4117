"""The pure analytics metrics (keliu.analytics.metrics): each docs/metrics.md worked example, with the
numbers worked out by hand in the test."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from keliu.analytics import metrics as m
from keliu.store.reference import Area, ZoneStay
from keliu.store.schema import ROLLUP_METRICS

SH = ZoneInfo("Asia/Shanghai")


def approx(expected: float, **tolerance: Any) -> Any:
    """``pytest.approx`` typed as Any, so that comparing it with a float field type-checks."""
    return pytest.approx(expected, **tolerance)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------------------- basics


def test_change_and_ratio_are_none_without_a_denominator() -> None:
    assert m.change(120, 100) == approx(0.2)
    assert m.change(5, 0) is None
    assert m.ratio(1, 4) == 0.25
    assert m.ratio(1, 0) is None


def test_traffic_fields_are_the_rollup_columns_in_order() -> None:
    assert tuple(f.name for f in fields(m.Traffic)) == ROLLUP_METRICS
    t = m.Traffic(*range(len(ROLLUP_METRICS)))
    assert t.values() == tuple(range(len(ROLLUP_METRICS)))
    assert (t + t).values() == tuple(2 * x for x in range(len(ROLLUP_METRICS)))
    assert t.scaled(0.5).entries_outside_hours == 0.5


def test_shift_months_clamps_to_the_month_length() -> None:
    assert m.shift_months(datetime(2025, 3, 31, 15, 30), -1) == datetime(2025, 2, 28, 15, 30)
    assert m.shift_months(datetime(2024, 3, 31), -1) == datetime(2024, 2, 29)
    assert m.shift_months(datetime(2025, 1, 15), -1) == datetime(2024, 12, 15)
    assert m.shift_months(datetime(2024, 2, 29), -12) == datetime(2023, 2, 28)


def test_per_visit_rules_of_the_rollups() -> None:
    day = 86400.0
    assert m.return_bucket(3600.0) == "ret_1_3"  # same-day returns are in 1–3 days
    assert m.return_bucket(3 * day) == "ret_1_3"
    assert m.return_bucket(3 * day + 1) == "ret_4_7"
    assert m.return_bucket(7 * day) == "ret_4_7"
    assert m.return_bucket(15 * day) == "ret_8_15"
    assert m.return_bucket(16 * day) == "ret_gt15"
    assert m.is_high_frequency(True, 3 * day)
    assert not m.is_high_frequency(True, 3 * day + 1)
    assert not m.is_high_frequency(False, 3600.0)
    assert m.is_received(None, True, 300.0)
    assert m.is_received(300.0, False, 300.0)
    assert not m.is_received(299.0, False, 300.0)
    assert not m.is_received(None, False, 300.0)
    hours = {0: (600, 1320)}  # Mondays 10:00–22:00 only
    assert m.within_business_hours(datetime(2025, 3, 3, 10, 0, tzinfo=SH), hours)
    assert not m.within_business_hours(datetime(2025, 3, 3, 22, 0, tzinfo=SH), hours)
    assert not m.within_business_hours(datetime(2025, 3, 4, 12, 0, tzinfo=SH), hours)  # Tuesday: closed
    assert m.within_business_hours(datetime(2025, 3, 4, 3, 0, tzinfo=SH), {})  # no hours: always open


# --------------------------------------------------------------------------------- A1, A2


def test_brief_windows_compare_the_same_elapsed_part() -> None:
    now = datetime(2025, 3, 31, 15, 30, tzinfo=SH)  # a Monday
    day, week, month, year = m.period_to_date_windows(now)
    assert (day.start, day.previous_start, day.previous_end) == (
        datetime(2025, 3, 31, tzinfo=SH),
        datetime(2025, 3, 30, tzinfo=SH),
        datetime(2025, 3, 30, 15, 30, tzinfo=SH),
    )
    assert (week.start, week.previous_start, week.previous_end) == (
        datetime(2025, 3, 31, tzinfo=SH),
        datetime(2025, 3, 24, tzinfo=SH),
        datetime(2025, 3, 24, 15, 30, tzinfo=SH),
    )
    assert (month.start, month.previous_start, month.previous_end) == (
        datetime(2025, 3, 1, tzinfo=SH),
        datetime(2025, 2, 1, tzinfo=SH),
        datetime(2025, 2, 28, 15, 30, tzinfo=SH),  # 31 March has no 31 February: clamped
    )
    assert (year.start, year.previous_start, year.previous_end) == (
        datetime(2025, 1, 1, tzinfo=SH),
        datetime(2024, 1, 1, tzinfo=SH),
        datetime(2024, 3, 31, 15, 30, tzinfo=SH),
    )
    sunday_start = m.period_to_date_windows(now, week_start=6)[1]
    assert sunday_start.start == datetime(2025, 3, 30, tzinfo=SH)

    b = m.brief(
        (day, week, month, year),
        [m.Traffic(entries=120, visits=100)] * 4,
        [m.Traffic(entries=100, visits=80), m.Traffic(), m.Traffic(), m.Traffic()],
    )
    assert b.items[0].total == m.Comparison(120, 100, approx(0.2))
    assert b.items[0].deduplicated.change == approx(0.25)
    assert b.items[1].total.change is None  # nothing last week: no made-up change


def test_trend_mean_and_peak() -> None:
    tr = m.trend([("09:00", 10), ("10:00", 30), ("11:00", 30), ("12:00", 10)])
    assert (tr.mean, tr.peak, tr.peak_at) == (20, 30, "10:00")
    assert m.trend([]).mean is None


def test_today_vs_yesterday_by_hour() -> None:
    c = m.hourly_comparison({9: 5, 10: 12, 11: 3}, {9: 4, 10: 8, 11: 20, 15: 7}, now_hour=11)
    assert c.hours[10] == m.HourPoint(10, 12, 8)
    assert c.hours[12] == m.HourPoint(12, None, 0)  # not yet
    assert c.hours[15].today is None and c.hours[15].yesterday == 7
    assert (c.peak_hour, c.yesterday_peak_hour) == (10, 11)


# ------------------------------------------------------------------------------------ A3


def test_profile_reports_unknown_honestly() -> None:
    assert [m.age_bin(a) for a in (None, 10, 11, 25, 30, 31, 60, 61)] == [
        "unknown",
        "0-10",
        "11-20",
        "21-30",
        "21-30",
        "31-40",
        "51-60",
        "61+",
    ]
    p = m.profile({("unknown", "unknown"): 50})
    assert (p.total, p.unknown_share, p.main_group) == (50, 1.0, None)
    p = m.profile({("male", "21-30"): 20, ("female", "21-30"): 28, ("unknown", "unknown"): 52})
    assert p.main_group is not None
    assert (p.main_group.gender, p.main_group.age, p.main_group.share) == ("female", "21-30", 0.28)
    assert dict(p.gender_shares) == {"female": 0.28, "male": 0.2, "unknown": 0.52}
    assert p.unknown_share == 0.52
    assert (p.available, p.reason) == (True, None)


def test_profile_without_attribute_model_says_so() -> None:
    """No attribute model: ``available`` false with a reason, and no chart data (not 100 % unknown)."""
    p = m.profile_unavailable(50)
    assert (p.available, p.total) == (False, 50)
    assert p.reason is not None and "attribute model" in p.reason and "属性模型" in p.reason
    assert (p.cells, p.gender_shares, p.unknown_share, p.main_group) == ((), (), None, None)


# ------------------------------------------------------------------------------- A4, A5


def test_funnel() -> None:
    t = m.Traffic(passby=1000, visits=200, received=120, returning_visits=60, returning_hf=15)
    f = m.funnel(t, passby_measured=True)
    assert [s.count for s in f.stages] == [1000, 200, 120, 60, 15]
    assert [s.of_previous for s in f.stages] == [None, 0.2, 0.6, 0.5, 0.25]
    assert f.stages[-1].of_first == approx(0.015)
    assert f.capture_rate == 0.2
    f = m.funnel(t, passby_measured=False)
    assert f.stages[0].count is None and f.capture_rate is None
    assert (f.stages[1].of_previous, f.stages[1].of_first, f.stages[2].of_first) == (None, 1.0, 0.6)


def test_return_intervals() -> None:
    r = m.return_intervals(m.Traffic(ret_1_3=35, ret_4_7=24, ret_8_15=20, ret_gt15=21))
    assert r.total == 100
    assert r.buckets == (("1-3", 35, 0.35), ("4-7", 24, 0.24), ("8-15", 20, 0.2), (">15", 21, 0.21))


# ------------------------------------------------------------------------------------ A6


def test_entrance_heat() -> None:
    heat = m.entrance_heat(
        [
            m.EntranceTraffic("c1", "l1", "1号门", "侧门", 200, 150),
            m.EntranceTraffic("c2", "l1", "2号门", "正门", 500, 400),
            m.EntranceTraffic("c7", "l1", "7号门", "正门", 300, 250),
        ],
        top=2,
    )
    assert [(h.name, h.entries, h.share) for h in heat.entrances] == [
        ("2号门", 500, 0.5),
        ("7号门", 300, 0.3),
    ]
    assert [(g.name, g.entries, g.share) for g in heat.groups] == [("正门", 800, 0.8), ("侧门", 200, 0.2)]
    assert heat.total_entries == 1000


# ------------------------------------------------------------------------- A7, A8, A16, A17

AREAS = {
    "f1": Area("f1", "floor", "L1", floor=1),
    "f2": Area("f2", "floor", "L2", floor=2),
    "f3": Area("f3", "floor", "L3", floor=3),
    "s1": Area("s1", "shop", "粤菜馆", floor=1, category=("餐饮", "地方菜", "粤菜"), area_m2=100.0),
    "s2": Area("s2", "shop", "书店", floor=2, category=("零售",), area_m2=50.0),
    "A": Area("A", "area", "L1北区", floor=1),
    "B": Area("B", "area", "L2南区", floor=2),
}


def path(visit_id: str, *stays: tuple[str, int, int | None], returning: bool = False) -> m.VisitPath:
    """Stays as (zone, entered minute, left minute or None) after 10:00 on 2025-03-08."""
    base = at(8, 2)
    return m.VisitPath(
        visit_id,
        returning,
        tuple(
            ZoneStay(
                visit_id, z, base + timedelta(minutes=a), None if b is None else base + timedelta(minutes=b)
            )
            for z, a, b in stays
        ),
    )


def test_floor_climb() -> None:
    paths = [
        path("A", ("f1", 0, 5), ("f2", 6, 9), ("f3", 10, 20)),
        path("B", ("f1", 0, 5), ("f2", 6, 9)),
        path("C", ("f1", 0, 5)),
        path("D", ("f2", 0, 5), ("f3", 6, 9)),
        path("E", ("nowhere", 0, 5)),  # no floor: not a floor visitor
    ]
    f = m.floor_climb(paths, AREAS)
    assert f.floors == ((1, 3), (2, 3), (3, 2))
    assert f.climb == ((1, 2, approx(2 / 3)), (2, 3, approx(2 / 3)))
    assert f.mean_floors_climbed == 1.0  # (2 + 1 + 0 + 1) / 4
    assert f.visitors == 4


def test_shops_categories_and_browsing() -> None:
    paths = [
        path("V1", ("s1", 0, 10), ("s2", 15, 20), returning=True),
        path("V2", ("s2", 0, 30)),
        path("V3", ("s1", 5, 25), returning=True),
    ]
    previous = [path(f"P{i}", ("s1", 0, 1)) for i in range(4)] + [
        path(f"Q{i}", ("s2", 0, 1)) for i in range(2)
    ]
    ranks = m.shop_ranking(paths, AREAS, previous)
    s1, s2 = ranks
    assert (s1.zone_id, s1.visits, s1.returning, s1.per_m2, s1.first_shop, s1.mom_change) == (
        "s1",
        2,
        2,
        0.02,
        2,
        -0.5,
    )
    assert (s2.zone_id, s2.visits, s2.returning, s2.per_m2, s2.first_shop, s2.mom_change) == (
        "s2",
        2,
        1,
        0.04,
        1,
        0.0,
    )
    assert [r.zone_id for r in m.shop_ranking(paths, AREAS, previous, by="per_m2")] == ["s2", "s1"]
    heat = m.category_heat(paths, AREAS, level=1)
    assert heat == (("零售", 2, approx(2 / 3)), ("餐饮", 2, approx(2 / 3)))
    assert m.category_heat(paths, AREAS, level=3) == (("粤菜", 2, 1.0),)
    assert m.browsing_depth(paths, AREAS) == approx(4 / 3)


def test_zone_conversion_comparison_dwell_and_occupancy() -> None:
    paths = [
        path("V1", ("A", 0, 10), ("B", 20, 30)),
        path("V2", ("B", 0, 10), ("A", 10, 40), returning=True),
        path("V3", ("A", 0, None)),
        path("V4", ("B", 0, 5)),
    ]
    conv = m.zone_conversion(paths, "A", "B")
    assert (conv.from_visits, conv.converted, conv.rate) == (3, 1, approx(1 / 3))
    a, b = m.zone_comparison(paths, AREAS, "A", "B")
    assert (a.name, a.visits, a.returning, a.mean_dwell_s, a.median_dwell_s) == (
        "L1北区",
        3,
        1,
        1200.0,
        1200.0,
    )
    assert (b.visits, b.mean_dwell_s) == (3, 500.0)  # (600 + 600 + 300) / 3
    by_floor = {z.key: z for z in m.dwell_by(paths, AREAS, "floor")}
    assert by_floor["1"].visits == 3 and by_floor["2"].visits == 3
    open_stays = [
        ZoneStay("V1", "A", at(8, 2)),
        ZoneStay("V2", "A", at(8, 2)),
        ZoneStay("V2", "B", at(8, 2)),
    ]
    assert m.occupancy_by(open_stays, AREAS) == (("A", 2), ("B", 1))
    assert m.occupancy_by(open_stays, AREAS, "floor") == (("1", 2), ("2", 1))


# -------------------------------------------------------------------------------- A9, A10


def test_kpi_windows_and_changes() -> None:
    y, w, mo, yr = m.kpi_windows(date(2025, 3, 5))  # a Wednesday
    assert (y.first, y.previous_first, y.year_ago_first) == (
        date(2025, 3, 4),
        date(2025, 3, 3),
        date(2024, 3, 4),
    )
    assert (w.first, w.last, w.previous_first, w.previous_last) == (
        date(2025, 2, 24),
        date(2025, 3, 2),
        date(2025, 2, 17),
        date(2025, 2, 23),
    )
    assert (w.year_ago_first, w.year_ago_last) == (date(2024, 2, 24), date(2024, 3, 2))
    assert (mo.first, mo.last, mo.previous_first, mo.previous_last) == (
        date(2025, 2, 1),
        date(2025, 2, 28),
        date(2025, 1, 1),
        date(2025, 1, 31),
    )
    assert (mo.year_ago_first, mo.year_ago_last) == (date(2024, 2, 1), date(2024, 2, 29))  # the whole month
    assert (yr.first, yr.last, yr.previous_first, yr.year_ago_first) == (
        date(2024, 1, 1),
        date(2024, 12, 31),
        date(2023, 1, 1),
        None,
    )
    k = m.kpi(y, 120, 100, 80)
    assert (k.pop_change, k.yoy_change) == (approx(0.2), approx(0.5))
    assert m.kpi(yr, 10, 0, None).pop_change is None


def test_target_progress() -> None:
    p = m.target_progress("month", 4800, 10000, 0.5)
    assert (p.completion, p.expected, p.on_track) == (0.48, 0.5, False)
    assert m.target_progress("year", 7500, 10000, 0.3).on_track is True
    assert m.target_progress("year", 7500, None, 0.3).completion is None


# ------------------------------------------------------------------------------- A11, A12


def test_indices() -> None:
    """返场指数 = persons with ≥ 2 visits in the window / persons (the seed's definition), not repeat
    visits / visits. A comes three times (A2 and A3 each linked to the visit before by the time it
    was last seen), B once in the window (its previous visit was in February), C and D once."""
    start = at(1, 0)
    a1 = m.VisitFacts(at(2, 10), False, None, 2, at(2, 10, 30), "a1")
    d = m.VisitFacts(at(2, 10, 5), False, None, 0, at(2, 10, 45), "d")  # in at the same time, left later
    a2_in = at(5, 11)
    a2 = m.VisitFacts(a2_in, True, (a2_in - at(2, 10, 31)).total_seconds(), 0, at(5, 12), "a2")
    a3_in = at(8, 18)
    a3 = m.VisitFacts(a3_in, True, (a3_in - at(5, 12, 1)).total_seconds(), 1, None, "a3")
    b = m.VisitFacts(at(10, 3), True, 20 * 86400.0, 3, None, "b")  # previous on 18 February: outside
    c = m.VisitFacts(at(12, 3), False, None, 0, None, "c")
    i = m.indices([a1, d, a2, a3, b, c], start)
    assert (i.visits, i.repeat_visits, i.persons, i.returning_persons, i.unlinked_repeats) == (6, 2, 4, 1, 0)
    assert (i.return_index, i.activity_index, i.browsing_index) == (0.25, 1.5, 1.0)  # old: 2/6
    assert m.indices([], start).return_index is None


def test_indices_link_chains_and_count_unlinked_repeats() -> None:
    """Two people twice each (return index 100 %, where repeat visits / visits gave 50 %); a repeat
    whose previous visit is not among the window's visits counts as one more person with ≥ 2 visits."""
    start = at(1, 0)
    day = 86400.0
    visits = [
        m.VisitFacts(at(2, 3), False, None, 2, at(2, 4), "p1"),
        m.VisitFacts(at(5, 3), True, 3 * day - 3600, 0, at(5, 4), "p2"),  # last seen 2 Mar 04:00
        m.VisitFacts(at(10, 3), True, 20 * day, 1, at(10, 4), "q1"),  # previous on 18 February
        m.VisitFacts(at(12, 3), True, 2 * day - 3600, 3, at(12, 5), "q2"),  # last seen 10 Mar 04:00
    ]
    i = m.indices(visits, start)
    assert (i.persons, i.returning_persons, i.return_index, i.activity_index) == (2, 2, 1.0, 2.0)
    lost = m.VisitFacts(at(20, 9), True, 5 * day, 0, at(20, 10), "r")  # nobody was seen on 15 Mar 09:00
    i = m.indices([*visits, lost], start)
    assert (i.repeat_visits, i.persons, i.unlinked_repeats, i.returning_persons) == (3, 2, 1, 2)  # capped
    s = m.VisitFacts(at(15, 8), False, None, 0, at(15, 8, 59), "s")  # out 1 min before it was last seen
    i = m.indices([*visits, s, lost], start)
    assert (i.persons, i.returning_persons, i.unlinked_repeats, i.return_index) == (3, 3, 0, 1.0)
    far = m.VisitFacts(at(15, 8), False, None, 0, at(15, 8, 50), "s")  # out 10 min before: not linked
    i = m.indices([*visits, far, lost], start)
    assert (i.persons, i.returning_persons, i.unlinked_repeats) == (3, 3, 1)


def test_time_slots_weekdays_and_weather() -> None:
    by_hour = {9: 300.0, 10: 300.0, 12: 240.0, 13: 240.0, 15: 600.0, 19: 900.0}
    p = m.time_slot_peaks(by_hour, days=30)
    assert [(s.name, s.per_day, s.per_hour) for s in p.slots] == [
        ("morning", 20.0, 5.0),
        ("noon", 16.0, 8.0),
        ("afternoon", 20.0, 5.0),
        ("evening", 30.0, 5.0),
    ]
    assert p.peak == "evening"  # 30 visitors a day on average; noon has the highest hourly rate (8/h)
    daily = {date(2025, 3, 3): 100.0, date(2025, 3, 10): 200.0, date(2025, 3, 4): 50.0}
    assert m.means_by_weekday(daily) == (m.MeanBy("0", 150.0, 2), m.MeanBy("1", 50.0, 1))
    weather = {date(2025, 3, 3): "rain", date(2025, 3, 10): "sunny", date(2025, 3, 4): "rain"}
    assert m.means_by_weather(daily, weather) == (m.MeanBy("sunny", 200.0, 1), m.MeanBy("rain", 75.0, 2))


# ------------------------------------------------------------------------------------ A13


def test_holiday_stats() -> None:
    qingming = m.HolidayPeriod("清明节", date(2025, 4, 4), date(2025, 4, 6))
    daily = {date(2025, 4, 4): 300.0, date(2025, 4, 5): 330.0, date(2025, 4, 6): 270.0}
    normal = [date(2025, 3, 24) + timedelta(days=i) for i in range(5)]
    daily.update({d: 100.0 for d in normal})
    previous = m.HolidayPeriod("春节", date(2025, 1, 28), date(2025, 2, 4))  # the break before
    daily.update({d: 200.0 for d in previous.days()})
    last_year = m.HolidayPeriod("清明节", date(2024, 4, 4), date(2024, 4, 6))
    daily.update({date(2024, 4, 4) + timedelta(days=i): 250.0 for i in range(3)})
    h = m.holiday_stats(daily, qingming, normal, previous, last_year)
    assert (h.total, h.daily_mean, h.normal_daily_mean, h.burst) == (900.0, 300.0, 100.0, 3.0)
    assert (h.vs_previous, h.vs_last_year) == (0.5, approx(0.2))
    assert (h.status, h.previous, h.last_year, h.days_counted) == ("past", previous, last_year, 3)


def test_holiday_not_yet_begun_is_upcoming_without_figures() -> None:
    """An upcoming holiday has no count of 0 and no change of −100 %: no figures, status upcoming."""
    national = m.HolidayPeriod("国庆节", date(2026, 10, 1), date(2026, 10, 7))
    normal = [date(2026, 9, 1) + timedelta(days=i) for i in range(20)]
    daily = {d: 100.0 for d in normal}
    previous = m.HolidayPeriod("中秋节", date(2025, 10, 6), date(2025, 10, 6))
    daily[date(2025, 10, 6)] = 300.0
    h = m.holiday_stats(daily, national, normal, previous, None, today=date(2026, 9, 30))
    assert h.status == "upcoming"
    assert (h.total, h.daily_mean, h.burst, h.vs_previous, h.vs_last_year, h.days_counted) == (
        None, None, None, None, None, 0
    )  # fmt: skip
    daily.update({date(2026, 10, 1): 400.0, date(2026, 10, 2): 200.0})
    h = m.holiday_stats(daily, national, normal, previous, None, today=date(2026, 10, 2))
    assert (h.status, h.total, h.daily_mean, h.days_counted, h.burst) == ("in_progress", 600.0, 300.0, 2, 3.0)
    assert h.vs_previous == 0.0  # the days so far, not the seven days with five zeros
    assert m.holiday_stats(daily, national, normal, today=date(2026, 10, 8)).status == "past"
    assert m.holiday_stats(daily, national, normal, today=date(2026, 10, 7)).status == "in_progress"


# ------------------------------------------------------------------------------- A20, A21


def test_multi_store_ranking() -> None:
    ms = m.rank_sites(
        [
            m.SiteTraffic("s1", "一店", 100, 80, "mall", weight=1),
            m.SiteTraffic("s2", "二店", 300, 300, "mall", weight=2),
            m.SiteTraffic("s3", "三店", 200, 0, "outlet", weight=3),
        ]
    )
    assert [(r.site_id, r.rank) for r in ms.ranking] == [("s2", 1), ("s3", 2), ("s1", 3)]
    s1 = ms.ranking[2]
    assert (s1.change, s1.share, s1.vs_all, s1.vs_type, s1.vs_top) == (
        approx(0.25),
        approx(1 / 6),
        -0.5,
        -0.5,
        approx(1 / 3),
    )
    s3 = ms.ranking[1]
    assert (s3.change, s3.vs_type) == (None, 0.0)
    assert (ms.total, ms.mean, ms.median, ms.top) == (600, 200, 200, "s2")


def test_multi_store_overview_is_totals_not_the_ranking_again() -> None:
    """门店概览 is the chain's totals and comparisons; the ordered store table is the ranking only."""
    ms = m.rank_sites(
        [
            m.SiteTraffic("s1", "一店", 100, 80, "mall", "east", weight=1),
            m.SiteTraffic("s2", "二店", 300, 300, "mall", "east", weight=2),
            m.SiteTraffic("s3", "三店", 200, 0, "outlet", None, weight=3),
        ]
    )
    o = ms.overview
    assert not isinstance(o, tuple) and not any(isinstance(v, m.SiteRank) for v in vars(o).values())
    assert (o.stores, o.total, o.previous_total, o.change, o.mean, o.median) == (
        3, 600, 380, approx(220 / 380), 200, 200
    )  # fmt: skip
    assert (o.top_site_id, o.top_name, o.top_value, o.top_share) == ("s2", "二店", 300, 0.5)
    assert (o.above_mean, o.below_mean, o.growing, o.shrinking) == (1, 1, 2, 0)
    assert [(g.key, g.stores, g.total, g.previous, g.share, g.mean) for g in o.by_type] == [
        ("mall", 2, 400, 380, approx(2 / 3), 200),
        ("outlet", 1, 200, 0, approx(1 / 3), 200),
    ]
    assert o.by_type[0].change == approx(20 / 380) and o.by_type[1].change is None
    assert [(g.key, g.total) for g in o.by_region] == [("east", 400), (None, 200)]
    empty = m.rank_sites([]).overview
    assert (empty.stores, empty.total, empty.change, empty.top_site_id, empty.by_type) == (
        0,
        0,
        None,
        None,
        (),
    )


def test_business_hours_effect() -> None:
    e = m.business_hours_effect(m.Traffic(entries=90, entries_outside_hours=10, outside_hours=3))
    assert (e.counted_entries, e.uncounted_entries, e.outside_hours_visits, e.uncounted_share) == (
        90,
        10,
        3,
        0.1,
    )


# ------------------------------------------------------------------------------------ A22


def test_accuracy_audit_like_the_seed() -> None:
    assert m.accuracy(893, 1000) == approx(0.893)
    assert m.accuracy(1122, 1000) == approx(0.878)
    assert m.accuracy(2500, 1000) == 0.0  # floored
    assert m.accuracy(5, 0) is None
    audit = m.accuracy_audit(
        [
            m.AuditInput("1号门", 893, 1000),
            m.AuditInput("2号门", 1122, 1000),
            m.AuditInput("site", 2015, 2000, system_batches=25, manual_batches=30),
        ]
    )
    e1, e2, site = audit.rows
    assert e1.accuracy == approx(0.893) and e2.accuracy == approx(0.878)
    assert e1.correction_factor == approx(1000 / 893)
    # Wilson, p = 0.893, n = 1000, z = 1.96: centre 0.89150, half-width 0.01918 (worked by hand)
    assert e1.interval == (approx(0.8723, abs=2e-4), approx(0.9107, abs=2e-4))
    assert site.batch_match == approx(1 - 5 / 30)  # 83.3 %
    assert audit.overall.system == 893 + 1122 + 2015 and audit.overall.manual == 4000
    assert m.wilson_interval(0, 0) is None


def test_zone_flows_paths_and_association() -> None:
    """docs/metrics.md, 动线分析 (A19): V1 粤菜馆 → 书店 → 粤菜馆, V2 书店 → L2南区 (with the floor zone
    L2 in between, left out), V3 粤菜馆 only."""
    paths = [
        path("V1", ("s1", 0, 10), ("s2", 12, 30), ("s1", 31, 40)),
        path("V2", ("s2", 0, 5), ("f2", 5, 6), ("B", 6, 20)),
        path("V3", ("s1", 0, 15), ("s1", 16, 20)),  # two stays in a row in one shop: one step
    ]
    flows = {f.zone_id: f for f in m.zone_flows(paths, AREAS)}
    assert [f.zone_id for f in m.zone_flows(paths, AREAS)] == ["s1", "s2", "B"]  # busiest first
    s1, s2, b = flows["s1"], flows["s2"], flows["B"]
    assert (s1.name, s1.visits) == ("粤菜馆", 2)
    assert s1.came_from == ((m.ENTRANCE, 2), ("s2", 1))
    assert s1.went_to == ((m.EXIT, 2), ("s2", 1))
    assert s1.association == (("s2", 1, 0.5),)
    assert s2.came_from == ((m.ENTRANCE, 1), ("s1", 1))
    assert s2.went_to == (("B", 1), ("s1", 1))
    assert s2.association == (("B", 1, 0.5), ("s1", 1, 0.5))
    assert (b.visits, b.came_from, b.went_to, b.association) == (
        1,
        (("s2", 1),),
        ((m.EXIT, 1),),
        (("s2", 1, 1.0),),
    )
    assert "f2" not in flows
    assert m.zone_flows([], AREAS) == ()
