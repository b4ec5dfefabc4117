"""`keliu report`: the traffic table of a site (总客流, 去重客流, 员工, 无效, 批次, 新客, 回头客) by hour or
day, as a table or JSON lines; with ``--export DIR`` the site's report (日报/周报/月报/年报/自定义) as
HTML, XLSX and CSV (docs/reports.md).

The numbers come from the store (``traffic_summary``) and ``keliu.analytics.report``; this module
parses options and prints. Only ``--export`` writes, and only into the folder given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.cli.options import DbOpt, SiteOpt, check_range, open_existing_store, parse_day
from keliu.errors import ConfigError

__all__ = ["REPORT_COLUMNS", "app"]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name


REPORT_COLUMNS = (
    ("bucket", "时段 period"),
    ("total", "总客流 total"),
    ("exits", "离店 exits"),
    ("deduplicated", "去重客流 de-dup"),
    ("staff", "员工 staff"),
    ("invalid", "无效 invalid"),
    ("batches", "批次 batches"),
    ("new", "新客 new"),
    ("returning", "回头客 returning"),
)


@app.command()
def report(
    site: SiteOpt,
    day: Annotated[str | None, typer.Option("--day", help="One local day, YYYY-MM-DD.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First local day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day (inclusive).")] = None,
    by: Annotated[str, typer.Option("--by", help="hour or day.")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write a 报表 report (HTML, XLSX, CSV) into this folder instead."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="With --export and --day: day, week, month or year containing it."),
    ] = None,
    last: Annotated[
        str | None,
        typer.Option("--last", help="With --export: the last complete day, week, month or year (for cron)."),
    ] = None,
    formats: Annotated[str, typer.Option("--format", help="With --export: html,xlsx,csv.")] = "html,xlsx,csv",
    lang: Annotated[str, typer.Option("--lang", help="With --export: zh or en.")] = "zh",
    location: Annotated[
        str | None,
        typer.Option("--location", help="With --export: the report of one entrance group (出入口组) only."),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Traffic table: 总客流 total, 离店 exits, 去重客流 de-duplicated, 员工, 无效 (by reason), 批次,
    新客, 回头客.

    With --export, writes the site's report (日报/周报/月报/年报/自定义) as HTML, XLSX and CSV
    (docs/reports.md).
    """
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    if export is not None:
        _export_report(site, export, day, date_from, date_to, kind, last, formats, lang, location, db)
        return
    if kind is not None or last is not None or location is not None:
        raise ConfigError("--kind, --last and --location go with --export DIR")
    if by not in ("hour", "day"):
        raise ConfigError(f"--by {by!r}: use hour or day")
    if day is not None and (date_from is not None or date_to is not None):
        raise ConfigError("give either --day or --from/--to, not both")
    if day is not None:
        first = final = parse_day(day, "--day")
    elif date_from is not None:
        first = parse_day(date_from, "--from")
        final = parse_day(date_to, "--to") if date_to is not None else first
    else:
        raise ConfigError("give --day YYYY-MM-DD or --from YYYY-MM-DD [--to YYYY-MM-DD]")
    check_range(first, final, by)  # at most 92 days hour by hour, ten years day by day
    with open_existing_store(db) as store:
        zone = ZoneInfo(store.site(site).timezone)
        start = datetime.combine(first, datetime.min.time(), zone)
        end = datetime.combine(final + timedelta(days=1), datetime.min.time(), zone)
        rows = store.traffic_summary(site, start, end, by="hour" if by == "hour" else "day")
    if as_json:
        for row in rows:
            record = {key: getattr(row, key) for key, _ in REPORT_COLUMNS}
            record["bucket"] = row.bucket.isoformat()
            record["invalid_by_reason"] = row.invalid_by_reason
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    _print_report_table(rows, by)


def _export_report(
    site: str,
    out_dir: Path,
    day: str | None,
    date_from: str | None,
    date_to: str | None,
    kind: str | None,
    last: str | None,
    formats: str,
    lang: str,
    location: str | None,
    db: str | None,
) -> None:
    from datetime import UTC, datetime

    from keliu.analytics.report import PeriodKind, build_report, export_report
    from keliu.analytics.report.periods import last_complete_period

    if lang not in ("zh", "en"):
        raise ConfigError(f"--lang {lang!r}: use zh or en")
    chosen = [name for name, value in (("--day", day), ("--from", date_from), ("--last", last)) if value]
    if len(chosen) != 1:
        raise ConfigError("with --export give exactly one of --day, --from [--to] or --last")
    now = datetime.now(UTC)
    with open_existing_store(db) as store:
        if last is not None:
            period = last_complete_period(last, now, store.site(site).timezone)
            report = build_report(
                store, site, period.kind, period.first_day, generated_at=now, location=location
            )
        elif day is not None:
            report = build_report(
                store,
                site,
                kind or PeriodKind.DAY,
                parse_day(day, "--day"),
                generated_at=now,
                location=location,
            )
        else:
            if kind is not None:
                raise ConfigError("--kind goes with --day; --from/--to make a custom report")
            first = parse_day(date_from, "--from")  # type: ignore[arg-type]
            final = parse_day(date_to, "--to") if date_to is not None else first
            check_range(first, final)
            report = build_report(
                store, site, PeriodKind.CUSTOM, (first, final), generated_at=now, location=location
            )
    for path in export_report(report, out_dir, formats=formats.split(","), lang=lang):
        print(path)


def _print_report_table(rows, by: str) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for _, title in REPORT_COLUMNS:
        table.add_column(title, justify="left" if title.startswith("时段") else "right")
    table.add_column("无效原因 invalid by reason")
    sums = dict.fromkeys((k for k, _ in REPORT_COLUMNS[1:]), 0)
    for row in rows:
        label = row.bucket.strftime("%Y-%m-%d %H:00" if by == "hour" else "%Y-%m-%d")
        values = [getattr(row, key) for key, _ in REPORT_COLUMNS[1:]]
        for key, value in zip(sums, values, strict=True):
            sums[key] += value
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(row.invalid_by_reason.items()))
        table.add_row(label, *(str(v) for v in values), reasons)
    table.add_row("合计 total", *(str(v) for v in sums.values()), "", style="bold")
    Console(width=160).print(table)
