"""Overnight business hours (营业时间 past midnight): the ``OpeningHours`` type, the rollups' rule, the
site config's ``visitors.business_hours`` and the resolver's rules.

The rule (docs/metrics.md, 营业时间): a closing at or before the opening on the clock is on the next
day; an overnight period belongs to the business day on which it opens (Friday 22:00–02:00 makes
Saturday 01:00 part of Friday's hours); closes == opens is open 24 hours.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from keliu.config import load_site_config
from keliu.domain.visits import (
    COLOUR_NAMES,
    PersonCategory,
    Sighting,
    SightingCrossing,
    SightingZone,
    Signature,
    Visit,
)
from keliu.errors import ConfigError, InputError
from keliu.resolve import Resolver, ResolverRules
from keliu.store import OpeningHours
from keliu.store.rollups import within_business_hours

SH = ZoneInfo("Asia/Shanghai")
FRI, SAT = 4, 5


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local time in March 2025 (the 7th is a Friday)."""
    return datetime(2025, 3, day, hour, minute, tzinfo=SH)


def test_parse_overnight_24_hours_and_midnight() -> None:
    night = OpeningHours.parse(FRI, "22:00", "02:00")
    assert (night.opens_min, night.closes_min, night.overnight) == (1320, 1560, True)
    assert night.label() == "22:00–02:00 (+1)"
    assert OpeningHours(FRI, 1320, 120) == night  # a clock closing is normalised the same way
    all_day = OpeningHours.parse(0, "09:00", "09:00")
    assert (all_day.closes_min - all_day.opens_min, all_day.overnight) == (1440, True)
    assert OpeningHours.parse(0, "00:00", "00:00") == OpeningHours(0, 0, 1440)
    to_midnight = OpeningHours.parse(0, "09:30", "24:00")
    assert (to_midnight.closes_min, to_midnight.overnight, to_midnight.label()) == (
        1440,
        False,
        "09:30–24:00",
    )
    day = OpeningHours.parse(0, "10:00", "22:00")
    assert (day.span, day.overnight, day.label()) == ((600, 1320), False, "10:00–22:00")


@pytest.mark.parametrize(
    ("opens", "closes", "message"),
    [
        ("24:00", "02:00", "invalid opening time '24:00': expected 00:00 to 23:59"),
        ("22:00", "24:30", "invalid closing time '24:30': expected 00:00 to 24:00"),
        ("10h", "22:00", "invalid opening time '10h': expected HH:MM"),
        ("10:00", "22:61", "invalid closing time '22:61': expected HH:MM"),
    ],
)
def test_parse_refuses_impossible_clocks(opens: str, closes: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        OpeningHours.parse(0, opens, closes)
    assert str(raised.value) == message


def test_rollup_rule_counts_the_hours_after_midnight_for_the_day_before() -> None:
    hours = {
        FRI: OpeningHours.parse(FRI, "22:00", "02:00").span,
        SAT: OpeningHours.parse(SAT, "10:00", "20:00").span,
    }
    assert within_business_hours(at(7, 23, 30), hours)  # Friday night
    assert within_business_hours(at(8, 1, 0), hours)  # Saturday 01:00: Friday's hours
    assert within_business_hours(at(8, 1, 59), hours)
    assert not within_business_hours(at(8, 2, 0), hours)  # closing excluded
    assert not within_business_hours(at(8, 3, 0), hours)
    assert within_business_hours(at(8, 10, 0), hours)  # Saturday's own hours
    assert not within_business_hours(at(7, 21, 59), hours)
    assert not within_business_hours(at(9, 1, 0), hours)  # Saturday has no overnight period
    assert not within_business_hours(at(7, 1, 0), hours)  # Thursday is closed: nothing runs into Friday
    # Sunday 22:00 – Monday 02:00 wraps round the week
    assert within_business_hours(at(10, 1, 0), {6: OpeningHours.parse(6, "22:00", "02:00").span})
    # open 24 hours from 09:00: Tuesday 08:59 is still Monday's
    assert within_business_hours(at(11, 8, 59), {0: OpeningHours.parse(0, "09:00", "09:00").span})
    assert not within_business_hours(at(11, 9, 0), {0: OpeningHours.parse(0, "09:00", "09:00").span})


SITE = """\
site:
  id: bar-1
  name: 夜宵店
cameras:
  - id: door
    source: door.mp4
    lines:
      - {id: main-door, a: [0.2, 0.8], b: [0.8, 0.8], inside: [0.5, 0.9]}
visitors:
  business_hours: HOURS
"""


def config_with(tmp_path: Path, hours: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(SITE.replace("HOURS", hours), encoding="utf-8")
    return path


def test_site_config_takes_overnight_hours(tmp_path: Path) -> None:
    site = load_site_config(config_with(tmp_path, "['22:00', '02:00']"))
    assert site.visitors.business_hours == (time(22, 0), time(2, 0))
    site = load_site_config(config_with(tmp_path, "['09:00', '09:00']"))
    assert site.visitors.business_hours == (time(9, 0), time(9, 0))
    # what `keliu process` writes to the store for these hours (processing.py formats them this way)
    opens, closes = (t.strftime("%H:%M") for t in (time(22, 0), time(2, 0)))
    assert OpeningHours.parse(FRI, opens, closes) == OpeningHours(FRI, 1320, 1560)


def test_site_config_refuses_unquoted_times(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_site_config(config_with(tmp_path, "[22:00, '02:00']"))  # YAML: 22:00 is the number 1320
    assert str(raised.value).endswith(
        ":10: visitors.business_hours: write the times in quotes, e.g. ['22:00', '02:00'] "
        "(YAML reads 22:00 as a number)"
    ), raised.value


def test_resolver_rules_overnight() -> None:
    rules = ResolverRules(open_time=time(22, 0), close_time=time(2, 0), timezone="Asia/Shanghai")
    assert rules.overnight
    opens, closes = rules.business_hours(date(2025, 3, 7))
    assert (opens, closes) == (at(7, 22), at(8, 2))
    assert rules.business_day(at(8, 1)) == date(2025, 3, 7)  # Saturday 01:00 → Friday
    assert rules.business_day(at(7, 23)) == date(2025, 3, 7)
    assert rules.business_day(at(8, 3)) is None
    assert rules.within_business_hours(at(8, 1, 59).astimezone(ZoneInfo("UTC")))
    assert not rules.within_business_hours(at(8, 2))
    day = ResolverRules(open_time=time(9, 0), close_time=time(21, 0))
    assert (
        not day.overnight
        and day.business_day(at(8, 1)) is None
        and day.business_day(at(8, 9)) == date(2025, 3, 8)
    )
    always = ResolverRules(open_time=time(0, 0), close_time=time(0, 0))
    assert always.business_hours(date(2025, 3, 7)) == (at(7, 0), at(8, 0))
    assert always.within_business_hours(at(8, 23, 59))


def _signature(n: int) -> Signature:
    emb = np.zeros(16, np.float32)
    emb[n] = 1.0
    colour = np.zeros(len(COLOUR_NAMES), np.float32)
    colour[0] = 1.0
    return Signature(embedding=emb, colour=colour)


def _came_in(t: datetime, s: Signature, track: int) -> Sighting:
    return Sighting(
        "bar-1",
        "door",
        track,
        t,
        t + timedelta(seconds=3),
        (SightingCrossing("door", "in", t, (0.5, 0.9)),),
        signature=s,
    )


def test_resolver_counts_a_customer_at_1am_for_friday_night_and_suggests_night_staff() -> None:
    rules = ResolverRules(
        open_time=time(22, 0), close_time=time(2, 0), staff_zone_ids=("bar",), staff_presence_share=0.4
    )
    resolver = Resolver("bar-1", rules)
    visits: dict[str, Visit] = {}
    sightings = [
        _came_in(at(8, 1, 0), _signature(1), 1),  # Saturday 01:00: inside Friday's hours
        _came_in(at(8, 3, 0), _signature(2), 2),  # Saturday 03:00: closed
        # a barman present Friday 22:30 – Saturday 01:30: 3 h of Friday's 4 h
        Sighting(
            "bar-1",
            "floor",
            3,
            at(7, 22, 30),
            at(8, 1, 30),
            zones=(SightingZone("bar", at(8, 0, 30), at(8, 1, 0)),),
            signature=_signature(3),
        ),
        # a cleaner who comes after midnight, 00:00 – 01:45: 1 h 45 of Friday's 4 h
        Sighting("bar-1", "floor", 4, at(8, 0, 0), at(8, 1, 45), signature=_signature(4)),
    ]
    for s in sightings:
        for v in resolver.add(s):
            visits[v.visit_id] = v
    categories = sorted(
        (v.first_entry, v.category, v.exclusion.reason if v.exclusion else None) for v in visits.values()
    )
    assert categories == [
        (at(8, 1, 0), PersonCategory.CUSTOMER, None),
        (at(8, 3, 0), PersonCategory.INVALID, "outside_hours"),
    ]
    barman, cleaner = resolver.staff_suggestions(date(2025, 3, 7))
    assert (barman.present_s, barman.business_hours_s, barman.share, barman.staff_zones) == (
        10_800.0,
        14_400.0,
        0.75,
        ("bar",),
    )
    assert (cleaner.present_s, cleaner.share) == (6_300.0, 0.4375)
    assert resolver.staff_suggestions(date(2025, 3, 8)) == []  # nothing of it is Saturday's
