"""Seeding demo data into a real store (SQLite and PostgreSQL): tables filled, re-seeding replaces,
and the bulk loader writes exactly what the store's own methods write."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from keliu.cli.demo import app as demo_app
from keliu.demo.load import load_site, seed_demo
from keliu.demo.simulate import simulate_site
from keliu.demo.sites import site_profile
from keliu.errors import InputError
from keliu.store import Store, open_store
from keliu.store import schema as t

KEY = bytes(range(32))
END = date(2025, 3, 9)  # a Sunday


@pytest.fixture
def store(db_url: str) -> Any:
    s = open_store(db_url, key=KEY)
    yield s
    s.close()


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as the database stores them, in a fixed order."""
    out = {}
    with store.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            columns = ", ".join(f'"{c.name}"' for c in table.c)
            key = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
            rows = conn.execute(sa.text(f"SELECT {columns} FROM {table.name} ORDER BY {key}"))
            out[table.name] = [tuple(r) for r in rows]
    return out


def test_a_small_seed_fills_every_table_and_re_seeding_replaces_it(store: Store) -> None:
    report = seed_demo(store, 3, 7, END, seed=5)
    assert [s.site_id for s in report.sites] == ["demo-001", "demo-002", "demo-003"]
    assert report.first_day == END - timedelta(days=6) and report.visits > 3000
    first = _snapshot(store)
    for table in t.metadata.sorted_tables:
        if table.name not in (
            *("sightings", "staff", "exclusion_classes", "remembered", "zones"),
            *("footage", "camera_outages", "passby_crossings"),  # from video only
            # the service's own records: people, decisions and deliveries, not simulated traffic
            *("organisation", "users", "user_sites", "sessions", "api_tokens", "audit_log"),
            *("receptions", "staff_suggestions", "webhooks", "webhook_outbox", "devices"),
            "visit_corrections",  # a manager's corrections
            "batch_assignments",  # a desk's merged and split batches
            *("message_rules", "messages"),  # a manager's rules and what they fired
        ):
            assert first[table.name], f"{table.name} is empty"
    assert len(first["visits"]) == report.visits and len(first["entries"]) == report.entries

    # the rollups agree with the visits: customer entries per day
    customer_entries = sum(
        1
        for s in report.sites
        for v in simulate_site(site_profile(int(s.site_id[-3:]), 5), report.first_day, END, 5).to_visits()
        if v.category.value == "customer"
        for _ in v.entries
    )
    with store.engine.connect() as conn:
        d = t.traffic_daily.c
        rolled = conn.execute(sa.select(sa.func.sum(d.entries + d.entries_outside_hours))).scalar()
    assert rolled == customer_entries

    seed_demo(store, 3, 7, END, seed=5)  # the same again: nothing doubles
    assert _snapshot(store) == first

    seed_demo(store, 1, 2, END, seed=6)  # other data for two days of one site replaces those days
    after = _snapshot(store)
    v = t.visits.c
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(v.site_id, sa.func.count().label("n")).group_by(v.site_id))
        per_site = {r.site_id: r.n for r in rows}
    assert per_site["demo-002"] == sum(1 for r in first["visits"] if r[0] == "demo-002")
    assert after["visits"] != first["visits"]


def test_the_bulk_loader_writes_what_the_store_methods_write(store: Store) -> None:
    first, last = END - timedelta(days=1), END
    for number in (1, 3):  # a mall (floors, shops) and a showroom
        load_site(store, site_profile(number), first, last, seed=9, bulk=False)
    normal = _snapshot(store)
    assert normal["visits"] and normal["visit_zones"] and normal["traffic_hourly"]
    for number in (1, 3):  # re-seeding the same days replaces them
        load_site(store, site_profile(number), first, last, seed=9, bulk=True)
    bulk = _snapshot(store)
    for table, rows in normal.items():
        assert bulk[table] == rows, f"table {table} differs"


def test_the_seed_command(db_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        demo_app, ["seed", "--sites", "2", "--days", "2", "--end-date", "2025-03-09", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    assert "seeded 2 site(s)" in result.output and "demo-002" in result.output
    for args, message in (
        (["--sites", "0"], "--sites"),
        (["--days", "-3"], "--days"),
        (["--end-date", "2025-02-30"], "YYYY-MM-DD"),
    ):
        result = runner.invoke(demo_app, ["seed", *args, "--db", db_url])
        assert isinstance(result.exception, InputError), result.output
        assert message in str(result.exception)
    with open_store(db_url, key=KEY) as store, pytest.raises(InputError, match="--days"):
        seed_demo(store, 1, 0, END)
