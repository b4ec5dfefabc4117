"""The one validator of the values analytics takes: days, day ranges, counts, years and times, within
the bounds of ``keliu.domain.bounds`` (docs/reports.md, "Bounds on dates and ranges").

The command line (``keliu.cli.options`` re-exports these), the metric catalogue
(``keliu.analytics.catalogue``) and an API check every value here, so a day, a range or a count is
refused the same way wherever it comes from. Every refusal is a :class:`keliu.errors.ConfigError`
whose message names the value as the caller's user wrote it: the command line writes ``--from`` and
``--other-zone`` ("option"), an API ``from`` and ``other_zone`` ("parameter") — a :class:`Spelling`.
The functions' defaults are the command line's spelling.

Pure apart from :func:`parse_at`, which reads the sites' time zones from the store and, without a
value, the wall clock. Must not import the CLI or a web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from keliu.domain.bounds import FIRST_DAY, LAST_DAY, MAX_HOUR_RANGE_DAYS, MAX_RANGE_DAYS, day_in_bounds
from keliu.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from keliu.store import Store

__all__ = [
    "API",
    "COMMAND_LINE",
    "Spelling",
    "check_at",
    "check_count",
    "check_range",
    "check_year",
    "parse_at",
    "parse_day",
    "parse_int",
    "site_zone",
]


@dataclass(frozen=True)
class Spelling:
    """How a caller's users write a parameter, for error messages: ``spelling("other_zone")`` is
    ``--other-zone`` on the command line and ``other_zone`` in an API. ``word`` is what a parameter
    is called there; ``scope`` starts a metric's messages (``analytics trend: missing option --site``)."""

    prefix: str = ""
    separator: str = "_"
    word: str = "parameter"
    scope: str = "metric"

    def __call__(self, param: str) -> str:
        return self.prefix + param.replace("_", self.separator)


COMMAND_LINE = Spelling(prefix="--", separator="-", word="option", scope="analytics")
API = Spelling()


def parse_day(text: str, option: str) -> date:
    """``YYYY-MM-DD`` from ``option``, within ``FIRST_DAY .. LAST_DAY``; a :class:`ConfigError` otherwise."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected a date YYYY-MM-DD") from None
    if not day_in_bounds(day):
        raise ConfigError(f"{option} {day}: keliu handles dates from {FIRST_DAY} to {LAST_DAY}")
    return day


def parse_int(value: Any, option: str) -> int:
    """A whole number given as a number or as text (an API's query string); ``ConfigError`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{option} {value!r}: expected a whole number") from None


def check_year(year: int, option: str = "--year", shown: str | None = None) -> int:
    """A year within the date bounds (``shown``: the option's value as typed, for the message)."""
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise ConfigError(
            f"{option} {shown or year}: keliu handles the years {FIRST_DAY.year} to {LAST_DAY.year}"
        )
    return year


def check_at(at: datetime, option: str = "--at") -> datetime:
    """A date and time whose day lies within the date bounds."""
    if not day_in_bounds(at.date()):
        raise ConfigError(f"{option} {at.isoformat()}: keliu handles dates from {FIRST_DAY} to {LAST_DAY}")
    return at


def check_count(value: int, option: str, lo: int = 1, hi: int = MAX_RANGE_DAYS) -> int:
    """An integer option (``--days N``, ``--top N``…) within ``lo .. hi``."""
    if not lo <= value <= hi:
        raise ConfigError(f"{option} {value}: must be from {lo} to {hi}")
    return value


def check_range(
    first: date,
    last: date,
    by: str = "day",
    *,
    options: str | None = None,
    spelling: Callable[[str], str] = COMMAND_LINE,
) -> int:
    """An inclusive range of local days: not inverted, within the date bounds, at most
    ``MAX_RANGE_DAYS`` days (``MAX_HOUR_RANGE_DAYS`` when ``by`` is ``"hour"``). Returns its length.
    ``options`` names the range in messages (default ``--from/--to`` in ``spelling``)."""
    start, end = spelling("from"), spelling("to")
    options = options or f"{start}/{end}"
    for day in (first, last):
        if not day_in_bounds(day):
            raise ConfigError(f"{options}: {day} is outside {FIRST_DAY} .. {LAST_DAY}")
    if last < first:
        raise ConfigError(f"{end} {last} is before {start} {first}")
    days = (last - first).days + 1
    limit = MAX_HOUR_RANGE_DAYS if by == "hour" else MAX_RANGE_DAYS
    if days > limit:
        per = "hour by hour" if by == "hour" else "day by day"
        hint = f"; use {spelling('by')} day for longer ranges" if by == "hour" else ""
        raise ConfigError(
            f"{options} {first} .. {last}: {days} days is more than the {limit} days keliu reports "
            f"{per}{hint}"
        )
    return days


def site_zone(store: Store, site: str | None) -> tzinfo | None:
    """The site's time zone; for the chain (``site`` None) the sites' zone if they share one, else None."""
    if site is not None:
        return ZoneInfo(store.site(site).timezone)
    zones = {s.timezone for s in store.sites()}
    if len(zones) == 1:
        return ZoneInfo(zones.pop())
    return UTC if not zones else None


def parse_at(text: str | None, store: Store, site: str | None, option: str = "--at") -> datetime:
    """An ISO date and time; without a UTC offset it is the site's local time. Default: now."""
    zone = site_zone(store, site)
    if text is None:
        return datetime.now(zone or UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: expected a date and time, e.g. 2025-03-05T11:30+08:00"
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        if zone is None:
            raise ConfigError(
                f"{option} {text!r}: the sites are in several time zones; give a UTC offset, "
                "e.g. 2025-03-05T11:30+08:00"
            )
        at = at.replace(tzinfo=zone)
    return check_at(at, option)
