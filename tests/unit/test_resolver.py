"""Visitor resolver edge cases and properties (REQUIREMENTS I1–I5, I7). Worked examples with the
numbers of docs/visitors.md are in test_visitor_examples.py."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keliu.domain.visits import (
    COLOUR_NAMES,
    ColourName,
    ColourRule,
    ExclusionClass,
    PersonCategory,
    Sighting,
    SightingCrossing,
    SightingZone,
    Signature,
    StaffMember,
    Visit,
)
from keliu.resolve import Resolver, ResolverRules, default_courier_classes, expires_at, summarize

SITE = "s1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DIM = 32
DAY = date(2025, 3, 8)


def at(hh: int, mm: int = 0, ss: float = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI) + timedelta(seconds=ss)


def sig(n: int, upper: ColourName | None = None, *, same_as: float = 1.0, other: int = DIM - 1) -> Signature:
    """Similarity to ``sig(n, upper)`` is 0.5 · same_as + 0.5; different n, different colour: 0."""
    emb = np.zeros(DIM, np.float32)
    emb[n] = same_as
    emb[other] = np.sqrt(1.0 - same_as**2)
    colour = np.zeros(len(COLOUR_NAMES), np.float32)
    colour[COLOUR_NAMES.index(upper or "grey")] = 1.0
    return Signature(emb, colour, upper_colour=upper)


def sighting(
    camera: str,
    track: int,
    start: datetime,
    end: datetime,
    crossings: Sequence[tuple[Literal["in", "out"], datetime]] = (),
    s: Signature | None = None,
    point: tuple[float, float] = (0.5, 0.9),
    zones: tuple[str, ...] = (),
) -> Sighting:
    return Sighting(
        SITE,
        camera,
        track,
        start,
        end,
        tuple(SightingCrossing("line", d, t, point) for d, t in crossings),
        tuple(SightingZone(z, start, end) for z in zones),
        s,
    )


def came_in(
    t: datetime,
    s: Signature | None,
    track: int,
    camera: str = "door",
    point: tuple[float, float] = (0.5, 0.9),
) -> Sighting:
    return sighting(camera, track, t, t + timedelta(seconds=3), [("in", t)], s, point)


def went_out(t: datetime, s: Signature | None, track: int, camera: str = "door") -> Sighting:
    return sighting(camera, track, t - timedelta(seconds=3), t, [("out", t)], s)


def feed(resolver: Resolver, sightings: list[Sighting]) -> dict[str, Visit]:
    store: dict[str, Visit] = {}
    for s in sightings:
        for v in resolver.add(s):
            store[v.visit_id] = v
    return store


# ------------------------------------------------------------------------------------ inputs


def test_rejects_another_sites_sighting_and_naive_times() -> None:
    r = Resolver(SITE)
    with pytest.raises(ValueError, match="site"):
        r.add(replace(came_in(at(10), sig(1), 1), site_id="other"))
    naive = datetime(2025, 3, 8, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        r.add(sighting("door", 1, naive, naive + timedelta(seconds=1)))


def test_rules_are_validated() -> None:
    assert ResolverRules(open_time=time(22), close_time=time(10)).overnight  # closes the next day
    with pytest.raises(ValueError, match="local times"):
        ResolverRules(open_time=time(22, tzinfo=UTC), close_time=time(10))
    with pytest.raises(ValueError):
        ResolverRules(dedup_window_s=10 * 86400, returning_memory_s=86400)
    with pytest.raises(Exception):  # noqa: B017 (zoneinfo raises its own error type)
        ResolverRules(timezone="Mars/Olympus")


def test_signatures_of_another_size_are_refused() -> None:
    r = Resolver(SITE)
    r.add(came_in(at(10), sig(1), 1))
    half = np.full(4, 0.5, np.float32)
    other = Signature(half, half)
    with pytest.raises(ValueError, match="dimensions"):
        r.add(came_in(at(10, 1), other, 2))


# ------------------------------------------------------------------------------------ de-dup


def test_visit_ids_are_derived_from_site_time_camera_and_track() -> None:
    [v] = Resolver(SITE).add(came_in(at(10), sig(1), 42))
    assert v.visit_id == "s1/20250308T020000.000000Z/door/42"


def test_visit_ids_never_clash() -> None:
    r = Resolver(SITE)
    [a] = r.add(sighting("door", 1, at(10), at(10, 0, 5), [("in", at(10, 0, 1))], sig(1)))
    [b] = r.add(sighting("door", 1, at(10), at(10, 0, 6), [("in", at(10, 0, 1))], sig(2)))  # ids restarted
    assert b.visit_id == a.visit_id + "+"


def test_several_entries_in_one_track_are_one_visit() -> None:
    s = sighting(
        "door", 1, at(10), at(10, 1), [("in", at(10, 0, 5)), ("out", at(10, 0, 20)), ("in", at(10, 0, 40))]
    )
    [v] = Resolver(SITE).add(s)
    assert len(v.entries) == 2
    assert v.last_exit == at(10, 0, 20)  # and it is open again after the second entry


def test_cross_camera_entry_and_exit_are_one_visit() -> None:
    store = feed(
        Resolver(SITE),
        [
            came_in(at(10), sig(1), 1, camera="north-door"),
            sighting("floor", 7, at(10, 1), at(10, 30), s=sig(1)),  # in-store camera, no crossing
            went_out(at(10, 31), sig(1), 3, camera="south-door"),
            came_in(at(11), sig(1), 4, camera="south-door"),
        ],
    )
    [v] = store.values()
    assert [(e.camera_id, e.at) for e in v.entries] == [("north-door", at(10)), ("south-door", at(11))]
    assert v.last_exit == at(10, 31)


def test_two_look_alikes_at_the_same_time_on_one_camera_are_two_people() -> None:
    twin = sig(1)
    a = sighting("door", 1, at(10), at(10, 0, 10), [("in", at(10, 0, 2))], twin)
    b = sighting("door", 2, at(10, 0, 5), at(10, 0, 15), [("in", at(10, 0, 7))], twin)
    store = feed(Resolver(SITE), [a, b])
    assert len(store) == 2


def test_best_match_wins_and_ties_go_to_the_nearest_in_time() -> None:
    r = Resolver(SITE)
    [first] = r.add(came_in(at(10), sig(1), 1))
    [second] = r.add(came_in(at(10, 30), sig(2), 2))
    # equally similar (0.85) to both people: the one seen most recently is chosen
    both = (sig(1).embedding + sig(2).embedding).astype(np.float32)
    halfway = Signature((both / np.linalg.norm(both)).astype(np.float32), sig(1).colour)
    assert abs(float(halfway.vector() @ sig(1).vector()) - float(halfway.vector() @ sig(2).vector())) < 1e-6
    [changed] = r.add(came_in(at(11), halfway, 3))
    assert changed.visit_id == second.visit_id != first.visit_id


def test_a_sighting_delivered_twice_counts_once() -> None:
    r = Resolver(SITE)
    s = came_in(at(10), sig(1), 1)
    assert len(r.add(s)) == 1
    assert r.add(s) == []
    nameless = came_in(at(10, 5), None, 2)
    assert len(r.add(nameless)) == 1
    assert r.add(nameless) == []


def test_exit_without_any_entry_is_ignored() -> None:
    r = Resolver(SITE)
    assert r.add(went_out(at(10), sig(1), 1)) == []
    assert r.add(went_out(at(10), None, 2)) == []


def test_exit_matches_an_open_visit_even_after_hours_unseen() -> None:
    r = Resolver(SITE)
    r.add(came_in(at(9, 30), sig(1), 1))
    [v] = r.add(went_out(at(17, 0), sig(1), 2))  # 7.5 h unseen inside (door camera only)
    assert v.last_exit == at(17, 0)
    [again] = r.add(came_in(at(22, 0), sig(1), 3))  # 5 h after leaving: a new, returning visit
    assert again.visit_id != v.visit_id and again.returning


def test_a_late_sighting_inserts_its_entry_in_time_order() -> None:
    r = Resolver(SITE)
    r.add(came_in(at(10, 5), sig(1), 2, camera="b"))
    [v] = r.add(came_in(at(10, 0), sig(1), 1, camera="a"))
    assert [e.at for e in v.entries] == [at(10, 0), at(10, 5)]
    assert v.first_entry == at(10, 0)


def test_without_signature_only_the_same_track_continues() -> None:
    r = Resolver(SITE)
    r.add(came_in(at(10), None, 1))
    late_part = sighting("door", 1, at(10, 0, 30), at(10, 1), [("in", at(10, 0, 50))])  # 27 s gap
    [v] = r.add(late_part)
    assert len(v.entries) == 1  # beyond track_continuation_s: not the same track any more


# ------------------------------------------------------------------------------------ staff


STAFF = StaffMember("s-1", "Wang Fang", (sig(10, "black"),))


# Rules with a gap between the same-person and the staff thresholds, for the tests that need one.
GAP_RULES = ResolverRules(match_threshold=0.75, staff_threshold=0.80)


def test_a_visit_becomes_staff_when_a_later_view_matches_the_enrolment() -> None:
    r = Resolver(SITE, GAP_RULES, staff=[STAFF])
    [v] = r.add(came_in(at(10), sig(10, "black", same_as=0.56), 1))  # 0.78 < staff threshold 0.8
    assert v.category == PersonCategory.CUSTOMER and v.batch_id is not None
    [changed] = r.add(sighting("floor", 5, at(10, 2), at(10, 20), s=sig(10, "black", same_as=0.9, other=30)))
    assert changed.visit_id == v.visit_id
    assert changed.category == PersonCategory.STAFF and changed.batch_id is None
    assert changed.exclusion is not None and abs(changed.exclusion.confidence - 0.95) < 1e-6


def test_staff_changed_while_running_apply_from_the_next_sighting() -> None:
    """A member enrolled (a confirmed staff suggestion) or removed (a wrong enrolment) through the API:
    the running resolver matches the new list from the next sighting on, and a person in view who
    was taken for the removed member is a customer again when next seen."""
    r = Resolver(SITE)
    [before] = r.add(came_in(at(9), sig(10, "black"), 1))
    assert before.category == PersonCategory.CUSTOMER
    r.use_staff([STAFF])
    [now_staff] = r.add(came_in(at(9, 5), sig(10, "black", same_as=0.9), 2))
    assert now_staff.visit_id == before.visit_id and now_staff.category == PersonCategory.STAFF
    r.use_staff([])
    [again] = r.add(came_in(at(9, 10), sig(10, "black", same_as=0.9), 3))
    assert again.visit_id == before.visit_id and again.category == PersonCategory.CUSTOMER
    [other] = r.add(came_in(at(11), sig(10, "black", same_as=0.95), 4))  # nobody is matched as staff now
    assert other.category == PersonCategory.CUSTOMER


def test_a_customer_resembling_staff_is_not_merged_into_the_staff_visit() -> None:
    r = Resolver(SITE, GAP_RULES, staff=[STAFF])
    [staff] = r.add(came_in(at(9), sig(10, "black"), 1))
    [customer] = r.add(came_in(at(10), sig(10, "black", same_as=0.56), 2))  # 0.78: same-person yes, staff no
    assert staff.category == PersonCategory.STAFF
    assert customer.category == PersonCategory.CUSTOMER and customer.visit_id != staff.visit_id


def test_staff_do_not_join_or_bridge_batches() -> None:
    r = Resolver(SITE, staff=[STAFF])
    store = feed(
        r,
        [
            came_in(at(10, 0, 0), sig(1), 1, point=(0.5, 0.9)),
            came_in(at(10, 0, 4), sig(10, "black"), 2, point=(0.5, 0.9)),
            came_in(at(10, 0, 8), sig(2), 3, point=(0.5, 0.9)),
        ],
    )
    customers = [v for v in store.values() if v.category == PersonCategory.CUSTOMER]
    assert len({v.batch_id for v in customers}) == 2
    assert summarize(store.values()).batches == 2


def test_staff_suggestions_skip_enrolled_staff_and_use_staff_zones() -> None:
    rules = ResolverRules(staff_zone_ids=("workshop",))
    r = Resolver(SITE, rules, staff=[STAFF])
    r.add(sighting("floor", 1, at(9), at(20), s=sig(10, "black")))  # enrolled, all day
    r.add(sighting("floor", 2, at(9), at(17), s=sig(3)))  # 8 h of 12: 67 %
    r.add(sighting("floor", 3, at(9), at(15), s=sig(4)))  # 6 h of 12: 50 %
    r.add(sighting("shop", 4, at(16), at(16, 5), s=sig(5), zones=("workshop",)))
    suggestions = r.staff_suggestions(DAY)
    assert [(round(x.share, 2), x.staff_zones) for x in suggestions] == [(0.67, ()), (0.01, ("workshop",))]
    assert r.staff_suggestions(DAY + timedelta(days=1)) == []


# ------------------------------------------------------------------------------------ invalid traffic


def test_an_exemplar_excludes_at_entry() -> None:
    helmets = ExclusionClass("courier:helmet", "helmet riders", exemplars=(sig(20),))
    r = Resolver(SITE, exclusion_classes=[helmets])
    [v] = r.add(came_in(at(10), sig(20, same_as=0.7), 1))  # 0.85 ≥ exemplar threshold 0.8
    assert v.category == PersonCategory.INVALID
    assert v.exclusion is not None and v.exclusion.reason == "courier:helmet"
    assert abs(v.exclusion.confidence - 0.85) < 1e-6


def test_disabled_classes_are_ignored() -> None:
    off = ExclusionClass("x", "x", exemplars=(sig(20),), enabled=False)
    [v] = Resolver(SITE, exclusion_classes=[off]).add(came_in(at(10), sig(20), 1))
    assert v.category == PersonCategory.CUSTOMER


def test_classes_changed_while_running_apply_from_the_next_sighting() -> None:
    helmets = ExclusionClass("courier:helmet", "helmet riders", exemplars=(sig(21),))
    r = Resolver(SITE)
    [before] = r.add(came_in(at(10), sig(21), 1))
    assert before.category == PersonCategory.CUSTOMER
    r.use_exclusion_classes([helmets])  # e.g. created through the API: the next view classifies again
    [rider] = r.add(went_out(at(10, 5), sig(21, same_as=0.9), 2))
    assert rider.visit_id == before.visit_id and rider.category == PersonCategory.INVALID
    r.use_exclusion_classes([replace(helmets, enabled=False)])  # switched off: its match no longer counts
    [again] = r.add(came_in(at(10, 6), sig(21, same_as=0.9), 3))
    assert again.visit_id == before.visit_id and again.category == PersonCategory.CUSTOMER
    r.use_exclusion_classes([ExclusionClass("vest", "vests", colour_rule=ColourRule(("orange",)))])
    [vest] = r.add(came_in(at(10, 10), sig(5, "orange"), 4))
    assert vest.exclusion is not None and vest.exclusion.reason == "vest"


def test_a_colour_rule_without_stay_limit_excludes_at_entry_and_lower_colour_is_required() -> None:
    rule = ExclusionClass("vest", "orange vests", colour_rule=ColourRule(("orange",), ("blue",)))
    r = Resolver(SITE, exclusion_classes=[rule])
    worker = Signature(sig(1, "orange").embedding, sig(1, "orange").colour, "orange", "blue")
    other = Signature(sig(2, "orange").embedding, sig(2, "orange").colour, "orange", "black")
    [v] = r.add(came_in(at(10), worker, 1))
    [w] = r.add(came_in(at(10, 5), other, 2))
    assert (v.category, w.category) == (PersonCategory.INVALID, PersonCategory.CUSTOMER)


def test_courier_is_customer_again_when_it_re_enters_before_the_stay_is_known() -> None:
    r = Resolver(SITE, exclusion_classes=default_courier_classes())
    rider = sig(20, "yellow")
    r.add(came_in(at(12), rider, 1))
    [v] = r.add(went_out(at(12, 1), rider, 2))
    assert v.category == PersonCategory.INVALID
    [v] = r.add(came_in(at(12, 30), rider, 3))  # back in: the stay is open again
    assert v.category == PersonCategory.CUSTOMER
    [v] = r.add(went_out(at(12, 31), rider, 4))  # 31 minutes since the first entry: too long
    assert v.category == PersonCategory.CUSTOMER


def test_default_courier_classes_enable_only_yellow_and_blue() -> None:
    classes = {c.class_id: c for c in default_courier_classes(120.0)}
    assert {k for k, c in classes.items() if c.enabled} == {"courier:meituan", "courier:eleme"}
    assert all(c.colour_rule is not None and c.colour_rule.max_stay_s == 120.0 for c in classes.values())
    assert classes["courier:jd"].colour_rule is not None and classes["courier:jd"].colour_rule.lower_colours


def test_outside_hours_visit_counts_once_it_re_enters_during_hours() -> None:
    r = Resolver(SITE)  # 09:00–21:00
    [v] = r.add(came_in(at(8, 30), sig(1), 1))
    assert v.exclusion is not None and v.exclusion.reason == "outside_hours"
    [v] = r.add(came_in(at(9, 10), sig(1), 2))
    assert v.category == PersonCategory.CUSTOMER and v.exclusion is None
    off = Resolver(SITE, ResolverRules(exclude_outside_hours=False))
    assert off.add(came_in(at(3), sig(1), 1))[0].category == PersonCategory.CUSTOMER


# ------------------------------------------------------------------------------------ batches


def test_a_late_member_merges_two_batches_and_reports_the_changed_visits() -> None:
    r = Resolver(SITE)
    [a] = r.add(came_in(at(10, 0, 0), sig(1), 1))
    [c] = r.add(came_in(at(10, 0, 8), sig(3), 3))
    assert a.batch_id != c.batch_id
    changed = r.add(came_in(at(10, 0, 4), sig(2), 2))
    # the new visit, and c, whose batch changed; a keeps its batch id (it is the earliest member)
    assert [v.visit_id for v in changed] == ["s1/20250308T020004.000000Z/door/2", c.visit_id]
    assert {v.batch_id for v in changed} == {a.batch_id} == {f"b/{a.visit_id}"}


def test_batches_need_the_same_camera() -> None:
    store = feed(
        Resolver(SITE), [came_in(at(10), sig(1), 1, camera="a"), came_in(at(10), sig(2), 2, camera="b")]
    )
    assert len({v.batch_id for v in store.values()}) == 2


def test_batches_do_not_depend_on_arrival_order() -> None:
    entries = [
        (0.0, (0.5, 0.9)),
        (4.0, (0.55, 0.9)),
        (8.0, (0.6, 0.9)),
        (9.0, (0.1, 0.1)),
        (20.0, (0.5, 0.9)),
    ]
    results = set()
    for order in itertools.permutations(range(len(entries))):
        store = feed(
            Resolver(SITE), [came_in(at(10, 0, entries[i][0]), sig(i), i, point=entries[i][1]) for i in order]
        )
        results.add(tuple(sorted((v.visit_id, v.batch_id) for v in store.values())))
    assert len(results) == 1


# ------------------------------------------------------------------------------------ memory


def test_remembered_people_expire_after_the_memory() -> None:
    r = Resolver(SITE)
    r.add(came_in(at(10), sig(1), 1))
    r.add(sighting("floor", 2, at(10), at(11), s=sig(9)))  # presence only: no visit, not remembered
    [p] = r.remembered(at(12))
    assert p.last_seen == at(10, 0, 3)
    assert expires_at(p) == r.expires_at(p) == at(10, 0, 3) + timedelta(days=180)
    assert r.remembered(at(10, 0, 3) + timedelta(days=180)) == []


def test_restart_with_open_visits_continues_them() -> None:
    first = Resolver(SITE)
    [v] = first.add(came_in(at(10), sig(1), 1))
    memory = first.remembered(at(10, 30))

    restarted = Resolver(SITE, memory=memory, open_visits=[v])
    [w] = restarted.add(came_in(at(11), sig(1), 2))
    assert w.visit_id == v.visit_id and len(w.entries) == 2

    without = Resolver(SITE, memory=memory)
    [x] = without.add(came_in(at(11), sig(1), 2))
    assert x.visit_id != v.visit_id and x.returning and x.since_previous_s == 3597.0


def test_hard_caps_bound_the_galleries() -> None:
    r = Resolver(SITE, ResolverRules(max_active_people=5, max_remembered=7))
    for i in range(30):
        r.add(came_in(at(10, 0, 10 * i), sig(i % DIM), i))
    stats = r.stats()
    assert stats.active_people <= 5 and stats.remembered <= 7


# ------------------------------------------------------------------------------------ properties


DIRECTIONS: tuple[Literal["in", "out"], ...] = ("in", "out")


@st.composite
def sightings(draw: st.DrawFn, signatures: bool = True) -> list[Sighting]:
    out = []
    for track in range(draw(st.integers(1, 25))):
        start = at(9) + timedelta(seconds=draw(st.floats(0, 6 * 3600)))
        length = draw(st.floats(1, 600))
        directions = draw(st.lists(st.sampled_from(DIRECTIONS), max_size=3))
        times = sorted(
            draw(st.lists(st.floats(0, length), min_size=len(directions), max_size=len(directions)))
        )
        person = draw(st.integers(0, 5))
        s = sig(person, COLOUR_NAMES[person]) if signatures and draw(st.booleans()) else None
        point = (draw(st.floats(0, 1)), draw(st.floats(0, 1)))
        camera = draw(st.sampled_from(["door", "side", "floor"]))
        crossings = [(d, start + timedelta(seconds=t)) for d, t in zip(directions, times, strict=True)]
        out.append(sighting(camera, track, start, start + timedelta(seconds=length), crossings, s, point))
    return out


def _run(items: list[Sighting]) -> tuple[Resolver, dict[str, Visit]]:
    r = Resolver(SITE, exclusion_classes=default_courier_classes(), staff=[STAFF])
    return r, feed(r, items)


@settings(max_examples=60, deadline=None)
@given(sightings())
def test_no_entry_is_lost_and_visits_never_exceed_entries(items: list[Sighting]) -> None:
    _, store = _run(items)
    entries_in = sum(len(s.entries) for s in items)
    assert sum(len(v.entries) for v in store.values()) == entries_in
    assert len(store) <= entries_in
    for v in store.values():
        assert v.entries == sorted(v.entries, key=lambda e: e.at) and v.first_entry == v.entries[0].at
        assert (v.category == PersonCategory.CUSTOMER) == (v.exclusion is None)


@settings(max_examples=40, deadline=None)
@given(sightings())
def test_same_sightings_in_the_same_order_give_identical_visits(items: list[Sighting]) -> None:
    first, second = _run(items)[1], _run(items)[1]
    assert list(first) == list(second)
    assert first == second


@settings(max_examples=30, deadline=None)
@given(sightings(signatures=False), st.randoms(use_true_random=False))
def test_batches_without_signatures_do_not_depend_on_order(items: list[Sighting], rnd: random.Random) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)

    def groups(store: dict[str, Visit]) -> set[frozenset[str]]:
        by_batch: dict[str | None, set[str]] = {}
        for v in store.values():
            by_batch.setdefault(v.batch_id, set()).add(v.visit_id)
        return {frozenset(g) for g in by_batch.values()}

    assert groups(_run(items)[1]) == groups(_run(shuffled)[1])


@settings(max_examples=40, deadline=None)
@given(sightings())
def test_memory_is_bounded_after_forget_expired(items: list[Sighting]) -> None:
    r, store = _run(items)
    last = max(s.last_seen for s in items)
    r.forget_expired(last + timedelta(hours=12, seconds=1))
    stats = r.stats()
    assert stats.active_people == 0 and stats.tracks == 0 and stats.batch_entries == 0
    assert stats.remembered <= len(store)
    r.forget_expired(last + timedelta(days=181))
    assert r.stats() == type(stats)(0, 0, 0, 0, 0, 0)
    assert r.remembered(last + timedelta(days=181)) == []
