"""设置 › 位置 Locations: the site's entrances (出入口, named door lines in groups, the main one marked)
and its areas (楼层 floors, 商铺 shops with floor, 业态 category and area, 区域 zones, 接待区 reception),
shown as tables; a row (or 新增 add) opens a form, and saving it sends the whole list in one API call
(``PUT …/entrances``, ``PUT …/areas``): the API checks it and says what is wrong. A table per list
and one form at a time keep the page light for a mall of hundreds of shops. Must not reach the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nicegui import ui

from keliu.ui.shell import Page, tid
from keliu.ui.widgets import send_and_reload, table

AREA_KINDS = ("shop", "floor", "area", "reception")


def category_text(levels: Sequence[str] | None) -> str:
    return " > ".join(levels or [])


def category_levels(text: str | None) -> list[str]:
    """``餐饮 > 轻食 > 咖啡`` (or with / or ＞) → three levels."""
    cleaned = (text or "").replace("＞", ">").replace("/", ">")
    return [part.strip() for part in cleaned.split(">") if part.strip()]


async def locations_tab(page: Page) -> None:
    entrances = await page.api.get(f"/sites/{page.site_id}/entrances")
    areas = await page.api.get(f"/sites/{page.site_id}/areas")
    can_edit = page.role in ("admin", "manager")
    entrances_card(page, entrances, can_edit)
    areas_card(page, areas, can_edit)


async def save_list(page: Page, what: str, items: list[dict[str, Any]]) -> bool:
    """``PUT`` the whole list; the page is read again on success (an error is shown, nothing lost)."""
    return await send_and_reload(page, "PUT", f"/sites/{page.site_id}/{what}", {what: items}, tab="locations")


def entrances_card(page: Page, data: dict[str, Any], can_edit: bool) -> None:
    """One row per door line of the site's cameras: a line with a name is an entrance."""
    named = {(e["camera_id"], e["line_id"]): e for e in data["entrances"]}
    lines = [(d["camera_id"], d["line_id"]) for d in data["door_lines"]]
    lines += [key for key in named if key not in lines]  # an entrance whose line has gone
    rows = [
        {
            "key": f"{camera_id}/{line_id}",
            "line": f"{camera_id} / {line_id}",
            "name": named.get((camera_id, line_id), {}).get("name", ""),
            "group": named.get((camera_id, line_id), {}).get("group") or "",
            "main": "✓" if named.get((camera_id, line_id), {}).get("is_main") else "",
        }
        for camera_id, line_id in lines
    ]

    def body(edited: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out = []
        for (camera_id, line_id), row in zip(lines, rows, strict=True):
            current = edited if edited and edited["key"] == row["key"] else None
            name = (current or row)["name"].strip()
            if not name:
                continue  # a line without a name is not an entrance
            out.append(
                {
                    "camera_id": camera_id,
                    "line_id": line_id,
                    "name": name,
                    "group": ((current or row)["group"] or "").strip() or None,
                    "is_main": bool(current["is_main"]) if current else row["main"] == "✓",
                }
            )
        return out

    def edit(row: dict[str, Any]) -> None:
        with ui.dialog() as dialog, ui.card().classes("min-w-80").props(tid("entrance-form")):
            ui.label(row["line"]).classes("text-base font-semibold")
            name = (
                ui.input(page.t("common.name"), value=row["name"])
                .props("dense outlined")
                .props(tid("entrance-name"))
            )
            group = ui.input(page.t("locations.group"), value=row["group"]).props("dense outlined")
            main = ui.checkbox(page.t("locations.main"), value=row["main"] == "✓")

            async def save() -> None:
                edited = {
                    "key": row["key"],
                    "name": name.value or "",
                    "group": group.value,
                    "is_main": main.value,
                }
                if await save_list(page, "entrances", body(edited)):
                    dialog.close()

            with ui.row():
                ui.button(page.t("common.cancel"), on_click=dialog.close).props("flat")
                ui.button(page.t("common.save"), on_click=save).props("unelevated").props(
                    tid("entrance-save")
                )
        dialog.on("hide", dialog.delete)
        dialog.open()

    with ui.card().classes("w-full shadow-sm").props(tid("entrances")):
        ui.label(page.t("settings.entrances")).classes("text-base font-semibold")
        ui.label(page.t("locations.entrances_hint")).classes("text-xs text-slate-500")
        if not lines:
            ui.label(page.t("locations.no_door_lines")).classes("text-slate-500")
            return
        entrances_table = table(
            [
                ("line", page.t("settings.camera")),
                ("name", page.t("common.name")),
                ("group", page.t("locations.group")),
                ("main", page.t("locations.main")),
            ],
            rows,
            mark="table-entrances",
        )
        if can_edit:
            entrances_table.classes("cursor-pointer")
            entrances_table.on("rowClick", lambda e: edit(e.args[1]))


AREA_FIELDS = ("zone_id", "kind", "name", "floor", "building", "category", "area_m2")


def areas_card(page: Page, data: dict[str, Any], can_edit: bool) -> None:
    """The areas in a table; a row opens its form (a zone of the cameras, kind, name, floor …)."""
    areas = [{k: a.get(k) for k in AREA_FIELDS} for a in data["areas"]]
    zone_options = {z["zone_id"]: f"{z['zone_id']} ({z['camera_id']})" for z in data["zones"]}
    for area in areas:
        zone_options.setdefault(area["zone_id"], area["zone_id"])
    kinds = {k: page.t(f"area.{k}") for k in AREA_KINDS}

    def edit(index: int | None) -> None:
        area: dict[str, Any] = areas[index] if index is not None else {"kind": "shop", "category": []}
        with ui.dialog() as dialog, ui.card().classes("min-w-96").props(tid("area-form")):
            ui.label(page.t("settings.areas")).classes("text-base font-semibold")
            zone = ui.select(
                zone_options, value=area.get("zone_id"), label=page.t("analysis.zone"), with_input=True
            )
            zone.props("dense outlined").classes("w-full").props(tid("area-zone"))
            kind = ui.select(kinds, value=area.get("kind", "shop"), label=page.t("reports.kind"))
            kind.props("dense outlined").classes("w-full")
            name = ui.input(page.t("common.name"), value=area.get("name") or "").props("dense outlined")
            name.classes("w-full").props(tid("area-name"))
            with ui.row().classes("w-full gap-2 no-wrap"):
                floor = ui.number(page.t("locations.floor"), value=area.get("floor"), format="%d")
                floor.props("dense outlined").classes("flex-1")
                building = ui.input(page.t("locations.building"), value=area.get("building") or "")
                building.props("dense outlined").classes("flex-1")
            with ui.row().classes("w-full gap-2 no-wrap"):
                category = ui.input(page.t("locations.category"), value=category_text(area.get("category")))
                category.props("dense outlined").classes("flex-1")
                size = (
                    ui.number("m²", value=area.get("area_m2"), min=0).props("dense outlined").classes("w-28")
                )

            async def save() -> None:
                edited = {
                    "zone_id": zone.value or "",
                    "kind": kind.value,
                    "name": (name.value or "").strip(),
                    "floor": None if floor.value in (None, "") else int(floor.value),
                    "building": (building.value or "").strip() or None,
                    "category": category_levels(category.value),
                    "area_m2": None if not size.value else float(size.value),
                }
                if index is None:
                    changed = [*areas, edited]
                else:
                    changed = [edited if i == index else a for i, a in enumerate(areas)]
                if await save_list(page, "areas", changed):
                    dialog.close()

            async def remove() -> None:
                if index is not None and await save_list(
                    page, "areas", [a for i, a in enumerate(areas) if i != index]
                ):
                    dialog.close()

            with ui.row().classes("w-full"):
                if index is not None:
                    ui.button(page.t("common.delete"), icon="delete", on_click=remove).props(
                        "flat color=negative"
                    ).props(tid("area-remove"))
                ui.space()
                ui.button(page.t("common.cancel"), on_click=dialog.close).props("flat")
                ui.button(page.t("common.save"), on_click=save).props("unelevated").props(tid("area-save"))
        dialog.on("hide", dialog.delete)
        dialog.open()

    with ui.card().classes("w-full shadow-sm").props(tid("areas")):
        with ui.row().classes("w-full items-center"):
            ui.label(page.t("settings.areas")).classes("text-base font-semibold")
            ui.space()
            if can_edit:
                ui.button(page.t("common.add"), icon="add", on_click=lambda: edit(None)).props(
                    "outline dense"
                ).props(tid("area-add"))
        ui.label(page.t("locations.areas_hint")).classes("text-xs text-slate-500")
        rows = [
            {
                **a,
                "index": i,
                "kind": kinds.get(a["kind"], a["kind"]),
                "category": category_text(a["category"]),
                "floor": "" if a["floor"] is None else a["floor"],
                "area_m2": "" if a["area_m2"] is None else a["area_m2"],
            }
            for i, a in enumerate(areas)
        ]
        areas_table = table(
            [
                ("zone_id", page.t("analysis.zone")),
                ("kind", page.t("reports.kind")),
                ("name", page.t("common.name")),
                ("floor", page.t("locations.floor")),
                ("building", page.t("locations.building")),
                ("category", page.t("locations.category")),
                ("area_m2", "m²"),
            ],
            rows,
            mark="table-areas",
        )
        if can_edit:
            areas_table.classes("cursor-pointer")
            areas_table.on("rowClick", lambda e: edit(int(e.args[1]["index"])))
