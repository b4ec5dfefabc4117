"""The analytics metrics (客流指标): one pure function per metric over typed inputs, one frozen result.

Every number a dashboard or report shows is defined here, once (docs/metrics.md gives each metric's
definition, the seed's Chinese name and a worked example that ``tests/unit/test_metrics.py`` checks).
Per-visit rules applied when the rollups are computed (high-frequency returning, return-interval
buckets, received, business hours) live in ``keliu.store.rollups`` and are re-exported here.

Pure: no database, no clock, no I/O; times are passed in. Ratios are ``None`` when their denominator
is zero (never a made-up 0 % or 100 %). Must not read the store (``keliu.analytics.queries`` does).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Literal

from keliu.store.reference import Area, ZoneStay
from keliu.store.rollups import (
    HIGH_FREQUENCY_S,
    RETURN_BUCKETS,
    is_high_frequency,
    is_received,
    return_bucket,
    within_business_hours,
)

__all__ = [
    "AGE_BINS",
    "ENTRANCE",
    "EXIT",
    "HIGH_FREQUENCY_S",
    "PROFILE_UNAVAILABLE",
    "RETURN_BUCKETS",
    "TIME_SLOTS",
    "Audit",
    "AuditInput",
    "AuditRow",
    "Brief",
    "BriefItem",
    "BusinessHoursEffect",
    "Comparison",
    "EntranceHeat",
    "EntranceTraffic",
    "FloorClimb",
    "Funnel",
    "FunnelStage",
    "GroupSummary",
    "HeatItem",
    "HolidayKind",
    "HolidayPeriod",
    "HolidayStats",
    "HolidayStatus",
    "HourPoint",
    "HourlyComparison",
    "Indices",
    "Kpi",
    "KpiWindow",
    "MeanBy",
    "MetricName",
    "MultiStore",
    "PeriodWindow",
    "Profile",
    "ProfileCell",
    "ReturnIntervals",
    "ShopRank",
    "SiteRank",
    "SiteTraffic",
    "SlotPeak",
    "SlotPeaks",
    "StoresOverview",
    "TargetProgress",
    "Traffic",
    "Trend",
    "VisitFacts",
    "VisitPath",
    "WindowPeriod",
    "ZoneConversion",
    "ZoneFlow",
    "ZoneStats",
    "accuracy",
    "accuracy_audit",
    "age_bin",
    "brief",
    "browsing_depth",
    "business_hours_effect",
    "category_heat",
    "category_shares",
    "change",
    "compare",
    "dwell_by",
    "entrance_heat",
    "epoch_us",
    "floor_climb",
    "floor_climb_of",
    "flow_zones",
    "funnel",
    "holiday_stats",
    "holiday_status",
    "hourly_comparison",
    "indices",
    "indices_us",
    "is_high_frequency",
    "is_received",
    "kpi",
    "kpi_windows",
    "means_by_weather",
    "means_by_weekday",
    "occupancy_by",
    "period_to_date_windows",
    "profile",
    "profile_unavailable",
    "rank_sites",
    "ratio",
    "return_bucket",
    "return_intervals",
    "same_elapsed_window",
    "seconds_us",
    "shift_months",
    "shop_ranking",
    "shop_ranks",
    "target_progress",
    "time_slot_peaks",
    "trend",
    "wilson_interval",
    "within_business_hours",
    "zone_comparison",
    "zone_conversion",
    "zone_flows",
    "zone_flows_of",
]

MetricName = Literal["total", "deduplicated", "new", "returning", "batches"]


# ------------------------------------------------------------------------------------ basics


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``; ``None`` when the denominator is 0."""
    return None if denominator == 0 else numerator / denominator


def change(current: float, previous: float) -> float | None:
    """Relative change 变化率 ``(current - previous) / previous``; ``None`` when ``previous`` is 0."""
    return None if previous == 0 else (current - previous) / previous


@dataclass(frozen=True)
class Comparison:
    """A value with the value it is compared to and the relative change (``None``: nothing before)."""

    value: float
    previous: float
    change: float | None


def compare(value: float, previous: float) -> Comparison:
    return Comparison(value, previous, change(value, previous))


@dataclass(frozen=True)
class Traffic:
    """Additive traffic sums of one period (one rollup row, or many added up); see docs/metrics.md.

    ``entries`` 总客流 (customer entries within business hours), ``visits`` 去重客流 (customer
    visits), ``new_visits`` 新客, ``returning_visits`` 回头客, ``returning_hf`` 高频回头客, ``staff``,
    ``invalid`` (``outside_hours`` of them), ``entries_outside_hours``, ``batches`` 批次, ``received``
    接待, ``dwell_sum_s``/``dwell_count`` 驻留, ``passby`` 过店, ``ret_*`` 活跃度 buckets, ``exits``
    离店 (customer exits), ``door_in``/``door_out`` (every crossing of a door line). Counts are
    whole numbers except where a previous period's partial hour is taken pro rata (``scaled``).
    """

    entries: float = 0
    entries_outside_hours: float = 0
    visits: float = 0
    new_visits: float = 0
    returning_visits: float = 0
    returning_hf: float = 0
    staff: float = 0
    invalid: float = 0
    outside_hours: float = 0
    batches: float = 0
    received: float = 0
    dwell_sum_s: float = 0.0
    dwell_count: float = 0
    passby: float = 0
    ret_1_3: float = 0
    ret_4_7: float = 0
    ret_8_15: float = 0
    ret_gt15: float = 0
    exits: float = 0
    door_in: float = 0
    door_out: float = 0

    def values(self) -> tuple[float, ...]:
        """The sums in field order (the order of ``keliu.store.schema.ROLLUP_METRICS``)."""
        return (
            self.entries,
            self.entries_outside_hours,
            self.visits,
            self.new_visits,
            self.returning_visits,
            self.returning_hf,
            self.staff,
            self.invalid,
            self.outside_hours,
            self.batches,
            self.received,
            self.dwell_sum_s,
            self.dwell_count,
            self.passby,
            self.ret_1_3,
            self.ret_4_7,
            self.ret_8_15,
            self.ret_gt15,
            self.exits,
            self.door_in,
            self.door_out,
        )

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(*[a + b for a, b in zip(self.values(), other.values(), strict=True)])

    def scaled(self, factor: float) -> Traffic:
        """Every sum times ``factor`` (a part of an hour, for same-elapsed-time comparisons)."""
        return Traffic(*[a * factor for a in self.values()])

    def metric(self, name: MetricName) -> float:
        """总客流 ``total`` = entries, 去重客流 ``deduplicated`` = visits, ``new``, ``returning``,
        ``batches``."""
        return {
            "total": self.entries,
            "deduplicated": self.visits,
            "new": self.new_visits,
            "returning": self.returning_visits,
            "batches": self.batches,
        }[name]

    @property
    def mean_dwell_s(self) -> float | None:
        """平均驻留时长: mean stay of customer visits with a known exit."""
        return ratio(self.dwell_sum_s, self.dwell_count)


def shift_months(moment: datetime, months: int) -> datetime:
    """The same wall-clock time ``months`` months later (earlier if negative); the day is clamped to
    the month's length (31 March - 1 month = 28/29 February)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last))


# ------------------------------------------------------------------------------- A1 brief


WindowPeriod = Literal["day", "week", "month", "year", "custom"]


@dataclass(frozen=True)
class PeriodWindow:
    """A period so far and the same elapsed part of the previous period (local, aware times)."""

    period: WindowPeriod
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime


def same_elapsed_window(period: WindowPeriod, start: datetime, now: datetime, days: int = 0) -> PeriodWindow:
    """``[start, now)`` of a period that started at local ``start`` (a local midnight), with the same
    elapsed part of the previous period — what every "so far" comparison (客流简报, reports of a
    period still in progress) compares with, so that like is compared with like: the day before up
    to the same time, the week before up to the same weekday and time, the month before up to the
    same day (clamped to its length) and time, the year before up to the same date and time, or for
    a ``custom`` period of ``days`` days the ``days`` days before it."""
    shift: Callable[[datetime], datetime]
    if period == "day":
        shift = lambda m: m - timedelta(days=1)  # noqa: E731
    elif period == "week":
        shift = lambda m: m - timedelta(days=7)  # noqa: E731
    elif period == "month":
        shift = lambda m: shift_months(m, -1)  # noqa: E731
    elif period == "year":
        shift = lambda m: shift_months(m, -12)  # noqa: E731
    else:
        if days < 1:
            raise ValueError("a custom period needs its length in days")
        shift = lambda m: m - timedelta(days=days)  # noqa: E731
    return PeriodWindow(period, start, now, shift(start), shift(now))


def period_to_date_windows(now: datetime, week_start: int = 0) -> tuple[PeriodWindow, ...]:
    """客流简报 windows at local time ``now``: today, this week (from ``week_start``, 0 = Monday), this
    month and this year so far, each with the previous period up to the same elapsed point
    (:func:`same_elapsed_window`)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = midnight - timedelta(days=(midnight.weekday() - week_start) % 7)
    month = midnight.replace(day=1)
    year = month.replace(month=1)
    return (
        same_elapsed_window("day", midnight, now),
        same_elapsed_window("week", week, now),
        same_elapsed_window("month", month, now),
        same_elapsed_window("year", year, now),
    )


@dataclass(frozen=True)
class BriefItem:
    period: WindowPeriod
    window: PeriodWindow
    total: Comparison  # 总客流
    deduplicated: Comparison  # 去重客流
    new: Comparison
    returning: Comparison


@dataclass(frozen=True)
class Brief:
    """客流简报 (A1)."""

    items: tuple[BriefItem, ...]


def brief(windows: Sequence[PeriodWindow], current: Sequence[Traffic], previous: Sequence[Traffic]) -> Brief:
    """The brief from each window's traffic so far and the previous period's traffic to the same point."""
    return Brief(
        tuple(
            BriefItem(
                w.period,
                w,
                compare(c.entries, p.entries),
                compare(c.visits, p.visits),
                compare(c.new_visits, p.new_visits),
                compare(c.returning_visits, p.returning_visits),
            )
            for w, c, p in zip(windows, current, previous, strict=True)
        )
    )


# ------------------------------------------------------------------------------- A2 trend


@dataclass(frozen=True)
class Trend:
    """趋势分析 (A2): the points, their mean (客流均值) and peak (客流峰值) with where it is."""

    points: tuple[tuple[str, float], ...]
    mean: float | None
    peak: float | None
    peak_at: str | None


def trend(points: Sequence[tuple[str, float]]) -> Trend:
    """Mean and peak of a series (the first point wins a tie for the peak)."""
    if not points:
        return Trend((), None, None, None)
    peak_at, peak = max(points, key=lambda p: p[1])
    for label, value in points:
        if value == peak:
            peak_at = label
            break
    return Trend(tuple(points), sum(v for _, v in points) / len(points), peak, peak_at)


@dataclass(frozen=True)
class HourPoint:
    hour: int  # local hour of day, 0–23
    today: float | None  # None: the hour has not started yet
    yesterday: float


@dataclass(frozen=True)
class HourlyComparison:
    """Today vs yesterday by local hour (A2), with today's peak hour (客流高峰时段)."""

    hours: tuple[HourPoint, ...]
    peak_hour: int | None
    yesterday_peak_hour: int | None


def hourly_comparison(
    today: Mapping[int, float],
    yesterday: Mapping[int, float],
    now_hour: int | None = None,
    hours: Iterable[int] = range(24),
) -> HourlyComparison:
    """``today``/``yesterday``: value per local hour (missing = 0). Hours after ``now_hour`` have no
    value today yet. The peak hour is the earliest hour with the highest value (None if all zero)."""
    points = tuple(
        HourPoint(
            h, None if now_hour is not None and h > now_hour else today.get(h, 0.0), yesterday.get(h, 0.0)
        )
        for h in hours
    )

    def peak(values: list[tuple[int, float]]) -> int | None:
        best = max((v for _, v in values), default=0.0)
        return None if best <= 0 else next(h for h, v in values if v == best)

    return HourlyComparison(
        points,
        peak([(p.hour, p.today) for p in points if p.today is not None]),
        peak([(p.hour, p.yesterday) for p in points]),
    )


# ----------------------------------------------------------------------------- A3 profile

AGE_BINS: tuple[str, ...] = ("0-10", "11-20", "21-30", "31-40", "41-50", "51-60", "61+", "unknown")


def age_bin(age: int | None) -> str:
    """The 10-year bin of an age (``21-30``); ``unknown`` when no age is known."""
    if age is None:
        return "unknown"
    if age <= 10:
        return "0-10"
    if age > 60:
        return "61+"
    lo = (age - 1) // 10 * 10 + 1
    return f"{lo}-{lo + 9}"


@dataclass(frozen=True)
class ProfileCell:
    gender: str
    age: str
    count: int
    share: float | None


PROFILE_UNAVAILABLE = (
    "未安装性别/年龄属性模型，无法提供客户画像 — no gender/age attribute model is installed, so there "
    "is no customer profile (keliu does not guess gender or age at CCTV distance)"
)


@dataclass(frozen=True)
class Profile:
    """客户画像 (A3): gender × age-bin shares; ``main_group`` (主力群体) among known attributes only.

    ``available`` is False when no attribute model is installed (today always: no face at CCTV
    distance): then ``reason`` says so, and there are no cells or shares to chart; ``total`` is still
    the number of visits."""

    total: int
    cells: tuple[ProfileCell, ...]
    gender_shares: tuple[tuple[str, float | None], ...]
    unknown_share: float | None
    main_group: ProfileCell | None
    available: bool = True
    reason: str | None = None


def profile_unavailable(total: int, reason: str = PROFILE_UNAVAILABLE) -> Profile:
    """The profile when no attribute model is installed: said plainly, no chart data of 100 % unknown."""
    return Profile(total, (), (), None, None, False, reason)


def profile(counts: Mapping[tuple[str, str], int]) -> Profile:
    """``counts``: visits per (gender: male/female/unknown, age bin). Shares are of all visits."""
    total = sum(counts.values())
    cells = tuple(ProfileCell(g, a, n, ratio(n, total)) for (g, a), n in sorted(counts.items()) if n > 0)
    genders: Counter[str] = Counter()
    for (g, _), n in counts.items():
        genders[g] += n
    unknown = sum(n for (g, a), n in counts.items() if g == "unknown" or a == "unknown")
    known = [c for c in cells if c.gender != "unknown" and c.age != "unknown"]
    main = max(known, key=lambda c: c.count) if known else None
    return Profile(
        total,
        cells,
        tuple((g, ratio(n, total)) for g, n in sorted(genders.items())),
        ratio(unknown, total),
        main,
    )


# ------------------------------------------------------------------------------ A4 funnel


@dataclass(frozen=True)
class FunnelStage:
    name: str
    label: str  # the seed's word
    count: float | None  # None: not measured (no pass-by line)
    of_previous: float | None
    of_first: float | None


@dataclass(frozen=True)
class Funnel:
    """客流漏斗 (A4): 过店 pass-by → 进店 entered (去重客流) → 接待 received → 回头客 returning →
    高频回头客 high-frequency returning (previous visit ≤ 3 days before). ``capture_rate`` 进店率 =
    entered / pass-by."""

    stages: tuple[FunnelStage, ...]
    capture_rate: float | None


def funnel(t: Traffic, passby_measured: bool) -> Funnel:
    raw: list[tuple[str, str, float | None]] = [
        ("passby", "过店", t.passby if passby_measured else None),
        ("entered", "进店", t.visits),
        ("received", "接待", t.received),
        ("returning", "回头客", t.returning_visits),
        ("high_frequency", "高频回头客", t.returning_hf),
    ]
    first = next((c for _, _, c in raw if c is not None), None)
    stages = []
    previous: float | None = None
    for name, label, count in raw:
        of_previous = None if count is None or previous is None else ratio(count, previous)
        of_first = None if count is None or first is None else ratio(count, first)
        stages.append(FunnelStage(name, label, count, of_previous, of_first))
        if count is not None:
            previous = count
    capture = ratio(t.visits, t.passby) if passby_measured else None
    return Funnel(tuple(stages), capture)


# ---------------------------------------------------------------------------- A5 activity


@dataclass(frozen=True)
class ReturnIntervals:
    """活跃分析 (A5): returning visits by days since the previous visit: 1–3 (same day included),
    4–7, 8–15, > 15; shares of the returning visits whose interval is known."""

    buckets: tuple[tuple[str, int, float | None], ...]
    total: int


def return_intervals(t: Traffic) -> ReturnIntervals:
    counts = [("1-3", t.ret_1_3), ("4-7", t.ret_4_7), ("8-15", t.ret_8_15), (">15", t.ret_gt15)]
    total = sum(n for _, n in counts)
    return ReturnIntervals(tuple((label, int(n), ratio(n, total)) for label, n in counts), int(total))


# ------------------------------------------------------------------------ A6 entrance heat


@dataclass(frozen=True)
class EntranceTraffic:
    """One door's traffic: customer ``entries`` 进店 / ``visits`` / ``exits`` 离店, and every crossing
    of its line whoever made it (``door_in`` / ``door_out``; docs/metrics.md, "Exits and pass-by")."""

    camera_id: str
    line_id: str
    name: str
    group: str | None
    entries: float
    visits: float
    exits: float = 0
    door_in: float = 0
    door_out: float = 0


@dataclass(frozen=True)
class HeatItem:
    key: str
    name: str
    entries: float  # 进店 customer entries
    visits: float
    share: float | None  # of all entries
    exits: float = 0  # 离店 customer exits
    door_in: float = 0  # every 'in' crossing of the door (staff and unlinked too)
    door_out: float = 0  # every 'out' crossing of the door


@dataclass(frozen=True)
class EntranceHeat:
    """进场热力 / 出入口分布 (A6): entrances and entrance groups ranked by entries (总客流), with each
    one's share of all entries, its exits (离店) and every crossing of its line in and out;
    ``entrances`` cut to ``top`` (None: all)."""

    entrances: tuple[HeatItem, ...]
    groups: tuple[HeatItem, ...]
    total_entries: float


def entrance_heat(items: Iterable[EntranceTraffic], top: int | None = 15) -> EntranceHeat:
    rows = list(items)
    total = sum(r.entries for r in rows)

    def rank(xs: Iterable[HeatItem]) -> list[HeatItem]:
        return sorted(xs, key=lambda h: (-h.entries, -h.visits, h.name, h.key))

    entrances = rank(
        HeatItem(
            f"{r.camera_id}/{r.line_id}",
            r.name,
            r.entries,
            r.visits,
            ratio(r.entries, total),
            r.exits,
            r.door_in,
            r.door_out,
        )
        for r in rows
    )
    grouped: dict[str, list[float]] = defaultdict(lambda: [0.0] * 5)
    for r in rows:
        sums = grouped[r.group or r.name]
        for i, value in enumerate((r.entries, r.visits, r.exits, r.door_in, r.door_out)):
            sums[i] += value
    groups = rank(
        HeatItem(g, g, e, v, ratio(e, total), x, di, do) for g, (e, v, x, di, do) in grouped.items()
    )
    return EntranceHeat(tuple(entrances if top is None else entrances[:top]), tuple(groups), total)


# -------------------------------------------------------------------------- zones: inputs


@dataclass(frozen=True)
class VisitPath:
    """A customer visit with its zone stays in time order (楼层, 业态, 区域, 驻留)."""

    visit_id: str
    returning: bool
    stays: tuple[ZoneStay, ...]


def _first_in(path: VisitPath, zone_ids: Collection[str]) -> ZoneStay | None:
    return next((s for s in sorted(path.stays, key=lambda s: s.entered_at) if s.zone_id in zone_ids), None)


# ------------------------------------------------------------------------------ A7 floors


@dataclass(frozen=True)
class FloorClimb:
    """楼层转化 (A7): visitors per floor, the climb rate 爬楼率 from each floor to the next one up
    (visitors seen on both / visitors seen on the lower), and floors climbed per visitor 人均所爬楼层
    (steps between the lowest and the highest floor the visitor was seen on)."""

    floors: tuple[tuple[int, int], ...]
    climb: tuple[tuple[int, int, float | None], ...]
    mean_floors_climbed: float | None
    visitors: int


def floor_climb(
    paths: Iterable[VisitPath], areas: Mapping[str, Area], floors: Sequence[int] = ()
) -> FloorClimb:
    """``areas``: zone id → area with a ``floor`` (floor zones and shops both count). ``floors``: the
    site's floors in order (default: every floor that appears)."""
    seen: list[set[int]] = []
    for p in paths:
        fs = {
            areas[s.zone_id].floor
            for s in p.stays
            if s.zone_id in areas and areas[s.zone_id].floor is not None
        }
        clean = {f for f in fs if f is not None}
        if clean:
            seen.append(clean)
    return floor_climb_of(seen, floors)


def floor_climb_of(seen: Iterable[set[int]], floors: Sequence[int] = ()) -> FloorClimb:
    """:func:`floor_climb` from the floors each visitor was seen on (one non-empty set per visitor)."""
    seen = [s for s in seen if s]
    order = list(floors) if floors else sorted({f for s in seen for f in s})
    per_floor = Counter(f for s in seen for f in s)
    climb = tuple(
        (lo, hi, ratio(sum(1 for s in seen if lo in s and hi in s), per_floor[lo]))
        for lo, hi in pairwise(order)
    )
    index = {f: i for i, f in enumerate(order)}
    steps = [max(index[f] for f in s) - min(index[f] for f in s) for s in seen if all(f in index for f in s)]
    return FloorClimb(
        tuple((f, per_floor[f]) for f in order),
        climb,
        ratio(sum(steps), len(steps)),
        len(seen),
    )


# ---------------------------------------------------------------------- A8 shops, categories


@dataclass(frozen=True)
class ShopRank:
    """品牌排行 (A8): a shop's visits 客流 (distinct customer visits that stayed in it), returning
    回头客, 坪效 visits per m², first-shop visits 首店到访, month-on-month change."""

    zone_id: str
    name: str
    category: tuple[str, ...]
    visits: int
    returning: int
    per_m2: float | None
    first_shop: int
    previous_visits: int | None
    mom_change: float | None


def shop_ranking(
    paths: Sequence[VisitPath],
    areas: Mapping[str, Area],
    previous_paths: Sequence[VisitPath] | None = None,
    by: Literal["visits", "returning", "per_m2", "first_shop", "mom_change"] = "visits",
) -> tuple[ShopRank, ...]:
    """Shops (areas of kind ``shop``) ranked by ``by`` (descending; unknown values last)."""
    shops = {z: a for z, a in areas.items() if a.kind == "shop"}

    def visits_of(ps: Iterable[VisitPath]) -> tuple[Counter[str], Counter[str], Counter[str]]:
        visits: Counter[str] = Counter()
        returning: Counter[str] = Counter()
        first: Counter[str] = Counter()
        for p in ps:
            zs = {s.zone_id for s in p.stays if s.zone_id in shops}
            visits.update(zs)
            if p.returning:
                returning.update(zs)
            f = _first_in(p, shops)
            if f is not None:
                first[f.zone_id] += 1
        return visits, returning, first

    visits, returning, first = visits_of(paths)
    previous = visits_of(previous_paths)[0] if previous_paths is not None else None
    return shop_ranks(areas, visits, returning, first, previous, by)


def shop_ranks(
    areas: Mapping[str, Area],
    visits: Mapping[str, int],
    returning: Mapping[str, int],
    first: Mapping[str, int],
    previous: Mapping[str, int] | None = None,
    by: Literal["visits", "returning", "per_m2", "first_shop", "mom_change"] = "visits",
) -> tuple[ShopRank, ...]:
    """:func:`shop_ranking` from counts per shop zone already made (distinct customer visits that
    stayed in it, of them returning, visits whose first shop it was; ``previous``: last month's
    visits): what the store aggregates in SQL. Missing zones count 0."""
    shops = {z: a for z, a in areas.items() if a.kind == "shop"}
    visits, returning, first = Counter(visits), Counter(returning), Counter(first)
    previous = None if previous is None else Counter(previous)
    ranks = [
        ShopRank(
            z,
            a.name,
            a.category,
            visits[z],
            returning[z],
            None if not a.area_m2 else visits[z] / a.area_m2,
            first[z],
            None if previous is None else previous[z],
            None if previous is None else change(visits[z], previous[z]),
        )
        for z, a in shops.items()
    ]

    def key(r: ShopRank) -> tuple[bool, float, str]:
        value = getattr(r, by)
        return (value is None, -(value or 0.0), r.zone_id)

    return tuple(sorted(ranks, key=key))


def category_heat(
    paths: Iterable[VisitPath], areas: Mapping[str, Area], level: int = 1
) -> tuple[tuple[str, int, float | None], ...]:
    """业态热度 (A8): distinct customer visits per category at ``level`` (1–3), share of the visits
    that reached any categorised shop; most visited first."""
    counts: Counter[str] = Counter()
    reached = 0
    for p in paths:
        cats = {
            areas[s.zone_id].category[level - 1]
            for s in p.stays
            if s.zone_id in areas
            and areas[s.zone_id].kind == "shop"
            and len(areas[s.zone_id].category) >= level
        }
        counts.update(cats)
        reached += bool(cats)
    return category_shares(counts, reached)


def category_shares(counts: Mapping[str, int], reached: int) -> tuple[tuple[str, int, float | None], ...]:
    """:func:`category_heat` from counts already made: distinct customer visits per category and
    the visits that reached any categorised shop (what the store aggregates in SQL)."""
    return tuple((c, n, ratio(n, reached)) for c, n in sorted(counts.items(), key=lambda x: (-x[1], x[0])))


def browsing_depth(paths: Sequence[VisitPath], areas: Mapping[str, Area]) -> float | None:
    """逛店: mean number of distinct shops per customer visit (visits without a shop count as 0)."""
    shops = {z for z, a in areas.items() if a.kind == "shop"}
    return ratio(sum(len({s.zone_id for s in p.stays if s.zone_id in shops}) for p in paths), len(paths))


# ------------------------------------------------------------------------------- A9 KPI


@dataclass(frozen=True)
class KpiWindow:
    """Local dates (inclusive) of a KPI period, its previous period (环比) and the same dates a year
    before (同比; None for last year itself)."""

    label: Literal["yesterday", "last_week", "last_month", "last_year"]
    first: date
    last: date
    previous_first: date
    previous_last: date
    year_ago_first: date | None
    year_ago_last: date | None


def _year_back(d: date, years: int = 1) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def kpi_windows(today: date, week_start: int = 0) -> tuple[KpiWindow, ...]:
    """客流 KPI windows for local date ``today``: yesterday (vs the day before, vs the same date last
    year), last week (vs the week before it, vs the same dates last year), last month (vs the month
    before, vs the same whole month last year) and last year (vs the year before; no 同比)."""
    y = today - timedelta(days=1)
    this_week = today - timedelta(days=(today.weekday() - week_start) % 7)
    lw0, lw1 = this_week - timedelta(days=7), this_week - timedelta(days=1)
    this_month = today.replace(day=1)
    lm1 = this_month - timedelta(days=1)
    lm0 = lm1.replace(day=1)
    pm1 = lm0 - timedelta(days=1)
    ly0, ly1 = date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    return (
        KpiWindow(
            "yesterday", y, y, y - timedelta(days=1), y - timedelta(days=1), _year_back(y), _year_back(y)
        ),
        KpiWindow(
            "last_week",
            lw0,
            lw1,
            lw0 - timedelta(days=7),
            lw1 - timedelta(days=7),
            _year_back(lw0),
            _year_back(lw1),
        ),
        KpiWindow(
            "last_month",
            lm0,
            lm1,
            pm1.replace(day=1),
            pm1,
            _year_back(lm0),
            _year_back(lm0 + timedelta(days=31)).replace(day=1) - timedelta(days=1),
        ),
        KpiWindow("last_year", ly0, ly1, _year_back(ly0), _year_back(ly1), None, None),
    )


@dataclass(frozen=True)
class Kpi:
    """客流 KPI (A9): a closed period with 环比 (period over period) and 同比 (year over year)."""

    window: KpiWindow
    value: float
    previous: float
    pop_change: float | None
    year_ago: float | None
    yoy_change: float | None


def kpi(window: KpiWindow, value: float, previous: float, year_ago: float | None) -> Kpi:
    return Kpi(
        window,
        value,
        previous,
        change(value, previous),
        year_ago,
        None if year_ago is None else change(value, year_ago),
    )


# ---------------------------------------------------------------------------- A10 targets


@dataclass(frozen=True)
class TargetProgress:
    """目标监控 (A10): completion 已达成 = actual / target; ``expected`` is the elapsed share of the
    period, ``on_track`` whether completion is at least that."""

    period: Literal["month", "year"]
    target: float | None
    actual: float
    completion: float | None
    expected: float
    on_track: bool | None


def target_progress(
    period: Literal["month", "year"], actual: float, target: float | None, elapsed_share: float
) -> TargetProgress:
    completion = None if target is None else ratio(actual, target)
    elapsed = min(max(elapsed_share, 0.0), 1.0)
    return TargetProgress(
        period, target, actual, completion, elapsed, None if completion is None else completion >= elapsed
    )


# ---------------------------------------------------------------------------- A11 indices


@dataclass(frozen=True)
class VisitFacts:
    """What the indices need of one customer visit (``last_exit`` and ``visit_id`` link a repeat
    visit to the visit before it, see :func:`indices`)."""

    first_entry: datetime
    returning: bool
    since_previous_s: float | None
    shops: int = 0  # distinct shops visited
    last_exit: datetime | None = None
    visit_id: str = ""


@dataclass(frozen=True)
class Indices:
    """运营指标 (A11) over a window (30 days): see :func:`indices`."""

    visits: int
    persons: int
    repeat_visits: int
    return_index: float | None  # 返场指数: persons with ≥ 2 visits / persons
    activity_index: float | None  # 活跃指数
    browsing_index: float | None  # 逛店指数
    returning_persons: int = 0  # persons with ≥ 2 visits in the window
    unlinked_repeats: int = 0  # repeat visits whose previous visit could not be identified


LINK_SLACK_S = 120.0  # a repeat's previous visit was last seen at most this long from its last exit
OPEN_VISIT_S = 12 * 3600.0  # a visit without a seen exit may have been seen up to this long after entry


_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(at: datetime) -> int:
    """A timezone-aware instant as whole microseconds since 1970-01-01 UTC (exact)."""
    return (at - _EPOCH) // _US


def seconds_us(seconds: float) -> int:
    """``timedelta(seconds=seconds)`` in whole microseconds (rounded as ``timedelta`` rounds)."""
    return timedelta(seconds=seconds) // _US


def _previous_visit(
    i: int,
    seen_at: int,
    by_exit: Sequence[tuple[int, int]],
    open_by_entry: Sequence[tuple[int, int]],
    entries: Sequence[int],
) -> int | None:
    """The index of the visit the resolver linked visit ``i`` to: it was last seen at ``seen_at``
    (first entry − interval). Of the visits with a seen exit, the one whose exit is nearest to
    ``seen_at`` (within :data:`LINK_SLACK_S`, entered at or before it); else the latest-entered visit
    without an exit that entered at most :data:`OPEN_VISIT_S` before it. Instants are microseconds;
    ``entries``: each visit's first entry."""
    slack = round(LINK_SLACK_S * 1_000_000)
    best: tuple[int, int] | None = None
    for k in range(bisect.bisect_left(by_exit, (seen_at - slack, -1)), len(by_exit)):
        exit_at, j = by_exit[k]
        if exit_at > seen_at + slack:
            break
        if j == i or entries[j] > seen_at or entries[j] >= entries[i]:
            continue
        key = abs(seen_at - exit_at)
        if best is None or key < best[0]:
            best = (key, j)
    if best is not None:
        return best[1]
    open_us = round(OPEN_VISIT_S * 1_000_000)
    for k in range(bisect.bisect_right(open_by_entry, (seen_at, len(entries))) - 1, -1, -1):
        entered, j = open_by_entry[k]
        if seen_at - entered > open_us:
            break
        if j != i and entered < entries[i]:
            return j
    return None


def indices(visits: Sequence[VisitFacts], window_start: datetime) -> Indices:
    """运营指标 (A11). A *repeat visit* is a returning visit whose previous visit lies inside the
    window (first entry − interval ≥ ``window_start``). Each person's visits in the window are one
    chain: a first visit, then repeat visits each linked to the one before; so persons = visits −
    repeat visits, and:

    * 返场指数 return index = persons with ≥ 2 visits in the window / persons (the seed: 近 30 天内到访
      两次及以上的顾客人数占比). keliu stores no person id across visits (by design), only each
      visit's interval to its nearest earlier one, so a repeat visit is linked back to the visit last
      seen at (first entry − interval) (:func:`_previous_visit`), and chains are followed to their
      first visit in the window: each distinct first visit with a repeat is one person with ≥ 2 visits.
      A repeat whose previous visit cannot be identified (``unlinked_repeats``) counts as a person
      of its own with ≥ 2 visits (its earlier visit is in the window, but whose it is is unknown);
    * 活跃指数 activity index = visits / persons: mean visits per person;
    * 逛店指数 browsing index = mean distinct shops per visit.
    """
    ordered = sorted(visits, key=lambda v: (v.first_entry, v.visit_id))
    return indices_us(
        [epoch_us(v.first_entry) for v in ordered],
        [None if v.last_exit is None else epoch_us(v.last_exit) for v in ordered],
        [
            None if not v.returning or v.since_previous_s is None else seconds_us(v.since_previous_s)
            for v in ordered
        ],
        sum(v.shops for v in ordered),
        epoch_us(window_start),
    )


def indices_us(
    first_entry: Sequence[int],
    last_exit: Sequence[int | None],
    since_previous: Sequence[int | None],
    shops: int,
    window_start: int,
) -> Indices:
    """:func:`indices` of visits given as microseconds since 1970 UTC (:func:`epoch_us`), in order of
    first entry then visit id (which decides between visits last seen at the same instant): each
    visit's first entry, last exit (None: not seen), interval to its previous visit (None: not a
    returning visit; :func:`seconds_us`), and the distinct shops of all the visits together. What
    the store hands over without building a ``VisitFacts`` per visit."""
    n = len(first_entry)
    seen: list[int | None] = [
        None if s is None or fe - s < window_start else fe - s
        for fe, s in zip(first_entry, since_previous, strict=True)
    ]
    repeats = sum(1 for x in seen if x is not None)
    persons = n - repeats
    by_exit = sorted((x, i) for i, x in enumerate(last_exit) if x is not None)
    open_by_entry = sorted((first_entry[i], i) for i, x in enumerate(last_exit) if x is None)
    previous: dict[int, int | None] = {
        i: _previous_visit(i, at, by_exit, open_by_entry, first_entry)
        for i, at in enumerate(seen)
        if at is not None
    }
    firsts: set[int] = set()  # each chain's first visit in the window, or its top when unlinked
    for i in previous:
        j: int | None = i
        while j in previous and previous[j] is not None:
            j = previous[j]
        assert j is not None
        firsts.add(j)
    unlinked = sum(1 for p in previous.values() if p is None)
    multi = min(len(firsts), persons)
    return Indices(
        n,
        persons,
        repeats,
        ratio(multi, persons),
        ratio(n, persons),
        ratio(shops, n),
        multi,
        unlinked,
    )


# ------------------------------------------------------------------------------ A12 peaks

TIME_SLOTS: tuple[tuple[str, str, int, int], ...] = (
    ("morning", "早上", 8, 12),
    ("noon", "中午", 12, 14),
    ("afternoon", "下午", 14, 18),
    ("evening", "晚上", 18, 24),
)


@dataclass(frozen=True)
class SlotPeak:
    name: str
    label: str
    start_hour: int
    end_hour: int
    per_day: float | None  # mean visits per day in the slot
    per_hour: float | None  # the same per hour of the slot (slots differ in length)


@dataclass(frozen=True)
class SlotPeaks:
    """到访峰值 (A12): mean visits per time slot over ``days`` days; the peak slot is the one with the
    most visitors per day on average (the seed: 不同时段内的平均客流人数), whatever its length;
    ``per_hour`` is shown beside it for comparison only."""

    slots: tuple[SlotPeak, ...]
    peak: str | None
    days: int


def time_slot_peaks(by_hour: Mapping[int, float], days: int) -> SlotPeaks:
    """``by_hour``: visits per local hour of day summed over the ``days`` days."""
    slots = []
    for name, label, lo, hi in TIME_SLOTS:
        total = sum(by_hour.get(h, 0.0) for h in range(lo, hi))
        per_day = ratio(total, days)
        slots.append(SlotPeak(name, label, lo, hi, per_day, None if per_day is None else per_day / (hi - lo)))
    best = max((s for s in slots if s.per_day), key=lambda s: s.per_day or 0.0, default=None)
    return SlotPeaks(tuple(slots), None if best is None else best.name, days)


@dataclass(frozen=True)
class MeanBy:
    key: str
    mean: float
    days: int


def means_by_weekday(daily: Mapping[date, float]) -> tuple[MeanBy, ...]:
    """峰值透视 by weekday (A12): mean daily traffic per weekday ("0" = Monday) over the given days."""
    groups: dict[str, list[float]] = defaultdict(list)
    for d, v in daily.items():
        groups[str(d.weekday())].append(v)
    return tuple(MeanBy(k, statistics.fmean(vs), len(vs)) for k, vs in sorted(groups.items()))


def means_by_weather(daily: Mapping[date, float], weather: Mapping[date, str]) -> tuple[MeanBy, ...]:
    """峰值透视 by weather (A12): mean daily traffic per imported condition (days without weather are
    left out), highest first."""
    groups: dict[str, list[float]] = defaultdict(list)
    for d, v in daily.items():
        if d in weather:
            groups[weather[d]].append(v)
    out = [MeanBy(k, statistics.fmean(vs), len(vs)) for k, vs in groups.items()]
    return tuple(sorted(out, key=lambda m: (-m.mean, m.key)))


# ---------------------------------------------------------------------------- A13 holidays


HolidayKind = Literal["break", "festival"]
HolidayStatus = Literal["past", "in_progress", "upcoming"]


@dataclass(frozen=True)
class HolidayPeriod:
    name: str
    first: date
    last: date
    kind: HolidayKind = "break"  # an official break 法定节假日, or a one-day festival 节日

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class HolidayStats:
    """节日分析 (A13): a holiday's traffic, its burst 爆发力 (daily mean over the normal days' daily
    mean), and its daily mean vs the previous holiday of the same kind (环比: a break with the break
    before it, a festival day with the festival day before it; ``previous`` names it) and the same
    holiday last year (同比).

    ``status``: ``past``; ``in_progress`` (today is one of its days: the figures are of its days up
    to and including today, today so far); ``upcoming`` (it has not begun: no figures at all, never a
    count of 0 or a change of −100 %)."""

    holiday: HolidayPeriod
    status: HolidayStatus
    total: float | None
    daily_mean: float | None
    normal_daily_mean: float | None
    burst: float | None
    previous_daily_mean: float | None
    vs_previous: float | None
    last_year_daily_mean: float | None
    vs_last_year: float | None
    previous: HolidayPeriod | None = None
    last_year: HolidayPeriod | None = None
    days_counted: int = 0


def holiday_status(holiday: HolidayPeriod, today: date | None) -> HolidayStatus:
    """``past`` once its last day has ended (``today`` after it), ``upcoming`` before its first day."""
    if today is None or holiday.last < today:
        return "past"
    return "upcoming" if holiday.first > today else "in_progress"


def holiday_stats(
    daily: Mapping[date, float],
    holiday: HolidayPeriod,
    normal_days: Iterable[date],
    previous: HolidayPeriod | None = None,
    last_year: HolidayPeriod | None = None,
    today: date | None = None,
) -> HolidayStats:
    """``daily``: traffic per local date (missing = 0); ``normal_days``: the ordinary working days to
    compare with (e.g. the four weeks before the holiday); ``today``: the site's local date (None:
    every day has passed)."""

    def mean(days: Iterable[date]) -> float | None:
        vs = [daily.get(d, 0.0) for d in days]
        return statistics.fmean(vs) if vs else None

    status = holiday_status(holiday, today)
    if status == "upcoming":
        none = (None,) * 8
        return HolidayStats(holiday, status, *none, previous=previous, last_year=last_year)
    days = [d for d in holiday.days() if today is None or d <= today]
    m = mean(days)
    normal = mean(normal_days)
    prev = mean(previous.days()) if previous else None
    ly = mean(last_year.days()) if last_year else None
    return HolidayStats(
        holiday,
        status,
        sum(daily.get(d, 0.0) for d in days),
        m,
        normal,
        None if m is None or not normal else m / normal,
        prev,
        None if m is None or not prev else change(m, prev),
        ly,
        None if m is None or not ly else change(m, ly),
        previous,
        last_year,
        len(days),
    )


# ------------------------------------------------------------------ A16/A17 zones and dwell


@dataclass(frozen=True)
class ZoneStats:
    """区域对比 / 驻留时长 (A16, A17) of one zone, floor or shop: distinct customer visits, returning
    ones, and the mean and median stay (stays with a known exit; a visit's stays in the key add up)."""

    key: str
    name: str
    visits: int
    returning: int
    mean_dwell_s: float | None
    median_dwell_s: float | None


def _key_of(area: Area, by: Literal["zone", "floor", "category"]) -> str | None:
    if by == "zone":
        return area.zone_id
    if by == "floor":
        return None if area.floor is None else str(area.floor)
    return area.category[0] if area.category else None


def dwell_by(
    paths: Iterable[VisitPath],
    areas: Mapping[str, Area],
    by: Literal["zone", "floor", "category"] = "zone",
    keys: Collection[str] | None = None,
) -> tuple[ZoneStats, ...]:
    """Per zone (or floor, or first-level category): visits, returning visits and dwell; only ``keys``
    when given. Ordered by visits, most first."""
    visit_sets: dict[str, set[str]] = defaultdict(set)
    returning: dict[str, set[str]] = defaultdict(set)
    dwell: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in paths:
        for s in p.stays:
            area = areas.get(s.zone_id)
            key = (
                s.zone_id if area is None and by == "zone" else (None if area is None else _key_of(area, by))
            )
            if key is None or (keys is not None and key not in keys):
                continue
            visit_sets[key].add(p.visit_id)
            if p.returning:
                returning[key].add(p.visit_id)
            if s.left_at is not None:
                dwell[key][p.visit_id] += (s.left_at - s.entered_at).total_seconds()
    names = {
        (_key_of(a, by) or ""): (a.name if by == "zone" else (_key_of(a, by) or "")) for a in areas.values()
    }
    out = []
    for key, vs in visit_sets.items():
        stays = list(dwell[key].values())
        out.append(
            ZoneStats(
                key,
                names.get(key, key),
                len(vs),
                len(returning[key]),
                statistics.fmean(stays) if stays else None,
                statistics.median(stays) if stays else None,
            )
        )
    return tuple(sorted(out, key=lambda z: (-z.visits, z.key)))


def zone_comparison(
    paths: Sequence[VisitPath], areas: Mapping[str, Area], zone: str, other: str
) -> tuple[ZoneStats, ZoneStats]:
    """区域对比 (A16): the two zones' stats side by side (zeros when a zone had no visits)."""
    stats = {z.key: z for z in dwell_by(paths, areas, "zone", {zone, other})}

    def one(z: str) -> ZoneStats:
        name = areas[z].name if z in areas else z
        return stats.get(z, ZoneStats(z, name, 0, 0, None, None))

    return one(zone), one(other)


@dataclass(frozen=True)
class ZoneConversion:
    """转化分析 (A16): of the visits that entered ``from_zone``, how many entered ``to_zone`` at or
    after their first entry into ``from_zone``."""

    from_zone: str
    to_zone: str
    from_visits: int
    converted: int
    rate: float | None


def zone_conversion(paths: Iterable[VisitPath], from_zone: str, to_zone: str) -> ZoneConversion:
    base = converted = 0
    for p in paths:
        first = _first_in(p, {from_zone})
        if first is None:
            continue
        base += 1
        if any(s.zone_id == to_zone and s.entered_at >= first.entered_at for s in p.stays if s is not first):
            converted += 1
    return ZoneConversion(from_zone, to_zone, base, converted, ratio(converted, base))


def occupancy_by(
    open_stays: Iterable[ZoneStay],
    areas: Mapping[str, Area],
    by: Literal["zone", "floor", "category"] = "zone",
) -> tuple[tuple[str, int], ...]:
    """实时驻留人数 (A17): distinct visits present now per zone/floor/category, most first."""
    present: dict[str, set[str]] = defaultdict(set)
    for s in open_stays:
        area = areas.get(s.zone_id)
        key = s.zone_id if area is None and by == "zone" else (None if area is None else _key_of(area, by))
        if key is not None:
            present[key].add(s.visit_id)
    return tuple(sorted(((k, len(v)) for k, v in present.items()), key=lambda x: (-x[1], x[0])))


# ------------------------------------------------------------------------ A19 paths and association

ENTRANCE = "(entrance)"  # 入口: a flow that starts at the zone (no zone before it)
EXIT = "(exit)"  # 离开: a flow that ends at the zone (no zone after it)


@dataclass(frozen=True)
class ZoneFlow:
    """动线 / 关联 (A19) of one shop or zone: how many customer visits reached it, where they came from
    (the zone visited just before it, or ``ENTRANCE``) and went next (the zone just after, or
    ``EXIT``), each most first, and 关联度 association: for every other zone, the visits that reached
    both and that count over this zone's visits."""

    zone_id: str
    name: str
    visits: int
    came_from: tuple[tuple[str, int], ...]
    went_to: tuple[tuple[str, int], ...]
    association: tuple[tuple[str, int, float], ...]


def _route(path: VisitPath, zones: Collection[str]) -> list[str]:
    """The zones of ``zones`` a visit went through, in time order, a stay in the zone it is already in
    merged into it (A → A → B is A → B)."""
    route: list[str] = []
    for stay in sorted(path.stays, key=lambda s: (s.entered_at, s.zone_id)):
        if stay.zone_id in zones and (not route or route[-1] != stay.zone_id):
            route.append(stay.zone_id)
    return route


def zone_flows(paths: Iterable[VisitPath], areas: Mapping[str, Area]) -> tuple[ZoneFlow, ...]:
    """A19 over the shops, areas and reception zones of ``areas`` (floor zones are left out: they hold
    the shops and would sit between every two of them), busiest zone first."""
    zones = flow_zones(areas)
    came: dict[str, Counter[str]] = defaultdict(Counter)
    went: dict[str, Counter[str]] = defaultdict(Counter)
    reached: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        route = _route(path, zones)
        for i, zone in enumerate(route):
            came[zone][route[i - 1] if i else ENTRANCE] += 1
            went[zone][route[i + 1] if i + 1 < len(route) else EXIT] += 1
            reached[zone].add(path.visit_id)
    both = {
        (zone, other): len(visitors & reached[other])
        for zone, visitors in reached.items()
        for other in reached
        if other != zone
    }
    return zone_flows_of(came, went, {z: len(v) for z, v in reached.items()}, both, areas)


def flow_zones(areas: Mapping[str, Area]) -> set[str]:
    """The zones A19 looks at: every zone of ``areas`` but the floors."""
    return {z for z, a in areas.items() if a.kind != "floor"}


def zone_flows_of(
    came: Mapping[str, Counter[str]],
    went: Mapping[str, Counter[str]],
    visits: Mapping[str, int],
    both: Mapping[tuple[str, str], int],
    areas: Mapping[str, Area],
) -> tuple[ZoneFlow, ...]:
    """A19 from its counts (however they were counted): per zone the previous and next zones of its
    route steps, its visits, and per pair of different zones the visits that reached both."""

    def ranked(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    flows = []
    for zone, n_zone in visits.items():
        shared = [(other, both.get((zone, other), 0)) for other in visits if other != zone]
        association = tuple(
            (other, n, n / n_zone) for other, n in sorted(shared, key=lambda x: (-x[1], x[0])) if n
        )
        flows.append(
            ZoneFlow(
                zone,
                areas[zone].name,
                n_zone,
                ranked(came.get(zone, Counter())),
                ranked(went.get(zone, Counter())),
                association,
            )
        )
    return tuple(sorted(flows, key=lambda f: (-f.visits, f.zone_id)))


# -------------------------------------------------------------------------- A20 multi-store


@dataclass(frozen=True)
class SiteTraffic:
    site_id: str
    name: str
    value: float
    previous: float = 0.0
    store_type: str | None = None
    region: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class SiteRank:
    site_id: str
    name: str
    rank: int  # 1 = most traffic
    value: float
    change: float | None  # vs the site's previous period
    share: float | None  # of the chain's traffic
    vs_all: float | None  # relative to the mean of all stores
    vs_type: float | None  # relative to the mean of stores of the same type
    vs_top: float | None  # value / the top store's value
    weight: float
    store_type: str | None


@dataclass(frozen=True)
class GroupSummary:
    """The stores of one store type (or region) together: 同类门店 in the overview."""

    key: str | None
    stores: int
    total: float
    previous: float
    change: float | None  # vs the same stores' previous period
    share: float | None  # of the chain's traffic
    mean: float | None  # per store


@dataclass(frozen=True)
class StoresOverview:
    """门店概览 (A20): the chain's totals and comparisons, not a table of stores (that is the ranking):
    how many stores, the total and its change, mean and median per store, the top store and its
    share, the stores above and below the mean, and per store type and per region."""

    stores: int
    total: float
    previous_total: float
    change: float | None
    mean: float | None
    median: float | None
    top_site_id: str | None
    top_name: str | None
    top_value: float | None
    top_share: float | None
    above_mean: int
    below_mean: int
    growing: int  # stores with more traffic than in their previous period
    shrinking: int
    by_type: tuple[GroupSummary, ...]
    by_region: tuple[GroupSummary, ...]


@dataclass(frozen=True)
class MultiStore:
    """门店排行 / 门店概览 (A20): ``ranking`` every store by traffic (ties: higher weight 权重, then
    id), with its comparisons; ``overview`` the chain's totals and comparisons (no store list)."""

    ranking: tuple[SiteRank, ...]
    overview: StoresOverview
    total: float
    mean: float | None
    median: float | None
    top: str | None


def _groups_of(
    sites: Sequence[SiteTraffic], key: Callable[[SiteTraffic], str | None], total: float
) -> tuple[GroupSummary, ...]:
    groups: dict[str | None, list[SiteTraffic]] = defaultdict(list)
    for s in sites:
        groups[key(s)].append(s)
    out = [
        GroupSummary(
            k,
            len(ss),
            sum(s.value for s in ss),
            sum(s.previous for s in ss),
            change(sum(s.value for s in ss), sum(s.previous for s in ss)),
            ratio(sum(s.value for s in ss), total),
            ratio(sum(s.value for s in ss), len(ss)),
        )
        for k, ss in groups.items()
    ]
    return tuple(sorted(out, key=lambda g: (-g.total, g.key is None, g.key or "")))


def rank_sites(sites: Sequence[SiteTraffic]) -> MultiStore:
    total = sum(s.value for s in sites)
    mean = ratio(total, len(sites))
    median = statistics.median([s.value for s in sites]) if sites else None
    by_type: dict[str | None, list[float]] = defaultdict(list)
    for s in sites:
        by_type[s.store_type].append(s.value)
    ordered = sorted(sites, key=lambda s: (-s.value, -s.weight, s.site_id))
    top = ordered[0] if ordered else None
    ranks = [
        SiteRank(
            s.site_id,
            s.name,
            i + 1,
            s.value,
            change(s.value, s.previous),
            ratio(s.value, total),
            None if mean is None else change(s.value, mean),
            change(s.value, statistics.fmean(by_type[s.store_type])),
            None if top is None else ratio(s.value, top.value),
            s.weight,
            s.store_type,
        )
        for i, s in enumerate(ordered)
    ]
    previous_total = sum(s.previous for s in sites)
    overview = StoresOverview(
        len(sites),
        total,
        previous_total,
        change(total, previous_total),
        mean,
        median,
        None if top is None else top.site_id,
        None if top is None else top.name,
        None if top is None else top.value,
        None if top is None else ratio(top.value, total),
        sum(1 for s in sites if mean is not None and s.value > mean),
        sum(1 for s in sites if mean is not None and s.value < mean),
        sum(1 for s in sites if s.value > s.previous),
        sum(1 for s in sites if s.value < s.previous),
        _groups_of(sites, lambda s: s.store_type, total),
        _groups_of(sites, lambda s: s.region, total),
    )
    return MultiStore(tuple(ranks), overview, total, mean, median, None if top is None else top.site_id)


# ------------------------------------------------------------------- A21 business hours


@dataclass(frozen=True)
class BusinessHoursEffect:
    """营业时间 (A21): customer entries outside business hours are not counted in 总客流, and visits
    with no entry inside business hours are invalid (``outside_hours``) and not counted at all."""

    counted_entries: int
    uncounted_entries: int
    outside_hours_visits: int
    uncounted_share: float | None


def business_hours_effect(t: Traffic) -> BusinessHoursEffect:
    return BusinessHoursEffect(
        int(t.entries),
        int(t.entries_outside_hours),
        int(t.outside_hours),
        ratio(t.entries_outside_hours, t.entries + t.entries_outside_hours),
    )


# -------------------------------------------------------------------------- A22 accuracy


def accuracy(system: float, manual: float) -> float | None:
    """准确率 = 1 − |system − manual| / manual, floored at 0; ``None`` without a manual count."""
    if manual <= 0:
        return None
    return max(0.0, 1.0 - abs(system - manual) / manual)


def wilson_interval(successes: float, trials: float, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % with z = 1.96); ``None`` without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class AuditInput:
    key: str  # entrance name, or "site"
    system: int
    manual: int
    system_batches: int | None = None
    manual_batches: int | None = None


@dataclass(frozen=True)
class AuditRow:
    """One audited entrance: accuracy, its 95 % Wilson interval (treating the manual count as trials
    and manual − |system − manual| as matches) and the correction factor manual / system that would
    make the system's count match."""

    key: str
    system: int
    manual: int
    accuracy: float | None
    interval: tuple[float, float] | None
    correction_factor: float | None
    batch_match: float | None  # 批次匹配率: the same accuracy formula on batches


@dataclass(frozen=True)
class Audit:
    """准确率稽核 (A22): per entrance and overall (sums)."""

    rows: tuple[AuditRow, ...]
    overall: AuditRow


def _audit_row(key: str, s: int, m: int, sb: int | None, mb: int | None) -> AuditRow:
    acc = accuracy(s, m)
    return AuditRow(
        key,
        s,
        m,
        acc,
        wilson_interval(max(0.0, m - abs(s - m)), m),
        ratio(m, s),
        None if sb is None or mb is None else accuracy(sb, mb),
    )


def accuracy_audit(items: Sequence[AuditInput]) -> Audit:
    rows = tuple(_audit_row(i.key, i.system, i.manual, i.system_batches, i.manual_batches) for i in items)
    with_batches = [i for i in items if i.system_batches is not None and i.manual_batches is not None]
    overall = _audit_row(
        "overall",
        sum(i.system for i in items),
        sum(i.manual for i in items),
        sum(i.system_batches or 0 for i in with_batches) if with_batches else None,
        sum(i.manual_batches or 0 for i in with_batches) if with_batches else None,
    )
    return Audit(rows, overall)
