"""Space-time rules of the resolver: re-entries need a seen exit, cameras need their walking time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from keliu.domain.visits import COLOUR_NAMES, Sighting, SightingCrossing, Signature, Visit
from keliu.resolve import Resolver, ResolverRules

SITE = "s1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2025, 3, 8)
DIM = 16


def at(hh: int, mm: int = 0, ss: float = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm), SHANGHAI) + timedelta(seconds=ss)


def sig(n: int) -> Signature:
    emb = np.zeros(DIM, np.float32)
    emb[n] = 1.0
    colour = np.zeros(len(COLOUR_NAMES), np.float32)
    colour[0] = 1.0
    return Signature(emb, colour)


def sighting(
    camera: str,
    track: int,
    start: datetime,
    end: datetime,
    crossings: Sequence[tuple[Literal["in", "out"], datetime]] = (),
    s: Signature | None = None,
) -> Sighting:
    return Sighting(
        SITE,
        camera,
        track,
        start,
        end,
        tuple(SightingCrossing("line", d, t, (0.5, 0.9)) for d, t in crossings),
        (),
        s,
    )


def came_in(t: datetime, track: int, camera: str = "door") -> Sighting:
    return sighting(camera, track, t, t + timedelta(seconds=3), [("in", t)], sig(1))


def went_out(t: datetime, track: int, camera: str = "door") -> Sighting:
    return sighting(camera, track, t - timedelta(seconds=3), t, [("out", t)], sig(1))


def visits(rules: ResolverRules, sightings: list[Sighting]) -> list[Visit]:
    resolver = Resolver(SITE, rules)
    store: dict[str, Visit] = {}
    for s in sightings:
        for v in resolver.add(s):
            store[v.visit_id] = v
    return sorted(store.values(), key=lambda v: v.first_entry)


RULE = ResolverRules(reentry_needs_exit=True, min_reentry_s=30.0)


def test_an_entry_does_not_continue_a_visit_still_inside() -> None:
    day = [came_in(at(10), 1), came_in(at(10, 20), 2)]  # nobody saw the first one leave
    assert len(visits(ResolverRules(), day)) == 1  # without the rule: one visit, two entries
    assert len(visits(RULE, day)) == 2


def test_an_entry_continues_a_visit_whose_exit_was_seen_before_it() -> None:
    day = [came_in(at(10), 1), went_out(at(10, 10), 2), came_in(at(10, 20), 3)]
    [v] = visits(RULE, day)
    assert [e.at for e in v.entries] == [at(10), at(10, 20)]


def test_a_re_entry_sooner_than_min_reentry_s_after_the_exit_is_another_person() -> None:
    day = [came_in(at(10), 1), went_out(at(10, 10), 2), came_in(at(10, 10, 10), 3)]
    assert len(visits(RULE, day)) == 2
    assert len(visits(ResolverRules(reentry_needs_exit=True), day)) == 1  # min_reentry_s 0


def test_exits_and_in_store_sightings_are_not_entries() -> None:
    """The rule is about entries only: an exit or a floor camera still joins the open visit."""
    day = [
        came_in(at(10), 1),
        sighting("floor", 5, at(10, 2), at(10, 8), s=sig(1)),
        went_out(at(10, 10), 2),
    ]
    [v] = visits(RULE, day)
    assert v.last_exit == at(10, 10)


def test_walking_time_between_cameras() -> None:
    day = [
        came_in(at(10), 1, camera="north"),
        went_out(at(10, 5), 2, camera="north"),
        came_in(at(10, 5, 20), 3, camera="south"),  # 17 s after the north exit sighting ended
    ]
    assert len(visits(ResolverRules(), day)) == 1
    walk = ResolverRules(min_travel_s=(("north", "south", 60.0),))
    assert len(visits(walk, day)) == 2
    later = [*day[:2], came_in(at(10, 7), 3, camera="south")]  # two minutes later: plausible
    assert len(visits(walk, later)) == 1


def test_space_time_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="walking"):
        ResolverRules(min_travel_s=(("a", "a", 10.0),))
    with pytest.raises(ValueError, match="walking"):
        ResolverRules(min_reentry_s=-1.0)


def test_site_file_settings_reach_the_rules() -> None:
    from keliu.config import SiteConfig
    from keliu.wiring import resolver_rules

    site = SiteConfig.model_validate(
        {
            "site": {"id": "s1", "name": "S"},
            "cameras": [{"id": "north", "source": "n.mp4"}, {"id": "south", "source": "s.mp4"}],
            "visitors": {
                "reentry_needs_exit": True,
                "min_reentry_s": 20,
                "walking_times": [{"cameras": ["north", "south"], "min_s": 45}],
            },
        }
    )
    rules = resolver_rules(site)
    assert rules.reentry_needs_exit and rules.min_reentry_s == 20.0
    assert rules.min_travel_s == (("north", "south", 45.0),)
    with pytest.raises(ValueError, match="two different cameras"):
        SiteConfig.model_validate(
            {
                "site": {"id": "s1", "name": "S"},
                "cameras": [{"id": "north", "source": "n.mp4"}],
                "visitors": {"walking_times": [{"cameras": ["north", "north"], "min_s": 45}]},
            }
        )
