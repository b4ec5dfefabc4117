"""Deterministic, realistic-looking report input for the report tests (seeded, no store)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from keliu.analytics.report import EntranceCounts, Period, ReportInput, TrafficCounts

GENERATED_AT = datetime(2024, 5, 13, 1, 30, tzinfo=UTC)
# a showroom's day: quiet morning, lunch dip, afternoon peak
_OPEN_SHAPE = {9: 3, 10: 6, 11: 8, 12: 5, 13: 6, 14: 10, 15: 12, 16: 11, 17: 8, 18: 6, 19: 4, 20: 2}


def hourly_for(day: date, seed: int = 0) -> list[int]:
    rng = random.Random(day.toordinal() * 31 + seed)
    weekend = 1.5 if day.weekday() >= 5 else 1.0
    hours = [0] * 24  # closed outside 09:00-21:00
    for h, base in _OPEN_SHAPE.items():
        hours[h] = max(0, round(base * weekend + rng.randint(-2, 3)))
    return hours


def counts_for(customers: int, seed: int) -> TrafficCounts:
    rng = random.Random(seed)
    returning = customers // 4 + rng.randint(0, 3) if customers > 8 else 0
    return TrafficCounts(
        customers=customers,
        entries=customers + customers // 5 + rng.randint(0, 4),
        batches=max(0, customers - customers // 3 - rng.randint(0, 2)) if customers else 0,
        staff=rng.randint(4, 9),
        invalid=rng.randint(0, 5),
        new=customers - min(returning, customers),
        returning=min(returning, customers),
    )


def sample_input(
    period: Period, site_name: str = "上海浦东旗舰店", with_forecast: bool = False, entrances: int = 4
) -> ReportInput:
    hourly = {d: hourly_for(d) for d in period.days}
    days = {d: counts_for(sum(h), d.toordinal()) for d, h in hourly.items()}
    prev = period.previous()
    prev_daily = [sum(hourly_for(d, seed=1)) for d in prev.days]
    prev_totals = TrafficCounts(0, 0, 0, 0, 0, 0, 0)
    for i, d in enumerate(prev.days):
        prev_totals = prev_totals + counts_for(prev_daily[i], d.toordinal() + 100_000)
    total_entries = sum(c.entries for c in days.values())
    names = ["正门 Main door", "东侧门 East", "车库电梯 Garage lift", "西侧门 West", "北门 North"][:entrances]
    weights = [0.48, 0.27, 0.15, 0.07, 0.03][:entrances]
    shares = [int(total_entries * w) for w in weights]
    if shares:
        shares[0] += total_entries - sum(shares)
    entrance_counts = [
        EntranceCounts(name, share, previous_entries=int(share * 0.9) + 3)
        for name, share in zip(names, shares, strict=True)
    ]
    forecast = None
    if with_forecast:
        base = hourly[period.first_day] if period.n_days == 1 else [days[d].customers for d in period.days]
        forecast = [(max(0.0, v * 0.8 - 2), v * 1.2 + 3) for v in base]
    return ReportInput(
        site_name=site_name,
        period=period,
        days=days,
        hourly_customers=hourly,
        previous_totals=prev_totals,
        previous_daily_customers=prev_daily,
        previous_hourly_customers=hourly_for(prev.first_day, seed=1) if period.n_days == 1 else None,
        entrances=entrance_counts,
        forecast=forecast,
    )
