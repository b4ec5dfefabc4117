"""Demo data (演示数据): a seeded, deterministic simulator of a chain's resolved visits.

It produces what the resolver would have stored for each site and local day: customer visits in
batches (批次) of 1–5 with re-entries (总客流 vs 去重客流), new and returning visitors (新客/回头客) with
intervals since the previous visit, staff (员工) going in and out, couriers (无效客流) with short stays,
a few arrivals outside business hours, stays in shops and areas (驻留), and pass-by counts (过店).
Daily traffic follows the site's type and size, the weekday, Chinese holidays and festivals
(``keliu.analytics.calendar.day_info``), the city's simulated weather and, for a few sites, a trend.

A site-day is a pure function of ``(seed, site, date)``: generating a range or a single day gives the
same visits for that day. Generation is vectorised (numpy) and columnar (:class:`SimulatedVisits`);
``to_visits()`` gives domain :class:`~keliu.domain.visits.Visit` objects for the normal store path.
``keliu.demo.load`` writes it into a store. The model and its parameters are described
in docs/demo-data.md.

Must not: read the wall clock, touch storage, video or signatures; every number comes from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from keliu.analytics.calendar import DayInfo, day_info
from keliu.demo.columns import SimulatedVisits, concat_visits
from keliu.demo.sites import DemoSite, StoreType, weather_day
from keliu.domain.visits import COLOUR_NAMES
from keliu.store.reference import WeatherDay

__all__ = ["COURIER_REASONS", "OUTSIDE_HOURS", "day_factor", "simulate_day", "simulate_site"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

CUSTOMER, STAFF, INVALID = 0, 1, 2  # SimulatedVisits.category codes (CATEGORY_CODES)
COURIER_REASONS = ("courier:meituan", "courier:eleme")  # the default classes that ship on
OUTSIDE_HOURS = "outside_hours"
_DAY_S = 86400.0
_US = 1_000_000

# Monday..Sunday traffic relative to the week's mean
_WEEKDAY: dict[StoreType, tuple[float, ...]] = {
    "mall": (0.80, 0.78, 0.80, 0.85, 1.02, 1.48, 1.37),
    "retail": (0.86, 0.83, 0.86, 0.90, 1.02, 1.30, 1.23),
    "showroom": (0.72, 0.70, 0.74, 0.78, 0.88, 1.62, 1.56),
}
# a public holiday (法定节假日) relative to an ordinary weekend day; by holiday name where it differs
_HOLIDAY: dict[StoreType, float] = {"mall": 1.25, "retail": 1.15, "showroom": 1.1}
_HOLIDAY_BY_NAME: dict[str, dict[StoreType, float]] = {
    "春节": {"mall": 0.85, "retail": 0.45, "showroom": 0.25},  # Spring Festival: many go home
    "国庆": {"mall": 1.4, "retail": 1.2, "showroom": 1.35},  # National Day golden week: car sales peak
}
# a festival day (情人节, 妇女节, 七夕, 圣诞…) that is no day off, on top of the day's own factor
_FESTIVAL: dict[StoreType, float] = {"mall": 1.2, "retail": 1.12, "showroom": 1.0}
# weather: condition -> factor (indoor malls suffer least)
_WEATHER: dict[StoreType, dict[str, float]] = {
    "mall": {"light_rain": 0.95, "heavy_rain": 0.85, "snow": 0.85},
    "retail": {"light_rain": 0.88, "heavy_rain": 0.72, "snow": 0.75},
    "showroom": {"light_rain": 0.9, "heavy_rain": 0.7, "snow": 0.7},
}
# batch sizes 1..5
_BATCH_SIZES: dict[StoreType, tuple[float, ...]] = {
    "mall": (0.50, 0.30, 0.12, 0.06, 0.02),
    "retail": (0.62, 0.26, 0.08, 0.03, 0.01),
    "showroom": (0.36, 0.36, 0.17, 0.08, 0.03),
}
_DWELL_MEDIAN_S: dict[StoreType, float] = {"mall": 75 * 60.0, "retail": 14 * 60.0, "showroom": 40 * 60.0}
_REENTRY: dict[StoreType, float] = {"mall": 0.10, "retail": 0.04, "showroom": 0.14}  # leave, come back
_RETURNING: dict[StoreType, float] = {"mall": 0.34, "retail": 0.27, "showroom": 0.2}
# days since the previous visit: probability of (1-3, 3-7, 7-15, 15-180) days, log-uniform within
_RETURN_BANDS_D = ((0.25, 3.0), (3.0, 7.0), (7.0, 15.0), (15.0, 180.0))
_RETURN_MIX: dict[StoreType, tuple[float, ...]] = {
    "mall": (0.28, 0.30, 0.22, 0.20),
    "retail": (0.22, 0.30, 0.25, 0.23),
    "showroom": (0.15, 0.35, 0.30, 0.20),
}
# daily profile: (centre min, width min, amplitude) bumps over a flat base; workday / rest day
_PROFILE: dict[tuple[StoreType, bool], tuple[tuple[float, float, float], ...]] = {
    ("mall", False): ((735, 45, 1.3), (1125, 70, 1.8)),
    ("mall", True): ((750, 60, 1.3), (930, 120, 1.4), (1140, 80, 1.5)),
    ("retail", False): ((750, 50, 0.7), (1140, 70, 1.3)),
    ("retail", True): ((690, 60, 0.6), (930, 110, 1.2), (1140, 80, 1.0)),
    ("showroom", False): ((630, 60, 0.8), (750, 35, -0.4), (900, 80, 1.0)),
    ("showroom", True): ((630, 70, 1.2), (870, 100, 1.6)),
}
_COURIER_PROFILE = ((710, 40, 3.0), (1065, 45, 2.2))  # lunch and dinner deliveries
_UPPER_P = np.array([0.06, 0.02, 0.03, 0.04, 0.01, 0.11, 0.02, 0.04, 0.05, 0.32, 0.18, 0.12])
_LOWER_P = np.array([0.01, 0.0, 0.0, 0.02, 0.0, 0.27, 0.0, 0.01, 0.05, 0.46, 0.05, 0.13])
_COLOUR = {name: i for i, name in enumerate(COLOUR_NAMES)}


# ------------------------------------------------------------------------------ day factors


def _holiday_factor(store_type: StoreType, holiday: str | None) -> float:
    for name, factors in _HOLIDAY_BY_NAME.items():
        if name in (holiday or ""):  # e.g. "国庆节·中秋节" when the two breaks merge
            return factors[store_type]
    return _HOLIDAY[store_type]


def day_factor(profile: DemoSite, day: date, info: DayInfo, weather: WeatherDay) -> float:
    """Expected traffic of ``day`` relative to the site's mean day (before the day's random noise):
    weekday (or holiday, or make-up working day) × festival × weather × trend."""
    t = profile.store_type
    week = _WEEKDAY[t]
    if info.kind == "holiday":
        factor = (week[5] + week[6]) / 2.0 * _holiday_factor(t, info.holiday)
    elif info.kind == "makeup_workday":  # 调休: a weekend day worked, a bit quieter than a Wednesday
        factor = week[2] * 0.95
    else:
        factor = week[day.weekday()]
    if info.festivals and info.kind != "holiday":  # a holiday's own festival is in its factor
        factor *= _FESTIVAL[t]
    factor *= _WEATHER[t].get(weather.condition, 1.0)
    if (weather.temp_high or 0.0) >= 35.0:  # heat: people seek air-conditioned malls, avoid the street
        factor *= 1.05 if t == "mall" else 0.93
    if profile.trend_per_year:
        years = (day - date(2025, 1, 1)).days / 365.25
        factor *= (1.0 + profile.trend_per_year) ** years
    return factor


@lru_cache(maxsize=256)
def _minute_cdf(bumps: tuple[tuple[float, float, float], ...], opens: int, closes: int) -> F64:
    """Cumulative arrival probability per minute from opening to closing."""
    m = np.arange(opens, closes, dtype=np.float64) + 0.5
    w = np.ones_like(m)
    for centre, width, amp in bumps:
        w += amp * np.exp(-0.5 * ((m - centre) / width) ** 2)
    w *= np.minimum(1.0, 0.35 + (m - opens) / 60.0)  # doors just opened
    w *= np.minimum(1.0, 0.25 + (closes - m) / 45.0)  # closing time
    w = np.maximum(w, 0.02)
    cdf: F64 = np.cumsum(w)
    out: F64 = cdf / cdf[-1]
    return out


def _draw_times_s(rng: np.random.Generator, cdf: F64, opens: int, n: int) -> F64:
    minute = np.searchsorted(cdf, rng.random(n), side="right")
    return (opens + minute + rng.random(n)) * 60.0


def _returning_intervals_s(rng: np.random.Generator, store_type: StoreType, n: int) -> F64:
    band = rng.choice(len(_RETURN_BANDS_D), size=n, p=_RETURN_MIX[store_type])
    lo = np.log(np.array([b[0] for b in _RETURN_BANDS_D]))[band]
    hi = np.log(np.array([b[1] for b in _RETURN_BANDS_D]))[band]
    days: F64 = np.exp(lo + (hi - lo) * rng.random(n))
    return np.round(days * _DAY_S, 3)


# ------------------------------------------------------------------------------ one site-day


@dataclass
class _Group:
    """Visits of one kind on one day before sorting; times in seconds after local midnight."""

    t_in: F64
    t_out: F64  # NaN: the exit was not seen
    category: int
    reason: I64  # index into the site's reasons, -1 none
    confidence: F64
    leader: I64  # index within the group, -1 none
    returning: npt.NDArray[np.bool_]
    since: F64
    upper: I64
    lower: I64
    entrance: I64
    # further entries: (index within the group, time, entrance, when the visitor had gone out before it)
    extra: tuple[I64, F64, I64, F64] = field(
        default_factory=lambda: (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    )


def _customer_entrances(profile: DemoSite) -> tuple[I64, F64]:
    idx = np.array([i for i, e in enumerate(profile.entrances) if e.weight > 0], np.int64)
    w = np.array([profile.entrances[i].weight for i in idx])
    return idx, w / w.sum()


def _customers(
    profile: DemoSite, rng: np.random.Generator, lam: float, rest: bool, hours: tuple[int, int]
) -> _Group:
    t = profile.store_type
    opens, closes = hours
    sizes_p = np.array(_BATCH_SIZES[t])
    mean_size = float((np.arange(1, 6) * sizes_p).sum())
    n_b = int(rng.poisson(lam / mean_size))
    sizes = rng.choice(5, size=n_b, p=sizes_p) + 1
    n = int(sizes.sum())
    batch_of = np.repeat(np.arange(n_b), sizes)
    first = np.cumsum(sizes) - sizes
    t_b = _draw_times_s(rng, _minute_cdf(_PROFILE[(t, rest)], opens, closes), opens, n_b)
    gaps = rng.uniform(0.5, 4.0, n)  # members of a batch come in a few seconds apart
    gaps[first] = 0.0
    cs = np.cumsum(gaps)
    t_in = t_b[batch_of] + (cs - cs[first][batch_of])
    ent_idx, ent_w = _customer_entrances(profile)
    entrance = ent_idx[rng.choice(len(ent_idx), size=n_b, p=ent_w)][batch_of]
    dwell_b = rng.lognormal(math.log(_DWELL_MEDIAN_S[t]), 0.6, n_b)  # a group leaves together
    dwell = np.maximum(60.0, dwell_b[batch_of] * rng.uniform(0.92, 1.08, n))
    t_out = t_in + dwell
    close_s = closes * 60.0
    late = t_out > close_s + 900.0
    t_out[late] = np.maximum(t_in[late] + 60.0, close_s + rng.uniform(0.0, 900.0, int(late.sum())))
    # re-entries (总客流 counts both): out for a while, back before closing, through any door
    re = rng.random(n) < _REENTRY[t]
    out1 = t_in + (t_out - t_in) * rng.uniform(0.2, 0.5, n)
    back = out1 + rng.uniform(300.0, 3600.0, n)
    re &= back < close_s - 600.0
    other = rng.random(n) < 0.3
    back_ent = np.where(other, ent_idx[rng.choice(len(ent_idx), size=n, p=ent_w)], entrance)
    t_out = np.where(re, np.maximum(t_out, back + rng.uniform(120.0, 1800.0, n)), t_out)
    t_out = np.where(rng.random(n) < 0.015, np.nan, t_out)  # exit not seen
    returning = rng.random(n) < _RETURNING[t]
    since = np.where(returning, _returning_intervals_s(rng, t, n), np.nan)
    where_re = np.flatnonzero(re)
    return _Group(
        t_in=t_in,
        t_out=t_out,
        category=CUSTOMER,
        reason=np.full(n, -1, np.int64),
        confidence=np.full(n, np.nan),
        leader=first[batch_of].astype(np.int64),
        returning=returning,
        since=since,
        upper=rng.choice(12, size=n, p=_UPPER_P / _UPPER_P.sum()),
        lower=rng.choice(12, size=n, p=_LOWER_P / _LOWER_P.sum()),
        entrance=entrance,
        extra=(where_re, back[where_re], back_ent[where_re], out1[where_re]),
    )


def _outside_hours(
    profile: DemoSite, rng: np.random.Generator, lam: float, hours: tuple[int, int], reason: int
) -> _Group:
    opens, closes = hours
    n = int(rng.poisson(0.004 * lam + 0.2))
    before = rng.random(n) < 0.7
    t_in = np.where(
        before, opens * 60.0 - rng.uniform(300.0, 2400.0, n), closes * 60.0 + rng.uniform(60.0, 1500.0, n)
    )
    ent_idx, ent_w = _customer_entrances(profile)
    returning = rng.random(n) < _RETURNING[profile.store_type]
    return _Group(
        t_in=t_in,
        t_out=t_in + rng.uniform(120.0, 900.0, n),
        category=INVALID,
        reason=np.full(n, reason, np.int64),
        confidence=np.ones(n),
        leader=np.arange(n, dtype=np.int64),
        returning=returning,
        since=np.where(returning, _returning_intervals_s(rng, profile.store_type, n), np.nan),
        upper=rng.choice(12, size=n, p=_UPPER_P / _UPPER_P.sum()),
        lower=rng.choice(12, size=n, p=_LOWER_P / _LOWER_P.sum()),
        entrance=ent_idx[rng.choice(len(ent_idx), size=n, p=ent_w)],
    )


def _couriers(
    profile: DemoSite,
    rng: np.random.Generator,
    rest: bool,
    wet: bool,
    hours: tuple[int, int],
    reasons: tuple[int, int],
) -> _Group:
    opens, closes = hours
    lam = profile.couriers_per_day * (1.35 if wet else 1.0) * (1.1 if rest else 1.0)  # rain: more orders
    n = int(rng.poisson(lam))
    t_in = _draw_times_s(rng, _minute_cdf(_COURIER_PROFILE, opens, closes), opens, n)
    meituan = rng.random(n) < 0.58
    ent_idx, ent_w = _customer_entrances(profile)
    returning = rng.random(n) < 0.5  # the same riders come back: a courier today may shop tomorrow
    since = np.where(returning, np.round(rng.uniform(0.25, 7.0, n) * _DAY_S, 3), np.nan)
    lower = np.array([_COLOUR["black"], _COLOUR["grey"], _COLOUR["blue"]])
    return _Group(
        t_in=t_in,
        t_out=t_in + rng.uniform(25.0, 240.0, n),  # drop off and leave
        category=INVALID,
        reason=np.where(meituan, reasons[0], reasons[1]).astype(np.int64),
        confidence=np.round(rng.uniform(0.62, 1.0, n), 3),  # share of agreeing colour observations
        leader=np.arange(n, dtype=np.int64),
        returning=returning,
        since=since,
        upper=np.where(meituan, _COLOUR["yellow"], _COLOUR["blue"]).astype(np.int64),
        lower=lower[rng.choice(3, size=n, p=[0.6, 0.25, 0.15])],
        entrance=ent_idx[rng.choice(len(ent_idx), size=n, p=ent_w)],
    )


def _staff(profile: DemoSite, rng: np.random.Generator, hours: tuple[int, int]) -> _Group:
    """Staff come in before opening, go out for lunch and errands, leave after closing: one visit
    each (their breaks are shorter than the de-dup window), several entries."""
    opens, closes = hours
    t_in: list[float] = []
    t_out: list[float] = []
    reason: list[int] = []
    extra: list[tuple[int, float, float]] = []
    for k in range(len(profile.staff)):
        if rng.random() >= 0.8:  # day off (rota)
            continue
        i = len(t_in)
        arrive = opens * 60.0 - rng.uniform(600.0, 2700.0)
        leave = min(closes * 60.0 + rng.uniform(0.0, 1800.0), _DAY_S - 60.0)
        breaks = []
        if rng.random() < 0.45:
            start = rng.uniform(690.0, 780.0) * 60.0
            breaks.append((start, start + rng.uniform(900.0, 3600.0)))
        for _ in range(int(rng.poisson(0.7))):
            start = rng.uniform(arrive + 1800.0, leave - 1800.0)
            breaks.append((start, start + rng.uniform(180.0, 1200.0)))
        last_back = arrive
        for start, back in sorted(breaks):
            if start > last_back + 60.0 and back < leave - 60.0:
                extra.append((i, back, start))
                last_back = back
        t_in.append(arrive)
        t_out.append(leave)
        reason.append(k)
    n = len(t_in)
    door = profile.entrances.index(profile.staff_entrance)
    upper, lower = (_COLOUR[c] for c in profile.staff_colours)
    return _Group(
        t_in=np.array(t_in),
        t_out=np.array(t_out),
        category=STAFF,
        reason=np.array(reason, np.int64),
        confidence=np.round(rng.uniform(0.72, 0.97, n), 3),
        leader=np.full(n, -1, np.int64),
        returning=np.zeros(n, bool),  # staff visits are never returning
        since=np.full(n, np.nan),
        upper=np.full(n, upper, np.int64),
        lower=np.full(n, lower, np.int64),
        entrance=np.full(n, door, np.int64),
        extra=(
            np.array([e[0] for e in extra], np.int64),
            np.array([e[1] for e in extra]),
            np.full(len(extra), door, np.int64),
            np.array([e[2] for e in extra]),
        ),
    )


def _split_stays(
    rng: np.random.Generator, t_in: F64, t_out: F64, active: npt.NDArray[np.bool_]
) -> tuple[F64, F64]:
    """Enter/leave times of each visit's active zone slots (in column order) within [t_in, t_out]:
    85 % of the stay is spent in zones, the rest walking between them."""
    n, k = active.shape
    span = np.where(np.isnan(t_out), _DWELL_MEDIAN_S["retail"], t_out - t_in)
    w = rng.uniform(0.5, 1.5, (n, k)) * active
    total = np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
    share = w / total
    counts = active.sum(axis=1, keepdims=True)
    walk = (span * 0.15)[:, None] / (counts + 1)
    before = np.cumsum(share, axis=1) - share
    order = np.cumsum(active, axis=1)  # 1-based rank of each active slot
    enter = t_in[:, None] + walk * order + (span * 0.85)[:, None] * before
    leave = enter + (span * 0.85)[:, None] * share
    return enter, leave


def _mall_stays(profile: DemoSite, rng: np.random.Generator, g: _Group) -> tuple[I64, I64, F64, F64]:
    """Shops visited by each mall customer: a walk over floors from the entrance's floor, shops chosen
    by popularity (restaurants at meal times)."""
    areas = profile.areas
    floors = sorted({a.floor for a in areas})
    floor_of = np.array([floors.index(a.floor) for a in areas])
    by_floor = np.argsort(floor_of, kind="stable")
    dining = np.array([a.dining for a in areas])
    weight = np.array([a.weight for a in areas])
    cdfs = []
    for meal in (False, True):
        w = (weight * np.where(dining, 2.2 if meal else 0.6, 1.0))[by_floor]
        f = floor_of[by_floor]
        cum = np.cumsum(w)
        lo = np.concatenate([[0.0], cum])[np.searchsorted(f, f, side="left")]
        hi = cum[np.searchsorted(f, f, side="right") - 1]
        cdfs.append(f + (cum - lo) / (hi - lo))  # floor index + within-floor cdf: one sorted array
    n = len(g.t_in)
    max_k = 8
    k = np.minimum(1 + rng.poisson(1.6, n), max_k)
    ent_floor = np.array([floors.index(e.floor) if e.floor in floors else 0 for e in profile.entrances])
    cur = ent_floor[g.entrance]
    minute = g.t_in / 60.0
    at_meal = ((minute >= 660) & (minute < 810)) | ((minute >= 1020) & (minute < 1200))
    chosen = np.zeros((n, max_k), np.int64)
    for j in range(max_k):
        if j:
            u = rng.random(n)
            cur = np.clip(cur + np.where(u < 0.3, 1, np.where(u < 0.48, -1, 0)), 0, len(floors) - 1)
        pick = rng.random(n)
        pos_normal = np.searchsorted(cdfs[0], cur + pick, side="right")
        pos_meal = np.searchsorted(cdfs[1], cur + pick, side="right")
        chosen[:, j] = by_floor[np.minimum(np.where(at_meal, pos_meal, pos_normal), len(areas) - 1)]
    active = np.arange(max_k)[None, :] < k[:, None]
    enter, leave = _split_stays(rng, g.t_in, g.t_out, active)
    rows, cols = np.nonzero(active)
    return rows.astype(np.int64), chosen[rows, cols], enter[rows, cols], leave[rows, cols]


def _area_stays(profile: DemoSite, rng: np.random.Generator, g: _Group) -> tuple[I64, I64, F64, F64]:
    """Areas of a shop or showroom, each visited with its own probability, in layout order."""
    share = np.array([a.visit_share for a in profile.areas])
    n = len(g.t_in)
    active = rng.random((n, len(share))) < share[None, :]
    enter, leave = _split_stays(rng, g.t_in, g.t_out, active)
    rows, cols = np.nonzero(active)
    return rows.astype(np.int64), cols.astype(np.int64), enter[rows, cols], leave[rows, cols]


def _passby(
    profile: DemoSite, rng: np.random.Generator, g: _Group, hours: tuple[int, int], lam: float
) -> tuple[I64, I64, I64]:
    """People passing each door that has a pass-by line, per local hour while open: the door's
    entries divided by the site's capture rate (进店率), plus street traffic that never comes in."""
    opens, closes = hours
    doors = np.array([i for i, e in enumerate(profile.entrances) if e.passby_line_id], np.int64)
    first_h, last_h = opens // 60, (closes + 59) // 60
    n_h = last_h - first_h
    hour = np.clip((g.t_in // 3600.0).astype(np.int64) - first_h, 0, n_h - 1)
    counts = np.bincount(hour * len(profile.entrances) + g.entrance, minlength=n_h * len(profile.entrances))
    counts = counts.reshape(n_h, len(profile.entrances))[:, doors]
    street = lam / max(n_h, 1) / len(profile.entrances) * 0.2
    expected = (counts + street) / profile.capture_rate
    passby = rng.poisson(expected)
    hh, dd = np.meshgrid(np.arange(first_h, last_h), doors, indexing="ij")
    return hh.ravel().astype(np.int64), dd.ravel(), passby.ravel().astype(np.int64)


def _stamps(us: I64) -> list[str]:
    """``YYYYMMDDTHHMMSS.ffffffZ`` (the resolver's visit-id stamp), vectorised."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")  # 2025-03-08T02:00:00.000000
    chars = text.astype("<U26").view(np.uint32).reshape(-1, 26)
    keep = [0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 14, 15, 17, 18, 19, 20, 21, 22, 23, 24, 25]
    return [s + "Z" for s in np.ascontiguousarray(chars[:, keep]).view("<U22").ravel().tolist()]


def _local_midnight_us(day: date, tz: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp()) * _US


def _to_us(midnight_us: int, seconds: F64) -> I64:
    """Local seconds to UTC microseconds, on whole milliseconds (as camera clocks give them)."""
    return midnight_us + np.round(seconds * 1000.0).astype(np.int64) * 1000


def simulate_day(profile: DemoSite, day: date, seed: int = 0) -> SimulatedVisits:
    """The site's visits on local ``day``: a pure function of ``seed``, the site and the date."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 3, profile.number, day.toordinal()])
    info = day_info(day)
    weather = weather_day(profile.city, day, seed)
    lam = profile.daily_visits * day_factor(profile, day, info, weather) * float(rng.lognormal(0.0, 0.08))
    rest = not info.is_working_day
    hours = profile.hours[day.weekday()]
    reasons = _reasons(profile)
    n_staff = len(profile.staff)
    customers = _customers(profile, rng, lam, rest, hours)
    groups = [
        customers,
        _outside_hours(profile, rng, lam, hours, reasons.index(OUTSIDE_HOURS)),
        _couriers(
            profile,
            rng,
            rest,
            weather.condition in ("light_rain", "heavy_rain", "snow"),
            hours,
            (n_staff, n_staff + 1),
        ),
        _staff(profile, rng, hours),
    ]
    if profile.store_type == "mall":
        z_visit, z_area, z_in, z_out = _mall_stays(profile, rng, customers)
    else:
        z_visit, z_area, z_in, z_out = _area_stays(profile, rng, customers)
    p_hour, p_door, p_count = _passby(profile, rng, customers, hours, lam)

    offsets = np.cumsum([0, *[len(g.t_in) for g in groups[:-1]]])
    t_in = np.concatenate([g.t_in for g in groups])
    n = len(t_in)
    order = np.lexsort((np.arange(n), t_in))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)

    def col(name: str) -> npt.NDArray[np.generic]:
        return np.concatenate([getattr(g, name) for g in groups])[order]

    leader = np.concatenate(
        [np.where(g.leader >= 0, g.leader + o, -1) for g, o in zip(groups, offsets, strict=True)]
    )
    leader = np.where(leader >= 0, rank[np.maximum(leader, 0)], -1)[order]
    category = np.concatenate([np.full(len(g.t_in), g.category, np.int8) for g in groups])[order]
    midnight = _local_midnight_us(day, profile.timezone)
    first_us = _to_us(midnight, t_in[order])
    t_out = col("t_out")
    last_exit_us = np.where(np.isnan(t_out), -1, _to_us(midnight, np.nan_to_num(t_out)))
    entrance = col("entrance")

    e_visit = np.concatenate([rank, *[rank[g.extra[0] + o] for g, o in zip(groups, offsets, strict=True)]])
    e_t = np.concatenate([t_in, *[g.extra[1] for g in groups]])
    e_ent = np.concatenate([np.concatenate([g.entrance for g in groups]), *[g.extra[2] for g in groups]])
    e_out = np.concatenate([np.full(n, np.nan), *[g.extra[3] for g in groups]])  # NaN: a first entry
    e_order = np.lexsort((e_t, e_visit))

    z_visit = rank[z_visit]  # customers are the first group (offset 0)
    z_order = np.lexsort((z_in, z_visit))

    cams = [e.camera_id for e in profile.entrances]
    track = np.arange(1, n + 1)
    stamps = _stamps(first_us)
    ids = np.array(
        [
            f"{profile.site_id}/{s}/{cams[c]}/{k}"
            for s, c, k in zip(stamps, entrance.tolist(), track.tolist(), strict=True)
        ],
        dtype=object,
    )
    return SimulatedVisits(
        site_id=profile.site_id,
        visit_id=ids,
        first_us=first_us,
        last_exit_us=last_exit_us.astype(np.int64),
        category=category,
        reason=col("reason").astype(np.int16),
        confidence=col("confidence").astype(np.float64),
        leader=leader.astype(np.int64),
        returning=col("returning").astype(bool),
        since_previous_s=col("since").astype(np.float64),
        upper=col("upper").astype(np.int8),
        lower=col("lower").astype(np.int8),
        entry_visit=e_visit[e_order],
        entry_us=_to_us(midnight, e_t[e_order]),
        entry_entrance=e_ent[e_order].astype(np.int16),
        entry_out_before_us=np.where(
            np.isnan(e_out[e_order]), -1, _to_us(midnight, np.nan_to_num(e_out[e_order]))
        ).astype(np.int64),
        zone_visit=z_visit[z_order],
        zone_area=z_area[z_order].astype(np.int16),
        zone_in_us=_to_us(midnight, z_in[z_order]),
        zone_out_us=_to_us(midnight, np.nan_to_num(z_out[z_order])),
        passby_hour_us=midnight + p_hour * 3600 * _US,
        passby_entrance=p_door.astype(np.int16),
        passby_count=p_count,
        reasons=reasons,
        entrances=tuple((e.camera_id, e.line_id) for e in profile.entrances),
        passby_lines=tuple((e.camera_id, e.passby_line_id or "") for e in profile.entrances),
        zone_ids=tuple(a.zone_id for a in profile.areas),
    )


def _reasons(profile: DemoSite) -> tuple[str, ...]:
    return (*(f"staff:{name}" for name in profile.staff), *COURIER_REASONS, OUTSIDE_HOURS)


def simulate_site(profile: DemoSite, start: date, end: date, seed: int = 0) -> SimulatedVisits:
    """The site's visits on every local day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return concat_visits([simulate_day(profile, d, seed) for d in days])
