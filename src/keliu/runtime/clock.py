"""Recorded video on its own clock (录像时间): when a recorded file's first frame happened.

Footage from last Tuesday must land on last Tuesday. The start of a file's clock is, first found:

1. ``keliu process --recorded-at`` (one start for every recorded camera of that run);
2. the camera's ``recorded_at`` in the site config;
3. the container's ``creation_time`` tag (MP4/MOV/MKV, written by most NVR exports and cameras; a
   time without an offset is UTC, as the MP4 format defines it), on the container or else on its
   video stream; a tag outside the years keliu handles (e.g. 1904 or 1970: an unset clock) is ignored;
4. the file's modification time (the weakest guess: copying a file changes it).

``keliu process`` prints which one it used for each camera (docs/configuration.md, "Recorded
files: which clock"). Reads only the container header; never decodes frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from keliu.config import CameraConfig
from keliu.domain.bounds import day_in_bounds

__all__ = ["ClockSource", "RecordingClock", "container_creation_time", "recording_clock"]

ClockSource = Literal["option", "config", "container", "mtime"]

_DESCRIPTIONS: dict[ClockSource, str] = {
    "option": "from --recorded-at",
    "config": "from the camera's recorded_at",
    "container": "from the file's creation_time tag",
    "mtime": "from the file's modification time (give recorded_at or --recorded-at if that is wrong)",
}


@dataclass(frozen=True)
class RecordingClock:
    """When a file's first frame was recorded (aware, UTC) and where that time came from."""

    started_at: datetime
    source: ClockSource

    def describe(self) -> str:
        """E.g. ``2026-03-07T02:00:00+00:00 (from the file's creation_time tag)``."""
        return f"{self.started_at.isoformat()} ({_DESCRIPTIONS[self.source]})"


def _file_path(source: str) -> str:
    return source[len("file://") :] if source.startswith("file://") else source


def _parse_tag(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)  # MP4/QuickTime creation times are UTC
    value = value.astimezone(UTC)
    return value if day_in_bounds(value.date()) else None


def container_creation_time(path: str | Path) -> datetime | None:
    """The ``creation_time`` tag of a video file's container (or of its first video stream), as an
    aware UTC time; None when it is absent, unreadable or implausible."""
    import av

    try:
        with av.open(str(path)) as container:
            tags = [container.metadata.get("creation_time")]
            if container.streams.video:
                tags.append(container.streams.video[0].metadata.get("creation_time"))
    except (av.error.FFmpegError, OSError):
        return None
    for tag in tags:
        if tag and (value := _parse_tag(str(tag))) is not None:
            return value
    return None


def recording_clock(camera: CameraConfig, override: datetime | None = None) -> RecordingClock:
    """The clock of a recorded camera's file: ``override`` (``--recorded-at``), the config's
    ``recorded_at``, the container's creation time, or the file's modification time (module
    docstring). Times must be aware."""
    if override is not None:
        if override.tzinfo is None or override.utcoffset() is None:
            raise ValueError("override must be timezone-aware")
        return RecordingClock(override.astimezone(UTC), "option")
    if camera.recorded_at is not None:
        return RecordingClock(camera.recorded_at.astimezone(UTC), "config")
    path = _file_path(camera.source)
    created = container_creation_time(path)
    if created is not None:
        return RecordingClock(created, "container")
    return RecordingClock(datetime.fromtimestamp(Path(path).stat().st_mtime, UTC), "mtime")
