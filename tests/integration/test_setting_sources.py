"""Which source wins for business hours (营业时间): the config seeds them, an import or the API owns them
afterwards, and `keliu process` (``register_site``) never resets what was imported. The resolver
uses the same stored hours as the rollups (docs/configuration.md, "Which source wins")."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from keliu.config import load_site_config
from keliu.processing import register_site
from keliu.runtime.resolution import resolver_for
from keliu.store import OpeningHours, open_store

pytestmark = pytest.mark.integration

CONFIG = """
site: {{id: shop, name: Shop, timezone: Asia/Shanghai}}
visitors: {{business_hours: ["{opens}", "{closes}"]}}
cameras:
  - id: door
    source: rtsp://127.0.0.1:9/door
    lines: [{{id: door, a: [0.5, 0.1], b: [0.5, 0.9], inside: [0.8, 0.5]}}]
"""


def _site(tmp_path: Path, opens: str, closes: str):  # type: ignore[no-untyped-def]
    path = tmp_path / f"site-{opens.replace(':', '')}.yaml"
    path.write_text(CONFIG.format(opens=opens, closes=closes), encoding="utf-8")
    return load_site_config(path)


def test_imported_hours_survive_processing_and_config_hours_follow_the_config(
    db_url: str, tmp_path: Path, keliu_home: Path
) -> None:
    with open_store(db_url) as store:
        register_site(store, _site(tmp_path, "09:00", "21:00"))
        assert store.setting_source("shop", "business_hours") == "config"
        assert store.business_hours("shop")[0] == OpeningHours(0, 9 * 60, 21 * 60)

        register_site(store, _site(tmp_path, "08:00", "20:00"))  # the config changed: it still owns them
        assert store.business_hours("shop")[0] == OpeningHours(0, 8 * 60, 20 * 60)

        imported = [OpeningHours.parse(day, "10:00", "22:30") for day in range(6)]  # closed on Sundays
        store.set_business_hours("shop", imported)  # what `keliu import business-hours` does
        assert store.setting_source("shop", "business_hours") == "import"
        for _ in range(2):  # every later `keliu process` start
            register_site(store, _site(tmp_path, "09:00", "21:00"))
            assert store.business_hours("shop") == imported
            assert store.setting_source("shop", "business_hours") == "import"


def test_the_resolver_uses_the_stored_hours(db_url: str, tmp_path: Path, keliu_home: Path) -> None:
    site = _site(tmp_path, "09:00", "21:00")
    with open_store(db_url) as store:
        register_site(store, site)
        store.set_business_hours(
            "shop",
            [OpeningHours.parse(day, "10:00", "22:30") for day in range(5)]  # Monday to Friday
            + [OpeningHours.parse(5, "22:00", "02:00")],  # Saturday night only
        )
        rules = resolver_for(store, site, datetime(2026, 3, 2, tzinfo=UTC))[0].rules

    def at(day: int, hour: int) -> datetime:  # local time; March 2026: the 2nd is a Monday
        return datetime(2026, 3, day, hour, tzinfo=ZoneInfo("Asia/Shanghai"))

    assert rules.within_business_hours(at(2, 22))  # Monday 22:00: imported hours, not the config's 21:00
    assert not rules.within_business_hours(at(2, 9))  # Monday 09:00: before the imported opening
    assert rules.within_business_hours(at(8, 1))  # Sunday 01:00 belongs to Saturday night
    assert not rules.within_business_hours(at(8, 12))  # Sunday noon: closed
    assert rules.business_day(at(8, 1)) == datetime(2026, 3, 7).date()
