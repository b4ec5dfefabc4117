"""客流报表 Reports (A14): the day/week/month/year/custom report of a site — or of one of its
entrance groups (位置 location) — shown in the page and downloadable as HTML, XLSX or CSV, and the
exports (数据导出). Both are the API's own files, fetched
by the browser with the user's session. Must not reach the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from nicegui import ui

from keliu.ui.pages.home import chosen_day
from keliu.ui.shell import Page, login_redirect, tid

KINDS = {
    "day": "reports.daily",
    "week": "reports.weekly",
    "month": "reports.monthly",
    "year": "reports.yearly",
    "custom": "reports.custom",
}


WHOLE_SITE = ""  # the location select's value for the whole site


def report_url(
    page: Page,
    kind: str,
    fmt: str,
    day: str,
    first: str,
    last: str,
    location: str = WHOLE_SITE,
    *,
    preview: bool = False,
) -> str:
    """The API's report file; ``location``: an entrance group's report; ``preview``: an HTML report
    shown in the page rather than downloaded."""
    params = {"from": first, "to": last} if kind == "custom" else {"day": day}
    inline = {"inline": "true"} if fmt == "html" and preview else {}
    place = {"location": location} if location else {}
    return f"/api/v1/sites/{page.site_id}/reports/{kind}?" + urlencode(
        {**params, "format": fmt, "lang": page.lang, **place, **inline}
    )


async def entrance_groups(page: Page) -> list[str]:
    """The site's entrance groups (出入口组), the locations a report can be made for."""
    data = await page.api.get(f"/sites/{page.site_id}/entrances")
    return sorted({e["group"] for e in data["entrances"] if e.get("group")})


@ui.page("/reports", response_timeout=20)
async def reports_page(request: Request) -> Any:
    page = await Page.open(request, "/reports")
    if page is None:
        return login_redirect("/reports")
    with page.frame("reports.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        day = chosen_day(page) - timedelta(days=1) if "day" not in page.query else chosen_day(page)
        kind = page.query.get("kind", "day") if page.query.get("kind") in KINDS else "day"
        first = page.query.get("from", (day - timedelta(days=6)).isoformat())
        last = page.query.get("to", day.isoformat())
        groups = await entrance_groups(page)
        location = page.query.get("location", WHOLE_SITE)
        location = location if location in groups else WHOLE_SITE
        with ui.card().classes("w-full shadow-sm"):
            with ui.row().classes("w-full items-end gap-3 flex-wrap"):
                kind_select = (
                    ui.select(
                        {k: page.t(v) for k, v in KINDS.items()}, value=kind, label=page.t("reports.kind")
                    )
                    .props("dense outlined")
                    .classes("min-w-32")
                    .props(tid("report-kind"))
                )
                day_input = (
                    ui.input(page.t("date.pick"), value=day.isoformat())
                    .props("dense outlined type=date")
                    .props(tid("report-day"))
                )
                from_input = (
                    ui.input(page.t("date.from"), value=first)
                    .props("dense outlined type=date")
                    .props(tid("report-from"))
                )
                to_input = (
                    ui.input(page.t("date.to"), value=last)
                    .props("dense outlined type=date")
                    .props(tid("report-to"))
                )
                location_select = (
                    ui.select(
                        {WHOLE_SITE: page.t("reports.whole_site"), **{g: g for g in groups}},
                        value=location,
                        label=page.t("reports.location"),
                    )
                    .props("dense outlined")
                    .classes("min-w-32")
                    .props(tid("report-location"))
                )
                day_input.bind_visibility_from(kind_select, "value", backward=lambda v: v != "custom")
                from_input.bind_visibility_from(kind_select, "value", backward=lambda v: v == "custom")
                to_input.bind_visibility_from(kind_select, "value", backward=lambda v: v == "custom")
                ui.button(
                    page.t("common.apply"),
                    on_click=lambda: ui.navigate.to(
                        page.url(
                            kind=kind_select.value,
                            day=day_input.value,
                            location=location_select.value,
                            **{"from": from_input.value, "to": to_input.value},
                        )
                    ),
                ).props("unelevated").props(tid("report-apply"))
                ui.space()
                for kind_format in ("html", "xlsx", "csv"):
                    ui.button(
                        f"{page.t('common.download')} {kind_format.upper()}",
                        icon="download",
                        on_click=lambda f=kind_format: ui.download.from_url(
                            report_url(
                                page,
                                kind_select.value,
                                f,
                                day_input.value,
                                from_input.value,
                                to_input.value,
                                location_select.value,
                            )
                        ),
                    ).props("outline dense no-caps").props(tid(f"download-{kind_format}"))
        if page.role == "staff":
            ui.label(page.t("common.none")).classes("text-slate-500")
        else:
            preview_url = report_url(page, kind, "html", day.isoformat(), first, last, location, preview=True)
            with ui.card().classes("w-full shadow-sm p-0 overflow-hidden").props(tid("report-preview")):
                ui.element("iframe").props(
                    f'src="{preview_url}" '
                    'title="report"'
                ).classes("w-full border-0").style("height: 75vh")
            with ui.card().classes("w-full shadow-sm").props(tid("exports")):
                ui.label(page.t("reports.exports")).classes("text-base font-semibold")
                with ui.row().classes("items-end gap-3 flex-wrap"):
                    what = (
                        ui.select(
                            {
                                "traffic": page.t("home.total"),
                                "attributes": page.t("home.profile"),
                                "locations": page.t("settings.locations"),
                            },
                            value="traffic",
                            label=page.t("reports.export_kind"),
                        )
                        .props("dense outlined")
                        .classes("min-w-32")
                        .props(tid("export-what"))
                    )
                    ex_from = ui.input(page.t("date.from"), value=first).props("dense outlined type=date")
                    ex_to = ui.input(page.t("date.to"), value=last).props("dense outlined type=date")
                    by = ui.select(
                        {"hour": page.t("by.hour"), "day": page.t("by.day")},
                        value="day",
                        label=page.t("reports.by"),
                    ).props("dense outlined")
                    fmt = ui.select(
                        {"csv": "CSV", "xlsx": "XLSX"}, value="xlsx", label=page.t("reports.format")
                    ).props("dense outlined")

                    def export() -> None:
                        params = {"from": ex_from.value, "to": ex_to.value, "format": fmt.value}
                        if what.value == "traffic":
                            params["by"] = by.value
                        ui.download.from_url(
                            f"/api/v1/sites/{page.site_id}/exports/{what.value}?" + urlencode(params)
                        )

                    ui.button(page.t("common.download"), icon="download", on_click=export).props(
                        "unelevated"
                    ).props(tid("export"))
    return None
