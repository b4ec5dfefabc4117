"""The dates keliu handles, and how long a range it reports at once (docs/reports.md, "Bounds").

A day outside ``FIRST_DAY .. LAST_DAY`` is a typing mistake, not a store's history or plan (and days
near the ends of Python's calendar overflow in week/year arithmetic); a range of more than
``MAX_RANGE_DAYS`` days (ten years) day by day, or ``MAX_HOUR_RANGE_DAYS`` days (a quarter) hour by
hour, would run for minutes and print more rows than anyone reads. Commands and imports refuse both
with one line; they check with :func:`day_in_bounds`.
"""

from __future__ import annotations

from datetime import date

__all__ = ["FIRST_DAY", "LAST_DAY", "MAX_HOUR_RANGE_DAYS", "MAX_RANGE_DAYS", "day_in_bounds"]

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)
MAX_RANGE_DAYS = 3660  # ten years of days, leap days included
MAX_HOUR_RANGE_DAYS = 92  # a quarter of hours (2 208 rows)


def day_in_bounds(day: date) -> bool:
    """Whether ``day`` lies in ``FIRST_DAY .. LAST_DAY``."""
    return FIRST_DAY <= day <= LAST_DAY
