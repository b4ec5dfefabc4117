"""Spreadsheet exports of a report (报表导出): XLSX via openpyxl and CSV (UTF-8 with BOM for Excel).

Numbers stay numbers (display formats only change how they look), so a manager can sum and chart
them again; the XLSX and the HTML show the same values.

What this module must not do: compute numbers, or write anything but the files it is asked for.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from keliu.analytics.report.model import Cell, ColumnKind, Report, Table
from keliu.analytics.report.text import text

__all__ = ["default_basename", "info_rows", "summary_header", "summary_rows", "write_csv", "write_xlsx"]

_NUMBER_FORMATS = {
    ColumnKind.INT: "#,##0",
    ColumnKind.FLOAT: "#,##0.0",
    ColumnKind.PERCENT: "0.0",
    ColumnKind.DATE: "yyyy-mm-dd",
}
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.\-\u4e00-\u9fff]")


def default_basename(report: Report) -> str:
    """File stem such as ``keliu-s1-day-2024-05-06`` or ``keliu-s1-custom-2024-05-01_2024-05-20``
    (``s1`` the site id, so that several sites' reports can share a folder; a location's report has
    its name after the site id, ``keliu-s1-北门-day-…``; characters other than
    letters, digits, ``_.-`` and CJK become ``_``). A report without a site id: ``keliu-day-…``."""
    p = report.period
    span = p.first_day.isoformat() if p.n_days == 1 else f"{p.first_day.isoformat()}_{p.last_day.isoformat()}"
    site = "" if report.site_id is None else _UNSAFE_IN_NAME.sub("_", report.site_id) + "-"
    location = "" if report.location is None else _UNSAFE_IN_NAME.sub("_", report.location) + "-"
    return f"keliu-{site}{location}{p.kind.value}-{span}"


def summary_header(lang: str) -> list[str]:
    return [text(k, lang) for k in ("indicator", "value", "unit", "previous", "change", "note")]


def summary_rows(report: Report, lang: str) -> list[list[Cell]]:
    """One row per KPI card: name, value, unit, previous value, change in %, detail."""
    return [
        [
            card.label.get(lang),
            card.value,
            card.unit.get(lang) if card.unit else None,
            card.previous,
            card.change_pct,
            card.detail or None,
        ]
        for card in report.kpis
    ]


def info_rows(report: Report, lang: str) -> list[list[Cell]]:
    """Key/value rows describing the report (site, location, period, range, generation time)."""
    p = report.period
    generated = report.generated_at.astimezone(p.zone)
    return [
        [text("site", lang), report.site_label],
        [text("location", lang), report.location or text("whole_site", lang)],
        [text("period", lang), p.label(lang)],
        [text("range", lang), f"{p.start:%Y-%m-%d %H:%M} – {p.end:%Y-%m-%d %H:%M} ({p.tz})"],
        [text("generated", lang), f"{generated:%Y-%m-%d %H:%M}"],
    ]


def _table_rows(table: Table, lang: str) -> list[list[Cell]]:
    rows = [list(r) for r in table.rows]
    if table.total is not None:
        rows.append([text("total", lang), *table.total[1:]])
    return rows


def _sheet_name(title: str, used: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("_", title).strip("'") or "Sheet"
    name, i = base[:31], 2
    while name.lower() in used:
        suffix = f" ({i})"
        name, i = base[: 31 - len(suffix)] + suffix, i + 1
    used.add(name.lower())
    return name


def _display_width(value: Cell) -> float:
    if value is None:
        return 0
    shown = (
        value.isoformat()
        if isinstance(value, date)
        else f"{value:,}"
        if isinstance(value, int)
        else str(value)
    )
    return sum(2.0 if ord(ch) > 0x2E7F else 1.0 for ch in shown)


def write_xlsx(report: Report, path: str | Path, lang: str = "zh") -> Path:
    """Write the report as an XLSX workbook: a summary sheet (KPI cards, then report info) and one
    sheet per table. Headers are bold with a frozen first row; numbers are numeric cells."""
    out = Path(path)
    text("brand", lang)
    wb = Workbook()
    wb.properties.creator = "keliu"
    wb.properties.title = f"{report.title.get(lang)} {report.site_label} {report.period.label(lang)}"
    wb.properties.created = report.generated_at.replace(tzinfo=None)
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="F1F5F9")
    used: set[str] = set()

    def fill(
        ws: Worksheet, header: Sequence[str], rows: Sequence[Sequence[Cell]], kinds: Sequence[ColumnKind]
    ) -> None:
        ws.append(list(header))
        for cell in ws[1]:
            cell.font, cell.fill = bold, head_fill
            cell.alignment = Alignment(vertical="center")
        for row in rows:
            ws.append(list(row))
            for cell, kind in zip(ws[ws.max_row], kinds, strict=False):
                if isinstance(cell.value, int | float | date) and kind in _NUMBER_FORMATS:
                    cell.number_format = _NUMBER_FORMATS[kind]
        ws.freeze_panes = "A2"

    summary = wb.active
    assert summary is not None
    summary.title = _sheet_name(text("summary_sheet", lang), used)
    kinds = [ColumnKind.TEXT, ColumnKind.FLOAT, ColumnKind.TEXT, ColumnKind.FLOAT, ColumnKind.PERCENT]
    fill(summary, summary_header(lang), summary_rows(report, lang), kinds)
    for card, row in zip(report.kpis, summary.iter_rows(min_row=2), strict=False):
        for cell in (row[1], row[3]):
            cell.number_format = "#,##0" if card.decimals == 0 else "#,##0." + "0" * card.decimals
        row[4].number_format = "+0.0;-0.0;0.0"
    summary.append([])
    summary.append([text("report_info", lang)])
    summary.cell(summary.max_row, 1).font = bold
    for info in info_rows(report, lang):
        summary.append(info)
    _set_widths(summary)

    for table in report.tables:
        ws = wb.create_sheet(_sheet_name(table.title.get(lang), used))
        fill(
            ws,
            [c.label.get(lang) for c in table.columns],
            _table_rows(table, lang),
            [c.kind for c in table.columns],
        )
        if table.total is not None:
            for cell in ws[ws.max_row]:
                cell.font = bold
        _set_widths(ws)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def _set_widths(ws: Worksheet) -> None:
    """Column widths from the widest shown value (CJK characters count double)."""
    widths: dict[int, float] = {}
    for row in ws.iter_rows():
        for cell in row:
            widths[cell.column] = max(widths.get(cell.column, 0), _display_width(cell.value))
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(60.0, max(8.0, width + 3))


def _csv_value(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float):
        return repr(cell)
    return str(cell)


def _write_csv_file(path: Path, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([_csv_value(c) for c in row] for row in rows)
    return path


def write_csv(report: Report, directory_or_path: str | Path, lang: str = "zh") -> list[Path]:
    """Write the report as CSV files (UTF-8 with BOM, comma-separated, ISO dates, plain numbers).

    Given a directory: ``<stem>-summary.csv`` (KPI cards), ``<stem>-info.csv`` (report info) and
    ``<stem>-<table key>.csv`` per table, with ``stem`` from ``default_basename``. Given a path
    ending in ``.csv``: the summary goes there and the others beside it as ``<that stem>-<key>.csv``.
    """
    text("brand", lang)
    target = Path(directory_or_path)
    if target.suffix.lower() == ".csv":
        folder, stem, summary_path = target.parent, target.stem, target
    else:
        folder, stem = target, default_basename(report)
        summary_path = folder / f"{stem}-summary.csv"
    folder.mkdir(parents=True, exist_ok=True)
    written = [_write_csv_file(summary_path, summary_header(lang), summary_rows(report, lang))]
    written.append(
        _write_csv_file(folder / f"{stem}-info.csv", [text("report_info", lang), ""], info_rows(report, lang))
    )
    for table in report.tables:
        header = [c.label.get(lang) for c in table.columns]
        written.append(_write_csv_file(folder / f"{stem}-{table.key}.csv", header, _table_rows(table, lang)))
    return written
