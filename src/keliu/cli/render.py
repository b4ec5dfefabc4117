"""Readable output of analytics results for the command line: rich tables, Chinese label first, then
English (``keliu dashboard``, ``keliu analytics METRIC``), or one JSON document with ``--json``
(``keliu.analytics.jsonable``).

Presentation only: it formats what the queries return and must not compute a number itself.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["emit", "fmt", "print_dashboard"]


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
    "status": "状态 status",
    "holiday.kind": "类型 kind",
    "previous.name": "上一节日 previous holiday",
    "days_counted": "已计天数 days counted",
    "returning_persons": "到访≥2次人数 persons with ≥ 2 visits",
    "unlinked_repeats": "未能关联的重复到访 unlinked repeat visits",
    "stores": "门店数 stores",
    "previous_total": "上期合计 previous total",
    "top_site_id": "第一名门店 top store",
    "top_name": "第一名名称 top store name",
    "top_value": "第一名客流 top store traffic",
    "top_share": "第一名占比 top store share",
    "above_mean": "高于均值门店 above the mean",
    "below_mean": "低于均值门店 below the mean",
    "growing": "增长门店 growing",
    "shrinking": "下降门店 shrinking",
    "by_type": "按门店类型 by store type",
    "by_region": "按区域 by region",
    "available": "可用 available",
    "reason": "说明 reason",
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
    "top_share",
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


_WORDS = {  # values of the holidays' status and kind
    "past": "已结束 past",
    "in_progress": "进行中 in progress",
    "upcoming": "未开始 upcoming",
    "break": "假期 break",
    "festival": "节日 festival",
}
_PLAIN_NUMBERS = {"year", "month", "hour", "start_hour", "end_hour", "rank", "days_counted"}  # never "2,026"


def fmt(key: str, value: Any) -> str:
    leaf = key.rpartition(".")[2]
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if leaf in _PLAIN_NUMBERS and isinstance(value, int):
        return str(value)
    if leaf in ("status", "kind") and isinstance(value, str) and value in _WORDS:
        return _WORDS[value]
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
            shown = [" ".join(fmt("", x) for x in v) for v in value[:_MAX_PAIRS]]
            more = f", … (+{len(value) - _MAX_PAIRS})" if len(value) > _MAX_PAIRS else ""
            return ", ".join(shown) + more
        return " / ".join(fmt(leaf, v) for v in value) or "—"
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
    "previous.first",  # holidays: the previous holiday and last year's by name (--json has their dates)
    "previous.last",
    "previous.kind",
    "last_year.name",
    "last_year.first",
    "last_year.last",
    "last_year.kind",
    "days_counted",
    "previous_daily_mean",  # the changes vs them are shown
    "last_year_daily_mean",
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
        table.add_row(*(_cell(fmt(c, r.get(c))) for c in columns))
    console.print(table)


def _print_value(
    console: Console, title: str, value: Any, key: str = "", hidden: set[str] | None = None
) -> None:
    """A result as tables: its scalar fields in one, each list of rows and nested result in its own.
    A result that is not available (``available`` false, e.g. the profile without an attribute
    model) is its reason, one sentence, instead of a table."""
    if is_dataclass(value) and getattr(value, "available", True) is False:
        reason = getattr(value, "reason", None) or "不可用 not available"
        console.print(_cell(f"{title}: {reason}" if title else reason))
        return
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
                table.add_row(_cell(_label(k)), _cell(fmt(k, v)))
            console.print(table)
        for k, v in items:
            if _is_rows(v):
                _print_rows(console, _label(k), k, v)
            elif is_dataclass(v):
                _print_value(console, _label(k), v, k, hidden)
    elif isinstance(value, tuple | list):
        _print_rows(console, title, key, value)
    else:
        console.print(_cell(f"{title}: {fmt(key, value)}"))


def _console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def print_dashboard(d: Any) -> None:
    console = _console()
    scope = f"门店 site {d.site_id}" if d.site_id else f"全部门店 whole chain ({d.sites} sites)"
    console.print(_cell(f"首页 Home dashboard — {scope}, {fmt('now', d.now)}"), style="bold")
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
                f"{fmt('value', c.value)} ({fmt('previous', c.previous)}; {fmt('change', c.change)})"
            )
        table.add_row(*(_cell(x) for x in cells))
    console.print(table)
    hours = [h for h in d.today_vs_yesterday.hours if h.today is not None]
    _print_rows(console, "今日与昨日 today vs yesterday (总客流 entries by hour)", "hours", hours)
    _print_value(console, "概要 summary", d, hidden=_DASHBOARD_HIDDEN)


def emit(as_json: bool, document: Any, title: str, result: Any) -> None:
    if as_json:
        from keliu.analytics.jsonable import dumps

        sys.stdout.write(dumps(document) + "\n")
        return
    console = _console()
    console.print(_cell(title), style="bold")
    _print_value(console, "", result)
