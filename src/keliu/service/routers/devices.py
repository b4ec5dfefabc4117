"""Devices (设备, ``/api/v1/sites/{site_id}/devices``): a site's cameras with their door lines (进店线),
pass-by lines (过店线) and zones, and live status while the service runs them; cameras added, changed
and removed while the service runs, without a restart of the others.

Any user who may see the site reads its devices; administrators and the site's managers add, change
and remove them (every change is in the audit log). A new or changed device is validated as a
``CameraConfig`` (``keliu.config``) and its source by ``keliu.service.devices`` (streams, usb cameras,
or files under the service's ``video_dir``). The source is never answered with its credentials
(``mask_credentials``) and is stored encrypted. Cameras of a site config file (``--sites-config``,
the demo) are listed too but are changed in that file, not here (409).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from keliu.config import CameraConfig, CountingConfig, Identifier, TrackerConfig
from keliu.errors import Conflict, NotFound
from keliu.runtime.supervisor import CameraInfo
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.service.devices import camera_of, check_source, check_source_form
from keliu.service.models import Body, Page
from keliu.service.runtime import ServiceRuntime
from keliu.store import CameraRecord
from keliu.store.accounts import User
from keliu.store.devices import Device
from keliu.vision.sources import mask_credentials

__all__ = ["DeviceChange", "DeviceIn", "DeviceOut", "DeviceStatus", "router"]

router = APIRouter(tags=["devices"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
CameraId = Annotated[str, Path(min_length=1, max_length=255, description="the camera's id")]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PointIn = Annotated[list[Fraction], Field(min_length=2, max_length=2, description="[x, y] frame fractions")]
MAX_LINES = 32
MAX_ZONES = 32


# ------------------------------------------------------------------------------------------ bodies


class LineIn(Body):
    """A door line (进店线: ``inside`` is any point on the store side) or a pass-by line (过店线,
    ``kind: passby``: every crossing is a passer-by), in frame fractions."""

    id: Identifier
    kind: Literal["door", "passby"] = "door"
    a: PointIn
    b: PointIn
    inside: PointIn | None = Field(None, description="required for a door line")


class ZoneIn(Body):
    id: Identifier
    polygon: list[PointIn] = Field(min_length=3, max_length=64, description="corners in order")


class TrackerIn(TrackerConfig):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CountingIn(CountingConfig):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DeviceIn(Body):
    """A new camera. ``source``: ``rtsp://``/``rtsps://``/``http(s)://`` URL (credentials allowed:
    stored encrypted, never answered), ``usb:N``, or a video file under the service's ``video_dir``
    (played in a loop like a live camera)."""

    id: Identifier = Field(description="unique within the site")
    name: str | None = Field(None, min_length=1, max_length=120)
    source: str = Field(min_length=1, max_length=2000)
    analysis_fps: float = Field(10.0, gt=0, le=120, description="frames analysed per second of video")
    live_max_fps: float | None = Field(None, gt=0, le=120, description="live cap; default 1.5 × analysis_fps")
    lines: list[LineIn] = Field(default_factory=list, max_length=MAX_LINES)
    zones: list[ZoneIn] = Field(default_factory=list, max_length=MAX_ZONES)
    tracker: TrackerIn | None = None
    counting: CountingIn | None = None

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        return check_source_form(value)


class DeviceChange(Body):
    """What to change; a field left out (or null) stays as it is. New lines or zones replace all of
    the camera's lines or zones and are taken at its next frame; a new source or rate restarts this
    camera alone."""

    name: str | None = Field(None, min_length=1, max_length=120)
    source: str | None = Field(None, min_length=1, max_length=2000)
    analysis_fps: float | None = Field(None, gt=0, le=120)
    live_max_fps: float | None = Field(None, gt=0, le=120)
    lines: list[LineIn] | None = Field(None, max_length=MAX_LINES)
    zones: list[ZoneIn] | None = Field(None, max_length=MAX_ZONES)
    tracker: TrackerIn | None = None
    counting: CountingIn | None = None

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        return None if value is None else check_source_form(value)


# --------------------------------------------------------------------------------------- answers


class LineOut(BaseModel):
    id: str
    kind: Literal["door", "passby"]
    a: tuple[float, float]
    b: tuple[float, float]
    inside: tuple[float, float]


class ZoneOut(BaseModel):
    id: str
    polygon: list[tuple[float, float]]


class DeviceStatus(BaseModel):
    """The camera as the service runs it now (counters since it was started)."""

    state: Literal["starting", "online", "offline", "finished", "stopped"]
    online: bool
    reason: str = Field(description="why it is in this state, e.g. 'unreachable: connection refused'")
    since: datetime
    last_frame_at: datetime | None
    frames: int = Field(description="frames analysed")
    fps: float = Field(description="frames analysed per second, lately")
    detections: int
    crossings: int
    sightings: int
    skipped_frames: int = Field(description="live frames over the live cap")
    outages: int
    restarts: int
    errors: int
    last_error: str | None


class DeviceOut(BaseModel):
    id: str
    name: str | None
    managed_by: Literal["api", "config"] = Field(
        description="api: added through the API (changed here); config: from a site config file or the demo"
    )
    source: str | None = Field(
        description="credentials masked; null when unknown (a config camera not running)"
    )
    analysis_fps: float | None = None
    live_max_fps: float | None = None
    lines: list[LineOut]
    zones: list[ZoneOut]
    online: bool | None = Field(None, description="live status while the service runs this camera")
    last_frame_at: datetime | None = None
    status: DeviceStatus | None = Field(None, description="null while the service does not run it")
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _status(info: CameraInfo | None) -> DeviceStatus | None:
    if info is None:
        return None
    return DeviceStatus(
        state=info.state,
        online=info.online,
        reason=info.reason,
        since=info.since,
        last_frame_at=info.last_frame_at,
        frames=info.frames,
        fps=round(info.fps, 2),
        detections=info.detections,
        crossings=info.crossings,
        sightings=info.sightings,
        skipped_frames=info.skipped_frames,
        outages=info.outages,
        restarts=info.restarts,
        errors=info.errors,
        last_error=None if info.last_error is None else mask_credentials(info.last_error),
    )


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _device_out(runtime: ServiceRuntime, record: CameraRecord, device: Device | None) -> DeviceOut:
    info = runtime.camera_status(record.site_id, record.camera_id)
    config = device.config if device is not None else {}
    source = mask_credentials(device.source) if device is not None else (info.source if info else None)
    return DeviceOut(
        id=record.camera_id,
        name=record.name,
        managed_by="api" if device is not None else "config",
        source=source,
        analysis_fps=config.get("analysis_fps"),
        live_max_fps=config.get("live_max_fps"),
        lines=[
            LineOut(
                id=ln.id,
                kind="passby" if ln.id in record.passby_lines else "door",
                a=ln.a,
                b=ln.b,
                inside=ln.inside,
            )
            for ln in record.lines
        ],
        zones=[ZoneOut(id=z.id, polygon=list(z.polygon)) for z in record.zones],
        online=None if info is None else info.online,
        last_frame_at=None if info is None else info.last_frame_at,
        status=_status(info),
        created_at=None if device is None else device.created_at,
        updated_at=None if device is None else device.updated_at,
    )


def _one(request: Request, site_id: str, camera_id: str) -> DeviceOut:
    store = get_store(request)
    record = next((c for c in store.cameras(site_id) if c.camera_id == camera_id), None)
    if record is None:
        raise NotFound(f"site {site_id!r} has no camera {camera_id!r}")
    device = store.device(site_id, camera_id) if store.is_device(site_id, camera_id) else None
    return _device_out(_runtime(request), record, device)


def _api_device(request: Request, site_id: str, camera_id: str) -> Device:
    """The API device, or NotFound (no such camera) / Conflict (a camera of a site config file)."""
    store = get_store(request)
    if store.is_device(site_id, camera_id):
        return store.device(site_id, camera_id)
    if any(c.camera_id == camera_id for c in store.cameras(site_id)):
        raise Conflict(
            f"camera {camera_id!r} comes from the site's config file (or the demo): change it there"
        )
    raise NotFound(f"site {site_id!r} has no camera {camera_id!r}")


def _camera(data: dict[str, Any], request: Request, *, new_source: bool = True) -> CameraConfig:
    """``data`` validated as a camera (422 naming the field), a new source checked for the API (400)."""
    if new_source:
        data["source"] = check_source(data["source"], request.app.state.settings.video_dir)
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


# ---------------------------------------------------------------------------------------- routes


@router.get("/sites/{site_id}/devices", response_model=Page[DeviceOut], summary="Cameras (设备) of a site")
def list_devices(site_id: SiteScope, request: Request) -> Page[DeviceOut]:
    store, runtime = get_store(request), _runtime(request)
    devices = {d.camera_id: d for d in store.devices(site_id)}
    items = [_device_out(runtime, c, devices.get(c.camera_id)) for c in store.cameras(site_id)]
    return Page[DeviceOut](items=items, total=len(items), limit=max(len(items), 1), offset=0)


@router.post(
    "/sites/{site_id}/devices",
    response_model=DeviceOut,
    status_code=201,
    summary="Add a camera; it starts at once",
)
def add_device(site_id: SiteScope, body: DeviceIn, request: Request, user: Manager) -> DeviceOut:
    camera = _camera(body.model_dump(exclude_none=True), request)
    _runtime(request).add_device(site_id, camera, created_by=user.username)
    audit(
        request,
        user,
        "device_added",
        site_id=site_id,
        target=camera.id,
        details={
            "source": mask_credentials(camera.source),
            "lines": [line.id for line in camera.lines],
            "zones": [zone.id for zone in camera.zones],
        },
    )
    return _one(request, site_id, camera.id)


@router.get(
    "/sites/{site_id}/devices/{camera_id}", response_model=DeviceOut, summary="A camera and its status"
)
def get_device(site_id: SiteScope, camera_id: CameraId, request: Request) -> DeviceOut:
    return _one(request, site_id, camera_id)


@router.patch(
    "/sites/{site_id}/devices/{camera_id}",
    response_model=DeviceOut,
    summary="Change a camera: lines and zones at its next frame, a new source restarts it alone",
)
def change_device(
    site_id: SiteScope, camera_id: CameraId, body: DeviceChange, request: Request, user: Manager
) -> DeviceOut:
    current = camera_of(_api_device(request, site_id, camera_id))
    changes = body.model_dump(exclude_none=True)
    data = {**current.model_dump(mode="json"), **changes}
    camera = _camera(data, request, new_source="source" in changes) if changes else current
    _runtime(request).update_device(site_id, camera)
    audit(
        request,
        user,
        "device_changed",
        site_id=site_id,
        target=camera_id,
        details={"fields": sorted(changes)},
    )
    return _one(request, site_id, camera_id)


@router.delete(
    "/sites/{site_id}/devices/{camera_id}",
    status_code=204,
    summary="Remove a camera; it stops, what it counted stays",
)
def remove_device(site_id: SiteScope, camera_id: CameraId, request: Request, user: Manager) -> Response:
    _api_device(request, site_id, camera_id)
    if not _runtime(request).remove_device(site_id, camera_id):
        raise NotFound(f"site {site_id!r} has no camera {camera_id!r}")
    audit(request, user, "device_removed", site_id=site_id, target=camera_id)
    return Response(status_code=204)
