"""报表与导出 reports and exports of a site: the traffic table (``/traffic``, the ``keliu report``
numbers as JSON rows), the site's report (``/reports/{kind}``: 日报/周报/月报/年报/自定义 as HTML, XLSX
or a zip of CSV files) and data exports (``/exports/{what}``: traffic, attributes, locations as CSV or
XLSX).

Every range is checked at once by ``keliu.analytics.params`` (the bounds of docs/reports.md, in the
API's spelling ``from``/``to``), so a request that would run for minutes is a 400 that states the
limit. Files are written only into a temporary directory, streamed back with a
``Content-Disposition`` file name that carries the site id, and removed after the answer; every
export is in the audit log (action ``export``). Any user of a site reads its traffic table; reports
and exports are for its administrators and managers (``keliu.service.auth``: staff see dashboards).
"""

from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from keliu.analytics.params import API, check_range, parse_day
from keliu.analytics.report import build_report, default_basename, render_html, write_csv, write_xlsx
from keliu.errors import ConfigError
from keliu.service import exports
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.store.accounts import User

router = APIRouter(tags=["reports"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]

DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DayParam = Annotated[str | None, Query(pattern=DAY_PATTERN, description="local day YYYY-MM-DD")]
FromParam = Annotated[
    str | None, Query(alias="from", pattern=DAY_PATTERN, description="first local day YYYY-MM-DD")
]
ToParam = Annotated[
    str | None,
    Query(
        alias="to", pattern=DAY_PATTERN, description="last local day YYYY-MM-DD, inclusive (default: from)"
    ),
]
By = Annotated[Literal["hour", "day"], Query(description="rows per local hour or day")]
VISIT_EXPORT_DAYS = 366  # attributes and locations read every visit or every day: at most a year at once

MEDIA = {
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}


def _file_responses(*kinds: str) -> dict[int | str, dict[str, Any]]:
    content = {MEDIA[k].split(";")[0]: {"schema": {"type": "string", "format": "binary"}} for k in kinds}
    return {200: {"description": "the file (Content-Disposition: attachment)", "content": content}}


class TrafficRow(BaseModel):
    bucket: datetime = Field(description="local start of the hour or day, with the site's UTC offset")
    total: int = Field(description="总客流: customer entries")
    exits: int = Field(description="离店: customer exits")
    deduplicated: int = Field(description="去重客流: customer visits")
    staff: int = Field(description="员工 visits")
    invalid: int = Field(description="无效 visits (couriers, outside business hours …)")
    invalid_by_reason: dict[str, int] = Field(description="无效 by reason, e.g. courier:meituan")
    batches: int = Field(description="批次: arrival groups")
    new: int = Field(description="新客")
    returning: int = Field(description="回头客")


class TrafficTable(BaseModel):
    site_id: str
    timezone: str
    first_day: date
    last_day: date
    by: Literal["hour", "day"]
    rows: list[TrafficRow]
    totals: TrafficRow = Field(description="the sums of the rows (bucket: the first row's)")


def _range(date_from: str | None, date_to: str | None, by: str = "day") -> tuple[date, date]:
    """``from`` [``to``] as local days, bounded (``by`` hour: at most a quarter)."""
    if date_from is None:
        if date_to is not None:
            raise ConfigError("to needs from (the first day)")
        raise ConfigError("missing parameter from (YYYY-MM-DD)")
    first = parse_day(date_from, API("from"))
    last = parse_day(date_to, API("to")) if date_to is not None else first
    check_range(first, last, by, spelling=API)
    return first, last


@router.get(
    "/sites/{site_id}/traffic",
    response_model=TrafficTable,
    summary="The traffic table (客流报表) by hour or day",
)
def traffic(
    site_id: SiteScope,
    request: Request,
    date_from: FromParam = None,
    date_to: ToParam = None,
    by: By = "day",
) -> TrafficTable:
    first, last = _range(date_from, date_to, by)
    store = get_store(request)
    zone_name = store.site(site_id).timezone
    zone = ZoneInfo(zone_name)
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    rows = [
        TrafficRow(
            bucket=r.bucket,
            total=r.total,
            exits=r.exits,
            deduplicated=r.deduplicated,
            staff=r.staff,
            invalid=r.invalid,
            invalid_by_reason=dict(r.invalid_by_reason),
            batches=r.batches,
            new=r.new,
            returning=r.returning,
        )
        for r in store.traffic_summary(site_id, start, end, by=by)
    ]
    reasons: dict[str, int] = {}
    for row in rows:
        for reason, n in row.invalid_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + n
    sums = {k: sum(getattr(r, k) for r in rows) for k, _ in exports.TRAFFIC_COLUMNS}
    totals = TrafficRow(bucket=rows[0].bucket if rows else start, invalid_by_reason=reasons, **sums)
    return TrafficTable(
        site_id=site_id, timezone=zone_name, first_day=first, last_day=last, by=by, rows=rows, totals=totals
    )


def _send(
    request: Request,
    user: User,
    site_id: str,
    folder: TemporaryDirectory[str],
    path: Path,
    media: str,
    details: dict[str, Any],
    *,
    inline: bool = False,
) -> FileResponse:
    """Stream ``path`` back as an attachment (``inline``: to be shown in the page, an HTML report in
    the web UI), then remove its temporary folder; audit the export."""
    audit(request, user, "export", site_id=site_id, target=path.name, details=details)
    return FileResponse(
        path,
        media_type=MEDIA[media],
        filename=path.name,
        content_disposition_type="inline" if inline else "attachment",
        background=BackgroundTask(folder.cleanup),
    )


@router.get(
    "/sites/{site_id}/reports/{kind}",
    response_class=FileResponse,
    responses=_file_responses("html", "xlsx", "zip"),
    summary="The site's report (日报/周报/月报/年报/自定义) as HTML, XLSX or zipped CSV",
)
def report(
    site_id: SiteScope,
    kind: Literal["day", "week", "month", "year", "custom"],
    request: Request,
    user: Manager,
    day: Annotated[
        str | None, Query(pattern=DAY_PATTERN, description="day, week, month, year: the one containing it")
    ] = None,
    date_from: FromParam = None,
    date_to: ToParam = None,
    format: Annotated[Literal["html", "xlsx", "csv"], Query(description="csv: a zip of the parts")] = "html",
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
    inline: Annotated[bool, Query(description="html: show it in the page instead of downloading it")] = False,
    location: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=255,
            description="an entrance group (出入口组) of the site: the report of its doors only",
        ),
    ] = None,
) -> FileResponse:
    if kind == "custom":
        if day is not None:
            raise ConfigError("a custom report takes from/to, not day")
        span: date | tuple[date, date] = _range(date_from, date_to)
    else:
        if date_from is not None or date_to is not None:
            raise ConfigError(f"a {kind} report takes day (the {kind} containing it), not from/to")
        if day is None:
            raise ConfigError(f"missing parameter day (YYYY-MM-DD): the {kind} report containing it")
        span = parse_day(day, API("day"))
    now = datetime.now(UTC)
    built = build_report(get_store(request), site_id, kind, span, generated_at=now, location=location)
    folder = TemporaryDirectory(prefix="keliu-report-")
    try:
        out = Path(folder.name)
        stem = default_basename(built)
        if format == "html":
            path = out / f"{stem}.html"
            path.write_text(render_html(built, lang), encoding="utf-8")
        elif format == "xlsx":
            path = write_xlsx(built, out / f"{stem}.xlsx", lang)
        else:
            parts = write_csv(built, out / "parts", lang)
            path = out / f"{stem}.zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in parts:
                    archive.write(part, part.name)
    except BaseException:
        folder.cleanup()
        raise
    details = {
        "what": "report",
        "kind": kind,
        "format": format,
        "lang": lang,
        "first_day": built.period.first_day.isoformat(),
        "last_day": built.period.last_day.isoformat(),
        **({"location": location} if location is not None else {}),
    }
    return _send(
        request, user, site_id, folder, path, "zip" if format == "csv" else format, details,
        inline=inline and format == "html",
    )  # fmt: skip


@router.get(
    "/sites/{site_id}/exports/{what}",
    response_class=FileResponse,
    responses=_file_responses("csv", "xlsx"),
    summary="Export traffic, attributes or locations (数据导出) as CSV or XLSX",
)
def export(
    site_id: SiteScope,
    what: Literal["traffic", "attributes", "locations"],
    request: Request,
    user: Manager,
    date_from: FromParam = None,
    date_to: ToParam = None,
    by: Annotated[
        Literal["hour", "day"], Query(description="traffic only: rows per local hour or day")
    ] = "day",
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> FileResponse:
    if what != "traffic" and by != "day":
        raise ConfigError(f"by: {what} exports are per day")
    first, last = _range(date_from, date_to, by)
    days = (last - first).days + 1
    if what != "traffic" and days > VISIT_EXPORT_DAYS:
        raise ConfigError(
            f"from/to {first} .. {last}: {days} days is more than the {VISIT_EXPORT_DAYS} days "
            f"a {what} export covers at once"
        )
    store = get_store(request)
    if what == "traffic":
        table = exports.traffic_table(store, site_id, first, last, by)
    elif what == "attributes":
        table = exports.attributes_table(store, site_id, first, last)
    else:
        table = exports.locations_table(store, site_id, first, last)
    span = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    by_part = f"-{by}" if what == "traffic" else ""
    safe_site = "".join(c if c.isalnum() or c in "_.-" else "_" for c in site_id)
    folder = TemporaryDirectory(prefix="keliu-export-")
    try:
        path = Path(folder.name) / f"keliu-{safe_site}-{what}{by_part}-{span}.{format}"
        if format == "csv":
            exports.write_table_csv(table, path)
        else:
            exports.write_table_xlsx(table, path)
    except BaseException:
        folder.cleanup()
        raise
    details = {
        "what": what,
        "format": format,
        "by": by,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "rows": len(table.rows),
    }
    return _send(request, user, site_id, folder, path, format, details)
