"""客流分析 Analysis: every metric of the catalogue (zone comparison and conversion, entrance and
building distribution, floors, holidays, peaks, dwell and live occupancy, paths and shop
association …) for a chosen period, next week's forecast, and the accuracy audit (准确率核查: manual
counts entered here, accuracy, confidence interval and correction; A16–A19, A22).

Results are drawn by shape (tables for rows, a bar chart for the first number of the rows), so a
metric added to the catalogue appears here without new code. Must not reach the store."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from fastapi import Request
from nicegui import ui

from keliu.ui import charts
from keliu.ui.api import ApiError
from keliu.ui.i18n import field_label
from keliu.ui.pages.home import chosen_day, forecast
from keliu.ui.shell import Page, fmt_int, fmt_pct, login_redirect, tid
from keliu.ui.widgets import after_connect, lazy_card, stat, table

SKIP = {"traffic", "multi-store", "kpis", "targets"}  # on the home and multi-store pages
ZONE_PARAMS = ("zone", "other_zone", "from_zone", "to_zone")


def scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def show_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else fmt_int(value)
    if isinstance(value, list):
        return ", ".join(show_value(v) for v in value[:6]) + (" …" if len(value) > 6 else "")
    return "–" if value is None else str(value)


def render_rows(page: Page, rows: list[Any], mark: str) -> None:
    """Rows of dicts (or of lists) as a bar chart of their first number and a table."""
    if not rows:
        ui.label("–").classes("text-slate-500")
        return
    if not isinstance(rows[0], dict):
        rows = [
            {f"c{i}": v for i, v in enumerate(row)} if isinstance(row, list | tuple) else {"value": row}
            for row in rows
        ]
    columns = [k for k, v in rows[0].items() if scalar(v) or isinstance(v, list)]
    label_key = next((k for k in columns if isinstance(rows[0][k], str)), columns[0])
    number_key = next(
        (
            k
            for k in columns
            if isinstance(rows[0][k], int | float) and not isinstance(rows[0][k], bool) and k != label_key
        ),
        None,
    )
    if number_key is not None:
        top = rows[:20]
        charts.bars(
            [str(r.get(label_key)) for r in top],
            {field_label(number_key, page.lang): [r.get(number_key) for r in top]},
            horizontal=len(top) > 6,
            height="h-80",
            mark=f"chart-{mark}",
        )
    table(
        [(c, field_label(c, page.lang)) for c in columns],
        [{c: show_value(r.get(c)) for c in columns} for r in rows],
        mark=f"table-{mark}",
    )


def render_result(page: Page, result: Any, mark: str) -> None:
    if isinstance(result, list):
        render_rows(page, result, mark)
        return
    if not isinstance(result, dict):
        ui.label(show_value(result))
        return
    scalars = {k: v for k, v in result.items() if scalar(v)}
    if scalars:
        with ui.row().classes("gap-6"):
            for key, value in scalars.items():
                stat(field_label(key, page.lang), show_value(value))
    for key, value in result.items():
        if isinstance(value, list):
            ui.label(field_label(key, page.lang)).classes("text-sm font-semibold text-slate-600 mt-2")
            render_rows(page, value, f"{mark}-{key}")
        elif isinstance(value, dict):
            ui.label(field_label(key, page.lang)).classes("text-sm font-semibold text-slate-600 mt-2")
            render_result(page, value, f"{mark}-{key}")


def manual_count_csv(day: date, start: str, end: str, entries: int, timezone: str) -> bytes:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    first = datetime.combine(day, datetime.strptime(start, "%H:%M").time(), zone)
    last = datetime.combine(day, datetime.strptime(end, "%H:%M").time(), zone)
    return f"start,end,entries\n{first.isoformat()},{last.isoformat()},{entries}\n".encode()


def accuracy_figures(page: Page, overall: dict[str, Any]) -> None:
    """System and manual counts of the audited day, accuracy with its 95 % interval, correction."""
    with ui.row().classes("gap-6").props(tid("accuracy-overall")):
        stat(field_label("system", page.lang), fmt_int(overall["system"]))
        stat(field_label("manual", page.lang), fmt_int(overall["manual"]))
        stat(field_label("accuracy", page.lang), fmt_pct(overall["accuracy"]))
        interval = overall.get("interval")
        stat(
            field_label("interval", page.lang),
            "–" if not interval else f"{fmt_pct(interval[0])} – {fmt_pct(interval[1])}",
        )
        stat(
            field_label("correction_factor", page.lang),
            "–" if overall.get("correction_factor") is None else f"×{overall['correction_factor']:.3f}",
        )


@ui.page("/analysis", response_timeout=20)
async def analysis_page(request: Request) -> Any:
    page = await Page.open(request, "/analysis")
    if page is None:
        return login_redirect("/analysis")
    with page.frame("analysis.title"):
        if page.site_id is None:
            ui.label(page.t("common.none"))
            return None
        catalogue = [
            m for m in await page.api.get("/metrics") if m["site"] != "none" and m["name"] not in SKIP
        ]
        names = {m["name"]: (m["zh"] if page.lang == "zh" else m["en"]) for m in catalogue}
        chosen = str(page.query.get("metric")) if page.query.get("metric") in names else "zone-comparison"
        spec = next(m for m in catalogue if m["name"] == chosen)
        day = chosen_day(page)
        first = page.query.get("from", (day - timedelta(days=6)).isoformat())
        last = page.query.get("to", day.isoformat())
        zones = [a for a in (await page.api.get(f"/sites/{page.site_id}/areas"))["areas"]]
        zone_options = {a["zone_id"]: a["name"] or a["zone_id"] for a in zones}
        zone_ids = list(zone_options)
        defaults = dict(zip(ZONE_PARAMS, [*zone_ids[:2], *zone_ids[:2]], strict=False))
        with ui.card().classes("w-full shadow-sm"):
            with ui.row().classes("w-full items-end gap-3 flex-wrap"):
                metric_select = (
                    ui.select(names, value=chosen, label=page.t("analysis.metric"), with_input=True)
                    .props("dense outlined")
                    .classes("min-w-56")
                    .props(tid("metric"))
                )
                from_input = (
                    ui.input(page.t("date.from"), value=first)
                    .props("dense outlined type=date")
                    .props(tid("from"))
                )
                to_input = (
                    ui.input(page.t("date.to"), value=last).props("dense outlined type=date").props(tid("to"))
                )
                zone_inputs: dict[str, ui.select] = {}
                for param in ZONE_PARAMS:
                    if param in spec["params"] and zone_options:
                        zone_inputs[param] = (
                            ui.select(
                                zone_options,
                                value=page.query.get(param, defaults.get(param)),
                                label=page.t("analysis.zone") + f" ({param})",
                                with_input=True,
                            )
                            .props("dense outlined")
                            .classes("min-w-40")
                        )

                def apply() -> None:
                    params = {"metric": metric_select.value, "from": from_input.value, "to": to_input.value}
                    params.update({k: v.value for k, v in zone_inputs.items() if v.value})
                    ui.navigate.to(page.url(**params))

                ui.button(page.t("common.apply"), on_click=apply).props("unelevated").props(tid("apply"))
        params: dict[str, Any] = {}
        if "from" in spec["params"]:
            params.update({"from": first, "to": last})
        elif "at" in spec["params"]:
            params["at"] = None
        elif "year" in spec["params"]:
            params["year"] = day.year
        for param in ZONE_PARAMS:
            if param in spec["params"]:
                params[param] = page.query.get(param, defaults.get(param))
        with ui.card().classes("w-full shadow-sm").props(tid("analysis-result")):
            ui.label(names[chosen]).classes("text-base font-semibold")
            try:
                data = await page.api.get(f"/sites/{page.site_id}/metrics/{chosen}", **params)
                render_result(page, data["result"], chosen)
            except ApiError as error:
                ui.label(error.message).classes("text-slate-500").props(tid("analysis-error"))
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            # the forecast and the audit are read after the page is on screen (the metric is the page)
            lazy_card(
                page,
                page.t("home.forecast"),
                lambda: page.api.get(f"/sites/{page.site_id}/forecast"),
                lambda result: forecast(page, result),
                mark="card-forecast",
            )
            with ui.card().classes("w-full shadow-sm").props(tid("card-accuracy")):
                ui.label(page.t("analysis.accuracy")).classes("text-base font-semibold")
                ui.label(page.t("analysis.accuracy_hint")).classes("text-xs text-slate-500")
                audit_day = date.fromisoformat(last)
                audit_box = ui.column().classes("w-full")

                async def audit_view() -> None:
                    message = ""
                    try:
                        result = (
                            await page.api.get(
                                f"/sites/{page.site_id}/metrics/audit", day=audit_day.isoformat()
                            )
                        )["result"]
                    except ApiError as error:
                        result, message = None, error.message
                    if audit_box.is_deleted:
                        return
                    audit_box.clear()
                    with audit_box:
                        if result is None:
                            ui.label(message).classes("text-sm text-slate-500")
                            return
                        accuracy_figures(page, result["overall"])

                after_connect(audit_box, audit_view)
                if page.role != "staff":
                    with ui.row().classes("items-end gap-2 flex-wrap"):
                        start = (
                            ui.input(page.t("date.from"), value="10:00")
                            .props("dense outlined type=time")
                            .props(tid("audit-start"))
                        )
                        end = (
                            ui.input(page.t("date.to"), value="11:00")
                            .props("dense outlined type=time")
                            .props(tid("audit-end"))
                        )
                        entries = (
                            ui.number(page.t("home.total"), value=0, min=0, format="%d")
                            .props("dense outlined")
                            .classes("w-28")
                            .props(tid("audit-entries"))
                        )

                        async def save_count() -> None:
                            body = manual_count_csv(
                                audit_day,
                                start.value,
                                end.value,
                                int(entries.value or 0),
                                page.timezone,
                            )
                            try:
                                await page.api.request(
                                    "POST",
                                    f"/sites/{page.site_id}/imports/manual-counts",
                                    files={"file": ("manual.csv", io.BytesIO(body), "text/csv")},
                                )
                            except ApiError as error:
                                page.notify_error(error)
                                return
                            ui.notify(page.t("common.saved"), type="positive")
                            await audit_view()

                        ui.button(page.t("common.save"), on_click=save_count).props("unelevated").props(
                            tid("audit-save")
                        )
    return None
