"""The worked examples of docs/visitors.md, one test per section, asserting the numbers written there.

Signatures are hand-made unit vectors: person ``n`` has embedding e_n and a colour histogram that is
one-hot on their upper-body colour, so the same person scores 1.0, two people in the same colour 0.5
and two people in different colours 0.0 (``similarity`` weighs the two halves 0.5 / 0.5).
Times are the site's local time (Asia/Shanghai) on 2025-03-08 unless said otherwise.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from keliu.domain.visits import (
    COLOUR_NAMES,
    ColourName,
    PersonCategory,
    RememberedPerson,
    Sighting,
    SightingCrossing,
    SightingZone,
    Signature,
    StaffMember,
    Visit,
)
from keliu.resolve import Resolver, ResolverRules, default_courier_classes, summarize

SITE = "showroom-1"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DIM = 64


def at(hh: int, mm: int = 0, ss: int = 0, day: date = date(2025, 3, 8)) -> datetime:
    """Local (Asia/Shanghai) wall-clock time, as the aware datetime the resolver gets."""
    return datetime.combine(day, time(hh, mm, ss), SHANGHAI)


def sig(
    n: int,
    upper: ColourName | None = None,
    lower: ColourName | None = None,
    *,
    same_as: float = 1.0,
    other: int = DIM - 1,
) -> Signature:
    """Person ``n``'s signature. ``same_as`` < 1 tilts the embedding towards axis ``other`` so that
    the similarity to ``sig(n, upper)`` is 0.5 · same_as + 0.5."""
    emb = np.zeros(DIM, np.float32)
    emb[n] = same_as
    emb[other] = np.sqrt(1.0 - same_as**2)
    colour = np.zeros(len(COLOUR_NAMES), np.float32)
    colour[COLOUR_NAMES.index(upper or "grey")] = 1.0
    return Signature(embedding=emb, colour=colour, upper_colour=upper, lower_colour=lower)


def came_in(
    t: datetime,
    s: Signature | None,
    track: int,
    camera: str = "door",
    point: tuple[float, float] = (0.5, 0.9),
) -> Sighting:
    """A door-camera track that walks in at ``t`` and leaves the view 3 s later."""
    return Sighting(
        SITE,
        camera,
        track,
        t,
        t + timedelta(seconds=3),
        (SightingCrossing("door-line", "in", t, point),),
        signature=s,
    )


def went_out(t: datetime, s: Signature | None, track: int, camera: str = "door") -> Sighting:
    """A door-camera track that appears 3 s before ``t`` and walks out at ``t``."""
    return Sighting(
        SITE,
        camera,
        track,
        t - timedelta(seconds=3),
        t,
        (SightingCrossing("door-line", "out", t, (0.5, 0.9)),),
        signature=s,
    )


def seen(start: datetime, end: datetime, s: Signature, track: int, zones: tuple[str, ...] = ()) -> Sighting:
    """An in-store camera track without crossings (presence only)."""
    return Sighting(
        SITE,
        "floor",
        track,
        start,
        end,
        zones=tuple(SightingZone(z, start, end) for z in zones),
        signature=s,
    )


def feed(resolver: Resolver, sightings: list[Sighting]) -> dict[str, Visit]:
    """What the store would hold: every returned visit upserted by id."""
    store: dict[str, Visit] = {}
    for s in sightings:
        for v in resolver.add(s):
            store[v.visit_id] = v
    return store


def by_first_entry(store: dict[str, Visit]) -> list[Visit]:
    return sorted(store.values(), key=lambda v: (v.first_entry, v.visit_id))


# ---------------------------------------------------------------------------------------------


def test_total_traffic_and_deduplicated_traffic() -> None:
    a, b = sig(1), sig(2)
    store = feed(
        Resolver(SITE),
        [
            came_in(at(10, 0), a, 1),
            went_out(at(10, 30), a, 2),
            came_in(at(11, 0), b, 3),
            went_out(at(11, 45), b, 4),
            came_in(at(13, 0), a, 5),  # 2 h 30 min after A left: the same visit
            went_out(at(13, 20), a, 6),
            came_in(at(18, 0), a, 7),  # 4 h 40 min after A left: a new, returning visit
            went_out(at(18, 30), a, 8),
        ],
    )
    a1, b1, a2 = by_first_entry(store)
    assert [e.at for e in a1.entries] == [at(10, 0), at(13, 0)]
    assert a1.last_exit == at(13, 20)
    assert (a1.returning, b1.returning, a2.returning) == (False, False, True)
    assert a2.since_previous_s == 16_800.0  # 18:00 − 13:20
    summary = summarize(store.values())
    assert (summary.total, summary.deduplicated) == (4, 3)
    assert (summary.new, summary.returning, summary.batches) == (2, 1, 3)


def test_staff_are_not_customers() -> None:
    uniform = sig(10, "black", "black")
    li_wei = StaffMember("s-1", "Li Wei", (uniform,))
    today = sig(10, "black", "black", same_as=0.8)  # today's view of the uniform: similarity 0.9
    store = feed(
        Resolver(SITE, staff=[li_wei]),
        [
            came_in(at(8, 50), today, 1),
            came_in(at(10, 0), sig(3), 2),
            went_out(at(10, 40), sig(3), 3),
            went_out(at(12, 0), today, 4),
            came_in(at(13, 0), today, 5),
            came_in(at(15, 0), sig(4), 6),
            went_out(at(15, 30), sig(4), 7),
            went_out(at(18, 0), today, 8),
        ],
    )
    staff = [v for v in store.values() if v.category == PersonCategory.STAFF]
    assert len(staff) == 1
    assert len(staff[0].entries) == 2
    assert staff[0].last_exit == at(18, 0)
    assert staff[0].exclusion is not None
    assert staff[0].exclusion.reason == "staff:Li Wei"
    assert abs(staff[0].exclusion.confidence - 0.9) < 1e-6
    assert staff[0].batch_id is None
    summary = summarize(store.values())
    assert (summary.total, summary.deduplicated) == (2, 2)
    assert summary.excluded == {"staff:Li Wei": 1}


def test_a_courier_is_excluded_and_a_red_shirted_customer_is_not() -> None:
    rider = sig(20, "yellow", "black")
    red = sig(21, "red", "black")
    yellow_customer = sig(22, "yellow", "blue")
    resolver = Resolver(SITE, exclusion_classes=default_courier_classes())

    at_entry = resolver.add(came_in(at(12, 0), rider, 1))
    assert [v.category for v in at_entry] == [PersonCategory.CUSTOMER]  # stay unknown yet
    at_exit = resolver.add(went_out(at(12, 1, 30), rider, 2))  # 90 s later
    assert [v.category for v in at_exit] == [PersonCategory.INVALID]
    assert at_exit[0].exclusion is not None
    assert (at_exit[0].exclusion.reason, at_exit[0].exclusion.confidence) == ("courier:meituan", 1.0)

    store = {v.visit_id: v for v in at_entry + at_exit}
    store |= feed(
        resolver,
        [
            came_in(at(12, 10), red, 3),
            went_out(at(12, 12), red, 4),  # red top, black trousers, 2 minutes: a customer
            came_in(at(14, 0), yellow_customer, 5),
            went_out(at(14, 40), yellow_customer, 6),  # yellow top but 40 minutes: a customer
        ],
    )
    summary = summarize(store.values())
    assert (summary.total, summary.deduplicated) == (2, 2)
    assert summary.excluded == {"courier:meituan": 1}

    # Why JD (red) ships disabled: enabled, it would have excluded the red-shirted customer.
    jd_on = [
        c if c.class_id != "courier:jd" else type(c)(c.class_id, c.name, c.exemplars, c.colour_rule, True)
        for c in default_courier_classes()
    ]
    risky = feed(
        Resolver(SITE, exclusion_classes=jd_on),
        [came_in(at(12, 10), red, 3), went_out(at(12, 12), red, 4)],
    )
    assert summarize(risky.values()).excluded == {"courier:jd": 1}


def test_a_batch_of_three() -> None:
    store = feed(
        Resolver(SITE),
        [
            came_in(at(10, 0, 0), sig(1), 1, point=(0.40, 0.90)),  # G
            came_in(at(10, 0, 4), sig(2), 2, point=(0.50, 0.90)),  # H: 4 s after G
            came_in(at(10, 0, 8), sig(3), 3, point=(0.60, 0.88)),  # I: 4 s after H, 8 s after G
            came_in(at(10, 0, 3), sig(4), 4, point=(0.95, 0.20)),  # K: at the same time, far away
            came_in(at(10, 0, 30), sig(5), 5, point=(0.50, 0.90)),  # J: 22 s after I
        ],
    )
    g, k, h, i, j = by_first_entry(store)
    assert g.batch_id == h.batch_id == i.batch_id == f"b/{g.visit_id}"
    assert k.batch_id == f"b/{k.visit_id}"
    assert j.batch_id == f"b/{j.visit_id}"
    summary = summarize(store.values())
    assert (summary.deduplicated, summary.batches) == (5, 3)


def test_new_and_returning_visitors() -> None:
    memory = [
        RememberedPerson("v-p", SITE, at(15, 0, day=date(2025, 3, 1)), sig(30)),
        RememberedPerson("v-q", SITE, at(15, 0, day=date(2025, 3, 8)) - timedelta(days=200), sig(31)),
    ]
    store = feed(
        Resolver(SITE, memory=memory),
        [came_in(at(11, 0), sig(30), 1), came_in(at(11, 30), sig(31), 2), came_in(at(12, 0), sig(32), 3)],
    )
    p, q, r = by_first_entry(store)
    assert (p.returning, p.since_previous_s) == (True, 590_400.0)  # 6 days 20 hours
    assert (q.returning, q.since_previous_s) == (False, None)  # 200 days ago: beyond 180 days
    assert (r.returning, r.since_previous_s) == (False, None)
    summary = summarize(store.values())
    assert (summary.deduplicated, summary.new, summary.returning) == (3, 2, 1)


def test_a_sighting_without_signature() -> None:
    resolver = Resolver(SITE)
    first = resolver.add(came_in(at(10, 0), None, 7))
    continued = Sighting(
        SITE,
        "door",
        7,  # the same track, cut in two: its second part starts 2 s after the first ended
        at(10, 0, 5),
        at(10, 5),
        (SightingCrossing("door-line", "out", at(10, 5), (0.5, 0.9)),),
    )
    exit_changes = resolver.add(continued)
    second = resolver.add(came_in(at(10, 20), None, 9))
    stray_exit = resolver.add(went_out(at(10, 30), None, 11))
    assert [v.last_exit for v in exit_changes] == [at(10, 5)]
    assert exit_changes[0].visit_id == first[0].visit_id
    assert stray_exit == []
    summary = summarize(first + exit_changes + second)
    assert (summary.total, summary.deduplicated) == (2, 2)


def test_business_hours() -> None:
    rules = ResolverRules(open_time=time(10, 0), close_time=time(22, 0), staff_zone_ids=("counter",))
    s, u, w, t = sig(40), sig(41), sig(42), sig(43)
    resolver = Resolver(SITE, rules)
    store = feed(
        resolver,
        [
            seen(at(9, 30), at(12, 0), s, 1),  # counts from 10:00: 2 h
            seen(at(13, 0), at(19, 0), s, 2),  # 6 h
            came_in(at(14, 0), u, 3),
            seen(at(14, 0, 3), at(16, 0), u, 4),
            went_out(at(16, 0), u, 5),
            seen(at(15, 0), at(15, 10), w, 6, zones=("counter",)),
            came_in(at(9, 30), t, 7),  # before opening
            went_out(at(9, 45), t, 8),
        ],
    )
    suggestions = resolver.staff_suggestions(date(2025, 3, 8))
    assert [(x.present_s, round(x.share, 3), x.staff_zones) for x in suggestions] == [
        (28_800.0, 0.667, ()),
        (600.0, 0.014, ("counter",)),
    ]
    assert suggestions[0].signature is s
    summary = summarize(store.values())
    assert (summary.total, summary.deduplicated) == (1, 1)
    assert summary.excluded == {"outside_hours": 1}


def test_every_worked_example_in_the_doc_has_its_test() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "visitors.md").read_text()
    named = re.findall(r"^### \d+\. .+ — `(test_\w+)`$", doc, flags=re.MULTILINE)
    assert len(named) == 7
    assert all(callable(globals().get(name)) for name in named), named
