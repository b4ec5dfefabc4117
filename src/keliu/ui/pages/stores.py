"""门店概览 / 门店排行 Multi-store (A20): the chain's totals and comparisons (overview), and every
store ranked with its comparison against all stores, the same type and the top store, ordered by the
organisation's weights where the API orders so (ranking). Must not reach the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from nicegui import ui

from keliu.ui import charts
from keliu.ui.pages.home import chosen_day
from keliu.ui.shell import Page, fmt_int, fmt_pct, fmt_signed_pct, login_redirect, tid
from keliu.ui.widgets import stat, table


async def chain(page: Page) -> tuple[str, str, dict[str, Any]]:
    last = chosen_day(page) - timedelta(days=1) if "to" not in page.query else chosen_day(page)
    first = page.query.get("from", (last - timedelta(days=6)).isoformat())
    to = page.query.get("to", last.isoformat())
    result = (await page.api.get("/metrics/multi-store", **{"from": first, "to": to}))["result"]
    return first, to, result


def period_picker(page: Page, first: str, last: str) -> None:
    with ui.row().classes("items-end gap-3"):
        f = ui.input(page.t("date.from"), value=first).props("dense outlined type=date").props(tid("from"))
        t = ui.input(page.t("date.to"), value=last).props("dense outlined type=date").props(tid("to"))
        ui.button(
            page.t("common.apply"),
            on_click=lambda: ui.navigate.to(page.url(**{"from": f.value, "to": t.value})),
        ).props("unelevated").props(tid("apply"))


def ranking_rows(page: Page, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "rank": r["rank"],
            "name": r["name"],
            "type": r.get("store_type") or "",
            "value": fmt_int(r["value"]),
            "change": fmt_signed_pct(r.get("change")),
            "share": fmt_pct(r.get("share")),
            "vs_all": fmt_signed_pct(r.get("vs_all")),
            "vs_type": fmt_signed_pct(r.get("vs_type")),
            "vs_top": fmt_pct(r.get("vs_top")),
        }
        for r in rows
    ]


@ui.page("/stores", response_timeout=30)
async def stores_page(request: Request) -> Any:
    page = await Page.open(request, "/stores")
    if page is None:
        return login_redirect("/stores")
    with page.frame("stores.title", site_picker=False):
        if page.role != "admin":
            ui.label(page.t("stores.admin_only")).classes("text-slate-500").props(tid("chain-admin-only"))
            return None
        first, last, result = await chain(page)
        ranking = result.get("ranking") or []
        overview = result.get("overview")
        with ui.row().classes("w-full items-center"):
            ui.label(page.t("stores.title")).classes("text-xl font-semibold")
            ui.space()
            period_picker(page, first, last)
        total = sum(r["value"] for r in ranking)
        with ui.card().classes("w-full shadow-sm").props(tid("chain-totals")), ui.row().classes("gap-10"):
            stat(page.t("stores.count"), str(len(ranking)))
            stat(page.t("home.total"), fmt_int(total))
            if isinstance(overview, dict):
                for key, value in overview.items():
                    if isinstance(value, int | float) and key not in ("stores",):
                        stat(key, fmt_int(value) if abs(value) >= 10 else f"{value:.3f}")
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with ui.card().classes("w-full shadow-sm"):
                ui.label(page.t("common.share")).classes("text-base font-semibold")
                charts.donut([(r["name"], r["value"]) for r in ranking], mark="chart-share")
            with ui.card().classes("w-full shadow-sm"):
                ui.label(page.t("common.change")).classes("text-base font-semibold")
                charts.bars(
                    [r["name"] for r in ranking],
                    {
                        page.t("stores.vs_all"): [round((r.get("vs_all") or 0) * 100, 1) for r in ranking],
                        page.t("stores.vs_type"): [round((r.get("vs_type") or 0) * 100, 1) for r in ranking],
                    },
                    mark="chart-compare",
                )
        with ui.grid(columns="repeat(auto-fill, minmax(260px, 1fr))").classes("w-full gap-4"):
            for r in ranking[:24]:
                with (
                    ui.card()
                    .classes("shadow-sm cursor-pointer")
                    .on("click", lambda sid=r["site_id"]: ui.navigate.to(f"/?site={sid}"))
                    .props(tid("store-card"))
                ):
                    ui.label(r["name"]).classes("font-semibold")
                    with ui.row().classes("gap-6"):
                        stat(page.t("home.total"), fmt_int(r["value"]), r.get("change"))
                        stat(page.t("common.share"), fmt_pct(r.get("share")))
    return None


@ui.page("/ranking", response_timeout=30)
async def ranking_page(request: Request) -> Any:
    page = await Page.open(request, "/ranking")
    if page is None:
        return login_redirect("/ranking")
    with page.frame("stores.ranking", site_picker=False):
        if page.role != "admin":
            ui.label(page.t("stores.admin_only")).classes("text-slate-500").props(tid("chain-admin-only"))
            return None
        first, last, result = await chain(page)
        ranking = result.get("ranking") or []
        with ui.row().classes("w-full items-center"):
            ui.label(page.t("stores.ranking")).classes("text-xl font-semibold")
            ui.space()
            period_picker(page, first, last)
        with ui.card().classes("w-full shadow-sm"):
            top = ranking[:30]
            charts.bars(
                [r["name"] for r in top],
                {page.t("home.total"): [r["value"] for r in top]},
                horizontal=True,
                height="h-96",
                mark="chart-ranking",
            )
        with ui.card().classes("w-full shadow-sm"):
            table(
                [
                    ("rank", page.t("stores.rank")),
                    ("name", page.t("stores.store")),
                    ("type", page.t("stores.type")),
                    ("value", page.t("home.total")),
                    ("change", page.t("kpi.mom")),
                    ("share", page.t("common.share")),
                    ("vs_all", page.t("stores.vs_all")),
                    ("vs_type", page.t("stores.vs_type")),
                    ("vs_top", page.t("stores.vs_top")),
                ],
                ranking_rows(page, ranking),
                mark="table-ranking",
                page_size=20,
            )
    return None
