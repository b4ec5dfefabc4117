"""Report UI text (报表文案): one small dict per language, Chinese (zh-CN) first, English beside it.

Renderers and the builder take every visible word from here, so a translation is one edit.
What this module must not do: hold numbers or formatting logic.
"""

from __future__ import annotations

from keliu.analytics.report.model import Label

__all__ = ["EN", "LANGS", "ZH", "label", "text"]

ZH: dict[str, str] = {
    # report titles by period kind
    "title.day": "客流日报",
    "title.week": "客流周报",
    "title.month": "客流月报",
    "title.year": "客流年报",
    "title.custom": "客流报表",
    # page chrome
    "brand": "客流 keliu · 客流分析报表",
    "site": "门店",
    "location": "区域",
    "whole_site": "全店",
    "period": "统计周期",
    "range": "时间范围",
    "generated": "生成时间",
    "previous": "上期",
    "change": "环比",
    "total": "合计",
    "no_data": "—",
    "indicator": "指标",
    "value": "数值",
    "unit": "单位",
    "note": "说明",
    "report_info": "报表信息",
    "summary_sheet": "汇总",
    "footer": "本报表由 keliu 在本地离线生成，仅含匿名统计数字，不含任何图像或个人身份信息。",
    # sections
    "sec.overview": "核心指标",
    "sec.trend": "客流趋势",
    "sec.entrances": "入口客流",
    "sec.detail": "明细",
    "sec.definitions": "指标说明",
    # KPI names and units
    "kpi.customers": "客流量（去重）",
    "kpi.entries": "总进店人次",
    "kpi.batches": "批次",
    "kpi.new": "新客",
    "kpi.returning": "回头客",
    "kpi.staff": "员工（已排除）",
    "kpi.invalid": "无效客流（已排除）",
    "kpi.daily_mean": "日均客流",
    "kpi.peak_hour": "高峰时段",
    "kpi.peak_day": "高峰日",
    "unit.persons": "人",
    "unit.person_times": "人次",
    "unit.batches": "批",
    # charts and tables
    "chart.hourly": "分时客流",
    "chart.daily": "每日客流",
    "chart.hour_profile": "分时段客流（周期合计）",
    "chart.monthly": "月度客流",
    "chart.entrances": "入口排行（进店人次）",
    "series.current": "本期",
    "series.previous": "上期",
    "series.today": "当日",
    "series.yesterday": "前一日",
    "series.forecast": "预测区间",
    "axis.persons": "人",
    "table.hourly": "小时明细",
    "table.daily": "每日明细",
    "table.monthly": "月度汇总",
    "table.entrances": "入口明细",
    "col.hour": "时段",
    "col.date": "日期",
    "col.month": "月份",
    "col.entrance": "入口",
    "col.customers": "客流量（去重）",
    "col.entries": "进店人次",
    "col.exits": "离店人次",
    "col.batches": "批次",
    "col.new": "新客",
    "col.returning": "回头客",
    "col.staff": "员工",
    "col.invalid": "无效客流",
    "col.share": "占比（%）",
    "col.change": "环比（%）",
    # definitions
    "def.customers": "客流量（去重）：统计周期内到店的顾客人数，同一人在去重窗口内多次进出只计一次。",
    "def.entries": "总进店人次：顾客每一次进店都计数。",
    "def.exits": "离店人次：顾客每一次离店都计数（营业时间后离店也计）；"
    "员工和无法对应到访客的离店只计入各入口的出门人次，不计入此数。",
    "def.batches": "批次：一同到店的一组顾客记为一批，单人到店也计一批。",
    "def.new_returning": "新客/回头客：在门店设定的记忆期内未见过/见过的顾客。",
    "def.excluded": "员工与无效客流（如快递、外卖）已从客流量中排除，单独列出。",
    "def.change": "环比：与上一个同类周期（前一日、上周、上月、去年或等长的前一段时间）相比的变化。",
    "def.change_so_far": "本周期尚未结束（截至 {until}）：环比与上一周期的相同已过时段（至 {previous}）相比，"
    "而非整个上一周期。",
}

EN: dict[str, str] = {
    "title.day": "Daily traffic report",
    "title.week": "Weekly traffic report",
    "title.month": "Monthly traffic report",
    "title.year": "Yearly traffic report",
    "title.custom": "Traffic report",
    "brand": "keliu 客流 · footfall analytics report",
    "site": "Site",
    "location": "Location",
    "whole_site": "Whole site",
    "period": "Period",
    "range": "Time range",
    "generated": "Generated",
    "previous": "Previous",
    "change": "Change",
    "total": "Total",
    "no_data": "—",
    "indicator": "Indicator",
    "value": "Value",
    "unit": "Unit",
    "note": "Note",
    "report_info": "Report",
    "summary_sheet": "Summary",
    "footer": "Generated offline on premises by keliu. Anonymous counts only: no image and no personal "
    "identity is contained in this report.",
    "sec.overview": "Key figures",
    "sec.trend": "Traffic trend",
    "sec.entrances": "Entrances",
    "sec.detail": "Details",
    "sec.definitions": "Definitions",
    "kpi.customers": "Customers (de-duplicated)",
    "kpi.entries": "Total entries",
    "kpi.batches": "Batches",
    "kpi.new": "New customers",
    "kpi.returning": "Returning customers",
    "kpi.staff": "Staff (excluded)",
    "kpi.invalid": "Invalid traffic (excluded)",
    "kpi.daily_mean": "Daily mean",
    "kpi.peak_hour": "Peak hour",
    "kpi.peak_day": "Peak day",
    "unit.persons": "persons",
    "unit.person_times": "entries",
    "unit.batches": "batches",
    "chart.hourly": "Traffic by hour",
    "chart.daily": "Traffic by day",
    "chart.hour_profile": "Traffic by hour of day (period total)",
    "chart.monthly": "Traffic by month",
    "chart.entrances": "Entrance ranking (entries)",
    "series.current": "This period",
    "series.previous": "Previous period",
    "series.today": "This day",
    "series.yesterday": "Day before",
    "series.forecast": "Forecast range",
    "axis.persons": "persons",
    "table.hourly": "By hour",
    "table.daily": "By day",
    "table.monthly": "By month",
    "table.entrances": "By entrance",
    "col.hour": "Hour",
    "col.date": "Date",
    "col.month": "Month",
    "col.entrance": "Entrance",
    "col.customers": "Customers (de-dup.)",
    "col.entries": "Entries",
    "col.exits": "Exits",
    "col.batches": "Batches",
    "col.new": "New",
    "col.returning": "Returning",
    "col.staff": "Staff",
    "col.invalid": "Invalid",
    "col.share": "Share (%)",
    "col.change": "Change (%)",
    "def.customers": "Customers (de-duplicated): persons who visited in the period; repeated entries "
    "within the de-duplication window count once.",
    "def.entries": "Total entries: every entry of a customer counts.",
    "def.exits": "Exits: every exit of a customer counts (also after closing time); exits of staff and "
    "exits no visitor could be matched to count only in each door's crossings, not here.",
    "def.batches": "Batches: customers arriving together count as one batch; a single customer "
    "is a batch too.",
    "def.new_returning": "New / returning: customers not seen / seen before within the site's memory period.",
    "def.excluded": "Staff and invalid traffic (e.g. couriers) are excluded from customers and listed apart.",
    "def.change": "Change: versus the previous period of the same kind (day before, last week, last month, "
    "last year, or the same number of days just before).",
    "def.change_so_far": "This period is still in progress (up to {until}): the change compares it with "
    "the same elapsed part of the previous period (up to {previous}), not with the whole of it.",
}

LANGS: dict[str, dict[str, str]] = {"zh": ZH, "en": EN}


def text(key: str, lang: str) -> str:
    """The UI string for ``key`` in ``lang`` ("zh" or "en")."""
    if lang not in LANGS:
        raise ValueError(f"unknown report language {lang!r}: expected 'zh' or 'en'")
    return LANGS[lang][key]


def label(key: str) -> Label:
    """Both languages of ``key`` as a ``Label`` for the report model."""
    return Label(zh=ZH[key], en=EN[key])
