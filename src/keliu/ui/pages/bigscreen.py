"""智慧大屏 Big screen: a full-screen wall view of a store (or the chain) that refreshes itself.

It stays light however many screens watch it: the figures of a store are fetched at most once per
``REFRESH_S`` for every screen together (one shared read, kept in memory), and each screen redraws
only its numbers and chart data. Access is checked per screen when the page opens. Must not reach the
store."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from nicegui import ui

from keliu.ui.api import Api, shared_read
from keliu.ui.shell import Page, fmt_int, login_redirect, tid

REFRESH_S = 15.0


async def wall_figures(api: Api, site_id: str) -> dict[str, Any]:
    """The dashboard of ``site_id``, read at most once per ``REFRESH_S`` for all screens."""
    data: dict[str, Any] = await shared_read(
        f"dashboard {site_id}", time.monotonic() - REFRESH_S, lambda: api.get(f"/sites/{site_id}/dashboard")
    )
    return data


@ui.page("/bigscreen", response_timeout=20)
async def bigscreen_page(request: Request) -> Any:
    page = await Page.open(request, "/bigscreen")
    if page is None:
        return login_redirect("/bigscreen")
    if page.site_id is None:
        ui.label(page.t("common.none"))
        return None
    site_id = page.site_id
    ui.page_title(f"{page.t('bigscreen.title')} · {page.site_name(site_id)}")
    ui.query("body").style("background: #0b1220")
    data = await wall_figures(page.api, site_id)
    numbers: dict[str, ui.label] = {}
    with ui.column().classes("w-full min-h-screen p-6 gap-6 text-white"):
        with ui.row().classes("w-full items-center"):
            ui.label(page.site_name(site_id)).classes("text-3xl font-bold")
            ui.label(page.t("bigscreen.title")).classes("text-xl text-sky-300")
            ui.space()
            clock = ui.label().classes("text-2xl tabular-nums text-sky-200").props(tid("clock"))
        with ui.grid(columns=4).classes("w-full gap-6"):
            for key, label in (
                ("entries", "home.total"),
                ("visits", "home.deduplicated"),
                ("new_visits", "home.new"),
                ("returning_visits", "home.returning"),
            ):
                with ui.card().classes("bg-slate-900 border border-sky-900 items-center p-6"):
                    ui.label(page.t(label)).classes("text-lg text-sky-300")
                    numbers[key] = (
                        ui.label(fmt_int(data["today"].get(key)))
                        .classes("text-5xl font-bold text-white tabular-nums")
                        .props(tid(f"wall-{key}"))
                    )
        hours = data["today_vs_yesterday"]["hours"]
        chart = (
            ui.echart(
                {
                    "backgroundColor": "transparent",
                    "animation": False,
                    "textStyle": {"color": "#cbd5e1"},
                    "legend": {"textStyle": {"color": "#cbd5e1"}},
                    "tooltip": {"trigger": "axis"},
                    "grid": {"left": 48, "right": 16, "top": 36, "bottom": 28},
                    "xAxis": {"type": "category", "data": [f"{h['hour']:02d}" for h in hours]},
                    "yAxis": {"type": "value", "splitLine": {"lineStyle": {"color": "#1e293b"}}},
                    "series": [
                        {
                            "name": page.t("home.today"),
                            "type": "bar",
                            "data": [h["today"] for h in hours],
                            "itemStyle": {"color": "#38bdf8"},
                        },
                        {
                            "name": page.t("home.yesterday"),
                            "type": "line",
                            "data": [h["yesterday"] for h in hours],
                            "itemStyle": {"color": "#f59e0b"},
                        },
                    ],
                }
            )
            .classes("w-full h-96")
            .props(tid("chart-wall"))
        )
        with ui.row().classes("w-full gap-6"):
            entrances = data["entrance_heat"]["entrances"][:8]
            for e in entrances:
                with ui.column().classes("items-center gap-0"):
                    ui.label(fmt_int(e["entries"])).classes("text-2xl font-semibold")
                    ui.label(e["name"]).classes("text-sm text-sky-300")

    async def tick() -> None:
        clock.set_text(time.strftime("%H:%M:%S"))

    async def refresh() -> None:
        fresh = await wall_figures(page.api, site_id)
        for key, label in numbers.items():
            label.set_text(fmt_int(fresh["today"].get(key)))
        fresh_hours = fresh["today_vs_yesterday"]["hours"]
        chart.options["series"][0]["data"] = [h["today"] for h in fresh_hours]
        chart.options["series"][1]["data"] = [h["yesterday"] for h in fresh_hours]
        chart.update()

    ui.timer(1.0, tick)
    ui.timer(REFRESH_S, refresh)
    return None
