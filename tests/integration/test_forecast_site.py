"""`keliu forecast --site`: a stored site's last 12 weeks of rollups → next week's forecast (A18), on
SQLite and the real PostgreSQL, with the simulated chain as history."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from keliu.analytics.queries import trend
from keliu.analytics.simulate_load import seed_demo
from keliu.analytics.simulate_sites import chain_profiles
from keliu.cli import app
from keliu.errors import ConfigError, InputError
from keliu.store import open_store

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
