"""Analytics queries and rollup refresh against real engines (SQLite file and PostgreSQL, conftest.py).

The home-dashboard numbers are the worked example of docs/metrics.md, computed by hand below.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from keliu.analytics import queries as q
from keliu.analytics.rollups import rebuild_rollups, refresh_rollups
from keliu.domain.visits import Entry, Exclusion, PersonCategory, Visit
from keliu.errors import InputError
from keliu.store import (
    Area,
    Entrance,
    ManualCount,
    OpeningHours,
    PassbyCount,
    SiteProfile,
    Store,
    Target,
    WeatherDay,
    ZoneStay,
    open_store,
)
from keliu.store import schema as t

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.usefixtures("keliu_home")]

SH = ZoneInfo("Asia/Shanghai")


def approx(expected: float, **tolerance: Any) -> Any:
    """``pytest.approx`` typed as Any, so that comparing it with a float field type-checks."""
    return pytest.approx(expected, **tolerance)


CUSTOMER, STAFF, INVALID = PersonCategory.CUSTOMER, PersonCategory.STAFF, PersonCategory.INVALID


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as s:
        s.upsert_site("s1", "Mall", "Asia/Shanghai")
        s.upsert_site("s2", "Outlet", "Asia/Shanghai")
        yield s


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def visit(
    visit_id: str,
    first: datetime,
    *more: tuple[datetime, str],
    camera: str = "cam1",
    site: str = "s1",
    category: PersonCategory = CUSTOMER,
    reason: str | None = None,
    batch: str | None = None,
    since_days: float | None = None,
    exit_at: datetime | None = None,
) -> Visit:
    entries = [Entry(first, camera, "door"), *(Entry(a, c, "door") for a, c in more)]
    return Visit(
        visit_id=visit_id,
        site_id=site,
        category=category,
        first_entry=first,
        entries=entries,
        last_exit=exit_at,
        exclusion=None if reason is None else Exclusion(category, reason, 1.0),
        batch_id=batch if batch is not None else (f"b/{visit_id}" if category != STAFF else None),
        returning=since_days is not None,
        since_previous_s=None if since_days is None else since_days * 86400.0,
    )


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with store.engine.connect() as conn:
        for table in (t.traffic_hourly, t.traffic_daily, t.traffic_monthly):
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    return out


def from_scratch(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store.engine.begin() as conn:
        for table in (t.traffic_hourly, t.traffic_daily, t.traffic_monthly):
            conn.execute(sa.delete(table))
    rebuild_rollups(store)
    return snapshot(store)


# ------------------------------------------------------------------------- home dashboard

NOW = local(2025, 3, 5, 11, 30)  # a Wednesday


def worked_example(store: Store) -> None:
    store.set_entrances(
        "s1", [Entrance("cam1", "door", "1号门", "正门", True), Entrance("cam2", "door", "2号门", "正门")]
    )
    store.set_areas("s1", [Area("rx", "reception", "接待区")])
    store.set_site_profile("s2", SiteProfile(store_type="outlet", weight=2.0))
    store.set_targets(
        "s1",
        [
            Target(2025, 3, "total", 100),
            Target(2025, None, "total", 1000),
            Target(2025, 3, "deduplicated", 50),
        ],
    )
    store.save_visits(
        [
            # today
            visit(
                "a",
                local(2025, 3, 5, 10, 10),
                (local(2025, 3, 5, 11, 5), "cam2"),
                exit_at=local(2025, 3, 5, 11, 25),
            ),
            visit("b", local(2025, 3, 5, 10, 40), camera="cam2", since_days=2),
            visit("c", local(2025, 3, 5, 11, 20)),
            visit("st", local(2025, 3, 5, 9, 0), category=STAFF, reason="staff:Li"),
            # yesterday: 11:50 is after 11:30, half of hour 11 counts for "the same elapsed part"
            visit("d", local(2025, 3, 4, 10, 15)),
            visit("e", local(2025, 3, 4, 11, 10)),
            visit("f", local(2025, 3, 4, 11, 50)),
            # the day before yesterday, and the same date last year
            visit("h", local(2025, 3, 3, 12, 0)),
            visit("g", local(2024, 3, 4, 10, 0)),
            # the other store, today
            visit("x", local(2025, 3, 5, 10, 0), site="s2"),
        ]
    )
    store.save_visit_zones("s1", [ZoneStay("b", "rx", local(2025, 3, 5, 10, 41))])


def test_home_dashboard_worked_example(store: Store) -> None:
    worked_example(store)
    d = q.home_dashboard(store, "s1", NOW)
    day, week, month, year = d.brief.items
    assert (day.total.value, day.total.previous, day.total.change) == (4, 2.0, 1.0)
    assert (day.deduplicated.value, day.deduplicated.previous) == (3, 2.0)
    assert (week.total.value, week.total.previous, week.total.change) == (8, 0, None)  # nothing 24–26 Feb
    assert month.total.value == 8 and year.total.value == 8
    assert year.total.previous == 1  # 2024-01-01 .. 2024-03-05 11:30: g
    assert d.today.staff == 1
    assert d.today_vs_yesterday.hours[10].today == 2 and d.today_vs_yesterday.hours[11].today == 2
    assert d.today_vs_yesterday.hours[11].yesterday == 2 and d.today_vs_yesterday.hours[12].today is None
    assert d.today_vs_yesterday.peak_hour == 10
    assert (d.trend_today.mean, d.trend_today.peak) == (approx(4 / 12), 2)
    yesterday = d.kpis[0]
    assert (yesterday.value, yesterday.previous, yesterday.year_ago) == (3, 1, 1)
    assert (yesterday.pop_change, yesterday.yoy_change) == (2.0, 2.0)
    assert [(h.name, h.entries, h.visits) for h in d.entrance_heat.entrances] == [
        ("1号门", 2, 2),
        ("2号门", 2, 1),
    ]
    assert [(g.name, g.share) for g in d.entrance_heat.groups] == [("正门", 1.0)]
    stages = {s.name: s.count for s in d.funnel.stages}
    assert stages == {"passby": None, "entered": 3, "received": 2, "returning": 1, "high_frequency": 1}
    assert (d.month_target.target, d.month_target.completion) == (100, 0.08)
    assert d.month_target.expected == approx(107.5 / 744)
    assert d.year_target.completion == 0.008
    assert d.ranking is None

    chain = q.home_dashboard(store, None, NOW)
    assert chain.sites == 2 and chain.brief.items[0].total.value == 5
    assert chain.ranking is not None
    assert [(r.site_id, r.value) for r in chain.ranking.ranking] == [("s1", 4), ("s2", 1)]
    o = chain.ranking.overview  # totals and comparisons, not the ranking's table again
    assert (o.stores, o.total, o.top_site_id, o.top_share) == (2, 5, "s1", 0.8)
    assert chain.month_target.target == 100


# ------------------------------------------------------------------------- rollup refresh


def test_rollups_follow_late_corrected_and_deleted_visits(store: Store) -> None:
    day = local(2025, 3, 8, 0)
    store.save_visits(
        [
            visit("v1", day + timedelta(hours=10), batch="b/v1"),
            visit("v2", day + timedelta(hours=10, seconds=3), batch="b/v1"),
            visit("v3", day + timedelta(hours=14), (day + timedelta(hours=15), "cam2"), since_days=10),
            visit("v4", day + timedelta(hours=16), category=INVALID, reason="courier:meituan"),
        ]
    )
    rows = store.traffic_summary("s1", day, day + timedelta(days=1))
    assert (rows[0].total, rows[0].deduplicated, rows[0].batches) == (4, 3, 2)
    assert q.traffic(store, "s1", date(2025, 3, 8), date(2025, 3, 8)).entries == 4
    # late data: a visit from the previous evening, another in a morning hour already rolled up
    store.save_visits(
        [visit("late1", day - timedelta(hours=3)), visit("late2", day + timedelta(hours=10, minutes=30))]
    )
    # corrections: v2 was staff after all (leaves the batch); v3's re-entry was on cam1 and 1 h later
    store.save_visits(
        [
            visit("v2", day + timedelta(hours=10, seconds=3), category=STAFF, reason="staff:Wang"),
            visit("v3", day + timedelta(hours=14), (day + timedelta(hours=16), "cam1"), since_days=10),
        ]
    )
    store.delete_visits("s1", ["v4", "late1"])
    assert snapshot(store) == from_scratch(store)
    sums = q.traffic(store, "s1", date(2025, 3, 1), date(2025, 3, 31))
    assert (sums.entries, sums.visits, sums.staff, sums.invalid, sums.batches) == (4, 3, 1, 0, 3)
    assert (sums.returning_visits, sums.ret_8_15, sums.returning_hf) == (1, 1, 0)
    summary = store.traffic_summary("s1", local(2025, 3, 1, 0), local(2025, 4, 1, 0))
    assert sum(r.total for r in summary) == sums.entries
    assert sum(r.batches for r in summary) == sums.batches
    # a bulk load without refresh, then one refresh of its range, gives the same rollups
    store.save_visits([visit("bulk", day + timedelta(hours=18))], refresh_rollups=False)
    stats = refresh_rollups(store, "s1", day, day + timedelta(days=1))
    assert (stats.hours, stats.days, stats.months) == (24, 1, 1)
    assert snapshot(store) == from_scratch(store)


def test_ingest_is_the_separate_saves_in_one_transaction(store: Store) -> None:
    """``Store.ingest`` (visits + zone stays + pass-by, one rollup refresh) stores exactly what the three
    separate save methods store, rollups included, also when it corrects what is there."""
    day = local(2025, 3, 8, 0)
    first = [visit("a", day + timedelta(hours=10)), visit("b", day + timedelta(hours=11), since_days=2)]
    stays = [
        ZoneStay("a", "lounge", day + timedelta(hours=10, minutes=1), day + timedelta(hours=10, minutes=20))
    ]
    passby = [PassbyCount(day + timedelta(hours=10), "cam9", "street", 25)]
    assert store.ingest("s1", first, stays, passby) == 2
    ingested = snapshot(store)
    assert ingested == from_scratch(store)
    assert q.traffic(store, "s1", date(2025, 3, 8), date(2025, 3, 8)).passby == 25
    assert [z.zone_id for z in store.zone_stays("s1", day, day + timedelta(days=1))] == ["lounge"]
    # a correction: b moves to 15:00 and becomes staff; a's stays are replaced
    moved = visit("b", day + timedelta(hours=15), category=STAFF, reason="staff:Li")
    later = [ZoneStay("a", "shop-1", day + timedelta(hours=10, minutes=5), None)]
    store.ingest("s1", [moved], later)
    assert snapshot(store) == from_scratch(store)
    assert [z.zone_id for z in store.zone_stays("s1", day, day + timedelta(days=1))] == ["shop-1"]
    with pytest.raises(InputError, match="another site"):
        store.ingest("s1", [visit("x", day + timedelta(hours=9), site="s2")])


def test_business_hours_and_pass_by(store: Store) -> None:
    store.set_business_hours("s1", [OpeningHours.parse(w, "10:00", "22:00") for w in range(7)])
    assert store.business_hours("s1")[0] == OpeningHours(0, 600, 1320)
    store.save_visits(
        [
            visit(
                "in", local(2025, 3, 8, 21, 0), (local(2025, 3, 8, 22, 15), "cam1")
            ),  # re-entry after closing
            visit("out", local(2025, 3, 8, 9, 0), category=INVALID, reason="outside_hours"),
        ]
    )
    store.save_passby("s1", [PassbyCount(local(2025, 3, 8, 21), "cam9", "street", 40)])
    effect = q.business_hours_effect(store, "s1", date(2025, 3, 8), date(2025, 3, 8))
    assert (effect.counted_entries, effect.uncounted_entries, effect.outside_hours_visits) == (1, 1, 1)
    f = q.funnel(store, "s1", date(2025, 3, 8), date(2025, 3, 8))
    assert (f.stages[0].count, f.capture_rate) == (40, 0.025)
    with pytest.raises(InputError, match="HH:MM"):
        OpeningHours.parse(0, "10h", "22:00")
    store.set_business_hours("s1", [OpeningHours(0, 1200, 120)])  # overnight: 20:00–02:00
    assert store.business_hours("s1") == [OpeningHours(0, 1200, 1560)]
    with pytest.raises(InputError, match="opens < 24:00"):
        store.set_business_hours("s1", [OpeningHours(0, 1440, 1500)])


# --------------------------------------------------------------------- other period metrics


def test_trend_peaks_indices_weather_and_multi_store(store: Store) -> None:
    vs = []
    for i in range(10):  # 1 .. 10 March: one visit at 10:00 each day, two at 19:00 on Saturdays
        d = date(2025, 3, 1) + timedelta(days=i)
        vs.append(visit(f"m{i}", local(d.year, d.month, d.day, 10), since_days=2 if i else None))
        if d.weekday() == 5:
            vs.append(visit(f"e{i}a", local(d.year, d.month, d.day, 19)))
            vs.append(visit(f"e{i}b", local(d.year, d.month, d.day, 19, 5)))
    store.save_visits(vs)
    store.save_weather(
        "s1", [WeatherDay(date(2025, 3, 1), "sunny", 18.0, 9.0), WeatherDay(date(2025, 3, 2), "rain")]
    )
    tr = q.trend(store, "s1", date(2025, 3, 1), date(2025, 3, 10), "deduplicated")
    assert (tr.mean, tr.peak, tr.peak_at) == (1.4, 3, "2025-03-01")  # 14 visits / 10 days; Saturday 1 March
    slots, weekdays, weather = q.peaks(store, "s1", date(2025, 3, 10), days=10)
    assert [s.per_day for s in slots.slots] == [1.0, 0.0, 0.0, 0.4]
    assert slots.peak == "morning"  # 1.0 visitor a day vs 0.4 in the evening
    assert {w.key: w.mean for w in weekdays}["5"] == 3.0  # Saturdays (1 and 8 March)
    assert [(w.key, w.mean) for w in weather] == [("sunny", 3.0), ("rain", 1.0)]
    idx = q.indices(store, "s1", date(2025, 3, 10), days=10)
    # m2..m9 came 2 days after an earlier visit inside the window; m1's previous was on 28 February
    assert (idx.visits, idx.repeat_visits, idx.persons) == (14, 8, 6)
    # two people: m0, m2, m4, … and m1, m3, … (each linked to the visit two days before); the four
    # Saturday evening visitors came once → 2 of 6 persons came twice or more (not 8 / 14)
    assert (idx.returning_persons, idx.unlinked_repeats, idx.return_index) == (2, 0, approx(2 / 6))
    ri = q.return_intervals(store, "s1", date(2025, 3, 1), date(2025, 3, 10))
    assert ri.buckets[0] == ("1-3", 9, 1.0)
    p = q.profile(store, "s1", date(2025, 3, 1), date(2025, 3, 10))
    assert (p.total, p.available, p.cells, p.unknown_share, p.main_group) == (14, False, (), None, None)
    assert p.reason is not None and "no gender/age attribute model is installed" in p.reason
    kp = q.kpis(store, "s1", date(2025, 3, 11))
    assert (kp[0].value, kp[1].value) == (1, 9)  # 10 March; week 3–9 March (7 + 2 on the 8th)
    ms = q.multi_store(store, date(2025, 3, 1), date(2025, 3, 10))
    assert [(r.site_id, r.value) for r in ms.ranking] == [("s1", 14), ("s2", 0)]


def test_holidays(store: Store) -> None:
    vs = [visit(f"n{i}", local(2025, 3, 7, 12) + timedelta(days=i)) for i in range(28)]  # 7 March – 3 April
    for d in (4, 5, 6):  # the Qingming break, 4–6 April 2025
        vs += [visit(f"q{d}{k}", local(2025, 4, d, 10 + k)) for k in range(3)]
    store.save_visits(vs)
    found = {(h.holiday.name, h.holiday.last - h.holiday.first): h for h in q.holidays(store, "s1", 2025)}
    qm = found[("清明节", timedelta(days=2))]  # the break; 清明 is also a festival day (one day)
    assert (qm.holiday.first, qm.holiday.last, qm.total, qm.daily_mean) == (
        date(2025, 4, 4),
        date(2025, 4, 6),
        9,
        3.0,
    )
    assert (qm.normal_daily_mean, qm.burst, qm.vs_last_year) == (1.0, 3.0, None)  # no traffic in 2024
    assert found[("妇女节", timedelta(0))].total == 1  # festival day 8 March
    assert found[("清明节", timedelta(0))].total == 3
    assert all(h.status == "past" for h in found.values())  # default today: now, after 2025


def test_holidays_upcoming_and_compared_like_with_like(store: Store) -> None:
    """A holiday not yet begun is upcoming (no 0, no −100 %); the 国庆节 festival day (1 October) is
    compared with the festival day before it and the National Day break with the break before it,
    never the one with the other."""
    vs = [visit(f"n{i}", local(2024, 8, 20, 12) + timedelta(days=i)) for i in range(60)]  # to 18 Oct
    store.save_visits(vs)
    by_key = {
        (h.holiday.name, h.holiday.kind): h for h in q.holidays(store, "s1", 2024, today=date(2024, 10, 3))
    }
    day = by_key[("国庆节", "festival")]
    brk = by_key[("国庆节", "break")]
    assert (day.holiday.first, day.holiday.last, brk.holiday.first, brk.holiday.last) == (
        date(2024, 10, 1), date(2024, 10, 1), date(2024, 10, 1), date(2024, 10, 7)
    )  # fmt: skip
    assert day.previous is not None and day.previous.kind == "festival"
    assert (day.previous.name, day.previous.first) == ("中秋节", date(2024, 9, 17))
    assert brk.previous is not None and (brk.previous.kind, brk.previous.name) == ("break", "中秋节")
    assert (brk.previous.first, brk.previous.last) == (date(2024, 9, 15), date(2024, 9, 17))
    assert (day.status, day.total, day.vs_previous) == ("past", 1, 0.0)
    assert (brk.status, brk.total, brk.days_counted, brk.daily_mean) == ("in_progress", 3, 3, 1.0)
    assert all(h.previous is None or h.previous.kind == h.holiday.kind for h in by_key.values())
    for key in (("双十一", "festival"), ("圣诞节", "festival")):
        h = by_key[key]
        assert (h.status, h.total, h.daily_mean, h.vs_previous, h.vs_last_year, h.burst) == (
            "upcoming", None, None, None, None, None
        )  # fmt: skip


# ---------------------------------------------------------------------------- zones, audit


def test_zone_metrics(store: Store) -> None:
    store.set_areas(
        "s1",
        [
            Area("f1", "floor", "L1", floor=1),
            Area("f2", "floor", "L2", floor=2),
            Area("s1", "shop", "粤菜馆", floor=2, category=("餐饮", "地方菜", "粤菜"), area_m2=100.0),
        ],
    )
    assert store.areas("s1")[2].category == ("餐饮", "地方菜", "粤菜")
    t0 = local(2025, 3, 8, 10)
    store.save_visits([visit("p", t0), visit("r", t0 + timedelta(minutes=1), since_days=5)])
    store.save_visit_zones(
        "s1",
        [
            ZoneStay("p", "f1", t0, t0 + timedelta(minutes=5)),
            ZoneStay("p", "f2", t0 + timedelta(minutes=6), t0 + timedelta(minutes=16)),
            ZoneStay("p", "s1", t0 + timedelta(minutes=7), t0 + timedelta(minutes=15)),
            ZoneStay("r", "f1", t0 + timedelta(minutes=1), None),
        ],
    )
    fl = q.floors(store, "s1", date(2025, 3, 8), date(2025, 3, 8))
    assert (fl.floors, fl.climb, fl.mean_floors_climbed) == (((1, 2), (2, 1)), ((1, 2, 0.5),), 0.5)
    (shop,) = q.shops(store, "s1", date(2025, 3, 8))
    assert (shop.visits, shop.per_m2, shop.first_shop, shop.mom_change) == (1, 0.01, 1, None)
    assert q.categories(store, "s1", date(2025, 3, 8), date(2025, 3, 8)) == (("餐饮", 1, 1.0),)
    conv = q.zone_conversion(store, "s1", date(2025, 3, 8), date(2025, 3, 8), "f1", "s1")
    assert (conv.from_visits, conv.converted, conv.rate) == (2, 1, 0.5)
    a, b = q.zone_comparison(store, "s1", date(2025, 3, 8), date(2025, 3, 8), "f1", "f2")
    assert (a.visits, a.returning, a.mean_dwell_s, b.visits, b.mean_dwell_s) == (2, 1, 300.0, 1, 600.0)
    assert {z.key: z.visits for z in q.dwell(store, "s1", date(2025, 3, 8), date(2025, 3, 8), "floor")} == {
        "1": 2,
        "2": 1,
    }
    assert q.occupancy(store, "s1", t0 + timedelta(minutes=10)) == (("f1", 1), ("f2", 1), ("s1", 1))
    (flow,) = q.paths(store, "s1", date(2025, 3, 8), date(2025, 3, 8))  # floors are not steps of a path
    assert (flow.zone_id, flow.visits, flow.came_from, flow.went_to) == (
        "s1",
        1,
        (("(entrance)", 1),),
        (("(exit)", 1),),
    )
    with pytest.raises(InputError, match="unknown visits"):
        store.save_visit_zones("s1", [ZoneStay("nobody", "f1", t0)])


def test_accuracy_audit(store: Store) -> None:
    store.set_entrances("s1", [Entrance("cam1", "door", "1号门")])
    t0 = local(2025, 3, 8, 10)
    store.save_visits([visit(f"v{i}", t0 + timedelta(minutes=i)) for i in range(9)])
    store.save_manual_counts(
        "s1",
        [
            ManualCount(t0, t0 + timedelta(hours=1), 10, batches=12),
            ManualCount(t0, t0 + timedelta(hours=1), 8, camera_id="cam1", line_id="door"),
        ],
    )
    audit = q.accuracy_audit(store, "s1", t0, t0 + timedelta(days=1))
    by_key = {r.key.split(" ")[0]: r for r in audit.rows}
    assert (by_key["site"].system, by_key["site"].manual, by_key["site"].accuracy) == (
        9,
        10,
        approx(0.9),
    )
    assert by_key["site"].batch_match == approx(1 - 3 / 12)  # 9 batches of one vs 12 counted
    assert (by_key["1号门"].accuracy, by_key["1号门"].correction_factor) == (
        approx(0.875),
        approx(8 / 9),
    )


# ------------------------------------------------------------------- reference data, bad input


def test_reference_data_round_trip(store: Store) -> None:
    store.set_site_profile("s1", SiteProfile("华东", "mall", 3.0, 12000.0, 600.0, 6))
    assert store.site_profile("s1") == SiteProfile("华东", "mall", 3.0, 12000.0, 600.0, 6)
    assert store.site_profile("s2") == SiteProfile()
    store.set_targets("s1", [Target(2025, 4, "total", 5000)])
    store.set_targets("s1", [Target(2025, 4, "total", 6000), Target(2025, None, "deduplicated", 9e4)])
    assert store.targets("s1", 2025) == [
        Target(2025, None, "deduplicated", 9e4),
        Target(2025, 4, "total", 6000),
    ]
    store.save_weather("s1", [WeatherDay(date(2025, 4, 1), "cloudy", 20.0, 12.0, 0.0)])
    assert store.weather("s1", date(2025, 4, 1), date(2025, 4, 30))[0].condition == "cloudy"
    assert store.entrances("s1") == []
    with pytest.raises(InputError, match="month"):
        store.set_targets("s1", [Target(2025, 13, "total", 1)])


def test_bad_input_is_an_input_error(store: Store) -> None:
    with pytest.raises(InputError, match="unknown site 'nope'"):
        q.home_dashboard(store, "nope", NOW)
    with pytest.raises(InputError, match="unknown site"):
        q.traffic(store, "nope", date(2025, 3, 1), date(2025, 3, 2))
    with pytest.raises(InputError, match="inverted"):
        q.traffic(store, "s1", date(2025, 3, 2), date(2025, 3, 1))
    with pytest.raises(InputError, match="inverted"):
        q.floors(store, "s1", date(2025, 3, 2), date(2025, 3, 1))
    with pytest.raises(InputError, match="naive"):
        q.home_dashboard(store, "s1", datetime(2025, 3, 5, 11, 30))
    with pytest.raises(InputError, match="empty or inverted"):
        refresh_rollups(store, "s1", NOW, NOW)
    with pytest.raises(InputError, match="unknown site"):
        refresh_rollups(store, "nope", NOW, NOW + timedelta(hours=1))
    with pytest.raises(InputError, match="empty"):
        q.accuracy_audit(store, "s1", NOW, NOW - timedelta(hours=1))
    with pytest.raises(InputError, match="days"):
        q.indices(store, "s1", date(2025, 3, 1), days=0)
    with pytest.raises(InputError, match="unknown site"):
        store.set_entrances("nope", [])
    assert datetime(2025, 3, 5, tzinfo=UTC) < NOW  # NOW is local Shanghai time
