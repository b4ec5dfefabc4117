"""The report model (报表模型): what a report says, independent of how it is rendered.

A ``Report`` is a title, a site, a period and an ordered list of ``Section``s; a section holds
blocks: KPI cards (指标卡), tables (明细表) and charts (图表, data only). Every type is frozen and
validated when built, so renderers (HTML, XLSX, CSV) can trust what they get and all show the same
numbers.

What this module must not do: format for a particular output, query data, or read the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from keliu.analytics.report.periods import Period

__all__ = [
    "Block",
    "Cell",
    "Chart",
    "ChartKind",
    "ChartSeries",
    "Column",
    "ColumnKind",
    "KpiCard",
    "KpiGroup",
    "Label",
    "Note",
    "Report",
    "Section",
    "Table",
]

Cell = str | int | float | date | None


@dataclass(frozen=True)
class Label:
    """A UI string in Chinese (first) and English."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class KpiCard:
    """One headline number, e.g. 客流量 (去重) 1,234 人, +5.2 % vs the previous period.

    ``value`` is ``None`` when unknown (shown as a dash, left empty in spreadsheets). ``detail`` is
    a short language-neutral qualifier such as the peak hour ``14:00–15:00``.
    """

    key: str
    label: Label
    value: int | float | None
    unit: Label | None = None
    previous: int | float | None = None
    detail: str = ""
    decimals: int = 0

    def __post_init__(self) -> None:
        for name in ("value", "previous"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            ):
                raise ValueError(f"KPI {self.key!r}: {name} must be a finite number or None, got {v!r}")
        if not 0 <= self.decimals <= 4:
            raise ValueError(f"KPI {self.key!r}: decimals must be 0..4, got {self.decimals}")

    @property
    def change_pct(self) -> float | None:
        """Change vs the previous period in percent, one decimal; ``None`` when not comparable."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return round((self.value - self.previous) / abs(self.previous) * 100, 1)


@dataclass(frozen=True)
class KpiGroup:
    cards: tuple[KpiCard, ...]

    def __post_init__(self) -> None:
        keys = [c.key for c in self.cards]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate KPI keys in a group: {keys}")


class ColumnKind(StrEnum):
    TEXT = "text"
    INT = "int"
    FLOAT = "float"  # one decimal
    PERCENT = "percent"  # a number of percent (12.5 means 12.5 %), one decimal
    DATE = "date"


_KIND_TYPES: dict[ColumnKind, tuple[type, ...]] = {
    ColumnKind.TEXT: (str,),
    ColumnKind.INT: (int,),
    ColumnKind.FLOAT: (int, float),
    ColumnKind.PERCENT: (int, float),
    ColumnKind.DATE: (date,),
}


@dataclass(frozen=True)
class Column:
    key: str
    label: Label
    kind: ColumnKind = ColumnKind.TEXT


@dataclass(frozen=True)
class Table:
    """A table: typed columns and rows of cells (``None`` = no value).

    ``total`` is an optional footer row; its first cell must be ``None``: renderers write the
    localised word for total (合计) there.
    """

    key: str
    title: Label
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total: tuple[Cell, ...] | None = None

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError(f"table {self.key!r} has no columns")
        for r, row in enumerate([*self.rows, *([self.total] if self.total is not None else [])]):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table {self.key!r} row {r} has {len(row)} cells, expected {len(self.columns)}"
                )
            for col, cell in zip(self.columns, row, strict=True):
                _check_cell(self.key, r, col, cell)
        if self.total is not None and self.total[0] is not None:
            raise ValueError(f"table {self.key!r}: the first cell of the total row must be None")


def _check_cell(table: str, row: int, col: Column, cell: Cell) -> None:
    if cell is None:
        return
    bad = isinstance(cell, bool) or not isinstance(cell, _KIND_TYPES[col.kind])
    bad = bad or (col.kind is ColumnKind.DATE and isinstance(cell, datetime))
    bad = bad or (isinstance(cell, float) and not math.isfinite(cell))
    if bad:
        raise ValueError(f"table {table!r} row {row} column {col.key!r}: expected {col.kind}, got {cell!r}")


class ChartKind(StrEnum):
    LINE = "line"
    BAR = "bar"
    HBAR = "hbar"  # horizontal bars, a ranking


@dataclass(frozen=True)
class ChartSeries:
    name: Label
    values: tuple[float | None, ...]
    dashed: bool = False


@dataclass(frozen=True)
class Chart:
    """Chart data: categories and series; ``band`` is an optional (lower, upper) range per category."""

    key: str
    title: Label
    kind: ChartKind
    x_labels: tuple[str, ...]
    series: tuple[ChartSeries, ...]
    y_label: Label | None = None
    band_name: Label | None = None
    band: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if not self.series:
            raise ValueError(f"chart {self.key!r} has no series")
        for s in self.series:
            if len(s.values) != len(self.x_labels):
                raise ValueError(
                    f"chart {self.key!r} series {s.name.en!r} has {len(s.values)} values, "
                    f"expected {len(self.x_labels)}"
                )
        if self.band is not None:
            if self.kind is not ChartKind.LINE:
                raise ValueError(f"chart {self.key!r}: only line charts have a band")
            if len(self.band) != len(self.x_labels) or any(lo > hi for lo, hi in self.band):
                raise ValueError(f"chart {self.key!r}: band must be one (lower <= upper) pair per category")


@dataclass(frozen=True)
class Note:
    """A paragraph of explanation (e.g. definitions 指标说明)."""

    text: Label


Block = KpiGroup | Table | Chart | Note


@dataclass(frozen=True)
class Section:
    key: str
    title: Label
    blocks: tuple[Block, ...]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def kpis(self) -> list[KpiCard]:
        return [c for b in self.blocks if isinstance(b, KpiGroup) for c in b.cards]

    @property
    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]


@dataclass(frozen=True)
class Report:
    """A whole report. ``location`` names a part of the site (e.g. an entrance group); ``None``: all of it.
    ``site_id`` (the store's site id) goes into exported file names and titles, so that the reports of
    several sites can share one folder."""

    title: Label
    site_name: str
    period: Period
    generated_at: datetime
    sections: tuple[Section, ...]
    location: str | None = None
    site_id: str | None = None

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None:
            raise ValueError("generated_at must be timezone-aware")
        keys = [s.key for s in self.sections]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate section keys: {keys}")
        tables = [t.key for t in self.tables]
        if len(set(tables)) != len(tables):
            raise ValueError(f"duplicate table keys: {tables}")

    def period_label(self, lang: str = "zh") -> str:
        return self.period.label(lang)

    @property
    def site_label(self) -> str:
        """``北京朝阳展厅 (report-site)``: the site's name with its id (just the name without an id)."""
        if self.site_id is None or self.site_id == self.site_name:
            return self.site_name
        return f"{self.site_name} ({self.site_id})"

    @property
    def start(self) -> datetime:
        return self.period.start

    @property
    def end(self) -> datetime:
        return self.period.end

    @property
    def kpis(self) -> list[KpiCard]:
        return [c for s in self.sections for c in s.kpis]

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    @property
    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]

    def kpi(self, key: str) -> KpiCard:
        for card in self.kpis:
            if card.key == key:
                return card
        raise KeyError(key)
