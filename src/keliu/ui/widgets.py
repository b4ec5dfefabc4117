"""Small building blocks the web UI's pages share: stat tiles, tables, lazy cards and metric calls.

Must not reach the store; everything comes through :class:`keliu.ui.api.Api`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nicegui import background_tasks, ui

from keliu.ui.api import ApiError
from keliu.ui.shell import Page, fmt_signed_pct, tid

log = logging.getLogger(__name__)

# Slow figures (a month of zone stays) are read one at a time for all pages together: the
# API answers them in worker threads, and many at once would starve the event loop that keeps every
# browser's connection alive.
_LAZY_LOADS = asyncio.Semaphore(1)

__all__ = ["after_connect", "lazy_card", "send_and_reload", "stat", "table"]


def stat(
    label: str, value: str, change: float | None = None, *, hint: str | None = None, mark: str | None = None
) -> None:
    """A number with its label and, if given, its change (green up, red down)."""
    with ui.column().classes("gap-0 min-w-28") as box:
        ui.label(label).classes("text-xs text-slate-500")
        ui.label(value).classes("text-2xl font-semibold text-slate-800")
        if change is not None:
            colour = "text-emerald-600" if change >= 0 else "text-rose-600"
            ui.label(fmt_signed_pct(change) + (f" {hint}" if hint else "")).classes(f"text-xs {colour}")
    if mark:
        box.props(tid(mark))


def table(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    *,
    mark: str | None = None,
    page_size: int = 10,
) -> ui.table:
    """A Quasar table: ``columns`` = (field, label). Quasar's own words (rows per page, no data) would
    be in the server's one Quasar language, so the table shows none: no rows-per-page choice, no
    bottom bar when every row fits."""
    element = (
        ui.table(
            columns=[
                {"name": f, "label": label, "field": f, "align": "left", "sortable": True}
                for f, label in columns
            ],
            rows=list(rows),
            pagination=page_size,
        )
        .classes("w-full")
        .props('flat dense :rows-per-page-options="[]"' + (" hide-bottom" if len(rows) <= page_size else ""))
    )
    if mark:
        element.props(tid(mark))
    return element


async def send_and_reload(page: Page, method: str, path: str, body: Any, **query: Any) -> bool:
    """A change through the API: on success say so and show the page again (with ``query``); an
    API error is shown and nothing else happens (what the user typed stays on screen). True when
    the change was made."""
    try:
        await page.api.send(method, path, body)
    except ApiError as error:
        page.notify_error(error)
        return False
    ui.notify(page.t("common.saved"), type="positive")
    ui.navigate.to(page.url(**query))
    return True


def after_connect(element: ui.element, fill: Callable[[], Awaitable[None]], name: str = "fill") -> None:
    """Run ``fill`` once the browser is connected, one slow read at a time for all pages: the page is
    sent without waiting for it (its first paint is not held up)."""

    async def run() -> None:
        await element.client.connected()
        async with _LAZY_LOADS:
            if not element.is_deleted:  # the page was left while it waited
                await fill()

    background_tasks.create(run(), name=name)


def lazy_card(
    page: Page,
    title: str,
    load: Callable[[], Awaitable[Any]],
    render: Callable[[Any], None],
    *,
    mark: str,
    classes: str = "",
) -> None:
    """A card whose content is fetched after the page is on screen, so slow figures never hold up
    the first paint; an API error is shown inside the card."""
    box = ui.card().classes(f"w-full shadow-sm {classes}").props(tid(mark))
    with box:
        ui.label(title).classes("text-base font-semibold text-slate-700")
        spinner = ui.skeleton().classes("w-full h-40")

    async def fill() -> None:
        try:
            data = await load()
        except ApiError as error:
            message = error.message
        else:
            if box.is_deleted:
                return
            spinner.delete()
            try:
                with box:
                    render(data)
                return
            except Exception as error:  # a figure this page cannot draw: say so in its card
                log.exception("card %s: cannot draw", mark)
                message = str(error)
        if not box.is_deleted:
            if not spinner.is_deleted:
                spinner.delete()
            with box:
                ui.label(message).classes("text-sm text-slate-500")

    after_connect(box, fill, name=f"card {mark}")
