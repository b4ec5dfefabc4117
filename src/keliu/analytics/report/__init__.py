"""Reports (报表, requirement A14): daily, weekly, monthly, yearly and custom-range traffic reports.

A report is built once as a renderer-independent ``Report`` (model.py) and written as a
self-contained HTML page (htmlpage.py), an XLSX workbook and CSV files (tabular.py); all show the
same numbers. Periods in the site's time zone are in periods.py, UI text (zh-CN first, English) in
text.py, and the builder from counted traffic in builder.py.

What this package must not do: read video or signatures, reach the network, or emit JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from keliu.analytics.report.builder import EntranceCounts, ReportInput, TrafficCounts, build_report_from_input
from keliu.analytics.report.htmlpage import render_html
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
from keliu.analytics.report.periods import (
    Period,
    PeriodKind,
    custom_period,
    last_complete_period,
    parse_date_range,
    period_containing,
)
from keliu.analytics.report.tabular import default_basename, write_csv, write_xlsx
from keliu.errors import InputError

if TYPE_CHECKING:
    from keliu.store import Store

__all__ = [
    "FORMATS",
    "Block",
    "Cell",
    "Chart",
    "ChartKind",
    "ChartSeries",
    "Column",
    "ColumnKind",
    "EntranceCounts",
    "KpiCard",
    "KpiGroup",
    "Label",
    "Note",
    "Period",
    "PeriodKind",
    "Report",
    "ReportInput",
    "Section",
    "Table",
    "TrafficCounts",
    "build_report",
    "build_report_from_input",
    "custom_period",
    "default_basename",
    "export_report",
    "last_complete_period",
    "parse_date_range",
    "period_containing",
    "render_html",
    "write_csv",
    "write_xlsx",
]

FORMATS = ("html", "xlsx", "csv")


def build_report(
    store: Store,
    site_id: str,
    kind: PeriodKind | str,
    day_or_range: date | tuple[date, date],
    *,
    generated_at: datetime,
    location: str | None = None,
) -> Report:
    """The report of one site (or one entrance group of it, ``location``) from the store: see
    ``keliu.analytics.report.from_store.build_report``.

    Imported lazily so that the model and renderers load without the store and its queries.
    """
    from keliu.analytics.report.from_store import build_report as from_store

    return from_store(store, site_id, kind, day_or_range, generated_at=generated_at, location=location)


def export_report(
    report: Report, out_dir: str | Path, formats: Iterable[str] = FORMATS, lang: str = "zh"
) -> list[Path]:
    """Write the report into ``out_dir`` in each format; returns the files written.

    Files are named ``default_basename(report)`` + ``.html`` / ``.xlsx`` / ``-<part>.csv``.
    An unknown format raises ``InputError`` before anything is written.
    """
    wanted = list(dict.fromkeys(f.lower() for f in formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise InputError(f"unknown report format(s) {unknown or wanted}: choose from {', '.join(FORMATS)}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = default_basename(report)
    written: list[Path] = []
    for fmt in wanted:
        if fmt == "html":
            path = folder / f"{stem}.html"
            path.write_text(render_html(report, lang), encoding="utf-8")
            written.append(path)
        elif fmt == "xlsx":
            written.append(write_xlsx(report, folder / f"{stem}.xlsx", lang))
        else:
            written.extend(write_csv(report, folder, lang))
    return written
