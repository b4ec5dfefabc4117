"""The zone metrics counted in the database (运营指标 ``indices``, 品牌排行 ``shops``, 业态热度
``categories``, 楼层转化 ``floors``, 动线/关联 ``paths``; 区域对比/转化 ``zone_comparison``/
``zone_conversion`` read the two zones' stays only) give exactly the answers of the reference
computation they replaced: every zone stay loaded (``Store.zone_stays``) and handed to the pure
functions of ``keliu.analytics.metrics``. On a seeded demo mall (SQLite and PostgreSQL,
conftest.py), also after some shops stop being shops (the database must leave other zones out
exactly as the reference does).
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from keliu.analytics import metrics as m
from keliu.analytics import queries as q
from keliu.demo.load import seed_demo
from keliu.store import Store, open_store
from keliu.store import schema as t

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600), pytest.mark.usefixtures("keliu_home")]

END = date(2026, 12, 2)
SITE = "demo-001"
ORDERS: tuple[Any, ...] = ("visits", "returning", "per_m2", "first_shop", "mom_change")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as s:
        seed_demo(s, 1, 8, END, seed=2026)  # the demo mall, 25 Nov .. 2 Dec: two months
        yield s


def _facts(store: Store, last: date, days: int) -> tuple[list[m.VisitFacts], Any]:
    start, end = q._day_bounds(store, SITE, last - timedelta(days=days - 1), last)
    shop_ids = {a.zone_id for a in store.areas(SITE) if a.kind == "shop"}
    shops_of: dict[str, set[str]] = defaultdict(set)
    for s in store.zone_stays(SITE, start, end):
        if s.zone_id in shop_ids:
            shops_of[s.visit_id].add(s.zone_id)
    v = t.visits.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(v.visit_id, v.first_entry, v.last_exit, v.is_returning, v.since_previous_s).where(
                v.site_id == SITE, v.first_entry >= start, v.first_entry < end, v.category == "customer"
            )
        ).all()
    facts = [
        m.VisitFacts(
            r.first_entry,
            bool(r.is_returning),
            r.since_previous_s,
            len(shops_of.get(r.visit_id, ())),
            r.last_exit,
            r.visit_id,
        )
        for r in rows
    ]
    return facts, start


def reference_indices(store: Store, last: date, days: int = 30) -> m.Indices:
    facts, start = _facts(store, last, days)
    return m.indices(facts, start)


def reference_shops(store: Store, month: date, by: Any) -> tuple[m.ShopRank, ...]:
    m0 = month.replace(day=1)
    p0 = (m0 - timedelta(days=1)).replace(day=1)
    n0 = (m0 + timedelta(days=32)).replace(day=1)
    start, end = q._day_bounds(store, SITE, m0, n0 - timedelta(days=1))
    p_start, p_end = q._day_bounds(store, SITE, p0, m0 - timedelta(days=1))
    areas = {a.zone_id: a for a in store.areas(SITE)}
    return m.shop_ranking(q._paths(store, SITE, start, end), areas, q._paths(store, SITE, p_start, p_end), by)


def reference_categories(store: Store, first: date, last: date, level: int) -> Any:
    start, end = q._day_bounds(store, SITE, first, last)
    areas = {a.zone_id: a for a in store.areas(SITE)}
    return m.category_heat(q._paths(store, SITE, start, end), areas, level)


def _check_all(store: Store) -> None:
    for last, days in ((END, 30), (END, 3), (date(2026, 11, 30), 5)):
        fast = q.indices(store, SITE, last, days)
        assert fast == reference_indices(store, last, days)
        assert fast.visits > 0 and fast.repeat_visits > 0 and fast.browsing_index is not None
    for month in (END, date(2026, 11, 1)):
        for by in ORDERS:
            fast_ranks = q.shops(store, SITE, month, by)
            assert fast_ranks == reference_shops(store, month, by)
            assert sum(r.visits for r in fast_ranks) > 0 and sum(r.first_shop for r in fast_ranks) > 0
    areas = {a.zone_id: a for a in store.areas(SITE)}
    order = sorted({a.floor for a in areas.values() if a.floor is not None})
    for first, last in ((date(2026, 11, 26), END), (END, END)):
        start, end = q._day_bounds(store, SITE, first, last)
        climb = q.floors(store, SITE, first, last)
        assert climb == m.floor_climb(q._paths(store, SITE, start, end), areas, order)
        assert climb.visitors > 0 and len(climb.floors) > 1 and climb.mean_floors_climbed is not None
    start, end = q._day_bounds(store, SITE, date(2026, 11, 26), END)
    every_stay = q._paths(store, SITE, start, end)
    busiest = [r.zone_id for r in q.shops(store, SITE, END)[:2]]
    for zone, other in ((busiest[0], busiest[1]), (busiest[1], busiest[0]), (busiest[0], busiest[0])):
        compared = q.zone_comparison(store, SITE, date(2026, 11, 26), END, zone, other)
        assert compared == m.zone_comparison(every_stay, areas, zone, other)
        assert compared[0].visits > 0 and compared[0].mean_dwell_s is not None
        converted = q.zone_conversion(store, SITE, date(2026, 11, 26), END, zone, other)
        assert converted == m.zone_conversion(every_stay, zone, other)
        assert converted.from_visits > 0
    for first, last in ((date(2026, 11, 26), END), (END, END)):
        start, end = q._day_bounds(store, SITE, first, last)
        flows = q.paths(store, SITE, first, last)
        assert flows == m.zone_flows(q._paths(store, SITE, start, end), areas)
        assert flows[0].visits > 0 and flows[0].association and len(flows[0].came_from) > 1
    for level in (1, 2, 3):
        cats = q.categories(store, SITE, date(2026, 11, 25), END, level)
        assert cats == reference_categories(store, date(2026, 11, 25), END, level)
        assert cats and cats[0][1] > 0


def test_zone_metrics_equal_the_reference_on_the_demo_mall(store: Store) -> None:
    _check_all(store)


def test_zone_metrics_leave_zones_that_are_not_shops_out_like_the_reference(store: Store) -> None:
    areas = store.areas(SITE)
    browsing = q.indices(store, SITE, END, 8).browsing_index
    demoted = {r.zone_id for r in q.shops(store, SITE, END)[:3]}  # the three busiest shops: plain areas
    store.set_areas(
        SITE,
        [dataclasses.replace(a, kind="area", category=()) if a.zone_id in demoted else a for a in areas],
    )
    ranks = q.shops(store, SITE, END)
    assert demoted.isdisjoint(r.zone_id for r in ranks) and len(ranks) == len(areas) - 3
    after = q.indices(store, SITE, END, 8).browsing_index
    assert browsing is not None and after is not None and after < browsing
    _check_all(store)


def test_indices_do_not_depend_on_the_order_of_the_visits(store: Store) -> None:
    facts, start = _facts(store, END, 8)
    expected = m.indices(facts, start)
    shuffled = list(facts)
    random.Random(7).shuffle(shuffled)
    assert m.indices(shuffled, start) == expected
    assert m.indices(list(reversed(facts)), start) == expected == q.indices(store, SITE, END, 8)
