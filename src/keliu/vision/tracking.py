"""Multi-object tracking behind keliu's own `Tracker` interface.

The association itself is Roboflow's maintained ByteTrack (``trackers`` package); this module owns
what keliu relies on: time-based (not frame-based) track lifetimes so frame skipping and variable
frame rates behave, and an explicit list of ended tracks so downstream state can be evicted.
Must not count, draw or store anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from keliu.domain.detections import Detections
from keliu.errors import ConfigError

__all__ = ["ByteTrackConfig", "ByteTracker", "TrackedBox", "Tracker", "TrackerUpdate", "build_tracker"]


@dataclass(frozen=True)
class TrackedBox:
    """A detection with the identity the tracker gave it."""

    track_id: int
    xyxy: tuple[float, float, float, float]
    confidence: float

    @property
    def foot_point(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands."""
        x1, _, x2, y2 = self.xyxy
        return ((x1 + x2) / 2.0, y2)

    @property
    def centre_point(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return ((x1 + x2) / 2.0, (y1 + y2) / 2.0)


@dataclass(frozen=True)
class TrackerUpdate:
    """What one frame changed: the tracked boxes seen now and the tracks that just ended."""

    boxes: list[TrackedBox]
    ended_track_ids: list[int]


class Tracker(Protocol):
    def update(self, detections: Detections, t_s: float) -> TrackerUpdate: ...

    def finish(self) -> list[int]:
        """End all live tracks (end of a file); returns their ids."""
        ...


@dataclass(frozen=True)
class ByteTrackConfig:
    """ByteTrack settings in seconds, independent of frame rate and frame skipping."""

    lost_track_s: float = 1.5
    track_activation_threshold: float = 0.45
    high_conf_det_threshold: float = 0.45
    minimum_iou_threshold: float = 0.1
    minimum_consecutive_frames: int = 2

    def __post_init__(self) -> None:
        if self.lost_track_s <= 0:
            raise ConfigError(f"tracker: lost_track_s must be > 0, got {self.lost_track_s}")


class ByteTracker:
    """ByteTrack with time-based lifetimes; reports ended track ids so callers can drop state."""

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        import supervision as sv
        import trackers

        self.config = config or ByteTrackConfig()
        self._sv = sv
        # The library measures its lost-track budget as ``lost_track_buffer / 30`` seconds when it
        # is given timestamps, whatever frame_rate says.
        self._impl = trackers.ByteTrackTracker(
            lost_track_buffer=max(1, round(self.config.lost_track_s * 30)),
            frame_rate=30.0,
            track_activation_threshold=self.config.track_activation_threshold,
            minimum_consecutive_frames=self.config.minimum_consecutive_frames,
            minimum_iou_threshold=self.config.minimum_iou_threshold,
            high_conf_det_threshold=self.config.high_conf_det_threshold,
        )
        self._last_seen_s: dict[int, float] = {}

    def update(self, detections: Detections, t_s: float) -> TrackerUpdate:
        sv_detections = self._sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence.astype(np.float32),
            class_id=np.zeros(len(detections), dtype=int),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._impl.update(sv_detections, timestamp=t_s)
        boxes: list[TrackedBox] = []
        ids = result.tracker_id if result.tracker_id is not None else np.zeros(0, dtype=int)
        confidences = result.confidence if result.confidence is not None else np.ones(len(result))
        for xyxy, track_id, confidence in zip(result.xyxy, ids, confidences, strict=True):
            if track_id < 0:
                continue
            tid = int(track_id)
            self._last_seen_s[tid] = t_s
            x1, y1, x2, y2 = (float(v) for v in xyxy)
            boxes.append(TrackedBox(tid, (x1, y1, x2, y2), float(confidence)))
        expired = t_s - self.config.lost_track_s
        ended = [tid for tid, seen in self._last_seen_s.items() if seen < expired]
        for tid in ended:
            del self._last_seen_s[tid]
        return TrackerUpdate(boxes, ended)

    def finish(self) -> list[int]:
        ended = list(self._last_seen_s)
        self._last_seen_s.clear()
        return ended


TRACKERS: dict[str, Callable[..., Tracker]] = {"bytetrack": ByteTracker}


def build_tracker(name: str = "bytetrack", **options: object) -> Tracker:
    """Build a tracker by its config name."""
    try:
        factory = TRACKERS[name]
    except KeyError:
        raise ConfigError(f"unknown tracker {name!r}; known: {', '.join(sorted(TRACKERS))}") from None
    return factory(ByteTrackConfig(**options)) if options else factory()  # type: ignore[arg-type]
