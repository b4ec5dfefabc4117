"""Seeding the demo up to an instant (``seed_demo(..., until=...)``, what ``keliu serve --demo`` does
with the moment of seeding): nothing later than it in any table, visits still inside have no exit,
batches and rollups agree with the rows written, and the days before are those of a whole-day seed.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from keliu.demo.load import load_site, seed_demo
from keliu.demo.sites import site_profile
from keliu.errors import InputError
from keliu.store import Store, open_store
from keliu.store import schema as t

KEY = bytes(range(32))
TZ = ZoneInfo("Asia/Shanghai")  # the demo chain's time zone
END = date(2025, 3, 8)  # a Saturday: a busy day, staff out on breaks, re-entries
UNTIL = datetime(END.year, END.month, END.day, 14, 30, tzinfo=TZ)
LAST_DAY = datetime(END.year, END.month, END.day, tzinfo=TZ)  # local midnight of the last day


def _rows(conn: sa.Connection, table: sa.Table, *where: Any) -> list[tuple[Any, ...]]:
    query = sa.select(table).where(*where).order_by(*table.primary_key.columns)
    return [tuple(r) for r in conn.execute(query)]


def _before_last_day(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the days before the last one, table by table."""
    v = t.visits.c
    earlier = sa.select(v.visit_id).where(v.first_entry < LAST_DAY)
    with store.engine.connect() as conn:
        return {
            "visits": _rows(conn, t.visits, v.first_entry < LAST_DAY),
            "entries": _rows(conn, t.entries, t.entries.c.visit_id.in_(earlier)),
            "exits": _rows(conn, t.exits, t.exits.c.visit_id.in_(earlier)),
            "visit_zones": _rows(conn, t.visit_zones, t.visit_zones.c.visit_id.in_(earlier)),
            "batches": _rows(conn, t.batches, t.batches.c.started_at < LAST_DAY),
            "passby_counts": _rows(conn, t.passby_counts, t.passby_counts.c.hour < LAST_DAY),
            "traffic_hourly": _rows(conn, t.traffic_hourly, t.traffic_hourly.c.hour < LAST_DAY),
            "traffic_daily": _rows(conn, t.traffic_daily, t.traffic_daily.c.day < END),
            "manual_counts": _rows(conn, t.manual_counts, t.manual_counts.c.period_end <= LAST_DAY),
            "targets": _rows(conn, t.targets),
        }


def test_a_seed_until_an_instant_writes_nothing_later(db_url: str, tmp_path: Any) -> None:
    with open_store(f"sqlite:///{tmp_path / 'whole.db'}", key=KEY) as whole:
        seed_demo(whole, 3, 3, END, seed=7)
        reference = _before_last_day(whole)
        with whole.engine.connect() as conn:
            later_visits = conn.execute(
                sa.select(sa.func.count()).where(t.visits.c.first_entry > UNTIL)
            ).scalar_one()
    assert later_visits > 100  # the whole-day seed has an afternoon and evening to cut

    with open_store(db_url, key=KEY) as store:
        report = seed_demo(store, 3, 3, END, seed=7, until=UNTIL)
        v, e, x, z, b = t.visits.c, t.entries.c, t.exits.c, t.visit_zones.c, t.batches.c
        p, h, m = t.passby_counts.c, t.traffic_hourly.c, t.manual_counts.c
        with store.engine.connect() as conn:

            def count(*where: Any) -> int:
                return int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())

            # nothing later than UNTIL, in any table with a time
            for column in (
                *(v.first_entry, v.last_exit, e.at, x.at, b.started_at, z.entered_at, z.left_at),
                *(p.hour, h.hour, m.period_end),
            ):
                assert count(column > UNTIL) == 0, f"{column} after {UNTIL}"
            assert count(t.traffic_daily.c.day > END) == 0
            assert count(v.first_entry >= LAST_DAY) > 500  # the morning of the last day is there
            assert count(v.site_id.is_not(None)) == report.visits
            # the hour under way has its elapsed part of pass-by; later hours have none
            assert count(p.hour == UNTIL.replace(minute=0)) > 0

            # visits still inside: no last exit, no exit row, their zone stays open
            inside = sa.select(v.visit_id).where(v.first_entry >= LAST_DAY, v.last_exit.is_(None))
            assert count(v.first_entry >= UNTIL - timedelta(minutes=30), v.last_exit.is_(None)) > 50
            assert count(x.visit_id.in_(inside)) == 0
            open_stays = count(z.left_at.is_(None))
            assert open_stays > 0
            assert open_stays == count(z.left_at.is_(None), z.visit_id.in_(inside))
            # and every visit's exit row is its last exit
            assert count(v.last_exit.is_not(None), v.first_entry >= LAST_DAY) == count(
                x.visit_id.in_(sa.select(v.visit_id).where(v.first_entry >= LAST_DAY))
            )

            # batches: sizes are their customer members written, every member's batch is there
            members = (
                sa.select(v.site_id, v.batch_id, sa.func.count().label("n"))
                .where(v.category == "customer", v.batch_id.is_not(None))
                .group_by(v.site_id, v.batch_id)
            )
            counted = {(r.site_id, r.batch_id): r.n for r in conn.execute(members)}
            sizes = {
                (r.site_id, r.batch_id): r.size
                for r in conn.execute(sa.select(b.site_id, b.batch_id, b.size))
            }
            assert sizes == counted and sizes

            # the last day's rollups are the rows written
            entries = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.entries.join(t.visits, (e.site_id == v.site_id) & (e.visit_id == v.visit_id)))
                .where(v.category == "customer", v.first_entry >= LAST_DAY)
            ).scalar_one()
            d = t.traffic_daily.c
            day = conn.execute(
                sa.select(
                    sa.func.sum(d.entries + d.entries_outside_hours),
                    sa.func.sum(d.visits),
                    sa.func.sum(d.batches),
                ).where(d.day == END)
            ).one()
            customers = count(v.category == "customer", v.first_entry >= LAST_DAY)
            assert tuple(day) == (entries, customers, count(b.started_at >= LAST_DAY))
            hourly = conn.execute(sa.select(sa.func.sum(h.visits)).where(h.hour >= LAST_DAY)).scalar_one()
            assert hourly == customers

        # the days before are those of the whole-day seed
        assert _before_last_day(store) == reference

        with pytest.raises(InputError, match="timezone-aware"):
            seed_demo(store, 1, 1, END, until=datetime(2025, 3, 8, 14, 30))


def test_the_normal_path_cuts_the_same_as_the_bulk_loader(db_url: str) -> None:
    snapshots = []
    with open_store(db_url, key=KEY) as store:
        for bulk in (False, True):  # the second replaces the first's days
            for number in (1, 3):  # a mall (floors, shops) and a showroom
                load_site(store, site_profile(number), END, END, seed=9, bulk=bulk, until=UNTIL)
            with store.engine.connect() as conn:
                snapshots.append(
                    {
                        table.name: _rows(conn, table)
                        for table in (
                            *(t.visits, t.entries, t.exits, t.batches, t.visit_zones),
                            *(t.passby_counts, t.traffic_hourly, t.traffic_daily),
                        )
                    }
                )
    normal, bulk_rows = snapshots
    assert normal["visits"] and normal["exits"] and normal["visit_zones"]
    for name, rows in normal.items():
        assert bulk_rows[name] == rows, f"table {name} differs"
