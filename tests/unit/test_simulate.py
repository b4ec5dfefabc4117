"""The demo-data simulator (keliu.demo.simulate): deterministic, and shaped like real traffic."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from keliu.analytics.calendar import day_info
from keliu.demo.simulate import COURIER_REASONS, OUTSIDE_HOURS, day_factor, simulate_day, simulate_site
from keliu.demo.sites import chain_profiles, site_profile, weather_day
from keliu.domain.visits import PersonCategory, Visit
from keliu.store.reference import WeatherDay

MALL, RETAIL, SHOWROOM = (site_profile(k) for k in (1, 2, 3))
DAY = date(2025, 3, 8)  # a Saturday (and Women's Day)


def _customers_per_day(site_number: int, days: list[date]) -> dict[date, int]:
    site = site_profile(site_number)
    return {d: int(np.count_nonzero(simulate_day(site, d).category == 0)) for d in days}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_the_chain_mixes_store_types_and_sizes() -> None:
    chain = chain_profiles(24)
    assert [s.site_id for s in chain[:3]] == ["demo-001", "demo-002", "demo-003"]
    assert chain[:3] == chain_profiles(3)  # a site does not depend on the chain's size
    assert {s.store_type for s in chain} == {"mall", "retail", "showroom"}
    assert min(s.daily_visits for s in chain) < 100
    assert max(s.daily_visits for s in chain) > 1000
    assert any(s.trend_per_year for s in chain)
    mall = chain[0]
    assert len({a.floor for a in mall.areas}) >= 4 and all(a.category for a in mall.areas)
    assert len({e.group for e in mall.entrances}) >= 4


def test_the_same_seed_gives_the_same_visits_and_another_seed_does_not() -> None:
    a, b = simulate_day(MALL, DAY, seed=7), simulate_day(MALL, DAY, seed=7)
    assert a.to_visits() == b.to_visits()
    assert a.zone_stays() == b.zone_stays() and a.passby() == b.passby()
    assert simulate_day(MALL, DAY, seed=8).to_visits() != a.to_visits()


def test_a_day_is_the_same_whether_generated_alone_or_in_a_range() -> None:
    ranged = simulate_site(RETAIL, DAY - timedelta(days=2), DAY + timedelta(days=1), seed=3).to_visits()
    alone = simulate_day(RETAIL, DAY, seed=3).to_visits()
    assert [v for v in ranged if v.visit_id in {x.visit_id for x in alone}] == alone


@pytest.mark.parametrize("site_number", [1, 2, 3])
def test_weekends_are_busier_than_weekdays(site_number: int) -> None:
    days = [
        d for d in _days(date(2025, 6, 9), date(2025, 8, 31)) if day_info(d).kind in ("workday", "weekend")
    ]
    counts = _customers_per_day(site_number, days)
    weekend = np.mean([n for d, n in counts.items() if d.weekday() >= 5])
    weekday = np.mean([n for d, n in counts.items() if d.weekday() < 5])
    assert 1.25 <= weekend / weekday <= 2.6


def test_holidays_change_traffic() -> None:
    ordinary_weekends = [d for d in _days(date(2025, 9, 6), date(2025, 9, 28)) if d.weekday() >= 5]
    national_day = _days(date(2025, 10, 1), date(2025, 10, 7))
    spring_festival = _days(date(2025, 1, 29), date(2025, 2, 4))
    assert all(day_info(d).kind == "holiday" for d in national_day + spring_festival)
    mall_weekend = np.mean(list(_customers_per_day(1, ordinary_weekends).values()))
    assert np.mean(list(_customers_per_day(1, national_day).values())) > 1.2 * mall_weekend  # 黄金周
    showroom = np.mean(list(_customers_per_day(3, ordinary_weekends).values()))
    assert np.mean(list(_customers_per_day(3, spring_festival).values())) < 0.6 * showroom  # 春节


def test_rain_lowers_the_expected_traffic() -> None:
    info = day_info(DAY)
    dry = WeatherDay(DAY, "sunny", 20.0, 10.0, 0.0)
    for site in (MALL, RETAIL, SHOWROOM):
        light = day_factor(site, DAY, info, WeatherDay(DAY, "light_rain", 20.0, 10.0, 3.0))
        heavy = day_factor(site, DAY, info, WeatherDay(DAY, "heavy_rain", 20.0, 10.0, 30.0))
        assert heavy < light < day_factor(site, DAY, info, dry)
    conditions = {weather_day(MALL.city, d).condition for d in _days(date(2025, 1, 1), date(2025, 12, 31))}
    assert {"sunny", "cloudy", "light_rain", "heavy_rain"} <= conditions


def test_a_trend_site_grows_or_shrinks_over_the_year() -> None:
    site = next(s for s in chain_profiles(24) if s.trend_per_year)
    info, w = day_info(date(2025, 6, 11)), WeatherDay(date(2025, 6, 11), "sunny", 25.0, 18.0, 0.0)
    later = date(2026, 6, 10)  # a Wednesday too
    ratio = day_factor(site, later, day_info(later), w) / day_factor(site, date(2025, 6, 11), info, w)
    assert ratio == pytest.approx(1.0 + site.trend_per_year, rel=0.01)


def _week(site_number: int) -> list[Visit]:
    return simulate_site(site_profile(site_number), DAY, DAY + timedelta(days=6)).to_visits()


def test_staff_come_and_go_and_are_never_customers() -> None:
    staff = [v for v in _week(1) if v.category is PersonCategory.STAFF]
    assert staff
    for v in staff:
        assert v.exclusion is not None and v.exclusion.category is PersonCategory.STAFF
        assert v.exclusion.reason.startswith("staff:") and 0.7 <= v.exclusion.confidence <= 1.0
        assert v.batch_id is None and not v.returning and v.since_previous_s is None
    assert any(len(v.entries) >= 2 for v in staff)  # out for lunch and back: one visit, two entries


def test_couriers_are_invalid_traffic_with_short_stays() -> None:
    couriers = [v for v in _week(1) if v.exclusion is not None and v.exclusion.reason in COURIER_REASONS]
    assert len(couriers) > 50
    for v in couriers:
        assert v.category is PersonCategory.INVALID and v.exclusion is not None
        assert v.exclusion.category is PersonCategory.INVALID
        assert v.last_exit is not None and (v.last_exit - v.first_entry).total_seconds() <= 300
        assert v.upper_colour == ("yellow" if v.exclusion.reason == "courier:meituan" else "blue")


def test_every_arrival_is_a_batch_of_one_to_five() -> None:
    visits = _week(3)
    customers = [v for v in visits if v.category is PersonCategory.CUSTOMER]
    by_batch: dict[str, list[Visit]] = {}
    for v in customers:
        assert v.batch_id is not None
        by_batch.setdefault(v.batch_id, []).append(v)
    sizes = [len(members) for members in by_batch.values()]
    assert min(sizes) == 1 and max(sizes) <= 5 and any(s >= 3 for s in sizes)
    for batch_id, members in by_batch.items():
        first = min(members, key=lambda v: (v.first_entry, v.visit_id))
        assert batch_id == f"b/{first.visit_id}"
        times = sorted(v.first_entry for v in members)
        assert all((b - a).total_seconds() <= 5.0 for a, b in pairwise(times))
        assert len({v.entries[0].camera_id for v in members}) == 1  # through the same door


def test_returning_visitors_have_positive_intervals_within_the_memory() -> None:
    visits = _week(2)
    returning = [v for v in visits if v.returning]
    assert 0.15 < len(returning) / len(visits) < 0.45
    for v in visits:
        if v.returning:
            assert v.since_previous_s is not None and 4 * 3600 < v.since_previous_s <= 180 * 86400
        else:
            assert v.since_previous_s is None
    days = np.array([v.since_previous_s for v in returning]) / 86400
    assert (days <= 3).any() and ((days > 7) & (days <= 15)).any() and (days > 15).any()


@pytest.mark.parametrize("site_number", [1, 2, 3])
def test_visits_stay_within_their_local_day_and_entries_are_sorted(site_number: int) -> None:
    site = site_profile(site_number)
    tz = ZoneInfo(site.timezone)
    first_day = DAY
    sim = simulate_site(site, first_day, first_day + timedelta(days=2))
    visits = sim.to_visits()
    assert [(v.first_entry, v.visit_id) for v in visits] == sorted(
        (v.first_entry, v.visit_id) for v in visits
    )
    assert len({v.visit_id for v in visits}) == len(visits)
    for v in visits:
        day = v.first_entry.astimezone(tz).date()
        assert first_day <= day <= first_day + timedelta(days=2)
        lo = datetime(day.year, day.month, day.day, tzinfo=tz)
        hi = lo + timedelta(days=1)
        times = [e.at for e in v.entries]
        assert times == sorted(times) and times[0] == v.first_entry and len(set(times)) == len(times)
        assert all(lo <= at < hi for at in times)
        assert v.last_exit is None or v.first_entry < v.last_exit < hi
    stays = sim.zone_stays()
    assert stays and {s.zone_id for s in stays} <= {a.zone_id for a in site.areas}
    by_id = {v.visit_id: v for v in visits}
    for s in stays:
        assert by_id[s.visit_id].category is PersonCategory.CUSTOMER
        assert s.left_at is not None and by_id[s.visit_id].first_entry <= s.entered_at <= s.left_at


def test_only_arrivals_outside_business_hours_are_invalid_for_it() -> None:
    site = RETAIL
    tz = ZoneInfo(site.timezone)
    visits = simulate_site(site, DAY, DAY + timedelta(days=27)).to_visits()

    def inside(at: datetime) -> bool:
        local = at.astimezone(tz)
        opens, closes = site.hours[local.weekday()]
        return opens <= local.hour * 60 + local.minute < closes

    outside = [v for v in visits if v.exclusion is not None and v.exclusion.reason == OUTSIDE_HOURS]
    assert outside
    assert all(not any(inside(e.at) for e in v.entries) for v in outside)
    assert all(inside(v.first_entry) for v in visits if v.category is PersonCategory.CUSTOMER)


def test_the_mall_has_floors_shops_and_pass_by_counts() -> None:
    sim = simulate_day(MALL, DAY)
    stays = sim.zone_stays()
    floors = {a.zone_id: a.floor for a in MALL.areas}
    per_visit: dict[str, set[int]] = {}
    for s in stays:
        per_visit.setdefault(s.visit_id, set()).add(floors[s.zone_id])
    assert np.mean([len(f) for f in per_visit.values()]) > 1.2  # people climb floors
    assert len(stays) / len(per_visit) > 2.0  # and visit several shops
    passby = sim.passby()
    assert sum(n for *_, n in passby) > np.count_nonzero(sim.category == 0)  # more pass than enter
