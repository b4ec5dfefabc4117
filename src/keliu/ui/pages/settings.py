"""设置 Settings: stores (hours, de-dup window, business week), locations (entrances, floors,
zones, shops: ``locations.py``), devices with live status and a snapshot on which door lines,
pass-by lines and zones are drawn with the mouse (``drawing.py``; the snapshot is held in the
page's memory only, never stored), staff and the staff-suggestion inbox, exclusion classes
(``exclusion.py``), message rules and the messages they fired (``messages.py``), users and roles,
webhooks, the audit log and the privacy page.

Every change is an API call as the signed-in user (managers: their stores; administrators: all).
Must not reach the store."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from nicegui import ui

from keliu.ui.api import ApiError
from keliu.ui.pages.drawing import draw_on_snapshot
from keliu.ui.pages.exclusion import exclusion_tab
from keliu.ui.pages.locations import locations_tab
from keliu.ui.pages.messages import message_rules_tab
from keliu.ui.shell import Page, fmt_int, login_redirect, tid
from keliu.ui.widgets import table

TABS = (
    "sites",
    "locations",
    "devices",
    "staff",
    "exclusion",
    "messages",
    "users",
    "webhooks",
    "audit",
    "privacy",
)


async def sites_tab(page: Page) -> None:
    site = await page.api.get(f"/sites/{page.site_id}")
    hours = {h["weekday"]: h for h in site["hours"]}
    with ui.card().classes("w-full shadow-sm").props(tid("site-settings")):
        ui.label(site["name"]).classes("text-base font-semibold")
        dedup = (
            ui.number(
                page.t("settings.dedup"),
                value=round(site["dedup_window_s"] / 3600, 2),
                min=0,
                max=168,
                step=0.5,
            )
            .props("dense outlined")
            .classes("w-56")
            .props(tid("dedup"))
        )
        week_start = (
            ui.select(
                {i: page.t(f"weekday.{i}") for i in range(7)},
                value=site["week_start"],
                label=page.t("settings.week_start"),
            )
            .props("dense outlined")
            .classes("w-56")
        )
        ui.label(page.t("settings.hours")).classes("text-sm font-semibold mt-2")
        rows: list[tuple[int, ui.checkbox, ui.input, ui.input]] = []
        for weekday in range(7):
            h = hours.get(weekday)
            with ui.row().classes("items-center gap-3"):
                ui.label(page.t(f"weekday.{weekday}")).classes("w-12")
                open_box = ui.checkbox(value=h is not None or not hours)
                opens = (
                    ui.input(page.t("settings.opens"), value=h["opens"] if h else "10:00")
                    .props("dense outlined type=time")
                    .classes("w-32")
                )
                closes = (
                    ui.input(page.t("settings.closes"), value=h["closes"] if h else "22:00")
                    .props("dense outlined type=time")
                    .classes("w-32")
                )
                rows.append((weekday, open_box, opens, closes))

        async def save() -> None:
            body = {
                "dedup_window_s": float(dedup.value or 0) * 3600,
                "week_start": int(week_start.value),
                "hours": [
                    {"weekday": w, "opens": o.value, "closes": c.value} for w, box, o, c in rows if box.value
                ],
            }
            try:
                await page.api.send("PATCH", f"/sites/{page.site_id}", body)
            except ApiError as error:
                page.notify_error(error)
                return
            ui.notify(page.t("common.saved"), type="positive")

        ui.button(page.t("common.save"), on_click=save).props("unelevated").props(tid("site-save"))


async def devices_tab(page: Page) -> None:
    devices = (await page.api.get(f"/sites/{page.site_id}/devices"))["items"]
    with ui.card().classes("w-full shadow-sm").props(tid("devices")):
        ui.label(page.t("settings.devices")).classes("text-base font-semibold")
        for d in devices:
            status = d.get("status") or {}
            with ui.row().classes("w-full items-center gap-4 border-b py-2").props(tid("device-row")):
                ui.icon("videocam", color="green" if status.get("online") else "grey")
                ui.label(d.get("name") or d["id"]).classes("font-medium w-40")
                ui.badge(
                    page.t("common.online") if status.get("online") else page.t("common.offline"),
                    color="green" if status.get("online") else "grey",
                )
                ui.label(f"{page.t('settings.fps')} {status.get('fps', 0):.1f}").classes("text-sm w-24")
                ui.label(
                    f"{page.t('settings.lines')}: "
                    + (", ".join(line["id"] for line in d.get("lines") or []) or "–")
                    + f" · {page.t('drawing.mode.zone')}: "
                    + (", ".join(zone["id"] for zone in d.get("zones") or []) or "–")
                ).classes("text-sm flex-1")
                if d.get("managed_by") == "api" and page.role in ("admin", "manager"):
                    ui.button(
                        page.t("settings.snapshot"),
                        icon="draw",
                        on_click=lambda dev=d: draw_on_snapshot(page, dev),
                    ).props("outline dense no-caps").props(tid("device-draw"))
    if page.role in ("admin", "manager"):
        with ui.card().classes("w-full shadow-sm"):
            ui.label(page.t("common.add")).classes("text-base font-semibold")
            with ui.row().classes("items-end gap-3 flex-wrap"):
                new_id = ui.input("ID").props("dense outlined").props(tid("device-id"))
                new_name = ui.input(page.t("common.name")).props("dense outlined")
                new_source = (
                    ui.input(page.t("settings.source"), placeholder="rtsp://…")
                    .props("dense outlined")
                    .classes("min-w-72")
                    .props(tid("device-source"))
                )

                async def add() -> None:
                    body = {
                        "id": new_id.value,
                        "source": new_source.value,
                        **({"name": new_name.value} if new_name.value else {}),
                    }
                    try:
                        await page.api.send("POST", f"/sites/{page.site_id}/devices", body)
                    except ApiError as error:
                        page.notify_error(error)
                        return
                    ui.navigate.to(page.url(tab="devices"))

                ui.button(page.t("common.add"), on_click=add).props("unelevated").props(tid("device-add"))


async def staff_tab(page: Page) -> None:
    staff = (await page.api.get(f"/sites/{page.site_id}/staff", limit=500))["items"]
    with ui.card().classes("w-full shadow-sm"):
        ui.label(page.t("settings.staff")).classes("text-base font-semibold")
        table([("id", "ID"), ("name", page.t("common.name")), ("signatures", "#")], staff, mark="table-staff")
    suggestions = (await page.api.get(f"/sites/{page.site_id}/staff-suggestions"))["items"]
    with ui.card().classes("w-full shadow-sm").props(tid("suggestions")):
        ui.label(page.t("settings.suggestions")).classes("text-base font-semibold")
        if not suggestions:
            ui.label(page.t("common.none")).classes("text-slate-500")
        for s in suggestions:
            with ui.row().classes("w-full items-center gap-4 border-b py-2"):
                ui.label(s["day"]).classes("w-28")
                ui.label(f"{s['share'] * 100:.0f}%").classes("w-16")
                ui.label(", ".join(s["reasons"])).classes("text-sm flex-1")

                async def decide(sug: dict[str, Any] = s, confirm: bool = True) -> None:
                    action = "confirm" if confirm else "dismiss"
                    try:
                        await page.api.send(
                            "POST",
                            f"/sites/{page.site_id}/staff-suggestions/{sug['person_key']}/{sug['day']}/{action}",
                            {} if confirm else None,
                        )
                    except ApiError as error:
                        page.notify_error(error)
                        return
                    ui.navigate.to(page.url(tab="staff"))

                if s.get("can_confirm"):
                    ui.button(page.t("common.yes"), on_click=lambda sug=s: decide(sug, True)).props(
                        "unelevated dense"
                    )
                ui.button(page.t("common.no"), on_click=lambda sug=s: decide(sug, False)).props("flat dense")


async def users_tab(page: Page) -> None:
    if page.role != "admin":
        ui.label(page.t("common.none"))
        return
    users = (await page.api.get("/users", limit=500))["items"]
    with ui.card().classes("w-full shadow-sm"):
        ui.label(page.t("settings.users")).classes("text-base font-semibold")
        table(
            [
                ("username", page.t("login.username")),
                ("display_name", page.t("common.name")),
                ("role", page.t("settings.role")),
                ("sites", page.t("account.sites")),
            ],
            [{**u, "role": page.t("role." + u["role"]), "sites": ", ".join(u["sites"])} for u in users],
            mark="table-users",
        )
        with ui.row().classes("items-end gap-3 flex-wrap"):
            username = ui.input(page.t("login.username")).props("dense outlined")
            display = ui.input(page.t("common.name")).props("dense outlined")
            password = ui.input(page.t("login.password"), password=True).props("dense outlined")
            role = ui.select(
                {r: page.t("role." + r) for r in ("admin", "manager", "staff")},
                value="staff",
                label=page.t("settings.role"),
            ).props("dense outlined")
            sites = (
                ui.select(
                    {s["id"]: s["name"] for s in page.sites},
                    multiple=True,
                    value=[],
                    label=page.t("account.sites"),
                )
                .props("dense outlined use-chips")
                .classes("min-w-48")
            )

            async def create() -> None:
                body = {
                    "username": username.value,
                    "display_name": display.value or username.value,
                    "password": password.value,
                    "role": role.value,
                    "sites": sites.value,
                }
                try:
                    await page.api.send("POST", "/users", body)
                except ApiError as error:
                    page.notify_error(error)
                    return
                ui.navigate.to(page.url(tab="users"))

            ui.button(page.t("common.add"), on_click=create).props("unelevated").props(tid("user-add"))


async def webhooks_tab(page: Page) -> None:
    hooks = (await page.api.get("/webhooks", site_id=page.site_id, limit=200))["items"]
    with ui.card().classes("w-full shadow-sm"):
        ui.label(page.t("settings.webhooks")).classes("text-base font-semibold")
        table(
            [
                ("id", "ID"),
                ("url", page.t("settings.url")),
                ("events", page.t("settings.events")),
                ("status", page.t("common.status")),
            ],
            [
                {
                    "id": h.get("id"),
                    "url": h.get("url"),
                    "events": ", ".join(h.get("events") or []),
                    "status": h.get("status") or ("paused" if h.get("paused") else "active"),
                }
                for h in hooks
            ],
            mark="table-webhooks",
        )


async def audit_tab(page: Page) -> None:
    if page.role != "admin":
        ui.label(page.t("common.none"))
        return
    entries = (await page.api.get("/audit", limit=200))["items"]
    with ui.card().classes("w-full shadow-sm"):
        ui.label(page.t("settings.audit")).classes("text-base font-semibold")
        table(
            [
                ("at", page.t("common.time")),
                ("username", page.t("settings.by")),
                ("action", page.t("settings.action")),
                ("site_id", page.t("stores.store")),
                ("target", page.t("settings.target")),
            ],
            [{k: str(v)[:19] if k == "at" else v for k, v in e.items()} for e in entries],
            mark="table-audit",
            page_size=20,
        )


async def privacy_tab(page: Page) -> None:
    with ui.card().classes("w-full shadow-sm").props(tid("privacy")):
        ui.label(page.t("privacy.title")).classes("text-base font-semibold")
        ui.label(page.t("privacy.never")).classes("text-sm")
        try:
            info = await page.api.get("/privacy")
        except ApiError as error:
            ui.label(error.message).classes("text-slate-500")
            return
        for key, value in info.items():
            if not isinstance(value, dict | list):
                ui.label(f"{key}: {value}").classes("text-sm text-slate-600")
        if page.role == "admin":

            async def purge() -> None:
                try:
                    result = await page.api.send("POST", "/privacy/purge", {})
                except ApiError as error:
                    page.notify_error(error)
                    return
                ui.notify(
                    f"{page.t('privacy.purged')}: {fmt_int((result or {}).get('removed', 0))}",
                    type="positive",
                )

            ui.button(page.t("privacy.purge"), icon="delete_sweep", on_click=purge).props("outline").props(
                tid("privacy-purge")
            )


@ui.page("/settings", response_timeout=20)
async def settings_page(request: Request) -> Any:
    page = await Page.open(request, "/settings")
    if page is None:
        return login_redirect("/settings")
    with page.frame("settings.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        chosen = str(page.query.get("tab")) if page.query.get("tab") in TABS else "sites"

        def choose_tab(event: Any) -> None:
            if event.value != chosen:  # the tabs settling on the page's own tab is no choice
                ui.navigate.to(page.url(tab=event.value))

        with (
            ui.tabs(value=chosen, on_change=choose_tab)  # type: ignore[arg-type]  # a tab's name selects it
            .props("dense align=left inline-label")
            .classes("w-full bg-white")
        ):
            for name in TABS:
                ui.tab(name, page.t(f"settings.{name}")).props(tid(f"tab-{name}"))
        render = {
            "sites": sites_tab,
            "locations": locations_tab,
            "devices": devices_tab,
            "staff": staff_tab,
            "exclusion": exclusion_tab,
            "messages": message_rules_tab,
            "users": users_tab,
            "webhooks": webhooks_tab,
            "audit": audit_tab,
            "privacy": privacy_tab,
        }[chosen]
        try:
            await render(page)
        except ApiError as error:
            ui.label(error.message).classes("text-slate-500").props(tid("settings-error"))
    return None
