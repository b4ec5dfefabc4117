"""位置 a site's locations: entrances and entrance groups (出入口/出入口组, ``/entrances``) and areas —
floors (楼层), shops (商铺, with floor, 三级业态 category and area), areas (区域) and reception zones
(接待区) — over the cameras' zones (``/areas``).

Any user of the site reads them; administrators and managers replace them as a whole (PUT), checked
like a site config's ``analytics`` section (``SiteConfig.reference_errors``): an entrance names a
door line some camera of the site has (never a pass-by line), an area a zone some camera has, each at
most once. A zone id that already has an area (e.g. one the demo generator stored) stays valid. Every
change is in the audit log. ``keliu process`` with a site config that has an ``analytics`` section
replaces them again from the file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from keliu.errors import InputError
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.service.models import Body
from keliu.store import Store
from keliu.store.accounts import User
from keliu.store.reference import Area, Entrance

router = APIRouter(tags=["locations"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-\u4e00-\u9fff]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
MAX_ITEMS = 1000


class EntranceIn(Body):
    camera_id: Id
    line_id: Id = Field(description="a door line of that camera")
    name: Name = Field(description="出入口 name, e.g. 北门1")
    group: Name | None = Field(None, description="出入口组, e.g. 北门")
    is_main: bool = Field(False, description="主入口")


class EntrancesIn(Body):
    entrances: list[EntranceIn] = Field(max_length=MAX_ITEMS)


class DoorLine(BaseModel):
    camera_id: str
    line_id: str


class EntranceGroup(BaseModel):
    name: str = Field(description="出入口组 (an entrance without a group is a group of its own)")
    entrances: list[str] = Field(description="camera_id/line_id of its entrances")


class EntranceOut(BaseModel):
    camera_id: str
    line_id: str
    name: str
    group: str | None
    is_main: bool


class EntrancesOut(BaseModel):
    entrances: list[EntranceOut]
    groups: list[EntranceGroup]
    door_lines: list[DoorLine] = Field(description="the door lines an entrance may name")


class AreaIn(Body):
    zone_id: Id = Field(description="a zone of one of the site's cameras")
    kind: Literal["shop", "floor", "area", "reception"] = Field(
        description="shop 商铺, floor 楼层, area 区域, reception 接待区"
    )
    name: Name
    floor: int | None = Field(None, ge=-20, le=300, description="楼层 number (B1 = -1)")
    building: Name | None = None
    category: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=3, description="三级业态, up to three levels: 餐饮 > 轻食 > 咖啡"
    )
    area_m2: float | None = Field(None, gt=0, le=1e7, description="面积 m²")


class AreasIn(Body):
    areas: list[AreaIn] = Field(max_length=MAX_ITEMS)


class CameraZone(BaseModel):
    camera_id: str
    zone_id: str


class AreaOut(BaseModel):
    zone_id: str
    kind: str
    name: str
    floor: int | None
    building: str | None
    category: list[str]
    area_m2: float | None


class AreasOut(BaseModel):
    areas: list[AreaOut]
    zones: list[CameraZone] = Field(description="the cameras' zones an area may name")


def _refuse(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(errors[0] + more)


def _entrances_out(store: Store, site_id: str) -> EntrancesOut:
    entrances = store.entrances(site_id)
    groups: dict[str, list[str]] = {}
    for e in entrances:
        groups.setdefault(e.group or e.name, []).append(f"{e.camera_id}/{e.line_id}")
    return EntrancesOut(
        entrances=[
            EntranceOut(
                camera_id=e.camera_id, line_id=e.line_id, name=e.name, group=e.group, is_main=e.is_main
            )
            for e in entrances
        ],
        groups=[EntranceGroup(name=name, entrances=keys) for name, keys in groups.items()],
        door_lines=[
            DoorLine(camera_id=c.camera_id, line_id=line.id)
            for c in store.cameras(site_id)
            for line in c.lines
            if line.id not in c.passby_lines
        ],
    )


def _areas_out(store: Store, site_id: str) -> AreasOut:
    return AreasOut(
        areas=[
            AreaOut(
                zone_id=a.zone_id,
                kind=a.kind,
                name=a.name,
                floor=a.floor,
                building=a.building,
                category=list(a.category),
                area_m2=a.area_m2,
            )
            for a in store.areas(site_id)
        ],
        zones=[
            CameraZone(camera_id=c.camera_id, zone_id=z.id) for c in store.cameras(site_id) for z in c.zones
        ],
    )


@router.get(
    "/sites/{site_id}/entrances", response_model=EntrancesOut, summary="Entrances (出入口) and groups"
)
def get_entrances(site_id: SiteScope, request: Request) -> EntrancesOut:
    return _entrances_out(get_store(request), site_id)


@router.put("/sites/{site_id}/entrances", response_model=EntrancesOut, summary="Replace the entrances")
def put_entrances(site_id: SiteScope, body: EntrancesIn, request: Request, user: Manager) -> EntrancesOut:
    store = get_store(request)
    cameras = store.cameras(site_id)
    door = {(c.camera_id, ln.id) for c in cameras for ln in c.lines if ln.id not in c.passby_lines}
    passby = {(c.camera_id, ln) for c in cameras for ln in c.passby_lines}
    errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(body.entrances):
        key = (e.camera_id, e.line_id)
        if key in passby:
            errors.append(
                f"entrances.{i}: {e.camera_id}/{e.line_id} is a pass-by line; an entrance names a door line"
            )
        elif key not in door:
            errors.append(f"entrances.{i}: camera {e.camera_id!r} has no door line {e.line_id!r}")
        elif key in seen:
            errors.append(f"entrances.{i}: {e.camera_id}/{e.line_id} is listed twice")
        seen.add(key)
    _refuse(errors)
    store.set_entrances(
        site_id, [Entrance(e.camera_id, e.line_id, e.name, e.group, e.is_main) for e in body.entrances]
    )
    audit(request, user, "entrances_changed", site_id=site_id, details={"entrances": len(body.entrances)})
    return _entrances_out(store, site_id)


@router.get(
    "/sites/{site_id}/areas", response_model=AreasOut, summary="Areas: floors (楼层), shops (商铺), zones"
)
def get_areas(site_id: SiteScope, request: Request) -> AreasOut:
    return _areas_out(get_store(request), site_id)


@router.put("/sites/{site_id}/areas", response_model=AreasOut, summary="Replace the areas")
def put_areas(site_id: SiteScope, body: AreasIn, request: Request, user: Manager) -> AreasOut:
    store = get_store(request)
    zones = {z.id for c in store.cameras(site_id) for z in c.zones}
    stored = {a.zone_id for a in store.areas(site_id)}
    areas = [
        Area(a.zone_id, a.kind, a.name, a.floor, a.building, tuple(a.category), a.area_m2) for a in body.areas
    ]
    errors: list[str] = []
    seen: set[str] = set()
    for i, a in enumerate(areas):
        if a.zone_id not in zones and a.zone_id not in stored:
            errors.append(f"areas.{i}.zone_id: no camera has a zone {a.zone_id!r}")
        elif a.zone_id in seen:
            errors.append(f"areas.{i}: zone {a.zone_id!r} is listed twice")
        seen.add(a.zone_id)
    _refuse(errors)
    store.set_areas(site_id, areas)
    audit(request, user, "areas_changed", site_id=site_id, details={"areas": len(areas)})
    return _areas_out(store, site_id)
