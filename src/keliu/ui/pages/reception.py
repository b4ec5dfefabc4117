"""接待台 Reception console (the showroom seed's screen): today's arrivals as they happen, batches
merged or split (批次合并/拆分: people the cameras grouped wrongly), classified 看车/订单/售后/非客/店员
and assigned to a sales advisor, and the live brief 到店客流/看车客户/订单客户/售后客户/非客.

Live: the page listens to the site's live hub (the same one behind the SSE and WebSocket streams);
an arrival, a merge or split, or another desk's classification re-reads the arrivals and the brief
through the API, so two browsers see each other's actions at once. Must not reach the store."""

from __future__ import annotations

import asyncio
import html
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from nicegui import background_tasks, ui

from keliu.ui.api import ApiError, service_hub, shared_read
from keliu.ui.shell import Page, login_redirect, tid

CATEGORIES = ("browsing", "order", "after_sales", "not_customer", "staff")
CATEGORY_COLOURS = {
    "browsing": "blue",
    "order": "green",
    "after_sales": "orange",
    "not_customer": "grey",
    "staff": "purple",
}
SWATCH = {
    "black": "#111827",
    "white": "#f9fafb",
    "grey": "#9ca3af",
    "gray": "#9ca3af",
    "red": "#dc2626",
    "orange": "#f97316",
    "yellow": "#facc15",
    "green": "#16a34a",
    "cyan": "#06b6d4",
    "blue": "#2563eb",
    "purple": "#7c3aed",
    "pink": "#ec4899",
    "brown": "#92400e",
}


def colour_label(page: Page, name: str | None) -> str:
    """A clothing colour's name in the page's language (an unknown name as it is)."""
    key = "grey" if name == "gray" else (name or "unknown")
    return page.t(f"colour.{key}") if key in SWATCH or key == "unknown" else str(name)


def colours_html(page: Page, uppers: list[str | None], lowers: list[str | None]) -> str:
    """上装/下装 colours of a batch's people (at most four), as one small block of HTML: one element
    per arrival card keeps a console of many arrivals quick to redraw."""

    def dot(name: str | None) -> str:
        swatch = SWATCH.get(name or "", "transparent")
        return (
            f'<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
            f'border:1px solid #cbd5e1;background:{swatch};margin:0 3px 0 6px"></span>'
            f"{html.escape(colour_label(page, name))}"
        )

    rows = [
        f'<div><span style="color:#94a3b8">{html.escape(page.t("reception.upper"))}</span>{dot(u)}'
        f'<span style="color:#94a3b8;margin-left:10px">{html.escape(page.t("reception.lower"))}</span>'
        f"{dot(lo)}</div>"
        for u, lo in list(zip(uppers, lowers, strict=False))[:4]
    ]
    return "".join(rows)


BADGE = {
    "browsing": "#2563eb",
    "order": "#16a34a",
    "after_sales": "#f97316",
    "not_customer": "#6b7280",
    "staff": "#7c3aed",
    None: "#f59e0b",
}


def arrival_html(page: Page, a: dict[str, Any], entrances: dict[str, str], timezone: str) -> str:
    """One arrival as one block of HTML: time and entrance, batch size, 上装/下装 colours, its
    category (or 待分类) and advisor."""
    reception = a.get("reception") or {}
    category = reception.get("category")
    entrance = entrances.get(f"{a.get('camera_id')}/{a.get('line_id')}", a.get("line_id") or "")
    label = page.t(f"reception.{category}") if category else page.t("reception.unclassified")
    advisor = reception.get("advisor")
    return (
        '<div style="display:flex;align-items:center;gap:12px">'
        f'<div style="min-width:5rem"><div style="font-size:1.125rem;font-weight:600;'
        f'font-variant-numeric:tabular-nums">{local_time(a["started_at"], timezone)}</div>'
        f'<div style="font-size:.75rem;color:#64748b">{html.escape(entrance)}</div></div>'
        f'<div style="font-weight:500;white-space:nowrap">{a["size"]} '
        f"{html.escape(page.t('common.people'))}</div>"
        f'<div style="flex:1;font-size:.75rem;line-height:1.25rem">'
        f"{colours_html(page, a['upper_colours'], a['lower_colours'])}</div>"
        '<div style="display:flex;flex-direction:column;align-items:flex-end;gap:4px">'
        f'<span data-testid="arrival-category" style="background:{BADGE.get(category, BADGE[None])};'
        'color:#fff;border-radius:4px;padding:1px 6px;font-size:.75rem;white-space:nowrap">'
        f"{html.escape(label)}</span>"
        + (f'<span style="font-size:.75rem;color:#64748b">{html.escape(advisor)}</span>' if advisor else "")
        + "</div></div>"
    )


def local_time(stamp: str, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return (
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        .astimezone(ZoneInfo(timezone))
        .strftime("%H:%M:%S")
    )


@dataclass
class _Card:
    card: ui.card
    checkbox: ui.checkbox
    body: ui.html
    arrival: dict[str, Any]  # what the card shows


class ArrivalCards:
    """The console's arrival cards, kept in step with the newest arrivals rather than redrawn: a card
    is made when its batch first shows, drawn again only when the API says its arrival changed, deleted
    when the batch leaves the list. Twenty consoles woken by an arrival then send one new card each,
    not thirty rebuilt ones, and the server does not make and drop thousands of elements per arrival
    (docs/benchmarks.md, "Web UI": less memory kept per arrival, live updates twice as quick)."""

    def __init__(self, page: Page, entrances: dict[str, str], timezone: str, selected: set[str]) -> None:
        self.page, self.entrances, self.timezone, self.selected = page, entrances, timezone, selected
        self.waiting = ui.label(page.t("reception.waiting")).classes("text-slate-500 p-4")
        self.container = ui.column().classes("w-full gap-2").props(tid("arrivals"))
        self.cards: dict[str, _Card] = {}

    def show(self, items: list[dict[str, Any]]) -> None:
        self.waiting.set_visibility(not items)
        wanted = {a["batch_id"] for a in items}
        for gone in [batch_id for batch_id in self.cards if batch_id not in wanted]:
            self.container.remove(self.cards.pop(gone).card)
        for index, a in enumerate(items):
            batch_id = a["batch_id"]
            shown = self.cards.get(batch_id)
            if shown is None:
                shown = self.cards[batch_id] = self._new_card(a)
            else:
                if shown.arrival != a:  # only a changed arrival is drawn again
                    shown.body.set_content(arrival_html(self.page, a, self.entrances, self.timezone))
                    if shown.arrival["size"] != a["size"]:
                        shown.card.props(f'data-size="{a["size"]}"')
                    shown.arrival = a
                shown.checkbox.value = batch_id in self.selected  # cleared after an action
            children = self.container.default_slot.children
            if index >= len(children) or children[index] is not shown.card:
                shown.card.move(target_index=index)

    def _new_card(self, a: dict[str, Any]) -> _Card:
        batch_id, size = a["batch_id"], a["size"]
        with self.container:
            with (
                ui.card()
                .classes("w-full p-3 shadow-sm")
                .props(tid("arrival"))
                .props(f'data-batch="{batch_id}" data-size="{size}"') as card
            ):
                with ui.row().classes("w-full items-center gap-3 no-wrap"):
                    checkbox = ui.checkbox(
                        value=batch_id in self.selected,
                        on_change=lambda e: (
                            self.selected.add(batch_id) if e.value else self.selected.discard(batch_id)
                        ),
                    ).props(tid("arrival-select"))
                    body = ui.html(arrival_html(self.page, a, self.entrances, self.timezone), sanitize=False)
                    body.classes("flex-1")
        return _Card(card, checkbox, body, a)


@ui.page("/reception", response_timeout=20)
async def reception_page(request: Request) -> Any:
    page = await Page.open(request, "/reception")
    if page is None:
        return login_redirect("/reception")
    with page.frame("reception.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        site_id, timezone = page.site_id, page.timezone
        entrances = {
            f"{e['camera_id']}/{e['line_id']}": e["name"]
            for e in (await page.api.get(f"/sites/{site_id}/entrances"))["entrances"]
        }
        try:
            advisors = [
                s["name"] or s["id"]
                for s in (await page.api.get(f"/sites/{site_id}/staff", limit=500))["items"]
            ]
        except ApiError:
            advisors = []
        selected: set[str] = set()
        state: dict[str, Any] = {"arrivals": [], "brief": {}}

        async def read_console() -> tuple[Any, Any]:
            return await asyncio.gather(
                page.api.get(f"/sites/{site_id}/arrivals", limit=30),
                page.api.get(f"/sites/{site_id}/reception/brief"),
            )

        async def load(fresh_since: float | None = None) -> None:
            """Today's arrivals and brief; every console of the store woken by the same event shares
            one read (``fresh_since``: when the event came); this desk's own action reads anew."""
            since = time.monotonic() if fresh_since is None else fresh_since
            arrivals, state["brief"] = await shared_read(f"reception {site_id}", since, read_console)
            state["arrivals"] = arrivals["items"]

        brief_numbers: dict[str, ui.label] = {}

        def brief_view() -> None:
            """到店客流 and its split by category; a live event changes only the numbers' text."""
            with (
                ui.grid(columns="repeat(auto-fit, minmax(110px, 1fr))")
                .classes("w-full gap-2")
                .props(tid("reception-brief"))
            ):
                for key, field in (
                    ("reception.arrivals", "arrivals"),
                    ("reception.browsing", "browsing"),
                    ("reception.order", "order"),
                    ("reception.after_sales", "after_sales"),
                    ("reception.not_customer", "not_customer"),
                    ("reception.staff", "staff"),
                    ("reception.unclassified", "unclassified"),
                ):
                    with ui.card().classes("p-3 shadow-sm items-center gap-0").props(tid(f"brief-{field}")):
                        brief_numbers[field] = ui.label().classes("text-2xl font-bold text-primary")
                        ui.label(page.t(key)).classes("text-xs text-slate-500")
            show_brief()

        def show_brief() -> None:
            for field, number in brief_numbers.items():
                number.set_text(str(state["brief"].get(field, 0)))

        async def refresh(fresh_since: float | None = None) -> None:
            try:
                await load(fresh_since)
            except ApiError as error:
                page.notify_error(error)
                return
            show_brief()
            arrivals.show(state["arrivals"])

        async def classify(category: str | None, advisor: str | None = None) -> None:
            if not selected:
                ui.notify(page.t("reception.selected") + ": 0", type="warning")
                return
            current = {a["batch_id"]: (a.get("reception") or {}) for a in state["arrivals"]}
            for batch_id in sorted(selected):
                old = current.get(batch_id, {})
                body = {
                    "category": category if category is not None else old.get("category"),
                    "advisor": advisor if advisor is not None else old.get("advisor"),
                    "note": old.get("note"),
                }
                try:
                    await page.api.send("PUT", f"/sites/{site_id}/arrivals/{batch_id}/reception", body)
                except ApiError as error:
                    page.notify_error(error)
                    return
            selected.clear()
            await refresh()

        async def merge() -> None:
            if len(selected) < 2:
                ui.notify(page.t("reception.merge_hint"), type="warning")
                return
            try:
                await page.api.send(
                    "POST", f"/sites/{site_id}/arrivals/merge", {"batch_ids": sorted(selected)}
                )
            except ApiError as error:
                page.notify_error(error)
                return
            selected.clear()
            await refresh()

        def split() -> None:
            chosen = [a for a in state["arrivals"] if a["batch_id"] in selected]
            if len(chosen) != 1 or chosen[0]["size"] < 2:
                ui.notify(page.t("reception.split_hint"), type="warning")
                return
            batch = chosen[0]
            leaving: set[str] = set()
            with ui.dialog() as dialog, ui.card().classes("min-w-80").props(tid("split-dialog")):
                ui.label(page.t("reception.split_choose")).classes("text-base font-semibold")
                people = zip(batch["visit_ids"], batch["upper_colours"], batch["lower_colours"], strict=False)
                for n, (visit_id, upper, lower) in enumerate(people, start=1):
                    with ui.row().classes("items-center gap-2"):
                        ui.checkbox(
                            f"{n}",
                            on_change=lambda e, vid=visit_id: (
                                leaving.add(vid) if e.value else leaving.discard(vid)
                            ),
                        ).props(tid("split-person"))
                        ui.html(colours_html(page, [upper], [lower]), sanitize=False).classes("text-xs")

                async def confirm() -> None:
                    try:
                        await page.api.send(
                            "POST",
                            f"/sites/{site_id}/arrivals/{batch['batch_id']}/split",
                            {"visit_ids": sorted(leaving)},
                        )
                    except ApiError as error:
                        page.notify_error(error)
                        return
                    dialog.close()
                    selected.clear()
                    await refresh()

                with ui.row():
                    ui.button(page.t("common.cancel"), on_click=dialog.close).props("flat")
                    ui.button(page.t("reception.split"), on_click=confirm).props("unelevated").props(
                        tid("split-confirm")
                    )
            dialog.on("hide", dialog.delete)
            dialog.open()

        await load()
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(page.t("reception.live")).classes("text-xl font-semibold")
            live_badge = ui.badge(page.t("reception.connected"), color="green").props(tid("live-badge"))
            ui.space()
            ui.button(icon="refresh", on_click=lambda _: refresh()).props("flat round dense")
        brief_view()
        with ui.card().classes("w-full p-2 shadow-sm sticky top-14 z-10"):
            with ui.row().classes("w-full items-center gap-2 flex-wrap"):
                ui.label(page.t("reception.classify")).classes("text-sm text-slate-500")
                for category in CATEGORIES:
                    ui.button(
                        page.t(f"reception.{category}"),
                        on_click=lambda c=category: classify(c),
                        color=CATEGORY_COLOURS[category],
                    ).props("unelevated dense no-caps").props(tid(f"classify-{category}"))
                advisor = (
                    ui.select(
                        advisors,
                        label=page.t("reception.advisor"),
                        with_input=True,
                        new_value_mode="add-unique",
                    )
                    .props("dense outlined")
                    .classes("min-w-36")
                    .props(tid("advisor"))
                )
                ui.button(page.t("reception.assign"), on_click=lambda: classify(None, advisor.value)).props(
                    "outline dense no-caps"
                ).props(tid("assign"))
                ui.separator().props("vertical")
                ui.button(page.t("reception.merge"), icon="merge", on_click=merge).props(
                    "outline dense no-caps"
                ).props(tid("merge"))
                ui.button(page.t("reception.split"), icon="call_split", on_click=split).props(
                    "outline dense no-caps"
                ).props(tid("split"))
        arrivals = ArrivalCards(page, entrances, timezone, selected)
        arrivals.show(state["arrivals"])

        hub = service_hub()
        client = ui.context.client

        async def listen() -> None:
            await client.connected()
            sub = hub.subscribe(site_id)
            try:
                while not client.is_deleted:
                    got = await sub.next(timeout_s=10)
                    if got is None:
                        live_badge.props("color=red")
                        return
                    dropped, messages = got
                    if dropped or any(
                        m.event in ("arrival", "batch", "reception", "visit_corrected") for m in messages
                    ):
                        woken = time.monotonic()
                        await asyncio.sleep(0.02)  # the rest of a burst arrives with this one
                        await refresh(woken)
            finally:
                sub.close()

        task = background_tasks.create(listen(), name=f"reception {site_id}")
        client.on_delete(task.cancel)
    return None
