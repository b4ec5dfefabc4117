"""首页 Home: a site's brief, trend, funnel, profile, entrances, KPIs, targets, indices, peaks,
holidays and next week's forecast (REQUIREMENTS A1–A13, A18), and shortcuts. Must not reach the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from nicegui import ui

from keliu.ui import charts
from keliu.ui.shell import Page, card, fmt_int, fmt_pct, login_redirect, tid
from keliu.ui.widgets import lazy_card, stat, table

PERIOD_KEYS = {
    "day": "home.period.day",
    "week": "home.period.week",
    "month": "home.period.month",
    "year": "home.period.year",
}
KPI_KEYS = {
    "yesterday": "kpi.yesterday",
    "last_week": "kpi.last_week",
    "last_month": "kpi.last_month",
    "last_year": "kpi.last_year",
}


def local_today(page: Page) -> date:
    zone = ZoneInfo((page.site or {}).get("timezone", "Asia/Shanghai"))
    return datetime.now(zone).date()


def chosen_day(page: Page) -> date:
    today = local_today(page)
    try:
        day = date.fromisoformat(page.query.get("day", ""))
    except ValueError:
        return today
    return min(day, today)


def day_picker(page: Page, day: date) -> None:
    with (
        ui.input(page.t("date.pick"), value=day.isoformat())
        .props("dense outlined")
        .classes("w-40")
        .props(tid("day")) as field
    ):
        with ui.menu().props("no-parent-event") as menu:

            def chosen(e: Any) -> None:
                if not e.value or e.value == day.isoformat():  # the picker taking the page's own day
                    return
                menu.close()
                ui.navigate.to(page.url(day=e.value))

            ui.date(on_change=chosen).props('mask="YYYY-MM-DD"').bind_value(field)
        with field.add_slot("append"):
            ui.icon("event").on("click", menu.open).classes("cursor-pointer")


def brief(page: Page, data: dict[str, Any]) -> None:
    with ui.grid(columns="repeat(auto-fit, minmax(260px, 1fr))").classes("w-full gap-4"):
        for item in data["brief"]["items"]:
            with ui.card().classes("shadow-sm").props(tid(f"brief-{item['period']}")):
                ui.label(page.t(PERIOD_KEYS[item["period"]])).classes("text-sm font-semibold text-primary")
                with ui.row().classes("gap-6"):
                    for key in ("total", "deduplicated", "new", "returning"):
                        figure = item[key]
                        stat(page.t(f"home.{key}"), fmt_int(figure["value"]), figure["change"])


def trend(page: Page, data: dict[str, Any]) -> None:
    hours = data["today_vs_yesterday"]["hours"]
    charts.lines(
        [f"{h['hour']:02d}:00" for h in hours],
        {
            page.t("home.today"): [h["today"] for h in hours],
            page.t("home.yesterday"): [h["yesterday"] for h in hours],
        },
        area=True,
        mark="chart-trend",
        mark_mean_peak=(page.t("common.mean"), page.t("common.peak")),
    )
    t = data["trend_today"]
    with ui.row().classes("gap-6 text-sm text-slate-600"):
        ui.label(f"{page.t('common.mean')}: {fmt_int(t.get('mean'))}")
        peak = t.get("peak")
        if isinstance(peak, list | tuple) and len(peak) == 2:
            ui.label(f"{page.t('common.peak')}: {peak[0]} · {fmt_int(peak[1])}")


def funnel(page: Page, data: dict[str, Any]) -> None:
    stages = data["funnel"]["stages"]
    charts.funnel([(page.t(f"funnel.{s['name']}"), s["count"]) for s in stages], mark="chart-funnel")


def entrances(page: Page, data: dict[str, Any]) -> None:
    rows = data["entrance_heat"]["entrances"]
    show_all = page.query.get("entrances") == "all"
    with ui.row().classes("gap-2"):
        for key, value in (("home.entrance_top", None), ("home.entrance_all", "all")):
            ui.button(
                page.t(key), on_click=lambda v=value: ui.navigate.to(page.url(entrances=v or "top"))
            ).props("dense no-caps " + ("unelevated" if (value == "all") == show_all else "flat"))
    shown = rows if show_all else rows[:15]
    charts.bars(
        [r["name"] for r in shown],
        {page.t("home.total"): [r["entries"] for r in shown]},
        horizontal=True,
        height="h-80",
        mark="chart-entrances",
    )


def kpis(page: Page, data: dict[str, Any]) -> None:
    rows = [
        {
            "window": page.t(KPI_KEYS.get(k["window"]["label"], "kpi.yesterday")),
            "value": fmt_int(k["value"]),
            "mom": fmt_pct(k["pop_change"]) if k["pop_change"] is not None else "–",
            "yoy": fmt_pct(k["yoy_change"]) if k["yoy_change"] is not None else "–",
        }
        for k in data["kpis"]
    ]
    table(
        [
            ("window", ""),
            ("value", page.t("home.total")),
            ("mom", page.t("kpi.mom")),
            ("yoy", page.t("kpi.yoy")),
        ],
        rows,
        mark="table-kpis",
    )


def targets(page: Page, data: dict[str, Any]) -> None:
    with ui.row().classes("w-full justify-around"):
        for key, label in (("month_target", "target.month"), ("year_target", "target.year")):
            target = data.get(key)
            with ui.column().classes("items-center min-w-48 flex-1"):
                if not target or not target.get("target"):
                    ui.label(f"{page.t(label)}: {page.t('target.none')}").classes("text-slate-500")
                    continue
                charts.gauge(target["completion"], page.t(label), mark=f"chart-{key}")
                ui.label(
                    f"{fmt_int(target['actual'])} / {fmt_int(target['target'])} · "
                    f"{page.t('target.expected')} {fmt_pct(target['expected'])}"
                ).classes("text-xs text-slate-500")


def profile(page: Page, result: dict[str, Any]) -> None:
    if isinstance(result, dict) and result.get("available") is False:
        ui.label(page.t("profile.unavailable")).classes("text-slate-500").props(tid("profile-unavailable"))
        return
    cells = result.get("cells") if isinstance(result, dict) else None
    if not cells:
        ui.label(page.t("profile.unavailable")).classes("text-slate-500").props(tid("profile-unavailable"))
        return
    charts.donut(
        [(f"{c.get('gender')} {c.get('age')}", c.get("visits", 0)) for c in cells], mark="chart-profile"
    )


def return_intervals(page: Page, result: dict[str, Any]) -> None:
    buckets = result.get("buckets") or []
    charts.bars(
        [f"{b[0]} d" for b in buckets],
        {page.t("home.returning"): [b[1] for b in buckets]},
        mark="chart-return-intervals",
    )


def indices(page: Page, result: dict[str, Any]) -> None:
    with ui.row().classes("gap-8"):
        stat(page.t("indices.return"), fmt_pct(result.get("return_index")))
        stat(page.t("indices.activity"), f"{result.get('activity_index') or 0:.2f}")
        stat(page.t("indices.browsing"), f"{result.get('browsing_index') or 0:.2f}")


def peaks(page: Page, result: dict[str, Any]) -> None:
    slots = result.get("time_slots", {}).get("slots", [])
    charts.bars(
        [f"{s['start_hour']}–{s['end_hour']}" for s in slots],
        {page.t("peaks.slot"): [round(s["per_day"], 1) for s in slots]},
        height="h-48",
        mark="chart-peaks",
    )
    weekdays = result.get("weekdays") or []
    if weekdays:
        charts.bars(
            [page.t(f"weekday.{w['key']}") for w in weekdays],
            {page.t("peaks.weekday"): [round(w["mean"], 1) for w in weekdays]},
            height="h-48",
            mark="chart-weekdays",
        )


def holidays(page: Page, result: list[dict[str, Any]]) -> None:
    rows = []
    for h in result:
        upcoming = h.get("status") == "upcoming"
        rows.append(
            {
                "name": h["holiday"]["name"],
                "dates": h["holiday"]["first"]
                if h["holiday"]["first"] == h["holiday"]["last"]
                else f"{h['holiday']['first']} – {h['holiday']['last']}",
                "mean": page.t("holiday.upcoming") if upcoming else fmt_int(h.get("daily_mean")),
                "vs_previous": "–" if upcoming else fmt_pct(h.get("vs_previous")),
                "vs_last_year": "–" if upcoming else fmt_pct(h.get("vs_last_year")),
            }
        )
    table(
        [
            ("name", page.t("common.name")),
            ("dates", page.t("date.pick")),
            ("mean", page.t("common.mean")),
            ("vs_previous", page.t("holiday.vs_previous")),
            ("vs_last_year", page.t("holiday.vs_last_year")),
        ],
        rows,
        mark="table-holidays",
        page_size=6,
    )


def forecast(page: Page, result: dict[str, Any]) -> None:
    days = result["days"]
    charts.lines(
        [d["day"][5:] for d in days],
        {
            page.t("forecast.expected"): [d["expected"] for d in days],
            page.t("forecast.range") + " ↓": [d["low"] for d in days],
            page.t("forecast.range") + " ↑": [d["high"] for d in days],
        },
        mark="chart-forecast",
    )
    for d in days:
        if d.get("warning"):
            ui.label(f"{d['day']}: {d['warning']}").classes("text-xs text-amber-700")


def floors(page: Page, result: dict[str, Any]) -> None:
    rows = result.get("floors") or []
    if not rows:
        ui.label(page.t("common.none")).classes("text-slate-500")
        return
    charts.bars(
        [f"{f[0]}F" if f[0] > 0 else f"B{-f[0]}" for f in rows],
        {page.t("home.deduplicated"): [f[1] for f in rows]},
        mark="chart-floors",
    )


def categories(page: Page, result: list[dict[str, Any]]) -> None:
    if not result:
        ui.label(page.t("common.none")).classes("text-slate-500")
        return
    charts.donut([(r["category"], r["visits"]) for r in result], mark="chart-categories")


def shops(page: Page, result: list[dict[str, Any]]) -> None:
    if not result:
        ui.label(page.t("common.none")).classes("text-slate-500")
        return
    top = result[:10]
    charts.bars(
        [r["name"] for r in top],
        {page.t("home.deduplicated"): [r["visits"] for r in top]},
        horizontal=True,
        height="h-80",
        mark="chart-shops",
    )


def shortcuts(page: Page) -> None:
    with ui.row().classes("gap-2 flex-wrap"):
        for path, key, icon in (
            ("/reception", "nav.reception", "support_agent"),
            ("/reports", "nav.reports", "description"),
            ("/analysis", "nav.analysis", "insights"),
            ("/lookup", "nav.lookup", "manage_search"),
            ("/visits", "nav.visits", "list_alt"),
            ("/bigscreen", "nav.bigscreen", "tv"),
        ):
            ui.button(page.t(key), icon=icon, on_click=lambda p=path: ui.navigate.to(page.nav_url(p))).props(
                "outline no-caps"
            )


async def metric(page: Page, name: str, **params: Any) -> Any:
    return (await page.api.get(f"/sites/{page.site_id}/metrics/{name}", **params))["result"]


@ui.page("/", response_timeout=20)
async def home_page(request: Request) -> Any:
    page = await Page.open(request, "/")
    if page is None:
        return login_redirect("/")
    with page.frame("home.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        day = chosen_day(page)
        today = local_today(page)
        at = (
            None
            if day == today
            else datetime.combine(day, datetime.max.time(), ZoneInfo(page.timezone)).isoformat()
        )
        data = await page.api.get(f"/sites/{page.site_id}/dashboard", at=at)
        last_whole = (day - timedelta(days=1)).isoformat()
        with ui.row().classes("w-full items-center gap-4"):
            ui.label(page.t("home.brief")).classes("text-xl font-semibold")
            day_picker(page, day)
            ui.space()
            shortcuts(page)
        brief(page, data)
        grid = "w-full gap-4 grid-cols-1 lg:grid-cols-2"
        with ui.grid().classes(grid):
            for key, mark, draw_card in (
                ("home.trend", "card-trend", trend),
                ("home.funnel", "card-funnel", funnel),
                ("home.entrance_heat", "card-entrances", entrances),
                ("home.kpis", "card-kpis", kpis),
                ("home.targets", "card-targets", targets),
            ):
                with card(page.t(key), mark=mark):
                    draw_card(page, data)
            whole_day, month = day.isoformat(), day.strftime("%Y-%m")
            slow_cards: list[tuple[str, str, dict[str, Any], Callable[[Page, Any], None]]] = [
                ("profile", "profile", {"day": whole_day}, profile),
                ("return_intervals", "return-intervals", {"day": whole_day}, return_intervals),
                ("peaks", "peaks", {"day": last_whole}, peaks),
                ("indices", "indices", {"day": last_whole}, indices),
                ("forecast", "forecast", {}, forecast),
                ("holidays", "holidays", {"year": day.year}, holidays),
                ("floors", "floors", {"day": whole_day}, floors),
                ("categories", "categories", {"day": whole_day}, categories),
                ("shops", "shops", {"month": month}, shops),
            ]
            for key, name, params, draw in slow_cards:
                lazy_card(
                    page,
                    page.t(f"home.{key}"),
                    lambda name=name, params=params: (  # type: ignore[misc]
                        page.api.get(f"/sites/{page.site_id}/forecast")
                        if name == "forecast"
                        else metric(page, name, **params)
                    ),
                    lambda result, draw=draw: draw(page, result),  # type: ignore[misc]
                    mark=f"card-{key.replace('_', '-')}",
                )
    await asyncio.sleep(0)
    return None
