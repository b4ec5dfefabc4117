"""Chinese business calendar (营业日历): public holidays (法定节假日), make-up working days (调休上班日)
and festival days (节日) that move footfall, for A13 (holiday vs normal days, vs the previous holiday,
vs the same holiday last year) and for the forecast's holiday handling (A18).

Sources, in order of trust:

* ``chinesecalendar`` (module ``chinese_calendar``): the State Council's published schedule, i.e. the
  whole official break (整个放假期间, weekends inside it included) and the make-up working days.
  It covers the years in :data:`OFFICIAL_YEARS` (2004-2026 for chinesecalendar 1.11).
* ``holidays`` (country ``CN``) for every other year, so a date is never refused: it knows the
  statutory days and observed/substitute days; its "Day off (substituted from …)" entries also name
  the make-up working day, which is used where present. For future years outside chinesecalendar's
  coverage the dates are the library's *estimates*; :attr:`DayInfo.source` says which source answered.
* ``borax`` (MIT) for lunar dates (农历: 春节 除夕 元宵 端午 七夕 中秋 重阳 腊八), 1900-2100;
  lunar festivals outside that range are omitted. No date table is written by hand here.
  清明 comes from chinesecalendar's solar-term formula (1900-2100).

This module is pure and cached per year. It must not read visits, stores, video or signatures and
must not use the network.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import chinese_calendar
from borax.calendars.lunardate import LunarDate

__all__ = [
    "FESTIVALS",
    "HOLIDAY_NAMES",
    "OFFICIAL_YEARS",
    "DayInfo",
    "DayKind",
    "Festival",
    "HolidayPeriod",
    "day_info",
    "day_kind_function",
    "days",
    "festival_dates",
    "holiday_periods",
    "normal_days",
    "period_of",
    "previous_period",
    "same_period_last_year",
]

DayKind = Literal["workday", "weekend", "holiday", "makeup_workday"]
Source = Literal["chinesecalendar", "holidays", "weekdays"]

#: Official holiday keys -> (Chinese name, English name).
HOLIDAY_NAMES: dict[str, tuple[str, str]] = {
    "new_year": ("元旦", "New Year's Day"),
    "spring_festival": ("春节", "Spring Festival"),
    "qingming": ("清明节", "Qingming Festival"),
    "labour_day": ("劳动节", "Labour Day"),
    "dragon_boat": ("端午节", "Dragon Boat Festival"),
    "mid_autumn": ("中秋节", "Mid-Autumn Festival"),
    "national_day": ("国庆节", "National Day"),
    "special": ("特别纪念日", "Special commemoration day"),
}

_CC_KEYS = {  # chinese_calendar.Holiday values -> our keys
    "New Year's Day": "new_year",
    "Spring Festival": "spring_festival",
    "Tomb-sweeping Day": "qingming",
    "Labour Day": "labour_day",
    "Dragon Boat Festival": "dragon_boat",
    "National Day": "national_day",
    "Mid-autumn Festival": "mid_autumn",
}
for _member in chinese_calendar.Holiday:  # one-off days off (e.g. 2015's 70th anniversary) keep their names
    if _member.value not in _CC_KEYS:
        _CC_KEYS[_member.value] = _member.name
        HOLIDAY_NAMES[_member.name] = (_member.chinese, _member.value)

_CC_HOLIDAYS: dict[dt.date, str] = chinese_calendar.holidays
_CC_WORKDAYS: dict[dt.date, str] = chinese_calendar.workdays
#: Years for which the official schedule (chinesecalendar) is known.
OFFICIAL_YEARS: range = range(min(_CC_HOLIDAYS).year, max(_CC_HOLIDAYS).year + 1)

_LUNAR_YEARS = range(1900, 2101)


@dataclass(frozen=True, slots=True)
class Festival:
    """A festival day (节日) that may change footfall; most are not days off."""

    key: str
    name: str  # Chinese
    name_en: str
    rule: str  # human-readable rule, e.g. "lunar 1-15"


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What one calendar day is for a Chinese store."""

    date: dt.date
    kind: DayKind
    holiday: str | None  # Chinese name of the official break this day belongs to (also for 调休上班日)
    holiday_en: str | None
    festivals: tuple[str, ...]  # Chinese names of festival days falling on this date
    is_working_day: bool  # True for ordinary workdays and make-up working days
    festivals_en: tuple[str, ...] = ()
    source: Source = "chinesecalendar"


@dataclass(frozen=True, slots=True)
class HolidayPeriod:
    """One official holiday break (放假期间), first to last day off, inclusive.

    ``keys`` lists the holidays merged into the break, the one with most days first (2025's
    National Day break includes Mid-Autumn: ``("national_day", "mid_autumn")``).
    """

    name: str
    name_en: str
    start: dt.date
    end: dt.date
    keys: tuple[str, ...]
    makeup_workdays: tuple[dt.date, ...] = ()
    source: Source = "chinesecalendar"

    @property
    def key(self) -> str:
        return self.keys[0]

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.length)]

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end


def _solar(month: int, day: int) -> Callable[[int], list[dt.date]]:
    return lambda year: [dt.date(year, month, day)]


def _lunar(month: int, day: int, offset_days: int = 0) -> Callable[[int], list[dt.date]]:
    def dates(year: int) -> list[dt.date]:
        found = []
        for lunar_year in (year - 1, year):  # 腊八 of lunar year Y-1 falls in January of Y
            if lunar_year not in _LUNAR_YEARS:
                continue
            solar = LunarDate(lunar_year, month, day).to_solar_date() + dt.timedelta(days=offset_days)
            if solar.year == year:
                found.append(solar)
        return found

    return dates


def _nth_weekday(month: int, weekday: int, n: int) -> Callable[[int], list[dt.date]]:
    def dates(year: int) -> list[dt.date]:
        first = dt.date(year, month, 1)
        return [first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))]

    return dates


def _qingming(year: int) -> list[dt.date]:
    if year not in _LUNAR_YEARS:
        return []
    start, end = dt.date(year, 4, 1), dt.date(year, 4, 30)
    return [d for d, name in chinese_calendar.get_solar_terms(start, end) if name == "清明"]


_FESTIVAL_RULES: list[tuple[Festival, Callable[[int], list[dt.date]]]] = [
    (Festival("new_year", "元旦", "New Year's Day", "Jan 1"), _solar(1, 1)),
    (
        Festival("lunar_new_years_eve", "除夕", "Chinese New Year's Eve", "day before lunar 1-1"),
        _lunar(1, 1, -1),
    ),
    (Festival("spring_festival", "春节", "Spring Festival", "lunar 1-1"), _lunar(1, 1)),
    (Festival("valentines_day", "情人节", "Valentine's Day", "Feb 14"), _solar(2, 14)),
    (Festival("lantern", "元宵节", "Lantern Festival", "lunar 1-15"), _lunar(1, 15)),
    (Festival("womens_day", "妇女节", "Women's Day", "Mar 8"), _solar(3, 8)),
    (Festival("qingming", "清明节", "Qingming Festival", "solar term Qingming"), _qingming),
    (Festival("labour_day", "劳动节", "Labour Day", "May 1"), _solar(5, 1)),
    (Festival("youth_day", "青年节", "Youth Day", "May 4"), _solar(5, 4)),
    (Festival("mothers_day", "母亲节", "Mother's Day", "2nd Sunday of May"), _nth_weekday(5, 6, 2)),
    (Festival("day_520", "520", "520 (online Valentine's Day)", "May 20"), _solar(5, 20)),
    (Festival("childrens_day", "儿童节", "Children's Day", "Jun 1"), _solar(6, 1)),
    (Festival("day_618", "618购物节", "618 shopping festival", "Jun 18"), _solar(6, 18)),
    (Festival("fathers_day", "父亲节", "Father's Day", "3rd Sunday of June"), _nth_weekday(6, 6, 3)),
    (Festival("dragon_boat", "端午节", "Dragon Boat Festival", "lunar 5-5"), _lunar(5, 5)),
    (Festival("qixi", "七夕", "Qixi (Chinese Valentine's Day)", "lunar 7-7"), _lunar(7, 7)),
    (Festival("teachers_day", "教师节", "Teachers' Day", "Sep 10"), _solar(9, 10)),
    (Festival("mid_autumn", "中秋节", "Mid-Autumn Festival", "lunar 8-15"), _lunar(8, 15)),
    (Festival("national_day", "国庆节", "National Day", "Oct 1"), _solar(10, 1)),
    (Festival("double_ninth", "重阳节", "Double Ninth Festival", "lunar 9-9"), _lunar(9, 9)),
    (Festival("singles_day", "双十一", "Singles' Day (11.11)", "Nov 11"), _solar(11, 11)),
    (Festival("double_twelve", "双十二", "Double Twelve (12.12)", "Dec 12"), _solar(12, 12)),
    (Festival("laba", "腊八节", "Laba Festival", "lunar 12-8"), _lunar(12, 8)),
    (Festival("christmas_eve", "平安夜", "Christmas Eve", "Dec 24"), _solar(12, 24)),
    (Festival("christmas", "圣诞节", "Christmas Day", "Dec 25"), _solar(12, 25)),
    (Festival("new_years_eve", "跨年夜", "New Year's Eve", "Dec 31"), _solar(12, 31)),
]

#: The festival days known to the calendar, in calendar order.
FESTIVALS: tuple[Festival, ...] = tuple(f for f, _ in _FESTIVAL_RULES)


@lru_cache(maxsize=256)
def festival_dates(year: int) -> dict[dt.date, tuple[Festival, ...]]:
    """Festival days of one Gregorian year (lunar ones only within 1900-2100)."""
    found: dict[dt.date, list[Festival]] = {}
    if not 1 <= year <= 9999:
        return {}
    for festival, rule in _FESTIVAL_RULES:
        try:
            dates = rule(year)
        except (ValueError, OverflowError):  # lunar date outside the library's range
            continue
        for day in dates:
            found.setdefault(day, []).append(festival)
    return {d: tuple(fs) for d, fs in sorted(found.items())}


# ---------------------------------------------------------------- official breaks


def _period_name(keys: tuple[str, ...]) -> tuple[str, str]:
    names = [HOLIDAY_NAMES.get(k, (k, k)) for k in keys]
    return "·".join(n[0] for n in names), " & ".join(n[1] for n in names)


def _group(
    holiday_days: Mapping[dt.date, str | None],
    makeup: Mapping[dt.date, str | None],
    source: Source,
) -> list[HolidayPeriod]:
    """Group consecutive days off into breaks and attach make-up working days to them.

    A break also takes in the Saturdays/Sundays next to it that are not make-up working days
    (与周末连休): the sources list some weekend days of a break and leave out others.
    """
    holiday_days = dict(holiday_days)
    frontier = list(holiday_days)
    while frontier:
        day = frontier.pop()
        for step in (-1, 1):
            near = day + dt.timedelta(days=step)
            if near.weekday() >= 5 and near not in holiday_days and near not in makeup:
                holiday_days[near] = None
                frontier.append(near)
    runs: list[list[dt.date]] = []
    for day in sorted(holiday_days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    periods: list[HolidayPeriod] = []
    for run in runs:
        counts: dict[str, int] = {}  # insertion order = first day of each holiday in the run
        for day in run:
            key = holiday_days[day]
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        order = list(counts)
        keys = tuple(sorted(order, key=lambda k: (-counts[k], order.index(k))))
        if not keys:
            keys = ("special",)
        name, name_en = _period_name(keys)
        periods.append(HolidayPeriod(name, name_en, run[0], run[-1], keys, source=source))
    # attach each make-up working day to the nearest break of the same holiday (within 3 weeks)
    attached: dict[int, list[dt.date]] = {}
    for day, key in makeup.items():
        candidates = [
            (min(abs((day - p.start).days), abs((day - p.end).days)), i)
            for i, p in enumerate(periods)
            if (key is None or key in p.keys)
        ]
        candidates = [c for c in candidates if c[0] <= 21]
        if candidates:
            attached.setdefault(min(candidates)[1], []).append(day)
    return [
        HolidayPeriod(p.name, p.name_en, p.start, p.end, p.keys, tuple(sorted(attached.get(i, []))), p.source)
        for i, p in enumerate(periods)
    ]


@lru_cache(maxsize=1)
def _official_periods() -> tuple[HolidayPeriod, ...]:
    days_off: dict[dt.date, str | None] = {d: _CC_KEYS.get(n, "special") for d, n in _CC_HOLIDAYS.items()}
    makeup: dict[dt.date, str | None] = {d: _CC_KEYS.get(n, "special") for d, n in _CC_WORKDAYS.items()}
    return tuple(_group(days_off, makeup, "chinesecalendar"))


_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def _fallback_key(name: str) -> str | None:
    lowered = name.lower()
    for needle, key in (
        ("chinese new year", "spring_festival"),
        ("spring festival", "spring_festival"),
        ("new year", "new_year"),
        ("tomb-sweeping", "qingming"),
        ("qingming", "qingming"),
        ("labor day", "labour_day"),
        ("labour day", "labour_day"),
        ("dragon boat", "dragon_boat"),
        ("mid-autumn", "mid_autumn"),
        ("national day", "national_day"),
    ):
        if needle in lowered:
            return key
    if "day off" in lowered:
        return None  # a bridge day; it takes the name of the break around it
    return "special"


@lru_cache(maxsize=64)
def _fallback_periods(year: int) -> tuple[HolidayPeriod, ...]:
    """Breaks from the ``holidays`` package (CN) for years chinesecalendar does not cover."""
    import holidays

    try:
        table = holidays.country_holidays("CN", years=range(year - 1, year + 2), language="en_US")
    except (NotImplementedError, ValueError, OverflowError, KeyError):
        return ()
    days_off: dict[dt.date, str | None] = {}
    makeup: dict[dt.date, str | None] = {}
    for day, names in sorted(table.items()):
        for name in str(names).split(";"):
            key = _fallback_key(name.strip())
            if day not in days_off or days_off[day] is None:
                days_off[day] = key
            match = _SUBSTITUTED.search(name)
            if match:
                month, mday, myear = (int(x) for x in match.groups())
                makeup[dt.date(myear, month, mday)] = None
    # a makeup day gets the key of the nearest named day off
    for day in list(makeup):
        named = [(abs((day - d).days), k) for d, k in days_off.items() if k is not None]
        makeup[day] = min(named)[1] if named else None
    return tuple(_group(days_off, makeup, "holidays"))


def _periods_around(year: int) -> list[HolidayPeriod]:
    """All breaks that may touch ``year`` (from the best source for that year)."""
    if year in OFFICIAL_YEARS:
        return [p for p in _official_periods() if p.start.year <= year + 1 and p.end.year >= year - 1]
    return list(_fallback_periods(year))


def holiday_periods(year: int) -> list[HolidayPeriod]:
    """Official holiday breaks of ``year`` (a break belongs to the year its last day is in)."""
    return [p for p in _periods_around(year) if p.end.year == year]


def period_of(day: dt.date) -> HolidayPeriod | None:
    """The official break that contains ``day`` (or for which ``day`` is a make-up working day)."""
    for period in _periods_around(day.year):
        if day in period or day in period.makeup_workdays:
            return period
    return None


@lru_cache(maxsize=4096)
def day_info(day: dt.date) -> DayInfo:
    """Classify one date: workday, weekend, holiday (day off of an official break) or make-up working day."""
    if isinstance(day, dt.datetime):
        day = day.date()
    festivals = festival_dates(day.year).get(day, ())
    names = tuple(f.name for f in festivals)
    names_en = tuple(f.name_en for f in festivals)
    source: Source = "chinesecalendar" if day.year in OFFICIAL_YEARS else "holidays"
    period = period_of(day)
    weekend = day.weekday() >= 5
    if period is not None and day in period:
        kind: DayKind = "holiday"
    elif period is not None:
        kind = "makeup_workday"
    else:
        kind = "weekend" if weekend else "workday"
    if source == "holidays" and not _fallback_periods(day.year):
        source = "weekdays"
    return DayInfo(
        date=day,
        kind=kind,
        holiday=period.name if period else None,
        holiday_en=period.name_en if period else None,
        festivals=names,
        is_working_day=kind in ("workday", "makeup_workday"),
        festivals_en=names_en,
        source=source,
    )


def days(start: dt.date, end: dt.date) -> list[DayInfo]:
    """:func:`day_info` for every date from ``start`` to ``end`` inclusive (empty if end < start)."""
    return [day_info(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)]


def day_kind_function(spec: str = "CN") -> Callable[[dt.date], DayKind]:
    """A date -> day-kind function for the forecaster.

    ``"CN"`` is this module's calendar (with 调休). ``"none"`` knows only weekends. Any other value is
    a country code of the ``holidays`` package, optionally with a subdivision: ``"NZ-AUK"``,
    ``"HK"``; there every listed public holiday is a ``holiday`` and nothing is a make-up workday.
    """
    if spec.upper() == "CN":
        return lambda d: day_info(d).kind
    if spec.lower() == "none":
        return lambda d: "weekend" if d.weekday() >= 5 else "workday"
    import holidays

    country, _, subdiv = spec.partition("-")
    try:
        table = holidays.country_holidays(country.upper(), subdiv=subdiv.upper() or None)
    except NotImplementedError:
        raise ValueError(
            f"unknown holiday calendar {spec!r}: use CN, none, or a country code such as NZ-AUK"
        ) from None

    def kind(d: dt.date) -> DayKind:
        if d in table:
            return "holiday"
        return "weekend" if d.weekday() >= 5 else "workday"

    return kind


# ---------------------------------------------------------------- A13 comparisons


def previous_period(period: HolidayPeriod) -> HolidayPeriod | None:
    """The official break just before ``period`` (of any holiday): 'vs the previous holiday'."""
    candidates = [
        p
        for year in (period.start.year - 1, period.start.year)
        for p in holiday_periods(year)
        if p.end < period.start
    ]
    return max(candidates, key=lambda p: p.end) if candidates else None


def same_period_last_year(period: HolidayPeriod) -> HolidayPeriod | None:
    """The break of the same holiday one year earlier: 'vs the same holiday last year'."""
    last_year = holiday_periods(period.end.year - 1)
    for matches in (
        [p for p in last_year if p.key == period.key],
        [p for p in last_year if period.key in p.keys],
    ):
        if matches:
            return matches[0]
    return None


def normal_days(first: dt.date, weeks: int = 4) -> list[DayInfo]:
    """Ordinary days (plain workdays and weekends, no festival, no break) in the ``weeks`` before the
    day ``first`` (a break's first day, or a festival day).

    These are the 'normal days' a holiday burst is measured against.
    """
    return [
        info
        for info in days(first - dt.timedelta(weeks=weeks), first - dt.timedelta(days=1))
        if info.kind in ("workday", "weekend") and not info.festivals
    ]
