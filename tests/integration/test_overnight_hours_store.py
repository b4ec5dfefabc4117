"""Overnight business hours in a real store (SQLite and PostgreSQL): `keliu import business-hours` takes
a Friday 22:00–02:00 row, and the rollups then count a customer entry at Saturday 01:00 inside
Friday's hours (总客流) while one at 03:00 stays outside them (A21, docs/metrics.md 营业时间)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from keliu.analytics import queries as q
from keliu.cli import app
from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.store import OpeningHours, Store, open_store

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
SATURDAY = date(2025, 3, 8)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=SH)


def customer(visit_id: str, *times: datetime) -> Visit:
    return Visit(
        visit_id, "bar", PersonCategory.CUSTOMER, times[0], [Entry(t, "cam1", "door") for t in times]
    )


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("KELIU_HOME", str(tmp_path / "keliu-home"))
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", "ab" * 32)
    with open_store(db_url) as s:
        s.upsert_site("bar", "夜宵店", "Asia/Shanghai")
        s.upsert_camera("bar", "cam1")
        yield s


def test_imported_overnight_hours_count_1am_for_the_day_before(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    csv = tmp_path / "hours.csv"
    csv.write_text("weekday,opens,closes\nfri,22:00,02:00\nsat,10:00,10:00\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "business-hours", "--site", "bar", str(csv), "--db", db_url])
    assert result.exit_code == 0, (result.output, result.exception)
    # Friday overnight; Saturday open 24 hours from 10:00 (the closing equals the opening)
    assert store.business_hours("bar") == [OpeningHours(4, 1320, 1560), OpeningHours(5, 600, 2040)]

    store.save_visits(
        [
            customer("friday-night", local(7, 23, 0)),
            customer("after-midnight", local(8, 1, 0)),  # inside Friday 22:00–02:00
            customer("too-late", local(8, 3, 0)),  # after Friday's closing, before Saturday's opening
            customer("sunday-early", local(9, 9, 0)),  # inside Saturday 10:00 – Sunday 10:00
        ]
    )
    saturday = q.traffic(store, "bar", SATURDAY, SATURDAY)  # the entries stay on their calendar day
    assert (saturday.entries, saturday.entries_outside_hours) == (1, 1)
    effect = q.business_hours_effect(store, "bar", SATURDAY, SATURDAY)
    assert (effect.counted_entries, effect.uncounted_entries) == (1, 1)
    week = q.traffic(store, "bar", date(2025, 3, 7), date(2025, 3, 9))
    assert (week.entries, week.entries_outside_hours) == (3, 1)
    hourly = dict(q.trend(store, "bar", SATURDAY, SATURDAY, "total", by="hour").points)
    assert (hourly["2025-03-08 01:00"], hourly["2025-03-08 03:00"]) == (1, 0)


def test_an_opening_at_24_00_is_refused_and_nothing_is_written(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    csv = tmp_path / "hours.csv"
    csv.write_text("weekday,opens,closes\nfri,24:00,02:00\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "business-hours", "--site", "bar", str(csv), "--db", db_url])
    assert result.exit_code != 0
    assert ":2: opens: 24:00 is the end of a day" in str(result.exception), result.exception
    assert store.business_hours("bar") == []  # nothing written
