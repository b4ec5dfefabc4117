"""A device's current frame (``/api/v1/sites/{site_id}/devices/{camera_id}/snapshot``), as a JPEG on
which the settings page draws door lines, pass-by lines and zones with the mouse.

The frame lives in memory only: it is the running camera's last analysed frame when that is recent
(``ServiceRuntime.latest_frame``), else the device's source opened once (``keliu.vision.snapshot``,
the same grab as ``keliu camera snapshot``). It is encoded and answered with ``Cache-Control:
no-store`` and never written to disk. ``X-Frame-Width``/``X-Frame-Height`` give its size in pixels;
the device's lines and zones are in fractions of that frame (x of the width, y of the height, 0–1,
origin top left), so a click at pixel (px, py) is the point [px / width, py / height].

Administrators and the site's managers only (the frame shows whoever is in view).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from keliu.config import CameraConfig
from keliu.errors import NotFound
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.service.devices import camera_of
from keliu.service.runtime import ServiceRuntime
from keliu.store.accounts import User
from keliu.vision.snapshot import encode_jpeg, grab_frame
from keliu.vision.sources import ReconnectPolicy

__all__ = ["router"]

router = APIRouter(tags=["devices"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
CameraId = Annotated[str, Path(min_length=1, max_length=255, description="the camera's id")]

RECENT_S = 5.0  # a running camera's frame at most this old is answered as it is
OPEN_TIMEOUT_S = 8.0  # … else the source is opened once, this long at most per attempt
_POLICY = ReconnectPolicy(initial_s=0.5, max_s=1.0, max_attempts=2, max_attempts_at_start=2)


def _camera(request: Request, runtime: ServiceRuntime, site_id: str, camera_id: str) -> CameraConfig:
    running = runtime.running_camera(site_id, camera_id)
    if running is not None:
        return running
    store = get_store(request)
    if store.is_device(site_id, camera_id):
        return camera_of(store.device(site_id, camera_id))
    raise NotFound(f"no device {camera_id!r} with a known source at this site")


@router.get(
    "/sites/{site_id}/devices/{camera_id}/snapshot",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "the frame, never stored"}},
    summary="The device's current frame as a JPEG (in memory only; lines are in frame fractions)",
)
def snapshot(site_id: SiteScope, camera_id: CameraId, request: Request, _: Manager) -> Response:
    runtime: ServiceRuntime = request.app.state.runtime
    image = runtime.latest_frame(site_id, camera_id, RECENT_S)
    origin = "live"
    if image is None:
        camera = _camera(request, runtime, site_id, camera_id)
        image = grab_frame(camera.source, reconnect=_POLICY, open_timeout_s=OPEN_TIMEOUT_S)
        origin = "opened"
    height, width = image.shape[:2]
    return Response(
        encode_jpeg(image),
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Width": str(width),
            "X-Frame-Height": str(height),
            "X-Frame-Origin": origin,
            "X-Coordinates": "fractions",
        },
    )
