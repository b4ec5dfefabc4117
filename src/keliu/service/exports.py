"""Data exports of the API (数据导出): a site's traffic, visitor attributes and locations over a range of
local days, as one table written to CSV (UTF-8 with BOM, so Excel reads the Chinese) or XLSX.

- ``traffic`` 客流: per local hour or day, the ``keliu report`` numbers (总客流, 离店, 去重客流, 员工,
  无效 with its reasons, 批次, 新客, 回头客) from ``Store.traffic_summary``;
- ``attributes`` 属性: per local day, the visits by category (顾客/员工/无效), new and returning
  customers, and customers by 上装/下装 colour, from ``Store.visits``;
- ``locations`` 出入口: per local day and entrance (door line), customer entries and exits, visits and
  every crossing in and out, from ``keliu.analytics.queries.entrance_heat``, named and grouped as the
  site's entrances (出入口/出入口组) say.

Headers are bilingual (``总客流 total``) and stable, for people and BI tools alike. This module reads
the store and writes only the file it is given; bounds on the range are the caller's
(``keliu.service.routers.reports``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

from keliu.analytics import queries
from keliu.domain.visits import COLOUR_NAMES, PersonCategory
from keliu.store import Store

__all__ = [
    "ExportTable",
    "attributes_table",
    "locations_table",
    "traffic_table",
    "write_table_csv",
    "write_table_xlsx",
]

Cell = str | int | float | date | None
_CHUNK_DAYS = 14  # visits are read a fortnight at a time: memory stays bounded on long ranges

TRAFFIC_COLUMNS = (
    ("total", "总客流 total"),
    ("exits", "离店 exits"),
    ("deduplicated", "去重客流 deduplicated"),
    ("staff", "员工 staff"),
    ("invalid", "无效 invalid"),
    ("batches", "批次 batches"),
    ("new", "新客 new"),
    ("returning", "回头客 returning"),
)


@dataclass(frozen=True)
class ExportTable:
    """One table of an export: ``name`` (sheet and file name part), a header row and the rows."""

    name: str
    header: tuple[str, ...]
    rows: list[list[Cell]]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _within_data(store: Store, site_id: str, first: date, last: date) -> tuple[date, date] | None:
    """The part of ``first .. last`` on which the site has any counted traffic (None: none)."""
    span = queries.data_span(store, site_id)
    if span is None:
        return None
    lo, hi = max(first, span[0]), min(last, span[1])
    return (lo, hi) if lo <= hi else None


def traffic_table(
    store: Store, site_id: str, first: date, last: date, by: Literal["hour", "day"]
) -> ExportTable:
    """客流 per local hour or day of ``first .. last`` (every bucket, zeros included)."""
    zone = ZoneInfo(store.site(site_id).timezone)
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    rows: list[list[Cell]] = []
    for row in store.traffic_summary(site_id, start, end, by=by):
        reasons = "; ".join(f"{k} {v}" for k, v in sorted(row.invalid_by_reason.items()))
        label = row.bucket.strftime("%Y-%m-%d %H:00" if by == "hour" else "%Y-%m-%d")
        rows.append([label, *(getattr(row, key) for key, _ in TRAFFIC_COLUMNS), reasons or None])
    header = ("时段 period", *(title for _, title in TRAFFIC_COLUMNS), "无效原因 invalid by reason")
    return ExportTable("traffic", header, rows)


def attributes_table(store: Store, site_id: str, first: date, last: date) -> ExportTable:
    """属性 per local day: visits by category, new/returning customers, customers by 上装/下装 colour."""
    zone = ZoneInfo(store.site(site_id).timezone)
    colours = (*COLOUR_NAMES, None)
    keys = ["customer", "staff", "invalid", "new", "returning"]
    keys += [f"upper:{c}" for c in colours] + [f"lower:{c}" for c in colours]
    counts = {d: dict.fromkeys(keys, 0) for d in _days(first, last)}
    span = _within_data(store, site_id, first, last)
    day = span[0] if span else last + timedelta(days=1)
    while span is not None and day <= span[1]:
        chunk_last = min(day + timedelta(days=_CHUNK_DAYS - 1), span[1])
        start = datetime.combine(day, time(0), zone)
        end = datetime.combine(chunk_last + timedelta(days=1), time(0), zone)
        for visit in store.visits(site_id, start, end):
            local = visit.first_entry.astimezone(zone).date()
            if local not in counts:
                continue
            c = counts[local]
            c[visit.category.value] += 1
            if visit.category is PersonCategory.CUSTOMER:
                c["returning" if visit.returning else "new"] += 1
                c[f"upper:{visit.upper_colour}"] += 1
                c[f"lower:{visit.lower_colour}"] += 1
        day = chunk_last + timedelta(days=1)
    header = (
        "日期 day",
        "顾客 customers",
        "员工 staff",
        "无效 invalid",
        "新客 new",
        "回头客 returning",
        *(f"上装 upper {c or 'unknown'}" for c in colours),
        *(f"下装 lower {c or 'unknown'}" for c in colours),
    )
    rows: list[list[Cell]] = [[d.isoformat(), *(c[k] for k in keys)] for d, c in counts.items()]
    return ExportTable("attributes", header, rows)


def locations_table(store: Store, site_id: str, first: date, last: date) -> ExportTable:
    """出入口 per local day and entrance with any traffic: customer entries (进店) and exits (离店),
    visits, and every crossing of the door line in and out, with the entrance's name and group."""
    groups = {f"{e.camera_id}/{e.line_id}": e.group for e in store.entrances(site_id)}
    rows: list[list[Cell]] = []
    span = _within_data(store, site_id, first, last)
    for day in _days(*span) if span else []:
        heat = queries.entrance_heat(store, site_id, day, day, top=None)
        for item in sorted(heat.entrances, key=lambda h: h.key):
            camera_id, _, line_id = item.key.partition("/")
            rows.append(
                [
                    day.isoformat(),
                    camera_id,
                    line_id,
                    item.name,
                    groups.get(item.key),
                    round(item.entries),
                    round(item.exits),
                    round(item.visits),
                    round(item.door_in),
                    round(item.door_out),
                ]
            )
    header = (
        "日期 day",
        "摄像机 camera",
        "线 line",
        "出入口 entrance",
        "出入口组 entrance group",
        "进店 entries",
        "离店 exits",
        "去重客流 visits",
        "进 in (all crossings)",
        "出 out (all crossings)",
    )
    return ExportTable("locations", header, rows)


def write_table_csv(table: ExportTable, path: Path) -> Path:
    """The table as CSV: UTF-8 with BOM (Excel), comma-separated, ISO dates, plain numbers."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.header)
        writer.writerows(_plain(row) for row in table.rows)
    return path


def write_table_xlsx(table: ExportTable, path: Path) -> Path:
    """The table as an XLSX workbook of one sheet: bold, frozen header; numbers stay numbers."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = table.name
    ws.append(list(table.header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for row in table.rows:
        ws.append(list(row))
    wb.properties.creator = "keliu"
    wb.save(path)
    return path


def _plain(row: Sequence[Cell]) -> list[str | int | float]:
    return ["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row]
