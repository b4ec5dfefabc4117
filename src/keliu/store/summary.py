"""Traffic summary rows and the site-local time buckets they are counted in.

Buckets are the site's local hours or days (``sites.timezone``, IANA). Their boundaries are computed
here, in Python, as UTC instants (so daylight-saving days have 23 or 25 hourly buckets and a 23- or
25-hour daily bucket); the database then counts rows per bucket with one portable SQL aggregation
that joins a ``VALUES`` list of the buckets (``keliu.store.repository``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["Bucket", "By", "SummaryRow", "local_buckets"]

By = Literal["hour", "day"]


@dataclass(frozen=True)
class Bucket:
    """One local hour or day: ``start`` is its local start (aware, in the site's zone); rows are
    counted when their time lies in ``[lo, hi)`` (UTC; the bucket clipped to the asked range)."""

    start: datetime
    lo: datetime
    hi: datetime


@dataclass(frozen=True)
class SummaryRow:
    """Traffic of one local hour or day at one site.

    * ``total`` 总客流: entries ('in' crossings) of customer visits in the bucket;
    * ``deduplicated`` 去重客流: customer visits whose first entry is in the bucket;
    * ``staff`` 员工: staff visits whose first entry is in the bucket;
    * ``invalid`` 无效客流: invalid visits (couriers, other exclusion classes, outside business hours)
      whose first entry is in the bucket, and ``invalid_by_reason`` the same split by
      ``Exclusion.reason`` (e.g. ``"courier:meituan"``);
    * ``batches`` 批次: arrival groups (people entering together) with at least one customer that
      started in the bucket; a customer arriving alone is a batch of one (docs/visitors.md);
    * ``new`` 新客 / ``returning`` 回头客: customer visits (as in ``deduplicated``) not returning /
      returning; ``new + returning == deduplicated``;
    * ``exits`` 离店: exits ('out' crossings of door lines) of customer visits in the bucket, the
      counterpart of ``total`` (docs/metrics.md, "Exits and pass-by").
    """

    bucket: datetime  # local start, aware, in the site's time zone
    total: int = 0
    deduplicated: int = 0
    staff: int = 0
    invalid: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    new: int = 0
    returning: int = 0
    exits: int = 0


def _period_starts(day: datetime, by: By, tz: ZoneInfo) -> list[datetime]:
    """UTC instants at which the local periods of the local date ``day`` start.

    Both folds of every wall-clock start are tried: an ambiguous hour (clocks going back) gives two
    distinct instants, a skipped one (clocks going forward) resolves onto a neighbour's instant and is
    removed as a duplicate by the caller. A day starts at the first instant of its local midnight.
    """
    date = day.date()
    if by == "day":
        return [datetime.combine(date, time(0), tzinfo=tz).astimezone(UTC)]
    return [
        datetime.combine(date, time(hour), tzinfo=tz).replace(fold=fold).astimezone(UTC)
        for hour in range(24)
        for fold in (0, 1)
    ]


def local_buckets(start: datetime, end: datetime, by: By, timezone: str) -> list[Bucket]:
    """The local hours or days of ``timezone`` overlapping ``[start, end)``, in order."""
    if by not in ("hour", "day"):
        raise ValueError(f"by must be 'hour' or 'day', not {by!r}")
    tz = ZoneInfo(timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    first = start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    last = end.astimezone(tz).replace(tzinfo=None)
    instants: set[datetime] = set()
    day = first - timedelta(days=1)
    while day <= last + timedelta(days=1):
        instants.update(_period_starts(day, by, tz))
        day += timedelta(days=1)
    bounds = sorted(instants)
    out: list[Bucket] = []
    for lo, hi in pairwise(bounds):
        if hi <= start or lo >= end:
            continue
        out.append(Bucket(start=lo.astimezone(tz), lo=max(lo, start), hi=min(hi, end)))
    return out
