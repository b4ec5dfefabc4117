"""`keliu import weather|manual-counts|targets|business-hours --site ID FILE.csv`: reference data from CSV.

Reading and checking the file (every line validated before anything is written; UTF-8 or
GB18030/GBK) is ``keliu.reference_import``; this module only opens the store and reports what was
saved. Must not parse CSV itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keliu.cli.options import DbOpt, SiteOpt, open_existing_store

__all__ = ["app"]

FileArg = Annotated[Path, typer.Argument(help="The CSV file (UTF-8 or GB18030/GBK, header line first).")]

app = typer.Typer(
    help="导入 Import reference data from CSV (UTF-8 or GBK, with a header line): weather, manual counts "
    "for the accuracy audit, targets, business hours. Every line is checked before anything is written.",
    no_args_is_help=True,
)


def _import(kind: str, site: str, file: Path, db: str | None) -> None:
    from keliu.reference_import import read_import_csv, save_import

    batch = read_import_csv(kind, file)  # every line checked before the store is opened
    with open_existing_store(db) as store:
        saved = save_import(store, site, batch)
    encoding = "" if batch.encoding.startswith("UTF-8") else f" (read as {batch.encoding})"
    print(f"imported {saved} {batch.what}(s) for site {site} from {file}{encoding}")


@app.command("weather")
def import_weather(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
    """天气 Weather per local day: day,condition,temp_high,temp_low,precipitation_mm (the last three
    may be empty). A day already stored is replaced."""
    _import("weather", site, file, db)


@app.command("manual-counts")
def import_manual_counts(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
    """准确率稽核 Manual counts: start,end,entries,camera_id,line_id,batches,note. start/end are ISO
    times with a UTC offset (2025-03-05T10:00+08:00); empty camera_id and line_id: the whole site."""
    _import("manual-counts", site, file, db)


@app.command("targets")
def import_targets(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
    """目标 Targets: year,month,metric,value; month empty: the whole year; metric total (总客流) or
    deduplicated (去重客流). Other stored targets are kept."""
    _import("targets", site, file, db)


@app.command("business-hours")
def import_business_hours(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
    """营业时间 Business hours: weekday,opens,closes (weekday 0–6, 0 = Monday, or mon … sun; HH:MM,
    24:00 allowed). A closing at or before the opening is the next day: fri,22:00,02:00 is
    overnight and counts for Friday; equal times: open 24 hours. Replaces all the site's hours: a
    weekday left out is closed. Applies to rollups computed from now on (`keliu rollups refresh`
    restates the past)."""
    _import("business-hours", site, file, db)
