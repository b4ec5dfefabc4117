"""Drawing on a device's live snapshot (设置 › 设备 › 实时画面): door lines (进店线: two clicks and a
third on the store side), pass-by lines (过店线: two clicks) and zones (区域: a click per corner),
shown over the camera's current frame, with the existing lines and zones, each of which can be
removed. Saving sends the camera's whole set of lines and zones in one ``PATCH`` and the camera
uses them from its next frame.

The snapshot is fetched into the page's memory and put in the page as a data URL: never written
to disk or kept. Must not reach the store."""

from __future__ import annotations

import base64
from typing import Any

from nicegui import ui

from keliu.ui.api import ApiError
from keliu.ui.shell import Page, tid

MODES = ("door", "passby", "zone")
COLOURS = {"door": "#f59e0b", "passby": "#38bdf8", "zone": "#a855f7"}
DRAWING = "#22c55e"


def line_body(line: dict[str, Any]) -> dict[str, Any]:
    """A line as the API takes it back (door lines keep their inside point)."""
    body = {"id": line["id"], "kind": line["kind"], "a": list(line["a"]), "b": list(line["b"])}
    if line["kind"] == "door" and line.get("inside") is not None:
        body["inside"] = list(line["inside"])
    return body


def overlay(
    lines: list[dict[str, Any]],
    zones: list[dict[str, Any]],
    points: list[tuple[float, float]],
    mode: str,
    width: int,
    height: int,
) -> str:
    """SVG over the picture: the saved lines and zones (with their ids) and the one being drawn."""
    parts = []
    for zone in zones:
        corners = " ".join(f"{x * width},{y * height}" for x, y in zone["polygon"])
        parts.append(
            f'<polygon points="{corners}" fill="{COLOURS["zone"]}" fill-opacity="0.18" '
            f'stroke="{COLOURS["zone"]}" stroke-width="3" />'
        )
        x, y = zone["polygon"][0]
        parts.append(_label(zone["id"], x * width, y * height, COLOURS["zone"]))
    for line in lines:
        (ax, ay), (bx, by) = line["a"], line["b"]
        colour = COLOURS.get(line["kind"], COLOURS["door"])
        parts.append(
            f'<line x1="{ax * width}" y1="{ay * height}" x2="{bx * width}" y2="{by * height}" '
            f'stroke="{colour}" stroke-width="4" />'
        )
        parts.append(_label(line["id"], ax * width, ay * height, colour))
    if mode == "zone" and len(points) >= 2:
        corners = " ".join(f"{x},{y}" for x, y in points)
        parts.append(
            f'<polygon points="{corners}" fill="{DRAWING}" fill-opacity="0.2" '
            f'stroke="{DRAWING}" stroke-width="4" />'
        )
    elif len(points) >= 2:
        (ax, ay), (bx, by) = points[0], points[1]
        parts.append(f'<line x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}" stroke="{DRAWING}" stroke-width="5" />')
    for x, y in points:
        parts.append(f'<circle cx="{x}" cy="{y}" r="8" fill="{DRAWING}" />')
    return "".join(parts)


def _label(text: str, x: float, y: float, colour: str) -> str:
    safe = text.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f'<text x="{x + 8}" y="{y - 8}" fill="{colour}" font-size="22" font-weight="600" '
        f'stroke="#000" stroke-width="0.6">{safe}</text>'
    )


async def draw_on_snapshot(page: Page, device: dict[str, Any]) -> None:
    """Open the drawing dialog of one camera (managers and administrators of its store)."""
    try:
        response = await page.api.request("GET", f"/sites/{page.site_id}/devices/{device['id']}/snapshot")
    except ApiError as error:
        page.notify_error(error)
        return
    width = int(response.headers.get("x-frame-width", "0") or 0)
    height = int(response.headers.get("x-frame-height", "0") or 0)
    source = "data:image/jpeg;base64," + base64.b64encode(response.content).decode()
    del response
    lines = [line_body(line) for line in device.get("lines") or []]
    zones = [{"id": z["id"], "polygon": [list(p) for p in z["polygon"]]} for z in device.get("zones") or []]
    points: list[tuple[float, float]] = []
    state = {"mode": "door"}

    def redraw() -> None:
        image.content = overlay(lines, zones, points, state["mode"], width, height)

    def hint() -> str:
        return page.t(f"drawing.hint.{state['mode']}")

    with ui.dialog().props("maximized") as dialog, ui.card().classes("w-full"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(f"{page.t('settings.snapshot')} · {device.get('name') or device['id']}").classes(
                "text-base font-semibold"
            )
            mode = ui.toggle({m: page.t(f"drawing.mode.{m}") for m in MODES}, value="door").props(
                tid("draw-mode")
            )
            item_id = (
                ui.input(page.t("drawing.id"), value="door").props("dense outlined").props(tid("line-id"))
            )
            guide = ui.label(hint()).classes("text-sm text-slate-600")

        def mode_changed(event: Any) -> None:
            state["mode"] = event.value
            points.clear()
            item_id.value = {"door": "door", "passby": "passby", "zone": "zone"}[event.value]
            guide.text = hint()
            redraw()

        mode.on_value_change(mode_changed)

        def clicked(event: Any) -> None:
            limit = {"door": 3, "passby": 2, "zone": 64}[state["mode"]]
            if len(points) >= limit:
                points.clear()
            points.append((event.image_x, event.image_y))
            redraw()

        with ui.row().classes("w-full gap-4 flex-nowrap items-start"):
            image = (
                ui.interactive_image(source, content="", on_mouse=clicked, events=["click"], cross=DRAWING)
                # the whole picture on screen, the list of lines and zones beside it
                .style(f"width: min(78%, calc(68vh * {width / max(height, 1):.4f}))")
                .props(tid("snapshot"))
            )
            listing = ui.column().classes("gap-1 min-w-48").props(tid("drawn-items"))

        def list_items() -> None:
            listing.clear()
            with listing:
                ui.label(page.t("drawing.saved_items")).classes("text-sm font-semibold")
                for kind, items in (("line", lines), ("zone", zones)):
                    for item in items:
                        with ui.row().classes("items-center gap-1"):
                            colour = COLOURS[item.get("kind", "zone")] if kind == "line" else COLOURS["zone"]
                            ui.icon("circle").style(f"color: {colour}")
                            ui.label(item["id"]).classes("text-sm")

                            def remove(it: dict[str, Any] = item, group: list[Any] = items) -> None:
                                group.remove(it)
                                list_items()
                                redraw()

                            ui.button(icon="close", on_click=remove).props("flat dense round size=sm").props(
                                tid(f"remove-{item['id']}")
                            )

        def add_drawn() -> bool:
            """The figure being drawn joins the camera's lines or zones (replacing one of its id)."""
            fractions = [[round(x / width, 4), round(y / height, 4)] for x, y in points]
            name = (item_id.value or "").strip()
            kind = state["mode"]
            needed = {"door": 3, "passby": 2, "zone": 3}[kind]
            if not name or len(fractions) < needed or not width or not height:
                return not points  # nothing drawn is fine; half a figure is not
            if kind == "zone":
                zones[:] = [z for z in zones if z["id"] != name] + [{"id": name, "polygon": fractions}]
            else:
                new = {"id": name, "kind": kind, "a": fractions[0], "b": fractions[1]}
                if kind == "door":
                    new["inside"] = fractions[2]
                lines[:] = [line for line in lines if line["id"] != name] + [new]
            points.clear()
            return True

        async def save() -> None:
            if not add_drawn():
                ui.notify(hint(), type="warning")
                return
            try:
                await page.api.send(
                    "PATCH", f"/sites/{page.site_id}/devices/{device['id']}", {"lines": lines, "zones": zones}
                )
            except ApiError as error:
                page.notify_error(error)
                return
            ui.notify(page.t("settings.line_saved"), type="positive")
            dialog.close()
            ui.navigate.to(page.url(tab="devices"))

        with ui.row():
            ui.button(page.t("common.cancel"), on_click=dialog.close).props("flat")
            ui.button(page.t("common.save"), on_click=save).props("unelevated").props(tid("line-save"))
    list_items()
    redraw()
    dialog.on("hide", dialog.delete)
    dialog.open()
