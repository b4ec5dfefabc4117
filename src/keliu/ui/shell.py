"""What every page of the web UI shares: who is signed in (``Page``), the frame (header, site
picker, language switch, navigation) and the number formats.

A page builder starts with ``page = await Page.open(request, path)``; ``None`` means nobody is signed
in (the builder answers ``login_redirect``). ``page.t(key)`` is the translation in the user's
language, ``page.api`` the REST API as that user. Must not reach the store directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from keliu.ui.api import Api, ApiError
from keliu.ui.i18n import LANG_COOKIE, Lang, t

__all__ = ["NAV", "Page", "card", "fmt_int", "fmt_pct", "fmt_signed_pct", "login_redirect", "tid"]

BRAND = "#1d4ed8"

# (path, text key, icon, roles that see it; None = every role, site-scoped pages take ?site=)
NAV: list[tuple[str, list[tuple[str, str, str, tuple[str, ...] | None]]]] = [
    (
        "nav.section.business",
        [
            ("/", "nav.home", "dashboard", None),
            ("/reception", "nav.reception", "support_agent", None),
            ("/reports", "nav.reports", "description", None),
            ("/analysis", "nav.analysis", "insights", None),
            ("/lookup", "nav.lookup", "manage_search", None),
            ("/visits", "nav.visits", "list_alt", None),
        ],
    ),
    (
        "nav.section.chain",
        [
            (
                "/stores",
                "nav.stores",
                "storefront",
                ("admin",),
            ),  # chain figures: administrators (the API's rule)
            ("/ranking", "nav.ranking", "leaderboard", ("admin",)),
            ("/bigscreen", "nav.bigscreen", "tv", None),
        ],
    ),
    (
        "nav.section.system",
        [
            ("/workbench", "nav.workbench", "construction", ("admin", "manager")),
            ("/settings", "nav.settings", "settings", ("admin", "manager")),
            ("/account", "nav.account", "person", None),
        ],
    ),
]


def switch_language_js(lang: str) -> str:
    """The script that keeps ``lang`` in the language cookie for a year and reloads the page."""
    return (
        f"document.cookie = '{LANG_COOKIE}={lang}; path=/; max-age=31536000; samesite=lax'; location.reload()"
    )


def tid(name: str) -> str:
    """The props that name an element for the browser tests (``data-testid``)."""
    return f'data-testid="{name}"'


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)


def fmt_int(value: float | int | None) -> str:
    return "–" if value is None else f"{round(value):,}"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def fmt_signed_pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f}%"


@dataclass
class Page:
    """One page view: the user, their language, their stores and the chosen one."""

    request: Request
    path: str
    api: Api
    lang: Lang
    user: dict[str, Any]
    sites: list[dict[str, Any]]
    site_id: str | None
    query: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def open(cls, request: Request, path: str) -> Page | None:
        api = Api.of(request)
        if api.session is None:
            return None
        try:
            user = await api.get("/auth/me")
            sites = (await api.get("/sites"))["items"]
        except ApiError as error:
            if error.status == 401:
                return None
            raise
        lang: Lang = "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"
        query = dict(request.query_params)
        wanted = query.get("site") or request.cookies.get("keliu_site")
        ids = [s["id"] for s in sites]
        site_id = wanted if wanted in ids else (ids[0] if ids else None)
        return cls(request, path, api, lang, user, sites, site_id, query)

    def t(self, key: str) -> str:
        return t(key, self.lang)

    @property
    def role(self) -> str:
        return str(self.user["role"])

    @property
    def timezone(self) -> str:
        """The chosen store's time zone."""
        return str((self.site or {}).get("timezone", "Asia/Shanghai"))

    @property
    def site(self) -> dict[str, Any] | None:
        return next((s for s in self.sites if s["id"] == self.site_id), None)

    def site_name(self, site_id: str) -> str:
        return next((s["name"] for s in self.sites if s["id"] == site_id), site_id)

    def url(self, path: str | None = None, **params: Any) -> str:
        merged = {**self.query, **{k: str(v) for k, v in params.items() if v is not None}}
        return f"{path or self.path}?{urlencode(merged)}" if merged else (path or self.path)

    @contextmanager
    def frame(self, title_key: str, *, site_picker: bool = True) -> Iterator[None]:
        """The header, the navigation drawer and the content column of a page."""
        ui.page_title(f"{self.t(title_key)} · keliu")
        ui.colors(primary=BRAND)
        ui.query("body").classes("bg-slate-50")
        with (
            ui.left_drawer(value=None).props("show-if-above bordered width=220").classes("bg-white") as drawer
        ):
            for section, items in NAV:
                ui.label(self.t(section)).classes("text-xs uppercase text-slate-400 mt-3 mb-1 px-2")
                for path, key, icon, roles in items:
                    if roles is not None and self.role not in roles:
                        continue
                    active = path == self.path
                    with (
                        ui.link(target=self.nav_url(path))
                        .classes(
                            "flex items-center gap-2 px-3 py-2 rounded no-underline "
                            + (
                                "bg-blue-50 text-primary font-medium"
                                if active
                                else "text-slate-700 hover:bg-slate-100"
                            )
                        )
                        .props(tid(f"nav{path.replace('/', '-')}"))
                    ):
                        ui.icon(icon).classes("text-lg")
                        ui.label(self.t(key))
        with ui.header(elevated=False).classes(
            "items-center gap-3 bg-white text-slate-800 border-b px-3 py-2"
        ):
            ui.button(icon="menu", on_click=drawer.toggle).props("flat round dense").props(tid("menu"))
            ui.label(self.t("app.name")).classes("text-lg font-bold text-primary")
            ui.label(self.t(title_key)).classes("text-base text-slate-500 max-sm:hidden")
            ui.space()
            if site_picker and self.sites:
                options = {s["id"]: s["name"] for s in self.sites}
                ui.select(
                    options,
                    value=self.site_id,
                    on_change=lambda e: self._choose_site(str(e.value)),
                ).props("dense outlined options-dense").classes("min-w-40").props(tid("site-picker"))
            ui.button(self.t("lang.switch"), on_click=self._switch_language).props(
                "flat dense no-caps"
            ).props(tid("lang-switch"))
            with ui.button(icon="account_circle").props("flat round dense"), ui.menu():
                ui.menu_item(f"{self.user['display_name']} · {self.t('role.' + self.role)}").props("disable")
                ui.menu_item(self.t("nav.account"), on_click=lambda: ui.navigate.to("/account"))
                ui.menu_item(self.t("nav.logout"), on_click=self._logout).props(tid("logout"))
        with ui.column().classes("w-full max-w-screen-2xl mx-auto p-3 sm:p-5 gap-4"):
            if self.user.get("must_change_password") and self.path != "/account":
                with ui.card().classes("w-full bg-amber-50"):
                    ui.link(self.t("account.must_change"), "/account")
            yield

    def nav_url(self, path: str) -> str:
        return f"{path}?site={self.site_id}" if self.site_id else path

    def _choose_site(self, site_id: str) -> None:
        if site_id == self.site_id:  # the picker settling on the page's own store is no choice
            return
        ui.run_javascript(f"document.cookie = 'keliu_site={site_id}; path=/; max-age=31536000; samesite=lax'")
        ui.navigate.to(self.url(site=site_id))

    def _switch_language(self) -> None:
        other = "en" if self.lang == "zh" else "zh"
        ui.run_javascript(switch_language_js(other))

    async def _logout(self) -> None:
        ui.run_javascript(
            "fetch('/api/v1/auth/logout', {method: 'POST'}).then(() => location.href = '/login')"
        )

    def notify_error(self, error: Exception) -> None:
        message = error.message if isinstance(error, ApiError) else str(error)
        ui.notify(f"{self.t('common.error')}: {message}", type="negative", multi_line=True)


def card(title: str, *, mark: str | None = None, classes: str = "") -> ui.card:
    """A titled white card (use as a context manager)."""
    box = ui.card().classes(f"w-full shadow-sm {classes}")
    with box:
        ui.label(title).classes("text-base font-semibold text-slate-700")
    if mark:
        box.props(tid(mark))
    return box
