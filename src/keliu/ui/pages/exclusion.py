"""设置 › 排除类别 Exclusion classes (无效客流: couriers, delivery riders, uniformed staff of a
neighbour): the classes that apply to the store, switched on and off (a global class for this store
only), and the store's own classes created and removed with a clothing-colour rule (上装/下装
colours, optional longest stay). Global classes themselves and exemplar pictures are managed with
``keliu exclusion`` (no picture goes through the web).
Every change reaches the store's running resolver before its next sighting. Must not reach the store."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from keliu.ui.shell import Page, tid
from keliu.ui.widgets import send_and_reload


def rule_text(page: Page, rule: dict[str, Any] | None) -> str:
    if not rule:
        return page.t("exclusion.exemplars_only")
    upper = "/".join(page.t(f"colour.{c}") for c in rule["upper_colours"])
    lower = "/".join(page.t(f"colour.{c}") for c in rule["lower_colours"]) or page.t("exclusion.any")
    text = f"{page.t('reception.upper')} {upper} · {page.t('reception.lower')} {lower}"
    if rule.get("max_stay_s"):
        text += f" · ≤ {rule['max_stay_s'] / 60:.0f} {page.t('exclusion.minutes')}"
    return text


async def exclusion_tab(page: Page) -> None:
    answer = await page.api.get(f"/sites/{page.site_id}/exclusion-classes", limit=500)
    colours = {c: page.t(f"colour.{c}") for c in answer.get("colours", [])}
    base = f"/sites/{page.site_id}/exclusion-classes"

    async def change(path: str, method: str, body: dict[str, Any] | None) -> None:
        await send_and_reload(page, method, path, body, tab="exclusion")

    with ui.card().classes("w-full shadow-sm").props(tid("exclusion-classes")):
        ui.label(page.t("settings.exclusion")).classes("text-base font-semibold")
        ui.label(page.t("exclusion.hint")).classes("text-xs text-slate-500")
        for c in answer["items"]:
            own = c.get("scope") == "site"
            with ui.row().classes("w-full items-center gap-3 border-b py-2").props(tid("exclusion-row")):
                ui.switch(value=bool(c.get("enabled"))).on_value_change(  # a global one: for this store
                    lambda e, cid=c["id"]: change(f"{base}/{cid}", "PATCH", {"enabled": bool(e.value)})
                ).props(tid("exclusion-switch"))
                with ui.column().classes("gap-0 flex-1"):
                    ui.label(f"{c.get('name') or c['id']}").classes("font-medium")
                    ui.label(f"{c['id']} · {rule_text(page, c.get('colour_rule'))}").classes(
                        "text-xs text-slate-500"
                    )
                ui.badge(
                    page.t("exclusion.own") if own else page.t("exclusion.global"),
                    color="primary" if own else "grey",
                )
                if own:
                    ui.button(
                        icon="delete", on_click=lambda cid=c["id"]: change(f"{base}/{cid}", "DELETE", None)
                    ).props("flat dense round").props(tid("exclusion-remove"))
    if page.role not in ("admin", "manager"):
        return
    with ui.card().classes("w-full shadow-sm").props(tid("exclusion-new")):
        ui.label(page.t("exclusion.new")).classes("text-base font-semibold")
        with ui.row().classes("items-end gap-3 flex-wrap"):
            new_id = (
                ui.input("ID", placeholder="courier:sf").props("dense outlined").props(tid("exclusion-id"))
            )
            name = ui.input(page.t("common.name")).props("dense outlined").props(tid("exclusion-name"))
            upper = (
                ui.select(colours, multiple=True, label=page.t("reception.upper"))
                .props("dense outlined use-chips")
                .classes("min-w-40")
                .props(tid("exclusion-upper"))
            )
            lower = (
                ui.select(colours, multiple=True, label=page.t("reception.lower"))
                .props("dense outlined use-chips")
                .classes("min-w-40")
                .props(tid("exclusion-lower"))
            )
            stay = (
                ui.number(page.t("exclusion.max_stay"), min=1, max=1440, format="%d")
                .props("dense outlined")
                .classes("w-36")
            )

            async def create() -> None:
                body = {
                    "id": (new_id.value or "").strip(),
                    "name": (name.value or "").strip(),
                    "colour_rule": {
                        "upper_colours": list(upper.value or []),
                        "lower_colours": list(lower.value or []),
                        "max_stay_s": None if not stay.value else float(stay.value) * 60,
                    },
                }
                await change(base, "POST", body)

            ui.button(page.t("common.add"), on_click=create).props("unelevated").props(tid("exclusion-add"))
