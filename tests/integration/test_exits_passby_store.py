"""Exits (离店) and pass-by crossings (过店) in the store, on SQLite and the real PostgreSQL: stored
once per crossing, linked to their visit or not, rolled up (``exits``, ``door_in``, ``door_out``,
``passby``) and reported (summary, entrance heat, funnel). docs/metrics.md, "Exits and pass-by".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from keliu.analytics import queries
from keliu.domain.crossings import Exit, PassbyCrossing
from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.errors import InputError
from keliu.store import Entrance, Store, open_store
from keliu.store import schema as t
from keliu.store.crossings import PassbyWatch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.usefixtures("keliu_home")]

SITE = "s1"
DAY = date(2024, 5, 1)
T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as s:
        s.upsert_site(SITE, "Showroom", "Asia/Shanghai")
        s.set_entrances(SITE, [Entrance("cam1", "door", "正门 Main door", None, True)])
        yield s


def visit(visit_id: str, first: datetime, category: PersonCategory = PersonCategory.CUSTOMER) -> Visit:
    return Visit(visit_id, SITE, category, first, [Entry(first, "cam1", "door")])


def out(at: datetime, track: int, visit_id: str | None, line: str = "door") -> Exit:
    return Exit(SITE, "cam1", line, at, track, visit_id)


def hourly(store: Store, column: str) -> dict[datetime, int]:
    th = t.traffic_hourly.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(th.hour, sa.func.sum(th[column])).where(th.site_id == SITE).group_by(th.hour)
        ).all()
    return {h.astimezone(UTC): int(n) for h, n in rows if n}


def test_exits_are_stored_linked_or_not_and_rolled_up_by_who_made_them(store: Store) -> None:
    customer, staff = visit("v1", T0), visit("v2", T0 + timedelta(minutes=5), PersonCategory.STAFF)
    exits = [
        out(T0 + timedelta(minutes=20), 1, "v1"),
        out(T0 + timedelta(minutes=30), 2, "v2"),
        out(T0 + timedelta(minutes=40), 3, None),  # somebody inside before the camera started
        out(T0 + timedelta(hours=1, minutes=10), 4, "v1"),  # left again after a re-entry
    ]
    store.ingest(SITE, [customer, staff], exits=exits)

    stored = store.exits(SITE, T0, T0 + timedelta(hours=2))
    assert [(x.track_id, x.visit_id) for x in stored] == [(1, "v1"), (2, "v2"), (3, None), (4, "v1")]
    h10, h11 = T0, T0 + timedelta(hours=1)
    assert hourly(store, "exits") == {h10: 1, h11: 1}  # customers only
    assert hourly(store, "door_out") == {h10: 3, h11: 1}  # everybody, unlinked included
    assert hourly(store, "door_in") == {h10: 2}  # staff's entry too
    assert hourly(store, "entries") == {h10: 1}

    # the same crossing delivered again without its visit keeps the link; nothing is counted twice
    store.save_crossings(SITE, exits=[out(T0 + timedelta(minutes=20), 1, None)])
    assert [x.visit_id for x in store.exits(SITE, T0, T0 + timedelta(minutes=21))] == ["v1"]
    assert hourly(store, "exits") == {h10: 1, h11: 1}

    # the customer turns out to be staff: the exits leave the customer figure, not the door's
    store.save_visits([visit("v1", T0, PersonCategory.STAFF)])
    assert hourly(store, "exits") == {}
    assert hourly(store, "door_out") == {h10: 3, h11: 1}

    # a deleted visit leaves its exits unlinked, still counted at their door
    store.save_visits([customer])
    assert store.delete_visits(SITE, ["v1"]) == 1
    assert [x.visit_id for x in store.exits(SITE, T0, T0 + timedelta(hours=2))] == [None, "v2", None, None]
    assert hourly(store, "exits") == {} and hourly(store, "door_out") == {h10: 3, h11: 1}


def test_report_summary_and_entrance_heat_show_exits_beside_entries(store: Store) -> None:
    store.ingest(
        SITE,
        [visit("v1", T0), visit("v2", T0 + timedelta(minutes=1)), visit("v3", T0, PersonCategory.STAFF)],
        exits=[out(T0 + timedelta(minutes=9), 1, "v1"), out(T0 + timedelta(minutes=9), 3, "v3")],
    )
    (row,) = store.traffic_summary(SITE, T0 - timedelta(hours=10), T0 + timedelta(hours=14))
    assert (row.total, row.exits) == (2, 1)
    hours = store.traffic_summary(SITE, T0, T0 + timedelta(hours=2), by="hour")
    assert [(r.total, r.exits) for r in hours] == [(2, 1), (0, 0)]

    heat = queries.entrance_heat(store, SITE, DAY, DAY)
    (door,) = heat.entrances
    assert (door.name, door.entries, door.exits, door.door_in, door.door_out) == (
        "正门 Main door",
        2,
        1,
        3,
        2,
    )
    (group,) = heat.groups
    assert (group.entries, group.exits, group.door_in, group.door_out) == (2, 1, 3, 2)
    assert queries.traffic(store, SITE, DAY, DAY).exits == 1


def test_exits_of_an_unknown_visit_are_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(InputError, match="unknown visits"):
        store.save_crossings(SITE, exits=[out(T0, 1, "nobody")])
    assert store.exits(SITE, T0 - timedelta(days=1), T0 + timedelta(days=1)) == []


def passer(at: datetime, track: int, direction: str = "in", line: str = "walk") -> PassbyCrossing:
    return PassbyCrossing(SITE, "cam1", line, at, track, direction)  # type: ignore[arg-type]


def test_passby_crossings_are_recounted_per_local_hour_and_feed_the_funnel(db_url: str) -> None:
    with open_store(db_url) as store:
        store.upsert_site(SITE, "Kolkata", "Asia/Kolkata")  # +05:30: local hours start at :30 UTC
        h0 = datetime(2024, 5, 1, 4, 30, tzinfo=UTC)  # 10:00 local
        first = [
            passer(h0 + timedelta(minutes=m), i, "in" if i % 2 else "out") for i, m in enumerate((1, 2, 59))
        ]
        store.save_crossings(SITE, passby=first)
        assert [
            (c.hour, c.line_id, c.count) for c in store.passby_counts(SITE, h0, h0 + timedelta(hours=3))
        ] == [(h0, "walk", 3)]
        # a second delivery (another file of the same hour, a re-sent sighting) adds only what is new
        store.save_crossings(SITE, passby=[*first, passer(h0 + timedelta(minutes=30), 7)])
        assert [c.count for c in store.passby_counts(SITE, h0, h0 + timedelta(hours=3))] == [4]
        # a watched span with nobody passing is measured as zero, hour by hour
        store.save_crossings(
            SITE,
            passby_watched=[
                PassbyWatch("cam1", "walk", h0 + timedelta(minutes=10), h0 + timedelta(hours=2, minutes=10))
            ],
        )
        counts = store.passby_counts(SITE, h0, h0 + timedelta(hours=3))
        assert [(c.hour - h0, c.count) for c in counts] == [
            (timedelta(0), 4),
            (timedelta(hours=1), 0),
            (timedelta(hours=2), 0),  # [.., 12:10) overlaps the local hour 12:00
        ]
        assert hourly(store, "passby") == {h0: 4}

        store.ingest(SITE, [Visit("v1", SITE, PersonCategory.CUSTOMER, h0, [Entry(h0, "cam1", "door")])])
        funnel = queries.funnel(store, SITE, DAY, DAY)
        assert [(s.name, s.count) for s in funnel.stages][:2] == [("passby", 4), ("entered", 1)]
        assert funnel.capture_rate == pytest.approx(0.25)


def test_a_wrong_pass_by_direction_is_refused(store: Store) -> None:
    with pytest.raises(InputError, match="direction"):
        store.save_crossings(SITE, passby=[passer(T0, 1, "sideways")])
    assert store.passby_counts(SITE, T0 - timedelta(days=1), T0 + timedelta(days=1)) == []


def test_exported_reports_show_exits_beside_entries(store: Store, tmp_path: Path) -> None:
    from keliu.analytics.report import build_report, export_report

    store.ingest(
        SITE,
        [visit("v1", T0), visit("v2", T0 + timedelta(minutes=1)), visit("v3", T0, PersonCategory.STAFF)],
        exits=[out(T0 + timedelta(minutes=9), 1, "v1"), out(T0 + timedelta(minutes=9), 3, "v3")],
    )
    report = build_report(store, SITE, "week", DAY, generated_at=T0 + timedelta(days=30))
    daily = next(t for t in report.tables if t.key == "daily")
    keys = [c.key for c in daily.columns]
    assert keys[keys.index("entries") + 1] == "exits"  # 离店人次 beside 进店人次
    (row,) = [r for r in daily.rows if r[0] == DAY]
    assert (row[keys.index("entries")], row[keys.index("exits")]) == (2, 1)
    entrances = next(t for t in report.tables if t.key == "entrances")
    columns = [c.key for c in entrances.columns]
    assert [(r[0], r[columns.index("exits")]) for r in entrances.rows] == [("正门 Main door", 1)]

    files = export_report(report, tmp_path, formats=["csv"], lang="zh")
    daily_csv = next(p for p in files if p.name.endswith("daily.csv")).read_text(encoding="utf-8-sig")
    header = daily_csv.splitlines()[0].split(",")
    assert header[header.index("进店人次") + 1] == "离店人次"
