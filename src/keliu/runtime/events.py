"""The events of the runtime (运行时事件): what cameras and the resolution workers publish on the bus.

Every event is a frozen dataclass with the site it belongs to (``site_id``) and when it happened
(``at``, UTC). Producers and consumers (docs/architecture.md, "Event flow"):

=================  ==================================  ======================================
event              published by                        consumed by (today)
=================  ==================================  ======================================
SightingSeen       a camera (track ended, 出现)        the site's resolution worker (lossless)
CrossingCounted    a camera (a door line, in time      live views (lossy)
                   order per camera, 进/出)
FrameStats         a camera, about once a second       live views, metrics
CameraStatus       a camera (在线/离线, starting,       live views, metrics; the service
                   finished, stopped, error)
CameraOutage       a camera (设备离线 start and end)    the resolution worker (stored)
VisitChanged       the resolution worker (到店 arrival  live push, webhooks (later)
                   or an update of a visit)
StaffSuggested     the resolution worker's timer       the service (a manager confirms)
=================  ==================================  ======================================

Events carry no pixels. Must not import the store, the CLI or a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from keliu.domain.visits import Sighting, Visit
from keliu.resolve import StaffSuggestion

__all__ = [
    "CameraOutage",
    "CameraState",
    "CameraStatus",
    "CrossingCounted",
    "Event",
    "FrameStats",
    "SightingSeen",
    "StaffSuggested",
    "VisitChanged",
]

CameraState = Literal["starting", "online", "offline", "finished", "stopped"]
"""starting: opening its source; online: frames flow; offline: unreachable, crashed or restarting
(``reason`` says why); finished: a recorded file reached its end; stopped: removed or shut down."""


@dataclass(frozen=True, kw_only=True)
class Event:
    site_id: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class SightingSeen(Event):
    """A camera's view of one person ended (``at`` = its last_seen)."""

    sighting: Sighting

    @property
    def camera_id(self) -> str:
        return self.sighting.camera_id


@dataclass(frozen=True, kw_only=True)
class CrossingCounted(Event):
    """One door-line crossing (进 in / 出 out), released in time order per camera."""

    camera_id: str
    line_id: str
    direction: Literal["in", "out"]
    track_id: int
    t_s: float  # seconds of stream (files: of video) time


@dataclass(frozen=True, kw_only=True)
class FrameStats(Event):
    """A camera's counters (cumulative since the camera was added) and its recent analysis rate."""

    camera_id: str
    frames: int  # frames analysed
    fps: float  # analysed frames per second over the last interval
    detections: int  # person boxes detected
    crossings: int
    sightings: int
    in_view: int  # people tracked in the last analysed frame
    video_s: float  # stream/video time of the last analysed frame


@dataclass(frozen=True, kw_only=True)
class CameraStatus(Event):
    """A camera's state changed (see `CameraState`); ``reason`` is a short sentence, no credentials."""

    camera_id: str
    state: CameraState
    reason: str = ""
    restarts: int = 0


@dataclass(frozen=True, kw_only=True)
class CameraOutage(Event):
    """设备离线: a live camera delivered no frames from ``started_at``; published when the outage starts
    (``ended_at`` None) and again when frames flow (``ended_at`` set). ``attempts``: failed
    reconnections so far; ``reason``: the last error (credentials masked)."""

    camera_id: str
    started_at: datetime
    ended_at: datetime | None
    attempts: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class VisitChanged(Event):
    """A visit was created (``kind`` "arrival", 到店) or changed (a re-entry, an exit, a batch, its
    category), after it was committed to the store."""

    visit: Visit
    kind: Literal["arrival", "update"]


@dataclass(frozen=True, kw_only=True)
class StaffSuggested(Event):
    """员工建议: people who look like staff on ``day`` (never enrolled automatically)."""

    day: date
    suggestions: tuple[StaffSuggestion, ...]
