"""The report builder (报表生成): turns counted traffic for a period into a ``Report``.

Input is a plain, typed ``ReportInput``: per-day counts (de-duplicated customers, entries, batches,
new/returning, staff and invalid traffic), customers per local hour, per-entrance entries and the
previous period's totals. The analytics queries fill it from the store; tests fill it by hand.
Period totals are the sums of the days, so every renderer's totals agree with its daily table.

What this module must not do: query the store, read the clock (``generated_at`` is passed in), or
format text for a particular output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from keliu.analytics.report.model import (
    Block,
    Cell,
    Chart,
    ChartKind,
    ChartSeries,
    Column,
    ColumnKind,
    KpiCard,
    KpiGroup,
    Label,
    Note,
    Report,
    Section,
    Table,
)
from keliu.analytics.report.periods import Period, PeriodKind
from keliu.analytics.report.text import label

__all__ = ["EntranceCounts", "ReportInput", "TrafficCounts", "build_report_from_input"]

HOURS = 24
TOP_ENTRANCES = 15  # the ranking chart shows this many; the table lists all


@dataclass(frozen=True)
class TrafficCounts:
    """Counted traffic of one day or period (see docs/visitors.md for the semantics).

    ``customers`` 去重客流 (customer visits), ``entries`` 总进店人次, ``batches`` 批次, ``new`` 新客 /
    ``returning`` 回头客 (``None`` when the site keeps no visitor memory), ``staff`` 员工,
    ``invalid`` 无效客流 (excluded visits, e.g. couriers) and ``exits`` 离店人次 (customers' exits).
    """

    customers: int
    entries: int
    batches: int
    staff: int = 0
    invalid: int = 0
    new: int | None = None
    returning: int | None = None
    exits: int = 0

    def __post_init__(self) -> None:
        for name in ("customers", "entries", "batches", "staff", "invalid", "new", "returning", "exits"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if self.new is not None and self.returning is not None and self.new + self.returning > self.customers:
            raise ValueError(
                f"new ({self.new}) + returning ({self.returning}) exceeds customers ({self.customers})"
            )

    def __add__(self, other: TrafficCounts) -> TrafficCounts:
        def both(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a + b

        return TrafficCounts(
            customers=self.customers + other.customers,
            entries=self.entries + other.entries,
            batches=self.batches + other.batches,
            staff=self.staff + other.staff,
            invalid=self.invalid + other.invalid,
            new=both(self.new, other.new),
            returning=both(self.returning, other.returning),
            exits=self.exits + other.exits,
        )


ZERO = TrafficCounts(customers=0, entries=0, batches=0, new=0, returning=0)


@dataclass(frozen=True)
class EntranceCounts:
    """Entries through one entrance (入口) in the period, and in the previous period when known; and
    the customers' exits (离店) through it in the period."""

    name: str
    entries: int
    previous_entries: int | None = None
    exits: int = 0


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows, already counted.

    ``days``: counts per local day of the period (a missing day counts as zero: closed).
    ``hourly_customers``: per local day, 24 customer counts by local wall-clock hour of first entry
    (on a DST change day the skipped hour is 0 and the repeated hour holds both); each day's sum
    must equal that day's customers. ``previous_daily_customers``: customers per day of
    ``period.previous()``, in order, for the comparison line. ``previous_hourly_customers``: for a
    day report, the day before's 24 hourly counts. ``forecast``: optional (lower, upper) per trend
    bucket (hours of a day report, days otherwise).
    """

    site_name: str
    period: Period
    days: Mapping[date, TrafficCounts]
    hourly_customers: Mapping[date, Sequence[int]] = field(default_factory=dict)
    previous_totals: TrafficCounts | None = None
    previous_daily_customers: Sequence[int] | None = None
    previous_hourly_customers: Sequence[int] | None = None
    entrances: Sequence[EntranceCounts] = ()
    forecast: Sequence[tuple[float, float]] | None = None
    location: str | None = None
    site_id: str | None = None  # the store's id: in exported file names and titles
    # a period still in progress: (its end so far, the same elapsed point of the previous period);
    # previous_totals and the entrances' previous entries then cover the previous period up to it
    compared_until: tuple[datetime, datetime] | None = None

    def __post_init__(self) -> None:
        p = self.period
        for d in self.days:
            if not p.first_day <= d <= p.last_day:
                raise ValueError(f"day {d.isoformat()} is outside the period {p.label('en')}")
        for d, hours in self.hourly_customers.items():
            if d not in self.days and any(hours):
                raise ValueError(f"hourly counts for {d.isoformat()} but no counts for that day")
            if len(hours) != HOURS:
                raise ValueError(f"hourly counts for {d.isoformat()} have {len(hours)} values, expected 24")
            if sum(hours) != self.day(d).customers:
                raise ValueError(
                    f"hourly counts for {d.isoformat()} sum to {sum(hours)}, "
                    f"but the day has {self.day(d).customers} customers"
                )
        if self.previous_daily_customers is not None and len(self.previous_daily_customers) != (
            p.previous().n_days
        ):
            raise ValueError(
                f"previous_daily_customers has {len(self.previous_daily_customers)} values, "
                f"expected {p.previous().n_days} (the days of the previous period)"
            )
        if self.previous_hourly_customers is not None and len(self.previous_hourly_customers) != HOURS:
            raise ValueError("previous_hourly_customers must have 24 values")
        buckets = HOURS if p.kind is PeriodKind.DAY else p.n_days
        if self.forecast is not None and len(self.forecast) != buckets:
            raise ValueError(f"forecast has {len(self.forecast)} values, expected {buckets}")

    def day(self, d: date) -> TrafficCounts:
        return self.days.get(d, ZERO)

    @property
    def totals(self) -> TrafficCounts:
        total = ZERO
        for d in self.period.days:
            total = total + self.day(d)
        return total

    def hours_total(self) -> list[int]:
        """Customers per hour of day summed over the period."""
        sums = [0] * HOURS
        for hours in self.hourly_customers.values():
            for h, v in enumerate(hours):
                sums[h] += v
        return sums


def _hour_span(h: int) -> str:
    return f"{h:02d}:00–{(h + 1) % 24:02d}:00" if h < 23 else "23:00–24:00"


def _argmax(values: Sequence[int]) -> int | None:
    """Index of the largest positive value (earliest on ties); ``None`` when all are zero."""
    best = max(values, default=0)
    return values.index(best) if best > 0 else None


def _kpis(data: ReportInput) -> KpiGroup:
    cur, prev, p = data.totals, data.previous_totals, data.period
    persons, times, batches = label("unit.persons"), label("unit.person_times"), label("unit.batches")

    def card(key: str, value: int | None, previous: int | None, unit: Label = persons) -> KpiCard:
        return KpiCard(key, label(f"kpi.{key}"), value, unit, previous)

    cards = [
        card("customers", cur.customers, prev.customers if prev else None),
        card("entries", cur.entries, prev.entries if prev else None, times),
        card("batches", cur.batches, prev.batches if prev else None, batches),
        card("new", cur.new, prev.new if prev else None),
        card("returning", cur.returning, prev.returning if prev else None),
        card("staff", cur.staff, prev.staff if prev else None),
        card("invalid", cur.invalid, prev.invalid if prev else None),
    ]
    if p.n_days > 1:
        previous_mean = prev.customers / p.previous().n_days if prev else None
        cards.append(
            KpiCard(
                "daily_mean",
                label("kpi.daily_mean"),
                round(cur.customers / p.n_days, 1),
                persons,
                round(previous_mean, 1) if previous_mean is not None else None,
                decimals=1,
            )
        )
    peak_h = _argmax(data.hours_total())
    cards.append(
        KpiCard(
            "peak_hour",
            label("kpi.peak_hour"),
            data.hours_total()[peak_h] if peak_h is not None else None,
            persons,
            detail=_hour_span(peak_h) if peak_h is not None else "",
        )
    )
    if p.n_days > 1:
        daily = [data.day(d).customers for d in p.days]
        peak_d = _argmax(daily)
        cards.append(
            KpiCard(
                "peak_day",
                label("kpi.peak_day"),
                daily[peak_d] if peak_d is not None else None,
                persons,
                detail=p.days[peak_d].isoformat() if peak_d is not None else "",
            )
        )
    return KpiGroup(tuple(cards))


def _trend_blocks(data: ReportInput) -> list[Block]:
    p = data.period
    band = tuple((float(lo), float(hi)) for lo, hi in data.forecast) if data.forecast is not None else None
    band_name = label("series.forecast") if band is not None else None
    if p.kind is PeriodKind.DAY:
        today = list(data.hourly_customers.get(p.first_day, [0] * HOURS))
        series = [ChartSeries(label("series.today"), tuple(float(v) for v in today))]
        if data.previous_hourly_customers is not None:
            series.append(
                ChartSeries(
                    label("series.yesterday"), tuple(float(v) for v in data.previous_hourly_customers), True
                )
            )
        hourly = Chart(
            "hourly",
            label("chart.hourly"),
            ChartKind.LINE,
            tuple(f"{h:02d}:00" for h in range(HOURS)),
            tuple(series),
            label("axis.persons"),
            band_name,
            band,
        )
        return [hourly]
    days = p.days
    current = tuple(float(data.day(d).customers) for d in days)
    series = [ChartSeries(label("series.current"), current)]
    if data.previous_daily_customers is not None:
        prev = [float(v) for v in data.previous_daily_customers][: len(days)]
        padded: tuple[float | None, ...] = (*prev, *([None] * (len(days) - len(prev))))
        series.append(ChartSeries(label("series.previous"), padded, True))
    blocks: list[Block] = [
        Chart(
            "daily",
            label("chart.daily"),
            ChartKind.LINE,
            tuple(f"{d:%m-%d}" for d in days),
            tuple(series),
            label("axis.persons"),
            band_name,
            band,
        )
    ]
    if p.kind is PeriodKind.YEAR:
        months = _months(data)
        blocks.append(
            Chart(
                "monthly",
                label("chart.monthly"),
                ChartKind.BAR,
                tuple(m for m, _ in months),
                (ChartSeries(label("series.current"), tuple(float(c.customers) for _, c in months)),),
                label("axis.persons"),
            )
        )
    blocks.append(
        Chart(
            "hour_profile",
            label("chart.hour_profile"),
            ChartKind.BAR,
            tuple(f"{h:02d}" for h in range(HOURS)),
            (ChartSeries(label("series.current"), tuple(float(v) for v in data.hours_total())),),
            label("axis.persons"),
        )
    )
    return blocks


def _months(data: ReportInput) -> list[tuple[str, TrafficCounts]]:
    months: dict[str, TrafficCounts] = {}
    for d in data.period.days:
        key = f"{d:%Y-%m}"
        months[key] = months.get(key, ZERO) + data.day(d)
    return list(months.items())


def _entrance_blocks(data: ReportInput) -> list[Block]:
    ranked = sorted(data.entrances, key=lambda e: (-e.entries, e.name))
    total = sum(e.entries for e in ranked)
    top = ranked[:TOP_ENTRANCES]
    chart = Chart(
        "entrances_rank",
        label("chart.entrances"),
        ChartKind.HBAR,
        tuple(e.name for e in top),
        (ChartSeries(label("series.current"), tuple(float(e.entries) for e in top)),),
    )
    columns = (
        Column("entrance", label("col.entrance")),
        Column("entries", label("col.entries"), ColumnKind.INT),
        Column("share", label("col.share"), ColumnKind.PERCENT),
        Column("exits", label("col.exits"), ColumnKind.INT),
        Column("previous_entries", label("previous"), ColumnKind.INT),
        Column("change", label("col.change"), ColumnKind.PERCENT),
    )
    rows = []
    for e in ranked:
        share = round(e.entries / total * 100, 1) if total else None
        change = (
            round((e.entries - e.previous_entries) / e.previous_entries * 100, 1)
            if e.previous_entries
            else None
        )
        rows.append((e.name, e.entries, share, e.exits, e.previous_entries, change))
    previous = [e.previous_entries for e in ranked]
    prev_total = sum(v for v in previous if v is not None) if previous and None not in previous else None
    table = Table(
        "entrances",
        label("table.entrances"),
        columns,
        tuple(rows),
        total=(None, total, 100.0 if total else None, sum(e.exits for e in ranked), prev_total, None),
    )
    return [chart, table]


_COUNT_COLUMNS = (
    Column("customers", label("col.customers"), ColumnKind.INT),
    Column("entries", label("col.entries"), ColumnKind.INT),
    Column("exits", label("col.exits"), ColumnKind.INT),
    Column("batches", label("col.batches"), ColumnKind.INT),
    Column("new", label("col.new"), ColumnKind.INT),
    Column("returning", label("col.returning"), ColumnKind.INT),
    Column("staff", label("col.staff"), ColumnKind.INT),
    Column("invalid", label("col.invalid"), ColumnKind.INT),
)


def _counts(c: TrafficCounts) -> tuple[int | None, ...]:
    return (c.customers, c.entries, c.exits, c.batches, c.new, c.returning, c.staff, c.invalid)


def _detail_blocks(data: ReportInput) -> list[Block]:
    p = data.period
    if p.kind is PeriodKind.DAY:
        hours = list(data.hourly_customers.get(p.first_day, [0] * HOURS))
        columns = [
            Column("hour", label("col.hour")),
            Column("customers", label("col.customers"), ColumnKind.INT),
        ]
        prev = data.previous_hourly_customers
        if prev is not None:
            columns.append(Column("previous_customers", label("series.yesterday"), ColumnKind.INT))
        rows: list[tuple[Cell, ...]] = [
            (_hour_span(h), hours[h], *([prev[h]] if prev is not None else [])) for h in range(HOURS)
        ]
        total: tuple[Cell, ...] = (None, sum(hours), *([sum(prev)] if prev is not None else []))
        return [Table("hourly", label("table.hourly"), tuple(columns), tuple(rows), total=total)]
    blocks: list[Block] = []
    total_row = (None, *_counts(data.totals))
    if p.kind is PeriodKind.YEAR:
        blocks.append(
            Table(
                "monthly",
                label("table.monthly"),
                (Column("month", label("col.month")), *_COUNT_COLUMNS),
                tuple((m, *_counts(c)) for m, c in _months(data)),
                total=total_row,
            )
        )
    blocks.append(
        Table(
            "daily",
            label("table.daily"),
            (Column("date", label("col.date"), ColumnKind.DATE), *_COUNT_COLUMNS),
            tuple((d, *_counts(data.day(d))) for d in p.days),
            total=total_row,
        )
    )
    return blocks


def build_report_from_input(data: ReportInput, generated_at: datetime) -> Report:
    """The report for ``data``: KPI cards, trend charts, entrances and detail tables, definitions."""
    p = data.period
    title_key = {
        PeriodKind.DAY: "title.day",
        PeriodKind.WEEK: "title.week",
        PeriodKind.MONTH: "title.month",
        PeriodKind.YEAR: "title.year",
        PeriodKind.CUSTOM: "title.custom",
    }[p.kind]
    sections = [
        Section("overview", label("sec.overview"), (_kpis(data),)),
        Section("trend", label("sec.trend"), tuple(_trend_blocks(data))),
    ]
    if data.entrances:
        sections.append(Section("entrances", label("sec.entrances"), tuple(_entrance_blocks(data))))
    sections.append(Section("detail", label("sec.detail"), tuple(_detail_blocks(data))))
    notes = (
        "def.customers",
        "def.entries",
        "def.exits",
        "def.batches",
        "def.new_returning",
        "def.excluded",
        "def.change",
    )
    definitions = [Note(label(k)) for k in notes]
    if data.compared_until is not None:
        until, previous = (f"{t.astimezone(p.zone):%Y-%m-%d %H:%M}" for t in data.compared_until)
        so_far = label("def.change_so_far")
        definitions.append(
            Note(
                Label(
                    so_far.zh.format(until=until, previous=previous),
                    so_far.en.format(until=until, previous=previous),
                )
            )
        )
    sections.append(Section("definitions", label("sec.definitions"), tuple(definitions)))
    return Report(
        title=label(title_key),
        site_name=data.site_name,
        period=p,
        generated_at=generated_at,
        sections=tuple(sections),
        location=data.location,
        site_id=data.site_id,
    )
