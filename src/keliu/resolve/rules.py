"""Tuning of visitor resolution: windows, thresholds, batches, business hours, staff and courier rules.

Every number the resolver decides with lives here, with its unit. The similarity thresholds are
placeholders until a benchmark on real footage tunes them (docs/visitors.md); they are not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from keliu.domain.visits import ColourRule, ExclusionClass, RememberedPerson

__all__ = ["ResolverRules", "default_courier_classes", "expires_at"]


@dataclass(frozen=True)
class ResolverRules:
    """How one site's sightings become visits. Times are seconds unless named otherwise."""

    # 去重间隔: an entry continues a person's visit when it comes at most this long after that person
    # was last seen at the site (any camera). Seed 001's default is 4 hours.
    dedup_window_s: float = 4 * 3600.0
    # 回头客 memory: a new visit is *returning* when it matches a person whose earlier visit was last
    # seen at most this long ago; remembered signatures expire after it (REQUIREMENTS I5, I7).
    returning_memory_s: float = 180 * 86400.0

    # An exit is matched to a visit that is still open (no exit since its last entry) up to this long
    # after the person was last seen: with only a door camera, people inside are not seen at all.
    open_visit_s: float = 12 * 3600.0

    # Same-person similarity (keliu.domain.visits.similarity) for de-dup, cross-camera matching, exits
    # and returning visitors. The best-F1 threshold of bench/dedup.py over five real sequences
    # (docs/benchmarks.md; precision and recall both stay below the 0.90 goal).
    match_threshold: float = 0.69
    # Similarity to an enrolled staff member's signature for a sighting to be staff (员工):
    # bench/exclusion.py, staff recall 0.73 with 5.4 % of customers wrongly excluded (docs/benchmarks.md).
    staff_threshold: float = 0.70
    # Similarity to an exclusion class exemplar (e.g. a courier's jacket) to exclude; kept strict
    # because exemplars are few and the colour rule carries the courier defaults.
    exemplar_threshold: float = 0.80

    # 批次: a new visit joins a batch when its entry is within ``batch_gap_s`` of an entry already in
    # the batch, on the same camera, and at most ``batch_proximity`` apart (frame fractions, Euclidean).
    batch_gap_s: float = 5.0
    batch_proximity: float = 0.25

    # 营业时间 in the site's local time zone (IANA name), every day. A ``close_time`` at or before
    # ``open_time`` is on the next day: 22:00–02:00 is overnight and belongs to the day it opens on
    # (01:00 Saturday is Friday's business hours); equal times: open 24 hours. Used for staff
    # suggestions and, with ``exclude_outside_hours``, for counting.
    open_time: time = time(9, 0)
    close_time: time = time(21, 0)
    timezone: str = "Asia/Shanghai"
    # The site's stored hours per weekday (Monday first), when it has them: (opens, closes) in minutes
    # after that day's local midnight, closes > 1440 for overnight; None: closed that day. They take
    # the place of open_time/close_time, so the resolver and the rollups use the same hours.
    weekly_minutes: tuple[tuple[int, int] | None, ...] | None = None
    # Seed 001: "非营业时间内抓拍的顾客不计入总人次" — a visit none of whose entries is within business
    # hours is excluded with reason ``outside_hours`` (staff stay staff).
    exclude_outside_hours: bool = True

    # Staff suggestions (never auto-enrolled): present for at least this share of a day's business
    # hours, or seen in one of these zones (behind counters, workshop).
    staff_presence_share: float = 0.60
    staff_zone_ids: tuple[str, ...] = ()
    presence_days_kept: int = 7  # days of presence kept in memory for staff suggestions

    # Couriers (外卖/快递) drop off and leave: the default colour rules exclude only visits at most
    # this long, once the exit is known.
    courier_max_stay_s: float = 300.0

    # Space-time (docs/signatures.md, "Space-time constraints"). With ``reentry_needs_exit`` an entry
    # continues a person's visit only when that visit's exit was seen, after its last entry and at
    # least ``min_reentry_s`` before this entry: somebody still inside cannot walk in again. Off by
    # default: it turns every missed exit into a de-dup miss, and it suits sites whose every door is
    # counted (bench/dedup.py --space-time has the figures).
    reentry_needs_exit: bool = False
    min_reentry_s: float = 0.0
    # Walking times between cameras: (camera a, camera b, seconds). A sighting on one of them can be
    # the person seen on the other only when the two sightings are at least that far apart in time
    # (either direction); pairs not listed are unconstrained.
    min_travel_s: tuple[tuple[str, str, float], ...] = ()

    # Two sightings of the same camera and track id are one person when the second starts at most
    # this long after the first ended (a track cut at a time limit, a long track emitted in parts).
    track_continuation_s: float = 10.0
    # Signatures kept per person for matching (the first and the most recent ones).
    signatures_per_person: int = 4
    # Hard caps, on top of the time limits, so memory stays bounded whatever the traffic.
    max_active_people: int = 20_000
    max_remembered: int = 200_000

    def __post_init__(self) -> None:
        if self.dedup_window_s < 0 or self.returning_memory_s < self.dedup_window_s:
            raise ValueError("need 0 <= dedup_window_s <= returning_memory_s")
        if self.open_time.tzinfo is not None or self.close_time.tzinfo is not None:
            raise ValueError("business hours: open_time and close_time are local times (no tzinfo)")
        if not 0.0 < self.staff_presence_share <= 1.0:
            raise ValueError("staff_presence_share must be in (0, 1]")
        if self.signatures_per_person < 1 or self.max_active_people < 1 or self.max_remembered < 0:
            raise ValueError("signatures_per_person and max_active_people must be >= 1")
        if self.presence_days_kept < 1:
            raise ValueError("presence_days_kept must be >= 1")
        if self.open_visit_s < 0:
            raise ValueError("open_visit_s must be >= 0")
        if self.batch_gap_s < 0 or self.batch_proximity < 0 or self.track_continuation_s < 0:
            raise ValueError("batch_gap_s, batch_proximity and track_continuation_s must be >= 0")
        if self.min_reentry_s < 0 or any(t < 0 or a == b for a, b, t in self.min_travel_s):
            raise ValueError("min_reentry_s and walking times must be >= 0, between two cameras")
        if self.weekly_minutes is not None and len(self.weekly_minutes) != 7:
            raise ValueError("weekly_minutes needs 7 entries, Monday first")
        ZoneInfo(self.timezone)  # raises for an unknown time zone name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_day(self, at: datetime) -> date:
        """The site's local calendar day of a UTC time."""
        return at.astimezone(self.zone).date()

    @property
    def overnight(self) -> bool:
        """Whether the business hours (of any weekday) close on the next day."""
        if self.weekly_minutes is not None:
            return any(h is not None and h[1] > 1440 for h in self.weekly_minutes)
        return self.close_time <= self.open_time

    def business_hours(self, day: date) -> tuple[datetime, datetime]:
        """Opening and closing of the business day ``day`` (local), as aware datetimes (compare freely
        with UTC ones); an overnight closing is on the next calendar day; a closed day is empty."""
        zone = self.zone
        if self.weekly_minutes is not None:
            midnight = datetime.combine(day, time(0, 0), zone)
            hours = self.weekly_minutes[day.weekday()]
            if hours is None:
                return midnight, midnight
            return midnight + timedelta(minutes=hours[0]), midnight + timedelta(minutes=hours[1])
        closes_on = day + timedelta(days=1) if self.overnight else day
        return datetime.combine(day, self.open_time, zone), datetime.combine(closes_on, self.close_time, zone)

    def business_day(self, at: datetime) -> date | None:
        """The business day whose hours contain ``at`` (the day before its calendar day for the hours
        after midnight of an overnight period); None outside business hours."""
        day = self.local_day(at)
        for candidate in (day, day - timedelta(days=1)) if self.overnight else (day,):
            start, end = self.business_hours(candidate)
            if start <= at < end:
                return candidate
        return None

    def within_business_hours(self, at: datetime) -> bool:
        return self.business_day(at) is not None

    def expires_at(self, person: RememberedPerson) -> datetime:
        """When a remembered signature must be deleted: last seen + the returning-visitor memory."""
        return person.last_seen + timedelta(seconds=self.returning_memory_s)


def expires_at(person: RememberedPerson, rules: ResolverRules | None = None) -> datetime:
    """When the store must delete ``person`` (``rules`` default: ``ResolverRules()``)."""
    return (rules or ResolverRules()).expires_at(person)


def default_courier_classes(max_stay_s: float | None = None) -> tuple[ExclusionClass, ...]:
    """The shipped courier classes (无效客流), by uniform colour *and* a short stay.

    * ``courier:meituan`` 美团 — yellow upper body, stay ≤ ``max_stay_s``. Enabled.
    * ``courier:eleme`` 饿了么 — blue upper body, stay ≤ ``max_stay_s``. Enabled. Blue tops are common,
      so a customer in blue who leaves within the limit is excluded too: add exemplars or disable
      it where that happens.
    * ``courier:jd`` 京东 — red upper *and* black/grey lower body, short stay. **Disabled**.
    * ``courier:sf`` 顺丰 — black upper *and* black lower body, short stay. **Disabled**.

    Red tops and all-black outfits are ordinary clothing (all-black especially in winter), so colour
    plus a short stay would exclude real customers who pop in; JD and SF are off until a site enables
    them knowingly or, better, adds exemplar signatures of the riders it actually gets.
    ``max_stay_s`` defaults to ``ResolverRules().courier_max_stay_s``.
    """
    stay = ResolverRules().courier_max_stay_s if max_stay_s is None else max_stay_s
    return (
        ExclusionClass("courier:meituan", "美团 Meituan", colour_rule=ColourRule(("yellow",), (), stay)),
        ExclusionClass("courier:eleme", "饿了么 Ele.me", colour_rule=ColourRule(("blue",), (), stay)),
        ExclusionClass(
            "courier:jd", "京东 JD", colour_rule=ColourRule(("red",), ("black", "grey"), stay), enabled=False
        ),
        ExclusionClass(
            "courier:sf", "顺丰 SF", colour_rule=ColourRule(("black",), ("black",), stay), enabled=False
        ),
    )
