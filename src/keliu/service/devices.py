"""Devices (设备) managed through the API: which sources the API accepts, and the translation between a
validated ``CameraConfig`` and what the store keeps (``keliu.store.devices``).

Sources an API device may have (docs/api.md, "Devices"):

* ``rtsp://``, ``rtsps://``, ``http://``, ``https://`` URLs with a host — a network camera; user name
  and password may be in the URL: the store keeps the source encrypted and every answer masks them;
* ``usb:N`` or ``/dev/videoN`` — a camera on this machine;
* a video file under the service's ``video_dir`` (``KELIU_VIDEO_DIR``; no files without it), as an
  absolute path or relative to that directory. A file is played in real time and started again at
  its end, like a live camera (the supervisor's ``replay``): a service camera never "finishes";
  ``keliu process`` is the way to ingest recorded footage on its own clock.

Anything else (``file://`` elsewhere, other schemes, a path outside ``video_dir``, a missing file) is
refused before anything is stored or started, so an API client can neither read arbitrary files of
the server nor start a camera that can never run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from keliu.config import (
    AnalyticsConfig,
    CameraConfig,
    SiteConfig,
    SiteInfo,
    VisitorConfig,
)
from keliu.errors import ConfigError, InputError
from keliu.store import Store
from keliu.store.devices import Device, DeviceLine

__all__ = [
    "NETWORK_SCHEMES",
    "camera_of",
    "check_source",
    "check_source_form",
    "device_fields",
    "is_file_source",
    "stored_site_config",
]

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
_DEVICE = re.compile(r"(usb:\d{1,3}|/dev/video\d{1,3})")


def is_file_source(source: str) -> bool:
    """A video file (not a network stream or a camera device): played in a loop by the service."""
    return "://" not in source and not _DEVICE.fullmatch(source)


def check_source_form(source: str) -> str:
    """The checks that need no server setting (a request body's validator): no blanks or control
    characters; a network URL has an allowed scheme and a host; a file is not a ``file://`` URL.
    Raises ValueError with one sentence."""
    if source != source.strip() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in source):
        raise ValueError("the source must not contain spaces or control characters")
    if "://" in source:
        try:
            parts = urlsplit(source)
            parts.port  # noqa: B018 -- raises ValueError for a bad port
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in NETWORK_SCHEMES:
            raise ValueError(
                f"scheme {scheme or 'none'!r} is not allowed: use rtsp://, rtsps://, http(s)://, usb:N "
                "or a video file under the service's video_dir"
            )
        if not parts.hostname:
            raise ValueError("the URL has no host name")
        return source
    if source.lower().startswith("usb:") and not _DEVICE.fullmatch(source.lower()):
        raise ValueError("a USB camera is usb:N with N a number, e.g. usb:0")
    return source.lower() if source.lower().startswith("usb:") else source


def check_source(source: str, video_dir: Path | None) -> str:
    """``source`` as the camera will open it (a file: its absolute path), or InputError saying why
    the API does not accept it (module docstring)."""
    try:
        source = check_source_form(source)
    except ValueError as exc:
        raise InputError(f"source: {exc}") from None
    if not is_file_source(source):
        return source
    if video_dir is None:
        raise InputError(
            "source: video files are accepted only from the service's video_dir (KELIU_VIDEO_DIR), "
            "which is not set; use rtsp://…, http(s)://… or usb:N"
        )
    root = Path(video_dir).resolve()
    path = Path(source)
    try:
        resolved = (path if path.is_absolute() else root / path).resolve()
    except (OSError, RuntimeError, ValueError):
        raise InputError("source: not a usable file path") from None
    if not resolved.is_relative_to(root):
        raise InputError(f"source: video files must be under the service's video_dir ({root})")
    if not resolved.is_file():
        raise InputError(f"source: no such video file under the video_dir: {source}")
    return str(resolved)


def device_fields(camera: CameraConfig) -> dict[str, Any]:
    """The store's view of ``camera``: name, source, configuration JSON (without the source), lines
    and zones (``Store.add_device``/``update_device`` keyword arguments)."""
    return {
        "name": camera.name,
        "source": camera.source,
        "config": camera.model_dump(mode="json", exclude={"source"}),
        "lines": [DeviceLine(line.to_line(), line.kind) for line in camera.lines],
        "zones": [zone.to_zone() for zone in camera.zones],
    }


def camera_of(device: Device) -> CameraConfig:
    """The stored device's configuration, validated again (ConfigError if it no longer is valid)."""
    try:
        return CameraConfig.model_validate({**device.config, "source": device.source})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(config)"
        raise ConfigError(
            f"stored device {device.camera_id!r} of site {device.site_id!r}: {where}: {first['msg']}"
        ) from None


def stored_site_config(store: Store, site_id: str, cameras: list[CameraConfig]) -> SiteConfig:
    """A site as the resolution worker needs it, from the store (no site config file): its name and
    time zone, de-dup window and returning memory as stored, the defaults for the rest; the business
    hours are the stored ones (``resolver_for`` takes them over the config's). Built without
    re-validation: the store may hold values the YAML bounds do not allow (the API allows a de-dup
    window of up to 7 days, the YAML 72 h), and the resolver takes them as they are."""
    site = store.site(site_id)
    return SiteConfig.model_construct(
        site=SiteInfo.model_construct(id=site.site_id, name=site.name, timezone=site.timezone),
        visitors=VisitorConfig.model_construct(
            dedup_window_h=site.dedup_window_s / 3600.0,
            returning_memory_days=site.returning_memory_days,
        ),
        analytics=AnalyticsConfig(),
        cameras=list(cameras),
    )
