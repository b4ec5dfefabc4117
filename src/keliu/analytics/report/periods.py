"""Report periods (报表周期): day, week (Mon–Sun), month, year or a custom range, in a site's time zone.

A period is a whole number of local calendar days, ``first_day`` to ``last_day`` inclusive; its
instants are local midnight of the first day up to local midnight after the last day, converted to
UTC with ``zoneinfo`` (so a day in a DST zone may last 23 or 25 hours).

What this module must not do: read the clock itself (callers pass ``today`` or ``now``), or query data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from keliu.errors import InputError

__all__ = [
    "MAX_CUSTOM_DAYS",
    "Period",
    "PeriodKind",
    "custom_period",
    "last_complete_period",
    "parse_date_range",
    "period_containing",
    "site_zone",
]

MAX_CUSTOM_DAYS = 3660  # ten years: longer custom ranges are almost certainly a typo

_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class PeriodKind(StrEnum):
    DAY = "day"  # 日报
    WEEK = "week"  # 周报 (Monday to Sunday)
    MONTH = "month"  # 月报
    YEAR = "year"  # 年报
    CUSTOM = "custom"  # 自定义


def site_zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name; an unknown name raises ``InputError``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}: expected an IANA name such as 'Asia/Shanghai'"
        ) from exc


def _zh_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _en_date(d: date) -> str:
    return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"


@dataclass(frozen=True)
class Period:
    """A report period: local days ``first_day``..``last_day`` (inclusive) in time zone ``tz``."""

    kind: PeriodKind
    first_day: date
    last_day: date
    tz: str

    def __post_init__(self) -> None:
        site_zone(self.tz)
        if self.last_day < self.first_day:
            raise InputError(
                f"inverted date range: the last day {self.last_day.isoformat()} is before the first day "
                f"{self.first_day.isoformat()}"
            )
        if self.kind is PeriodKind.CUSTOM and self.n_days > MAX_CUSTOM_DAYS:
            raise InputError(f"date range of {self.n_days} days is too long (at most {MAX_CUSTOM_DAYS} days)")

    @property
    def zone(self) -> ZoneInfo:
        return site_zone(self.tz)

    @property
    def n_days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.n_days)]

    @property
    def start(self) -> datetime:
        """Local midnight at the start of the first day (timezone-aware)."""
        return datetime.combine(self.first_day, time(0), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """Local midnight after the last day (exclusive end, timezone-aware)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=self.zone)

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)

    @property
    def duration_h(self) -> float:
        """Elapsed hours (23 or 25 on a DST change day)."""
        return (self.end_utc - self.start_utc).total_seconds() / 3600

    def contains(self, instant: datetime) -> bool:
        """Whether an aware instant falls in ``[start, end)``."""
        if instant.tzinfo is None:
            raise ValueError("contains() needs a timezone-aware datetime")
        return self.start_utc <= instant.astimezone(UTC) < self.end_utc

    def previous(self) -> Period:
        """The period before, of the same kind (custom: the same number of days just before)."""
        if self.kind is PeriodKind.DAY:
            return period_containing(PeriodKind.DAY, self.first_day - timedelta(days=1), self.tz)
        if self.kind is PeriodKind.WEEK:
            return period_containing(PeriodKind.WEEK, self.first_day - timedelta(days=7), self.tz)
        if self.kind in (PeriodKind.MONTH, PeriodKind.YEAR):
            return period_containing(self.kind, self.first_day - timedelta(days=1), self.tz)
        first = self.first_day - timedelta(days=self.n_days)
        return Period(PeriodKind.CUSTOM, first, self.first_day - timedelta(days=1), self.tz)

    def label(self, lang: str = "zh") -> str:
        """A human label, e.g. ``2024年5月6日 周一`` / ``Mon 6 May 2024``."""
        first, last = self.first_day, self.last_day
        zh = lang != "en"
        if self.kind is PeriodKind.DAY:
            wd = first.weekday()
            return f"{_zh_date(first)} {_WEEKDAYS_ZH[wd]}" if zh else f"{_WEEKDAYS_EN[wd]} {_en_date(first)}"
        if self.kind is PeriodKind.WEEK:
            iso_year, week, _ = first.isocalendar()
            if zh:
                return f"{iso_year}年第{week}周（{first.month}月{first.day}日–{last.month}月{last.day}日）"
            return f"Week {week} of {iso_year} ({_en_date(first)} – {_en_date(last)})"
        if self.kind is PeriodKind.MONTH:
            return f"{first.year}年{first.month}月" if zh else f"{_MONTHS_EN[first.month - 1]} {first.year}"
        if self.kind is PeriodKind.YEAR:
            return f"{first.year}年" if zh else str(first.year)
        if zh:
            return f"{_zh_date(first)} – {_zh_date(last)}（{self.n_days}天）"
        return f"{_en_date(first)} – {_en_date(last)} ({self.n_days} days)"


def period_containing(kind: PeriodKind | str, day: date, tz: str) -> Period:
    """The day, week (Monday–Sunday), month or year that contains ``day``.

    ``custom`` is not a calendar unit: use ``custom_period``.
    """
    kind = _kind(kind)
    if kind is PeriodKind.DAY:
        return Period(kind, day, day, tz)
    if kind is PeriodKind.WEEK:
        monday = day - timedelta(days=day.weekday())
        return Period(kind, monday, monday + timedelta(days=6), tz)
    if kind is PeriodKind.MONTH:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, first, following - timedelta(days=1), tz)
    if kind is PeriodKind.YEAR:
        return Period(kind, date(day.year, 1, 1), date(day.year, 12, 31), tz)
    raise InputError("a custom period needs a first and a last day: use custom_period(first, last, tz)")


def custom_period(first_day: date, last_day: date, tz: str) -> Period:
    """A custom range of local days, both inclusive; inverted or over-long ranges raise ``InputError``."""
    return Period(PeriodKind.CUSTOM, first_day, last_day, tz)


def last_complete_period(kind: PeriodKind | str, now: datetime, tz: str) -> Period:
    """The most recent whole day/week/month/year that has ended by ``now`` (aware) in the site's zone.

    This is what the scheduled reports cover: yesterday, last week, last month, last year.
    """
    if now.tzinfo is None:
        raise InputError("the current time must be timezone-aware")
    today = now.astimezone(site_zone(tz)).date()
    current = period_containing(kind, today, tz)
    return current.previous()


_RANGE_RE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/|to|～|~|至)\s*(\d{4}-\d{2}-\d{2})\s*$")


def parse_date_range(text: str, tz: str) -> Period:
    """A custom period from text such as ``2024-05-01..2024-05-20`` (also ``/``, ``to``, ``~``, ``至``)."""
    if not text or not text.strip():
        raise InputError("empty date range: give FIRST..LAST, e.g. 2024-05-01..2024-05-20")
    match = _RANGE_RE.match(text)
    if match is None:
        raise InputError(
            f"cannot read date range {text!r}: expected FIRST..LAST, e.g. 2024-05-01..2024-05-20"
        )
    try:
        first, last = (date.fromisoformat(g) for g in match.groups())
    except ValueError as exc:
        raise InputError(f"invalid date in range {text!r}: {exc}") from exc
    return custom_period(first, last, tz)


def _kind(kind: PeriodKind | str) -> PeriodKind:
    try:
        return PeriodKind(kind)
    except ValueError as exc:
        choices = ", ".join(k.value for k in PeriodKind)
        raise InputError(f"unknown report period {kind!r}: expected one of {choices}") from exc
