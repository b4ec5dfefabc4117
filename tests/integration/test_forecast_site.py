"""`keliu forecast --site`: a stored site's last 12 weeks of rollups → next week's forecast (A18), on
SQLite and the real PostgreSQL, with the simulated chain as history."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from keliu.analytics.queries import trend
from keliu.cli import app
from keliu.demo.load import seed_demo
from keliu.demo.sites import chain_profiles
from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.errors import ConfigError, InputError
from keliu.store import Store, open_store

pytestmark = pytest.mark.integration


def test_forecast_of_a_stored_site(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", base64.b64encode(bytes(range(32))).decode())
    (site,) = chain_profiles(1, seed=3)
    zone = ZoneInfo("Asia/Shanghai")
    yesterday = datetime.now(UTC).astimezone(zone).date() - timedelta(days=1)
    with open_store(db_url) as store:
        seed_demo(store, 1, 90, yesterday, seed=3)
        last4 = trend(
            store, site.site_id, yesterday - timedelta(days=27), yesterday, "deduplicated", by="day"
        )
    result = CliRunner().invoke(app, ["forecast", "--site", site.site_id, "--db", db_url, "--jsonl"])
    assert result.exit_code == 0, result.output
    points = [json.loads(line) for line in result.output.splitlines()]
    assert len(points) == 168
    first = datetime.fromisoformat(points[0]["ts"])
    assert first.date() == yesterday + timedelta(days=1) and first.hour == 0
    assert all(p["lo"] <= p["yhat"] <= p["hi"] for p in points)
    week = sum(p["yhat"] for p in points)
    history_week = 7 * (last4.mean or 0.0)
    assert history_week > 0 and 0.6 * history_week <= week <= 1.4 * history_week, (week, history_week)

    daily = CliRunner().invoke(
        app, ["forecast", "--site", site.site_id, "--db", db_url, "--freq", "D", "--jsonl"]
    )
    assert daily.exit_code == 0, daily.output
    assert len(daily.output.splitlines()) == 7

    both = CliRunner().invoke(app, ["forecast", "--site", site.site_id, "--input", "x.csv", "--db", db_url])
    # keliu.cli.main turns these into one line and exit code 2 (tests/unit/test_cli_errors.py)
    assert isinstance(both.exception, ConfigError) and "either --input CSV or --site ID" in str(
        both.exception
    )
    unknown = CliRunner().invoke(app, ["forecast", "--site", "nope", "--db", db_url])
    assert isinstance(unknown.exception, InputError) and "nope" in str(unknown.exception)


def _customers(store: Store, site_id: str, days: list[date], per_day: int) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    visits = []
    for d in days:
        for i in range(per_day):
            at = datetime(d.year, d.month, d.day, 10 + i, 0, tzinfo=zone)
            visits.append(
                Visit(f"{d}-{i}", site_id, PersonCategory.CUSTOMER, at, [Entry(at, "cam1", "door")])
            )
    store.save_visits(visits)


def test_a_new_site_has_no_history_before_its_first_day(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Days before a site's first data are unknown, not zero: one day of data is not enough history
    (a clear error, nothing printed), and three weeks give a forecast of the site's real level with
    no false drop/surge warning from the weeks before it existed."""
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", base64.b64encode(bytes(range(32))).decode())
    yesterday = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    with open_store(db_url) as store:
        for site_id in ("new", "young", "empty"):
            store.upsert_site(site_id, site_id, "Asia/Shanghai")
            store.upsert_camera(site_id, "cam1")
        _customers(store, "new", [yesterday], 5)
        _customers(store, "young", [yesterday - timedelta(days=i) for i in range(21)], 5)

    one_day = CliRunner().invoke(app, ["forecast", "--site", "new", "--db", db_url])
    assert isinstance(one_day.exception, InputError), one_day.output
    assert str(one_day.exception) == (
        f"site new: not enough history: 1 whole day of data ({yesterday.isoformat()} .. "
        f"{yesterday.isoformat()}), need 14 (2 weeks); the days before a site's first data are unknown, "
        "not zero"
    )
    assert one_day.stdout == ""  # no all-zero forecast, no warning
    empty = CliRunner().invoke(app, ["forecast", "--site", "empty", "--db", db_url, "--freq", "D"])
    assert isinstance(empty.exception, InputError)
    assert "not enough history: 0 whole days of data, need 14" in str(empty.exception)

    young = CliRunner().invoke(app, ["forecast", "--site", "young", "--db", db_url, "--freq", "D"])
    assert young.exit_code == 0, (young.output, young.exception)
    lines = young.stdout.splitlines()
    first = yesterday - timedelta(days=20)
    assert lines[0].startswith("# model profile") and f"history {first.isoformat()}T00:00:00 .." in lines[0]
    assert "(21 values)" in lines[0]
    yhat = [float(line.split()[1]) for line in lines[2:9]]
    assert all(abs(v - 5.0) < 0.5 for v in yhat), yhat  # the real level, not diluted by zeros
    assert "预警 early warnings: none" in young.stdout
