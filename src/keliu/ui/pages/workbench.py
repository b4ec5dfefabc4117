"""工作台 Workbench (O10): the setup wizard for a new store (创建指引: store → devices → lines and
zones → hours → staff), where the API documentation is, and the release notes. Must not reach the store."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from nicegui import ui

from keliu import __version__
from keliu.ui.api import ApiError
from keliu.ui.shell import Page, login_redirect, tid

RELEASE_NOTES = {
    "zh": [
        "网页端：首页、接待台、报表、分析、门店概览与排行、客流速查、到访记录、智慧大屏、设置（中文/English）。",
        "服务：keliu serve 常驻运行，REST API、实时推送（SSE/WebSocket）、Webhook、设备管理。",
        "可信：录像按段处理可断点续跑，同一录像不重复计数；错误输入给出明确提示。",
    ],
    "en": [
        "Web UI: home, reception, reports, analysis, store overview and ranking, quick lookup, visits, "
        "big screen, settings (中文/English).",
        "Service: keliu serve runs always; REST API, live push (SSE/WebSocket), webhooks, device management.",
        "Trust: recorded footage is processed in resumable segments and never counted twice; "
        "bad input gets a clear message.",
    ],
}


@ui.page("/workbench", response_timeout=20)
async def workbench_page(request: Request) -> Any:
    page = await Page.open(request, "/workbench")
    if page is None:
        return login_redirect("/workbench")
    with page.frame("workbench.title", site_picker=False):
        with ui.card().classes("w-full shadow-sm").props(tid("wizard")):
            ui.label(page.t("workbench.wizard")).classes("text-base font-semibold")
            with ui.stepper().props("vertical flat").classes("w-full") as stepper:
                with ui.step(page.t("workbench.step.site")):
                    site_id = (
                        ui.input("ID", placeholder="store-001")
                        .props("dense outlined")
                        .props(tid("wizard-site-id"))
                    )
                    name = (
                        ui.input(page.t("common.name")).props("dense outlined").props(tid("wizard-site-name"))
                    )
                    timezone = ui.input("Time zone", value="Asia/Shanghai").props("dense outlined")

                    async def create() -> None:
                        try:
                            await page.api.send(
                                "POST",
                                "/sites",
                                {"id": site_id.value, "name": name.value, "timezone": timezone.value},
                            )
                        except ApiError as error:
                            page.notify_error(error)
                            return
                        ui.notify(page.t("common.saved"), type="positive")
                        stepper.next()

                    with ui.stepper_navigation():
                        ui.button(page.t("common.save"), on_click=create).props("unelevated").props(
                            tid("wizard-create")
                        )
                        ui.button("›", on_click=stepper.next).props("flat")
                for step, target in (
                    ("workbench.step.devices", "devices"),
                    ("workbench.step.lines", "devices"),
                    ("workbench.step.hours", "sites"),
                    ("workbench.step.staff", "staff"),
                ):
                    with ui.step(page.t(step)):
                        ui.button(
                            page.t("nav.settings") + " · " + page.t(step),
                            on_click=lambda tab=target: ui.navigate.to(
                                f"/settings?site={site_id.value or page.site_id}&tab={tab}"
                            ),
                        ).props("outline no-caps")
                        with ui.stepper_navigation():
                            ui.button("‹", on_click=stepper.previous).props("flat")
                            ui.button("›", on_click=stepper.next).props("flat")
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with ui.card().classes("w-full shadow-sm").props(tid("api-docs")):
                ui.label(page.t("workbench.api")).classes("text-base font-semibold")
                ui.link("/openapi.json", "/openapi.json", new_tab=True)
                ui.label("REST /api/v1 · SSE /api/v1/sites/{id}/live · WebSocket · Webhooks").classes(
                    "text-sm text-slate-500"
                )
                ui.label("docs/api.md").classes("text-sm text-slate-500")
            with ui.card().classes("w-full shadow-sm").props(tid("release-notes")):
                ui.label(f"{page.t('workbench.release')} · {__version__}").classes("text-base font-semibold")
                for line in RELEASE_NOTES[page.lang]:
                    ui.label("• " + line).classes("text-sm")
    return None
