"""设置 › 消息规则 Message rules (REQUIREMENTS O4): the store's rules — customers present now above a
number, entries in an hour above a number, today's traffic moved by more than N % against yesterday,
last week or last month — switched on and off, removed and added, and the messages they fired
(newest first, worded in the user's language from their figures). The service checks the rules every
minute and pushes what fires to webhooks (event ``alert``). Must not reach the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from keliu.ui.shell import Page, tid
from keliu.ui.widgets import send_and_reload, table

KINDS = ("occupancy", "hourly_entries", "traffic_change")
COMPARES = ("day", "week", "month")
DIRECTIONS = ("both", "up", "down")
SEVERITIES = ("info", "warning", "critical")
_SEVERITY_COLOUR = {"info": "grey", "warning": "orange", "critical": "red"}


def _num(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:g}" if value != int(value) else f"{int(value)}"
    return "–" if value is None else str(value)


def rule_text(page: Page, rule: dict[str, Any]) -> str:
    """What the rule watches, in the user's language."""
    kind = str(rule.get("kind"))
    if kind not in KINDS:
        return kind
    return page.t(f"messages.rule.{kind}").format(
        threshold=_num(rule.get("threshold")),
        compare=page.t(f"messages.compare.{rule.get('compare') or 'day'}"),
        direction=page.t(f"messages.direction.{rule.get('direction') or 'both'}"),
        min_count=_num(rule.get("min_count")),
    )


def message_text(page: Page, message: dict[str, Any]) -> str:
    """A fired message in the user's language from its figures (its stored text when unknown)."""
    details = message.get("details") or {}
    kind = str(message.get("kind"))
    if kind not in KINDS:
        return str(message.get("text", ""))
    change = details.get("change_pct")
    try:
        return page.t(f"messages.text.{kind}").format(
            value=_num(details.get("value")),
            threshold=_num(details.get("threshold")),
            hour=details.get("hour", ""),
            until=details.get("until", ""),
            previous=_num(round(details["previous"])) if details.get("previous") is not None else "–",
            compare=page.t(f"messages.compare.{details.get('compare') or 'day'}"),
            change="–" if change is None else f"{change:+.1f} %",
        )
    except (KeyError, TypeError, ValueError):
        return str(message.get("text", ""))


def _local(page: Page, at: str) -> str:
    try:
        return (
            datetime.fromisoformat(at.replace("Z", "+00:00"))
            .astimezone(ZoneInfo(page.timezone))
            .strftime("%Y-%m-%d %H:%M")
        )
    except (ValueError, KeyError):
        return at[:16]


async def message_rules_tab(page: Page) -> None:
    base = f"/sites/{page.site_id}/message-rules"
    rules = (await page.api.get(base, limit=500))["items"]
    messages = (await page.api.get(f"/sites/{page.site_id}/messages", limit=100))["items"]
    manager = page.role in ("admin", "manager")

    async def change(path: str, method: str, body: dict[str, Any] | None) -> None:
        await send_and_reload(page, method, path, body, tab="messages")

    with ui.card().classes("w-full shadow-sm").props(tid("message-rules")):
        ui.label(page.t("settings.messages")).classes("text-base font-semibold")
        ui.label(page.t("messages.hint")).classes("text-xs text-slate-500")
        if not rules:
            ui.label(page.t("messages.no_rules")).classes("text-sm text-slate-500")
        for r in rules:
            with ui.row().classes("w-full items-center gap-3 border-b py-2").props(tid("message-rule-row")):
                switch = ui.switch(value=bool(r.get("enabled")))
                if manager:
                    switch.on_value_change(
                        lambda e, rid=r["id"]: change(f"{base}/{rid}", "PATCH", {"enabled": bool(e.value)})
                    )
                else:
                    switch.disable()
                with ui.column().classes("gap-0 flex-1"):
                    ui.label(r.get("name") or page.t(f"messages.kind.{r['kind']}")).classes("font-medium")
                    fired = r.get("last_fired_at")
                    ui.label(
                        rule_text(page, r)
                        + (f" · {page.t('messages.last_fired')} {_local(page, fired)}" if fired else "")
                    ).classes("text-xs text-slate-500")
                level = str(r.get("severity", "warning"))
                ui.badge(page.t(f"messages.severity.{level}"), color=_SEVERITY_COLOUR.get(level, "grey"))
                if manager:
                    ui.button(
                        icon="delete", on_click=lambda rid=r["id"]: change(f"{base}/{rid}", "DELETE", None)
                    ).props("flat dense round").props(tid("message-rule-remove"))

    if manager:
        with ui.card().classes("w-full shadow-sm").props(tid("message-rule-new")):
            ui.label(page.t("messages.new")).classes("text-base font-semibold")
            with ui.row().classes("items-end gap-3 flex-wrap"):
                kind = (
                    ui.select(
                        {k: page.t(f"messages.kind.{k}") for k in KINDS},
                        value="occupancy",
                        label=page.t("messages.kind"),
                    )
                    .props("dense outlined")
                    .classes("min-w-44")
                    .props(tid("message-rule-kind"))
                )
                threshold = (
                    ui.number(page.t("messages.threshold"), value=50, min=1, format="%g")
                    .props("dense outlined")
                    .classes("w-40")
                    .props(tid("message-rule-threshold"))
                )
                compare = (
                    ui.select(
                        {c: page.t(f"messages.compare.{c}") for c in COMPARES},
                        value="day",
                        label=page.t("messages.compare"),
                    )
                    .props("dense outlined")
                    .classes("min-w-32")
                    .bind_visibility_from(kind, "value", backward=lambda v: v == "traffic_change")
                )
                direction = (
                    ui.select(
                        {d: page.t(f"messages.direction.{d}") for d in DIRECTIONS},
                        value="both",
                        label=page.t("messages.direction"),
                    )
                    .props("dense outlined")
                    .classes("min-w-32")
                    .bind_visibility_from(kind, "value", backward=lambda v: v == "traffic_change")
                )
                min_count = (
                    ui.number(page.t("messages.min_count"), value=20, min=1, format="%d")
                    .props("dense outlined")
                    .classes("w-44")
                    .bind_visibility_from(kind, "value", backward=lambda v: v == "traffic_change")
                )
                severity = (
                    ui.select(
                        {s: page.t(f"messages.severity.{s}") for s in SEVERITIES},
                        value="warning",
                        label=page.t("messages.severity"),
                    )
                    .props("dense outlined")
                    .classes("min-w-28")
                )
                name = ui.input(page.t("common.name")).props("dense outlined").props(tid("message-rule-name"))
                enabled = ui.switch(page.t("messages.enabled"), value=True)

                async def create() -> None:
                    body: dict[str, Any] = {
                        "kind": kind.value,
                        "threshold": float(threshold.value or 0),
                        "severity": severity.value,
                        "enabled": bool(enabled.value),
                    }
                    if (name.value or "").strip():
                        body["name"] = name.value.strip()
                    if kind.value == "traffic_change":
                        body["compare"] = compare.value
                        body["direction"] = direction.value
                        body["min_count"] = int(min_count.value or 1)
                    await change(base, "POST", body)

                ui.button(page.t("common.add"), on_click=create).props("unelevated").props(
                    tid("message-rule-add")
                )

    with ui.card().classes("w-full shadow-sm").props(tid("messages")):
        ui.label(page.t("messages.recent")).classes("text-base font-semibold")
        table(
            [
                ("at", page.t("common.time")),
                ("severity", page.t("messages.severity")),
                ("message", page.t("messages.message")),
            ],
            [
                {
                    "id": m.get("id"),
                    "at": _local(page, str(m.get("at", ""))),
                    "severity": page.t(f"messages.severity.{m['severity']}")
                    if m.get("severity") in SEVERITIES
                    else m.get("severity"),
                    "message": message_text(page, m),
                }
                for m in messages
            ],
            mark="table-messages",
            page_size=20,
        )
