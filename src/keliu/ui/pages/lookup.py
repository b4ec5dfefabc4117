"""客流速查 Quick lookup (A27): how many, when and where for any store and period in two clicks;
and 到访记录 the visits of a day (metadata only: time, entrance, batch, colours, category and its
reason) where a manager corrects a visit — staff, courier, not a customer, or back to customer —
with the reason logged and every figure updated (I8, 人工干预过滤). Must not reach the store."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import Request
from nicegui import ui

from keliu.ui import charts
from keliu.ui.api import ApiError
from keliu.ui.pages.home import chosen_day, local_today
from keliu.ui.pages.reception import colour_label, local_time
from keliu.ui.shell import Page, fmt_int, login_redirect, tid
from keliu.ui.widgets import stat

PRESETS = {
    "today": ("home.period.day", 0, 0),
    "yesterday": ("kpi.yesterday", 1, 1),
    "week": ("home.period.week", 6, 0),
    "month": ("home.period.month", 29, 0),
}
CORRECTIONS = ("customer", "staff", "courier", "not_customer")


@ui.page("/lookup", response_timeout=20)
async def lookup_page(request: Request) -> Any:
    page = await Page.open(request, "/lookup")
    if page is None:
        return login_redirect("/lookup")
    with page.frame("lookup.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        today = local_today(page)
        preset = page.query.get("period", "today") if page.query.get("period") in PRESETS else "today"
        _, back, end_back = PRESETS[preset]
        first, last = today - timedelta(days=back), today - timedelta(days=end_back)
        with ui.row().classes("gap-2"):
            for key, (label, _b, _e) in PRESETS.items():
                ui.button(page.t(label), on_click=lambda k=key: ui.navigate.to(page.url(period=k))).props(
                    "no-caps " + ("unelevated" if key == preset else "outline")
                ).props(tid(f"period-{key}"))
        span = {"from": first.isoformat(), "to": last.isoformat()}
        traffic = (await page.api.get(f"/sites/{page.site_id}/metrics/traffic", **span))["result"]
        by = "hour" if first == last else "day"
        trend = (await page.api.get(f"/sites/{page.site_id}/metrics/trend", **span, by=by))["result"]
        heat = (await page.api.get(f"/sites/{page.site_id}/metrics/entrance-heat", **span))["result"]
        with ui.card().classes("w-full shadow-sm").props(tid("lookup-how-many")):
            ui.label(page.t("lookup.how_many")).classes("text-base font-semibold")
            with ui.row().classes("gap-10"):
                stat(page.t("home.total"), fmt_int(traffic["entries"]))
                stat(page.t("home.deduplicated"), fmt_int(traffic["visits"]))
                stat(page.t("home.new"), fmt_int(traffic["new_visits"]))
                stat(page.t("home.returning"), fmt_int(traffic["returning_visits"]))
                stat(page.t("reception.batch"), fmt_int(traffic["batches"]))
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with ui.card().classes("w-full shadow-sm").props(tid("lookup-when")):
                ui.label(page.t("lookup.when")).classes("text-base font-semibold")
                points = trend["points"]
                charts.lines(
                    [p[0][-5:] if by == "hour" else p[0][5:] for p in points],
                    {page.t("home.total"): [p[1] for p in points]},
                    area=True,
                    mark="chart-when",
                )
            with ui.card().classes("w-full shadow-sm").props(tid("lookup-where")):
                ui.label(page.t("lookup.where")).classes("text-base font-semibold")
                rows = heat["entrances"][:15]
                charts.bars(
                    [r["name"] for r in rows],
                    {page.t("home.total"): [r["entries"] for r in rows]},
                    horizontal=True,
                    mark="chart-where",
                )
    return None


@ui.page("/visits", response_timeout=20)
async def visits_page(request: Request) -> Any:
    page = await Page.open(request, "/visits")
    if page is None:
        return login_redirect("/visits")
    with page.frame("visits.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        day: date = chosen_day(page)
        site_id, timezone = page.site_id, page.timezone
        with ui.row().classes("items-end gap-3"):
            picker = (
                ui.input(page.t("date.pick"), value=day.isoformat())
                .props("dense outlined type=date")
                .props(tid("day"))
            )
            ui.button(
                page.t("common.apply"), on_click=lambda: ui.navigate.to(page.url(day=picker.value))
            ).props("unelevated")
        offset = int(page.query.get("offset", "0") or 0)
        try:
            listing = await page.api.get(
                f"/sites/{site_id}/visits", day=day.isoformat(), limit=100, offset=offset
            )
        except ApiError as error:
            ui.label(error.message).classes("text-slate-500")
            return None
        may_correct = page.role in ("admin", "manager")

        async def correct(visit_id: str, category: str) -> None:
            with ui.dialog() as dialog, ui.card().classes("w-96"):
                ui.label(f"{page.t('visits.correct')}: {page.t('category.' + category)}").classes(
                    "font-semibold"
                )
                reason = (
                    ui.input(page.t("common.reason"))
                    .props("outlined autofocus")
                    .classes("w-full")
                    .props(tid("correct-reason"))
                )
                with ui.row():
                    ui.button(page.t("common.cancel"), on_click=lambda: dialog.submit(None)).props("flat")
                    ui.button(page.t("common.save"), on_click=lambda: dialog.submit(reason.value)).props(
                        "unelevated"
                    ).props(tid("correct-save"))
            text = await dialog
            if not text:
                return
            try:
                await page.api.send(
                    "PATCH", f"/sites/{site_id}/visits/{visit_id}", {"category": category, "reason": text}
                )
            except ApiError as error:
                page.notify_error(error)
                return
            ui.notify(page.t("common.saved"), type="positive")
            ui.navigate.reload()

        with ui.card().classes("w-full shadow-sm").props(tid("visits")):
            ui.label(f"{page.t('visits.title')} · {fmt_int(listing.get('total'))}").classes(
                "text-base font-semibold"
            )
            for v in listing["items"]:
                with ui.row().classes("w-full items-center gap-4 border-b py-2").props(tid("visit-row")):
                    arrived = v.get("arrived_at") or v.get("first_entry") or v.get("started_at")
                    ui.label(local_time(arrived, timezone) if arrived else "–").classes("tabular-nums w-20")
                    ui.label(v.get("entrance") or "–").classes("w-28 text-sm")
                    ui.label(f"{page.t('reception.batch')} {v.get('batch_size') or 1}").classes(
                        "w-20 text-sm"
                    )
                    colour = colour_label(page, v.get("upper_colour"))
                    ui.label(f"{page.t('reception.upper')} {colour}").classes("text-sm w-20")
                    colour = colour_label(page, v.get("lower_colour"))
                    ui.label(f"{page.t('reception.lower')} {colour}").classes("text-sm w-20")
                    category = v.get("category", "customer")
                    key = f"category.{category}"
                    ui.badge(
                        page.t(key) if key in _known() else category,
                        color="blue" if category == "customer" else "grey",
                    ).props(tid("visit-category"))
                    if v.get("corrected"):
                        ui.badge(page.t("visits.corrected"), color="amber")
                    ui.label(v.get("reason") or "").classes("text-xs text-slate-500 flex-1")
                    if may_correct:
                        with (
                            ui.button(page.t("visits.correct"), icon="edit")
                            .props("flat dense no-caps")
                            .props(tid("visit-correct")),
                            ui.menu(),
                        ):
                            for c in CORRECTIONS:
                                if c != category:
                                    ui.menu_item(
                                        page.t(f"category.{c}"),
                                        on_click=lambda _, vid=v["visit_id"], cc=c: correct(vid, cc),
                                    ).props(tid(f"correct-{c}"))
            with ui.row():
                if offset > 0:
                    ui.button(
                        "‹", on_click=lambda: ui.navigate.to(page.url(offset=max(0, offset - 100)))
                    ).props("flat")
                if offset + 100 < (listing.get("total") or 0):
                    ui.button("›", on_click=lambda: ui.navigate.to(page.url(offset=offset + 100))).props(
                        "flat"
                    )
    return None


def _known() -> set[str]:
    from keliu.ui.i18n import TEXTS

    return set(TEXTS)
