"""登录 Sign-in and 我的账户 account (change password). Signing in is the API's own
``POST /api/v1/auth/login`` called by the browser, so throttling, audit and the session cookie are
exactly the API's. Must not reach the store."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from nicegui import ui

from keliu.ui.api import ApiError
from keliu.ui.i18n import LANG_COOKIE, Lang, t
from keliu.ui.shell import BRAND, Page, login_redirect, switch_language_js, tid


@ui.page("/login")
def login_page(request: Request, next: str = "/") -> None:
    lang: Lang = "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    ui.page_title(f"{t('login.title', lang)} · keliu")
    ui.colors(primary=BRAND)
    ui.query("body").classes("bg-gradient-to-br from-blue-50 to-slate-100")
    with ui.column().classes("w-full min-h-screen items-center justify-center"):
        with ui.card().classes("w-96 max-w-[92vw] p-6 shadow-lg gap-4"):
            ui.label(t("app.name", lang)).classes("text-2xl font-bold text-primary")
            ui.label(t("app.tagline", lang)).classes("text-sm text-slate-500")
            username = (
                ui.input(t("login.username", lang))
                .props("outlined autofocus")
                .classes("w-full")
                .props(tid("username"))
            )
            password = (
                ui.input(t("login.password", lang), password=True)
                .props("outlined")
                .classes("w-full")
                .props(tid("password"))
            )
            message = ui.label().classes("text-sm text-rose-600").props(tid("login-message"))

            async def submit() -> None:
                body = json.dumps({"username": username.value or "", "password": password.value or ""})
                result = await ui.run_javascript(
                    "const r = await fetch('/api/v1/auth/login', {method: 'POST', headers: {'content-type': "
                    f"'application/json'}}, body: {json.dumps(body)}}});"
                    "const j = await r.json().catch(() => ({}));"
                    "return {ok: r.ok, message: (j.error || {}).message || ''};",
                    timeout=30,
                )
                if result.get("ok"):
                    ui.navigate.to(target)
                else:
                    message.set_text(f"{t('login.failed', lang)}: {result.get('message', '')}")

            password.on("keydown.enter", submit)
            ui.button(t("login.submit", lang), on_click=submit).props("unelevated").classes("w-full").props(
                tid("login")
            )
            other: Lang = "en" if lang == "zh" else "zh"
            ui.button(
                t("lang.switch", lang),
                on_click=lambda: ui.run_javascript(switch_language_js(other)),
            ).props("flat dense no-caps").props(tid("lang-switch"))


@ui.page("/account")
async def account_page(request: Request) -> Any:
    page = await Page.open(request, "/account")
    if page is None:
        return login_redirect("/account")
    with page.frame("account.title", site_picker=False):
        with ui.card().classes("w-full max-w-xl shadow-sm"):
            ui.label(page.user["display_name"]).classes("text-lg font-semibold")
            ui.label(f"{page.t('login.username')}: {page.user['username']}")
            ui.label(f"{page.t('account.role')}: {page.t('role.' + page.role)}")
            ui.label(f"{page.t('account.sites')}: " + ", ".join(s["name"] for s in page.sites))
        with ui.card().classes("w-full max-w-xl shadow-sm"):
            ui.label(page.t("account.change_password")).classes("text-base font-semibold")
            current = (
                ui.input(page.t("account.current"), password=True)
                .props("outlined")
                .classes("w-full")
                .props(tid("current-password"))
            )
            new = (
                ui.input(page.t("account.new"), password=True)
                .props("outlined")
                .classes("w-full")
                .props(tid("new-password"))
            )

            async def change() -> None:
                try:
                    await page.api.send(
                        "POST",
                        "/auth/password",
                        {"current_password": current.value, "new_password": new.value},
                    )
                except ApiError as error:
                    page.notify_error(error)
                    return
                ui.notify(page.t("account.changed"), type="positive")
                ui.navigate.to("/login")

            ui.button(page.t("common.save"), on_click=change).props("unelevated").props(
                tid("change-password")
            )
    return None
