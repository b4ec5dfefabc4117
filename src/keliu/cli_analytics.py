"""Every analytics metric from the command line (docs/metrics.md, "Command line").

``register(app)`` adds to the ``keliu`` typer app:

- ``keliu dashboard [--site ID] [--at ISO] [--json]``: the home dashboard (首页), whole chain without --site;
- ``keliu analytics METRIC …``: one query of ``keliu.analytics.queries``; ``_METRICS`` maps each METRIC
  to a small adapter that turns the options into the query's arguments;
- ``keliu import weather|manual-counts|targets|business-hours --site ID FILE.csv``: reference data from
  CSV (read and checked by ``keliu.reference_import``; every line is validated before anything is
  written);
- ``keliu rollups rebuild|refresh``: recompute the traffic rollups.

Readable output is rich tables (Chinese label first, then English); ``--json`` prints one JSON
document (``keliu.analytics.jsonable``). User errors are :class:`keliu.errors.ConfigError` (bad option
or file) or the queries' :class:`keliu.errors.InputError` (unknown site, bad range): one line and exit
code 2 from ``keliu.cli.main``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer

from keliu.cli_options import (
    MAX_RANGE_DAYS,
    DbOpt,
    SiteOpt,
    check_at,
    check_count,
    check_range,
    check_year,
    open_existing_store,
    parse_day,
)
from keliu.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from keliu.store import Store

__all__ = ["METRIC_NAMES", "register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
FileArg = Annotated[Path, typer.Argument(help="The CSV file (UTF-8 or GB18030/GBK, header line first).")]


def _site_zone(store: Store, site: str | None) -> tzinfo | None:
    """The site's time zone; for the chain (``site`` None) the sites' zone if they share one, else None."""
    if site is not None:
        return ZoneInfo(store.site(site).timezone)
    zones = {s.timezone for s in store.sites()}
    if len(zones) == 1:
        return ZoneInfo(zones.pop())
    return UTC if not zones else None


def _parse_at(text: str | None, store: Store, site: str | None) -> datetime:
    """``--at``: an ISO date and time; without a UTC offset it is the site's local time. Default: now."""
    zone = _site_zone(store, site)
    if text is None:
        return datetime.now(zone or UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r}: expected a date and time, e.g. 2025-03-05T11:30+08:00") from None
    if at.tzinfo is None or at.utcoffset() is None:
        if zone is None:
            raise ConfigError(
                f"--at {text!r}: the sites are in several time zones; give a UTC offset, "
                "e.g. 2025-03-05T11:30+08:00"
            )
        at = at.replace(tzinfo=zone)
    return check_at(at)


# ------------------------------------------------------------------------ analytics METRIC


@dataclass
class _Args:
    """The options of one ``keliu analytics`` call; the parsers record what they resolved in ``params``."""

    metric: str
    site: str | None
    given: dict[str, Any]  # option name → value as typed, for the options given
    store: Store
    params: dict[str, Any] = field(default_factory=dict)

    def opt(self, name: str) -> Any:
        return self.given.get(name)

    def require(self, name: str, what: str) -> str:
        value = self.opt(name)
        if value is None or value == "":
            raise ConfigError(f"analytics {self.metric}: missing option {name} ({what})")
        self.params[name.removeprefix("--").replace("-", "_")] = value
        return str(value)

    def days(self) -> tuple[date, date]:
        """``--day D`` or ``--from D [--to D]`` (inclusive local dates)."""
        day, first_text, last_text = self.opt("--day"), self.opt("--from"), self.opt("--to")
        if day is not None and (first_text is not None or last_text is not None):
            raise ConfigError("give either --day or --from/--to, not both")
        if day is not None:
            first = last = parse_day(day, "--day")
        elif first_text is not None:
            first = parse_day(first_text, "--from")
            last = parse_day(last_text, "--to") if last_text is not None else first
            hourly = self.metric == "trend" and self.opt("--by") == "hour"
            check_range(first, last, "hour" if hourly else "day")
        elif last_text is not None:
            raise ConfigError("--to needs --from (or give one --day)")
        else:
            raise ConfigError(
                f"analytics {self.metric}: missing option --day YYYY-MM-DD or --from YYYY-MM-DD [--to …]"
            )
        self.params.update({"from": first, "to": last})
        return first, last

    def window(self) -> tuple[date, int]:
        """The last day and length of a trailing window: ``--from D --to D``, or ``--day D`` (or
        ``--to D``) with ``--days N`` (default 30) ending on it."""
        count = self.opt("--days")
        if self.opt("--from") is not None:
            if count is not None:
                raise ConfigError("give --days or --from/--to, not both")
            first, last = self.days()
            count = (last - first).days + 1
        else:
            if self.opt("--day") is not None and self.opt("--to") is not None:
                raise ConfigError("give either --day or --to, not both")
            text = self.opt("--day") or self.opt("--to")
            if text is None:
                raise ConfigError(
                    f"analytics {self.metric}: missing option --day YYYY-MM-DD (the last day of the "
                    "window) or --from/--to"
                )
            last = parse_day(text, "--day" if self.opt("--day") else "--to")
            count = check_count(30 if count is None else int(count), "--days", 1, MAX_RANGE_DAYS)
            first = last - timedelta(days=count - 1)
            check_range(first, last, options="--day/--days")
            self.params.update({"from": first, "to": last})
        self.params["days"] = count
        return last, count

    def today(self) -> date:
        """``--day D`` (default: today at the site)."""
        text = self.opt("--day")
        day = parse_day(text, "--day") if text is not None else _parse_at(None, self.store, self.site).date()
        self.params["day"] = day
        return day

    def at(self) -> datetime:
        at = _parse_at(self.opt("--at"), self.store, self.site)
        self.params["at"] = at
        return at

    def choice(self, name: str, choices: Sequence[str], default: str) -> Any:
        value = self.opt(name) or default
        if value not in choices:
            raise ConfigError(f"{name} {value!r}: use one of {', '.join(choices)}")
        self.params[name.removeprefix("--")] = value
        return value

    def measure(
        self, choices: Sequence[str] = ("total", "deduplicated", "new", "returning", "batches")
    ) -> Any:
        return self.choice("--metric", choices, "total")

    def integer(self, name: str, default: int, lo: int, hi: int | None = None) -> int:
        value = self.opt(name)
        value = default if value is None else int(value)
        if value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{name} {value}: must be {bound}")
        self.params[name.removeprefix("--")] = value
        return value

    def month(self) -> date:
        """``--month YYYY-MM``, ``--month M --year Y`` or ``--day D`` (the month containing it)."""
        text, year, day = self.opt("--month"), self.opt("--year"), self.opt("--day")
        if day is not None:
            if text is not None or year is not None:
                raise ConfigError("give either --day or --month [--year], not both")
            first = parse_day(day, "--day").replace(day=1)
        elif text is None:
            raise ConfigError(f"analytics {self.metric}: missing option --month YYYY-MM (or --day D)")
        else:
            y_text, dash, m_text = str(text).partition("-")
            try:
                y, mo = (int(y_text), int(m_text)) if dash else (year, int(y_text))
            except ValueError:
                raise ConfigError(
                    f"--month {text!r}: expected YYYY-MM, or a month 1–12 with --year"
                ) from None
            if y is None:
                raise ConfigError(f"--month {text}: give --year too, or write --month YYYY-MM")
            if dash and year is not None and year != y:
                raise ConfigError(f"--month {text} and --year {year} disagree")
            if not 1 <= mo <= 12:
                raise ConfigError(f"--month {text!r}: expected YYYY-MM with a month 1–12")
            check_year(y, "--month", str(text))
            first = date(y, mo, 1)
        self.params["month"] = first.strftime("%Y-%m")
        return first

    def year(self) -> int:
        year = self.opt("--year")
        if year is None:
            year = _parse_at(None, self.store, self.site).year
        self.params["year"] = check_year(int(year))
        return int(year)


Adapter = Callable[[Any, "Store", _Args], Any]

_RANGE = ("--day", "--from", "--to")
_WINDOW = ("--day", "--from", "--to", "--days")


@dataclass(frozen=True)
class _Metric:
    """One METRIC of ``keliu analytics``: names, whether it takes a site, its options, its adapter."""

    zh: str
    en: str
    site: Literal["optional", "required", "none"]
    options: tuple[str, ...]
    run: Adapter


def _pairs(rows: Sequence[tuple[Any, ...]], *names: str) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


def _peaks(q: Any, store: Store, a: _Args) -> dict[str, Any]:
    last, days = a.window()
    slots, weekdays, weather = q.peaks(store, a.site, last, days)
    return {"time_slots": slots, "weekdays": weekdays, "weather": weather}


def _targets(q: Any, store: Store, a: _Args) -> dict[str, Any]:
    month, year = q.targets(store, a.site, a.at(), a.measure(("total", "deduplicated")))
    return {"month": month, "year": year}


_LISTED_ZONES = 30  # zone ids named in the "unknown zone" error


def _known_zones(store: Store, a: _Args, given: dict[str, str]) -> None:
    """Each zone named in ``given`` (option → zone id) is one the site has: a zone of a camera or an
    area of its reference data. Otherwise a :class:`ConfigError` naming the unknown zones and the
    known ones (a zone that does not exist would show zeros, as if nobody had been there)."""
    site = str(a.site)
    known = {z.id for camera in store.cameras(site) for z in camera.zones}
    known |= {area.zone_id for area in store.areas(site)}
    unknown = [f"{option} {zone!r}" for option, zone in given.items() if zone not in known]
    if unknown:
        names = sorted(known)
        more = f" … ({len(names)} in all)" if len(names) > _LISTED_ZONES else ""
        listed = (
            ", ".join(names[:_LISTED_ZONES]) + more if names else "none (zones come from the site config)"
        )
        raise ConfigError(
            f"analytics {a.metric}: unknown zone(s) {', '.join(unknown)} at site {site}; "
            f"its zones are: {listed}"
        )


def _zone_comparison(q: Any, store: Store, a: _Args) -> dict[str, Any]:
    first, last = a.days()
    zone = a.require("--zone", "the first zone id")
    other = a.require("--other-zone", "the zone id to compare with")
    _known_zones(store, a, {"--zone": zone, "--other-zone": other})
    one, two = q.zone_comparison(store, a.site, first, last, zone, other)
    return {"zone": one, "other": two}


def _zone_conversion(q: Any, store: Store, a: _Args) -> Any:
    first, last = a.days()
    from_zone = a.require("--from-zone", "the zone visitors start in")
    to_zone = a.require("--to-zone", "the zone they may go on to")
    _known_zones(store, a, {"--from-zone": from_zone, "--to-zone": to_zone})
    return q.zone_conversion(store, a.site, first, last, from_zone, to_zone)


def _audit(q: Any, store: Store, a: _Args) -> Any:
    first, last = a.days()
    zone = ZoneInfo(store.site(str(a.site)).timezone)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return q.accuracy_audit(store, a.site, start, end)


_ZONE_BY = ("zone", "floor", "category")

_METRICS: dict[str, _Metric] = {
    "traffic": _Metric(
        "客流汇总", "all traffic sums", "optional", _RANGE, lambda q, s, a: q.traffic(s, a.site, *a.days())
    ),
    "trend": _Metric(
        "趋势分析",
        "per day or hour, mean and peak",
        "optional",
        (*_RANGE, "--metric", "--by"),
        lambda q, s, a: q.trend(s, a.site, *a.days(), a.measure(), a.choice("--by", ("day", "hour"), "day")),
    ),
    "profile": _Metric(
        "客户画像", "gender × age", "optional", _RANGE, lambda q, s, a: q.profile(s, a.site, *a.days())
    ),
    "funnel": _Metric(
        "转化漏斗",
        "pass-by → entered → received → returning",
        "optional",
        _RANGE,
        lambda q, s, a: q.funnel(s, a.site, *a.days()),
    ),
    "return-intervals": _Metric(
        "活跃分析",
        "days since the previous visit",
        "optional",
        _RANGE,
        lambda q, s, a: q.return_intervals(s, a.site, *a.days()),
    ),
    "business-hours": _Metric(
        "营业时间",
        "entries left out by business hours",
        "optional",
        _RANGE,
        lambda q, s, a: q.business_hours_effect(s, a.site, *a.days()),
    ),
    "entrance-heat": _Metric(
        "进场热力 / 出入口分布",
        "entries per entrance and group",
        "required",
        (*_RANGE, "--top"),
        lambda q, s, a: q.entrance_heat(s, a.site, *a.days(), a.integer("--top", 15, 0) or None),
    ),
    "kpis": _Metric(
        "客流 KPI",
        "last day/week/month/year, 环比 and 同比",
        "optional",
        ("--day", "--metric"),
        lambda q, s, a: q.kpis(s, a.site, a.today(), a.measure()),
    ),
    "targets": _Metric("目标监控", "month and year completion", "required", ("--at", "--metric"), _targets),
    "peaks": _Metric("到访峰值 / 峰值透视", "time slots, weekdays, weather", "required", _WINDOW, _peaks),
    "holidays": _Metric(
        "节日分析 / 节日客流",
        "holidays and festivals of a year",
        "required",
        ("--year", "--metric"),
        lambda q, s, a: q.holidays(s, a.site, a.year(), a.measure()),
    ),
    "multi-store": _Metric(
        "门店排行 / 门店概览",
        "every store ranked",
        "none",
        (*_RANGE, "--metric"),
        lambda q, s, a: q.multi_store(s, *a.days(), a.measure()),
    ),
    "floors": _Metric(
        "楼层转化",
        "visitors per floor, climb rates",
        "required",
        _RANGE,
        lambda q, s, a: q.floors(s, a.site, *a.days()),
    ),
    "shops": _Metric(
        "品牌排行",
        "shops of a month",
        "required",
        ("--month", "--year", "--day", "--by"),
        lambda q, s, a: q.shops(
            s,
            a.site,
            a.month(),
            a.choice("--by", ("visits", "returning", "per_m2", "first_shop", "mom_change"), "visits"),
        ),
    ),
    "categories": _Metric(
        "业态热度",
        "visits per category (level 1–3)",
        "required",
        (*_RANGE, "--level"),
        lambda q, s, a: _pairs(
            q.categories(s, a.site, *a.days(), a.integer("--level", 1, 1, 3)), "category", "visits", "share"
        ),
    ),
    "indices": _Metric(
        "运营指标",
        "return, activity and browsing indices",
        "required",
        _WINDOW,
        lambda q, s, a: q.indices(s, a.site, *a.window()),
    ),
    "zone-comparison": _Metric(
        "区域对比",
        "two zones side by side",
        "required",
        (*_RANGE, "--zone", "--other-zone"),
        _zone_comparison,
    ),
    "zone-conversion": _Metric(
        "转化分析",
        "from one zone on to another",
        "required",
        (*_RANGE, "--from-zone", "--to-zone"),
        _zone_conversion,
    ),
    "paths": _Metric(
        "动线分析",
        "where each shop's visitors came from, went next, and also went",
        "required",
        _RANGE,
        lambda q, s, a: q.paths(s, a.site, *a.days()),
    ),
    "dwell": _Metric(
        "驻留时长",
        "mean and median stay",
        "required",
        (*_RANGE, "--by"),
        lambda q, s, a: q.dwell(s, a.site, *a.days(), a.choice("--by", _ZONE_BY, "zone")),
    ),
    "occupancy": _Metric(
        "实时驻留人数",
        "visitors present now",
        "required",
        ("--at", "--by"),
        lambda q, s, a: _pairs(
            q.occupancy(s, a.site, a.at(), a.choice("--by", _ZONE_BY, "zone")), "key", "present"
        ),
    ),
    "audit": _Metric("准确率稽核", "system vs manual counts", "required", _RANGE, _audit),
}
METRIC_NAMES = tuple(_METRICS)


def _metric_list() -> str:
    width = max(len(n) for n in _METRICS)
    return "\n".join(f"  {name.ljust(width)}  {spec.zh} {spec.en}" for name, spec in _METRICS.items())


def _run_metric(
    metric: str, site: str | None, given: dict[str, Any], db: str | None
) -> tuple[dict[str, Any], Any]:
    """Validate the options for ``metric``, run its query; (params, result)."""
    from keliu.analytics import queries

    spec = _METRICS.get(metric)
    if spec is None:
        raise ConfigError(f"unknown metric {metric!r}; use one of: {', '.join(_METRICS)}")
    given = {k: v for k, v in given.items() if v is not None and v is not False}
    extra = [name for name in given if name not in spec.options]
    if extra:
        takes = ", ".join(spec.options) or "no other options"
        raise ConfigError(f"analytics {metric}: {', '.join(extra)} does not apply (it takes {takes})")
    if spec.site == "required" and not site:
        raise ConfigError(f"analytics {metric}: missing option --site (a site id)")
    if spec.site == "none" and site:
        raise ConfigError(f"analytics {metric}: --site does not apply (it covers every store)")
    with open_existing_store(db) as store:
        if site is not None:
            store.site(site)  # an unknown site: one clear error before any parsing
        args = _Args(metric, site or None, given, store)
        result = spec.run(queries, store, args)
    return args.params, result


def _analytics_help() -> str:
    return (
        "One metric (docs/metrics.md) for a site, or the whole chain where no --site is given.\n\n"
        "Dates are local days of the site (inclusive): --day D, or --from D [--to D]. Unknown options "
        "for a metric are refused. METRIC is one of:\n\n" + _metric_list()
    )


# ----------------------------------------------------------------------------- rendering

_LABELS: dict[str, str] = {
    "came_from": "来源 came from",
    "went_to": "去向 went next",
    "association": "关联度 association (visits, share)",
    "entries": "总客流 entries",
    "entries_outside_hours": "营业时间外进店 entries outside hours",
    "visits": "去重客流 visits",
    "new_visits": "新客 new",
    "returning_visits": "回头客 returning",
    "returning_hf": "高频回头客 high-frequency returning",
    "staff": "员工 staff",
    "invalid": "无效客流 invalid",
    "outside_hours": "非营业时间 outside hours",
    "batches": "批次 batches",
    "received": "接待 received",
    "dwell_sum_s": "驻留总时长 dwell sum (s)",
    "dwell_count": "驻留次数 dwell count",
    "passby": "过店客流 pass-by",
    "ret_1_3": "回访 1–3 天 returned in 1–3 days",
    "ret_4_7": "回访 4–7 天 returned in 4–7 days",
    "ret_8_15": "回访 8–15 天 returned in 8–15 days",
    "ret_gt15": "回访 >15 天 returned after 15 days",
    "points": "趋势 trend",
    "mean": "均值 mean",
    "median": "中位数 median",
    "peak": "峰值 peak",
    "peak_at": "峰值时段 peak at",
    "hours": "今日与昨日 today vs yesterday",
    "hour": "小时 hour",
    "today": "今日 today",
    "yesterday": "昨日 yesterday",
    "peak_hour": "高峰时段 peak hour",
    "yesterday_peak_hour": "昨日高峰 yesterday's peak hour",
    "total": "合计 total",
    "cells": "画像 cells",
    "gender": "性别 gender",
    "age": "年龄段 age",
    "count": "人数 count",
    "share": "占比 share",
    "gender_shares": "性别占比 gender shares",
    "unknown_share": "未知占比 unknown share",
    "main_group": "主力群体 main group",
    "stages": "漏斗 stages",
    "name": "名称 name",
    "label": "阶段 label",
    "of_previous": "占上一阶段 of previous",
    "of_first": "占第一阶段 of first",
    "capture_rate": "进店率 capture rate",
    "buckets": "回访间隔 return intervals",
    "interval": "95% 置信区间 interval",
    "entrances": "出入口 entrances",
    "groups": "出入口组 entrance groups",
    "total_entries": "总进店 total entries",
    "key": "编号 key",
    "window.label": "周期 period",
    "window.first": "起 first",
    "window.last": "止 last",
    "value": "数值 value",
    "previous": "上期 previous",
    "pop_change": "环比 vs previous",
    "year_ago": "去年同期 a year ago",
    "yoy_change": "同比 year on year",
    "period": "周期 period",
    "target": "目标 target",
    "actual": "实际 actual",
    "completion": "已达成 completion",
    "expected": "应达成 expected",
    "on_track": "进度正常 on track",
    "month": "本月目标 this month",
    "year": "本年目标 this year",
    "time_slots": "到访峰值 time slots",
    "slots": "时段 slots",
    "weekdays": "星期 weekdays",
    "weather": "天气 weather",
    "start_hour": "开始 from",
    "end_hour": "结束 to",
    "per_day": "日均 per day",
    "per_hour": "每小时 per hour",
    "days": "天数 days",
    "holiday.name": "节日 holiday",
    "holiday.first": "起 first",
    "holiday.last": "止 last",
    "daily_mean": "日均 daily mean",
    "normal_daily_mean": "平日日均 normal days",
    "burst": "爆发力 burst",
    "previous_daily_mean": "上一节日日均 previous holiday",
    "vs_previous": "较上一节日 vs previous",
    "last_year_daily_mean": "去年日均 last year",
    "vs_last_year": "较去年 vs last year",
    "ranking": "门店排行 ranking",
    "overview": "门店概览 overview",
    "top": "第一名 top",
    "site_id": "门店 site",
    "rank": "排名 rank",
    "change": "变化率 change",
    "vs_all": "较全部均值 vs all",
    "vs_type": "较同类均值 vs type",
    "vs_top": "相对第一 vs top",
    "weight": "权重 weight",
    "store_type": "门店类型 store type",
    "floors": "楼层客流 floors",
    "climb": "爬楼率 climb rates",
    "mean_floors_climbed": "人均所爬楼层 floors climbed",
    "visitors": "访客 visitors",
    "zone_id": "区域 zone",
    "category": "业态 category",
    "returning": "回头客 returning",
    "per_m2": "坪效 visits per m²",
    "first_shop": "首店到访 first shop",
    "previous_visits": "上月客流 last month",
    "mom_change": "环比 month on month",
    "persons": "人数 persons",
    "repeat_visits": "重复到访 repeat visits",
    "return_index": "返场指数 return index",
    "activity_index": "活跃指数 activity index",
    "browsing_index": "逛店指数 browsing index",
    "mean_dwell_s": "平均驻留 mean dwell (s)",
    "median_dwell_s": "驻留中位数 median dwell (s)",
    "zone": "区域 zone",
    "other": "对比区域 other zone",
    "from_zone": "起始区域 from zone",
    "to_zone": "目标区域 to zone",
    "from_visits": "起始区域客流 visits of from zone",
    "converted": "转化 converted",
    "rate": "转化率 rate",
    "present": "在场人数 present",
    "rows": "稽核 rows",
    "system": "系统 system",
    "manual": "人工 manual",
    "accuracy": "准确率 accuracy",
    "correction_factor": "修正系数 correction factor",
    "batch_match": "批次匹配率 batch match",
    "overall": "合计 overall",
    "counted_entries": "计入客流 counted entries",
    "uncounted_entries": "未计入 uncounted entries",
    "outside_hours_visits": "非营业时间到访 outside-hours visits",
    "uncounted_share": "未计入占比 uncounted share",
    "sites": "门店数 sites",
    "now": "时间 at",
    "trend_today": "今日趋势 today's trend",
    "today_vs_yesterday": "今日与昨日 today vs yesterday",
    "funnel": "转化漏斗 funnel",
    "return_intervals": "活跃分析 return intervals",
    "entrance_heat": "进场热力 entrance heat",
    "kpis": "客流 KPI (总客流 total)",
    "kpis_deduplicated": "客流 KPI (去重客流 de-duplicated)",
    "month_target": "本月目标 month target",
    "year_target": "本年目标 year target",
}
_PERCENT = {
    "share", "completion", "expected", "rate", "capture_rate", "of_previous", "of_first", "accuracy",
    "batch_match", "uncounted_share", "unknown_share", "return_index", "vs_top", "interval",
}  # fmt: skip
_CHANGE = {
    "change",
    "pop_change",
    "yoy_change",
    "vs_previous",
    "vs_last_year",
    "vs_all",
    "vs_type",
    "mom_change",
}
_TUPLE_COLUMNS = {  # rows that are plain tuples
    "points": ("period", "value"),
    "buckets": ("period", "count", "share"),
    "gender_shares": ("gender", "share"),
    "floors": ("floor", "visitors"),
    "climb": ("from", "to", "rate"),
}
_DASHBOARD_HIDDEN = {"site_id", "brief", "today_vs_yesterday", "points"}  # points: in the hours table


def _label(key: str) -> str:
    return _LABELS.get(key) or _LABELS.get(key.rpartition(".")[2]) or key


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}" if abs(value) < 1e15 else f"{value:g}"
    return f"{value:,.2f}"


def _fmt(key: str, value: Any) -> str:
    leaf = key.rpartition(".")[2]
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if leaf in _PERCENT or leaf in _CHANGE:
        if isinstance(value, tuple):
            return "–".join(f"{v * 100:.1f}" for v in value) + " %"
        if isinstance(value, int | float):
            return f"{value * 100:+.1f} %" if leaf in _CHANGE else f"{value * 100:.1f} %"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        if value and all(isinstance(v, tuple | list) for v in value):  # ranked pairs: "a 3, b 2, …"
            shown = [" ".join(_fmt("", x) for x in v) for v in value[:_MAX_PAIRS]]
            more = f", … (+{len(value) - _MAX_PAIRS})" if len(value) > _MAX_PAIRS else ""
            return ", ".join(shown) + more
        return " / ".join(_fmt(leaf, v) for v in value) or "—"
    return str(value)


_MAX_PAIRS = 6  # ranked pairs shown in a table cell (--json has them all)


def _is_rows(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and bool(value)
        and all(is_dataclass(v) or isinstance(v, dict | tuple) for v in value)
    )


def _flatten(row: Any, key: str, prefix: str = "") -> dict[str, Any]:
    if is_dataclass(row):
        out: dict[str, Any] = {}
        for f in fields(row):
            value = getattr(row, f.name)
            if is_dataclass(value):
                out.update(_flatten(value, key, f"{prefix}{f.name}."))
            else:
                out[prefix + f.name] = value
        return out
    if isinstance(row, dict):
        return {prefix + k: v for k, v in row.items()}
    names = _TUPLE_COLUMNS.get(key, tuple(str(i + 1) for i in range(len(row))))
    return dict(zip(names, row, strict=False))


_HIDDEN_COLUMNS = {
    "window.previous_first",
    "window.previous_last",
    "window.year_ago_first",
    "window.year_ago_last",
    "window.period",
    "window.start",
    "window.end",
    "window.previous_start",
    "window.previous_end",
}


def _table(title: str) -> Any:
    from rich.table import Table

    return Table(title=title or None, title_justify="left", title_style="bold")


def _cell(text: str) -> Any:
    from rich.text import Text

    return Text(text)


def _print_rows(console: Console, title: str, key: str, rows: Sequence[Any]) -> None:
    if not rows:
        console.print(_cell(f"{title}: 无数据 none" if title else "无数据 none"))
        return
    flat = [{k: v for k, v in _flatten(r, key).items() if k not in _HIDDEN_COLUMNS} for r in rows]
    columns = list(flat[0])
    table = _table(title)
    for c in columns:
        numeric = any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in flat)
        table.add_column(_label(c), justify="right" if numeric else "left")
    for r in flat:
        table.add_row(*(_cell(_fmt(c, r.get(c))) for c in columns))
    console.print(table)


def _print_value(
    console: Console, title: str, value: Any, key: str = "", hidden: set[str] | None = None
) -> None:
    """A result as tables: its scalar fields in one, each list of rows and nested result in its own."""
    if is_dataclass(value) or isinstance(value, dict):
        items = (
            [(f.name, getattr(value, f.name)) for f in fields(value)]
            if is_dataclass(value)
            else list(value.items())
        )
        items = [(k, v) for k, v in items if k not in (hidden or set())]
        scalars = [(k, v) for k, v in items if not (_is_rows(v) or is_dataclass(v))]
        if scalars:
            table = _table(title)
            table.add_column("项目 item")
            table.add_column("数值 value", justify="right")
            for k, v in scalars:
                table.add_row(_cell(_label(k)), _cell(_fmt(k, v)))
            console.print(table)
        for k, v in items:
            if _is_rows(v):
                _print_rows(console, _label(k), k, v)
            elif is_dataclass(v):
                _print_value(console, _label(k), v, k, hidden)
    elif isinstance(value, tuple | list):
        _print_rows(console, title, key, value)
    else:
        console.print(_cell(f"{title}: {_fmt(key, value)}"))


def _console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def _print_dashboard(d: Any) -> None:
    console = _console()
    scope = f"门店 site {d.site_id}" if d.site_id else f"全部门店 whole chain ({d.sites} sites)"
    console.print(_cell(f"首页 Home dashboard — {scope}, {_fmt('now', d.now)}"), style="bold")
    periods = {
        "day": "今日 today",
        "week": "本周 this week",
        "month": "本月 this month",
        "year": "本年 this year",
    }
    table = _table("客流简报 Brief: so far (the previous period to the same point; change)")
    table.add_column("指标 metric")
    for item in d.brief.items:
        table.add_column(periods.get(item.period, item.period), justify="right")
    for name, label in (
        ("total", "总客流 total"),
        ("deduplicated", "去重客流 de-duplicated"),
        ("new", "新客 new"),
        ("returning", "回头客 returning"),
    ):
        cells = [label]
        for item in d.brief.items:
            c = getattr(item, name)
            cells.append(
                f"{_fmt('value', c.value)} ({_fmt('previous', c.previous)}; {_fmt('change', c.change)})"
            )
        table.add_row(*(_cell(x) for x in cells))
    console.print(table)
    hours = [h for h in d.today_vs_yesterday.hours if h.today is not None]
    _print_rows(console, "今日与昨日 today vs yesterday (总客流 entries by hour)", "hours", hours)
    _print_value(console, "概要 summary", d, hidden=_DASHBOARD_HIDDEN)


def _emit(as_json: bool, document: Any, title: str, result: Any) -> None:
    if as_json:
        from keliu.analytics.jsonable import dumps

        sys.stdout.write(dumps(document) + "\n")
        return
    console = _console()
    console.print(_cell(title), style="bold")
    _print_value(console, "", result)


# ------------------------------------------------------------------------------- commands


def register(app: typer.Typer) -> None:
    """Add ``dashboard``, ``analytics``, ``import`` and ``rollups`` to the ``keliu`` app."""
    import_app = typer.Typer(
        help="导入 Import reference data from CSV (UTF-8 or GBK, with a header line): weather, manual counts "
        "for the accuracy audit, targets, business hours. Every line is checked before anything is written.",
        no_args_is_help=True,
    )
    rollups_app = typer.Typer(
        help="Recompute the traffic rollups (after upgrading a database with visits, or after bulk edits).",
        no_args_is_help=True,
    )
    app.add_typer(import_app, name="import")
    app.add_typer(rollups_app, name="rollups")

    @app.command()
    def dashboard(
        site: Annotated[
            str | None, typer.Option("--site", help="Site id (default: the whole chain).", show_default=False)
        ] = None,
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                help="ISO date and time, e.g. 2025-03-05T11:30+08:00 (no offset: the site's local time). "
                "Default: now.",
                show_default=False,
            ),
        ] = None,
        as_json: JsonOpt = False,
        db: DbOpt = None,
    ) -> None:
        """首页 Home dashboard: 客流简报 brief, today by hour, funnel, entrances, KPIs, targets, ranking."""
        from keliu.analytics import queries

        with open_existing_store(db) as store:
            now = _parse_at(at, store, site)
            result = queries.home_dashboard(store, site, now)
        if as_json:
            from keliu.analytics.jsonable import dumps

            sys.stdout.write(dumps(result) + "\n")
        else:
            _print_dashboard(result)

    @app.command(help=_analytics_help())
    def analytics(
        metric: Annotated[
            str, typer.Argument(metavar="METRIC", help="The metric (listed above).", show_default=False)
        ],
        site: Annotated[
            str | None, typer.Option("--site", help="Site id (default: the whole chain, where it applies).")
        ] = None,
        day: Annotated[
            str | None, typer.Option("--day", help="One local day YYYY-MM-DD (kpis: 'today').")
        ] = None,
        date_from: Annotated[str | None, typer.Option("--from", help="First local day YYYY-MM-DD.")] = None,
        date_to: Annotated[str | None, typer.Option("--to", help="Last local day (inclusive).")] = None,
        measure: Annotated[
            str | None,
            typer.Option(
                "--metric",
                help="total (总客流, default), deduplicated (去重客流), new, returning or batches.",
            ),
        ] = None,
        at: Annotated[
            str | None, typer.Option("--at", help="targets, occupancy: ISO date and time (default now).")
        ] = None,
        by: Annotated[
            str | None,
            typer.Option(
                "--by", help="trend: day|hour; dwell, occupancy: zone|floor|category; shops: the order."
            ),
        ] = None,
        top: Annotated[
            int | None, typer.Option("--top", help="entrance-heat: top N entrances (0: all).")
        ] = None,
        days: Annotated[
            int | None, typer.Option("--days", help="peaks, indices: window length (default 30).")
        ] = None,
        year: Annotated[int | None, typer.Option("--year", help="holidays, shops: the year.")] = None,
        month: Annotated[
            str | None, typer.Option("--month", help="shops: YYYY-MM (or 1–12 with --year).")
        ] = None,
        level: Annotated[int | None, typer.Option("--level", help="categories: 业态 level 1–3.")] = None,
        zone: Annotated[str | None, typer.Option("--zone", help="zone-comparison: the first zone.")] = None,
        other_zone: Annotated[
            str | None, typer.Option("--other-zone", help="zone-comparison: the zone to compare with.")
        ] = None,
        from_zone: Annotated[
            str | None, typer.Option("--from-zone", help="zone-conversion: from this zone.")
        ] = None,
        to_zone: Annotated[
            str | None, typer.Option("--to-zone", help="zone-conversion: on to this zone.")
        ] = None,
        as_json: JsonOpt = False,
        db: DbOpt = None,
    ) -> None:
        given = {
            "--day": day,
            "--from": date_from,
            "--to": date_to,
            "--metric": measure,
            "--at": at,
            "--by": by,
            "--top": top,
            "--days": days,
            "--year": year,
            "--month": month,
            "--level": level,
            "--zone": zone,
            "--other-zone": other_zone,
            "--from-zone": from_zone,
            "--to-zone": to_zone,
        }
        params, result = _run_metric(metric, site, given, db)
        spec = _METRICS[metric]
        document = {"metric": metric, "site": site, "params": params, "result": result}
        described = ", ".join(f"{k} {_fmt(k, v)}" for k, v in params.items())
        scope = f"site {site}" if site else "whole chain"
        _emit(
            as_json,
            document,
            f"{spec.zh} {metric} — {scope}" + (f", {described}" if described else ""),
            result,
        )

    def _import(kind: str, site: str, file: Path, db: str | None) -> None:
        from keliu.reference_import import read_import_csv, save_import

        batch = read_import_csv(kind, file)  # every line checked before the store is opened
        with open_existing_store(db) as store:
            saved = save_import(store, site, batch)
        encoding = "" if batch.encoding.startswith("UTF-8") else f" (read as {batch.encoding})"
        print(f"imported {saved} {batch.what}(s) for site {site} from {file}{encoding}")

    @import_app.command("weather")
    def import_weather(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
        """天气 Weather per local day: day,condition,temp_high,temp_low,precipitation_mm (the last three
        may be empty). A day already stored is replaced."""
        _import("weather", site, file, db)

    @import_app.command("manual-counts")
    def import_manual_counts(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
        """准确率稽核 Manual counts: start,end,entries,camera_id,line_id,batches,note. start/end are ISO
        times with a UTC offset (2025-03-05T10:00+08:00); empty camera_id and line_id: the whole site."""
        _import("manual-counts", site, file, db)

    @import_app.command("targets")
    def import_targets(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
        """目标 Targets: year,month,metric,value; month empty: the whole year; metric total (总客流) or
        deduplicated (去重客流). Other stored targets are kept."""
        _import("targets", site, file, db)

    @import_app.command("business-hours")
    def import_business_hours(site: SiteOpt, file: FileArg, db: DbOpt = None) -> None:
        """营业时间 Business hours: weekday,opens,closes (weekday 0–6, 0 = Monday, or mon … sun; HH:MM,
        24:00 allowed). A closing at or before the opening is the next day: fri,22:00,02:00 is
        overnight and counts for Friday; equal times: open 24 hours. Replaces all the site's hours: a
        weekday left out is closed. Applies to rollups computed from now on (`keliu rollups refresh`
        restates the past)."""
        _import("business-hours", site, file, db)

    @rollups_app.command("rebuild")
    def rollups_rebuild(
        site: Annotated[str | None, typer.Option("--site", help="Site id (default: every site).")] = None,
        db: DbOpt = None,
    ) -> None:
        """Recompute the rollups of a site (or every site) over all its stored data."""
        from keliu.analytics.rollups import rebuild_rollups

        with open_existing_store(db) as store:
            if site is not None:
                store.site(site)
            stats = rebuild_rollups(store, site)
            count = 1 if site is not None else len(store.sites())
        print(
            f"rebuilt the rollups of {count} site(s): "
            f"{stats.hours} hours, {stats.days} days, {stats.months} months"
        )

    @rollups_app.command("refresh")
    def rollups_refresh(
        site: SiteOpt,
        date_from: Annotated[str, typer.Option("--from", help="First local day YYYY-MM-DD.")],
        date_to: Annotated[str, typer.Option("--to", help="Last local day (inclusive).")],
        db: DbOpt = None,
    ) -> None:
        """Recompute the rollups of the local days --from .. --to (and their months) of one site."""
        from keliu.analytics.rollups import refresh_rollups

        first, last = parse_day(date_from, "--from"), parse_day(date_to, "--to")
        check_range(first, last)
        with open_existing_store(db) as store:
            zone = ZoneInfo(store.site(site).timezone)
            start = datetime.combine(first, datetime.min.time(), zone)
            end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
            stats = refresh_rollups(store, site, start, end)
        print(
            f"refreshed the rollups of site {site}, {first} .. {last}: "
            f"{stats.hours} hours, {stats.days} days, {stats.months} months"
        )
