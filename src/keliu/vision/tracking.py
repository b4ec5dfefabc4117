"""Multi-object tracking behind keliu's own `Tracker` interface.

The association itself is the maintained ``trackers`` package (OC-SORT by default, ByteTrack on
request; chosen on measured accuracy, docs/benchmarks.md); this module owns
what keliu relies on: time-based (not frame-based) track lifetimes so frame skipping and variable
frame rates behave, and an explicit list of ended tracks so downstream state can be evicted.
Must not count, draw or store anything.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from keliu.domain.detections import Detections
from keliu.errors import ConfigError

__all__ = ["RelinkingTracker", "TrackedBox", "Tracker", "TrackerSettings", "TrackerUpdate", "build_tracker"]


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
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]

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
class TrackerSettings:
    """Association settings, in seconds where time matters (independent of frame rate and skipping).

    Defaults measured in bench/counting_accuracy.py and bench/tracking_metrics.py (docs/benchmarks.md).
    """

    algorithm: Literal["bytetrack", "ocsort"] = "ocsort"
    lost_track_s: float = 2.5
    track_activation_threshold: float = 0.45
    high_conf_det_threshold: float = 0.45
    minimum_iou_threshold: float = 0.3
    minimum_consecutive_frames: int = 2
    # Re-linking: a track the association lost (occlusion by a pillar, a missed detection) that
    # reappears as a new track near where its motion predicts, with a similar size, keeps its id.
    relink_gate_heights: float = 0.75
    relink_max_size_ratio: float = 1.5

    def __post_init__(self) -> None:
        if self.algorithm not in ("bytetrack", "ocsort"):
            raise ConfigError(f"unknown tracker {self.algorithm!r}; known: bytetrack, ocsort")
        if self.lost_track_s <= 0:
            raise ConfigError(f"tracker: lost_track_s must be > 0, got {self.lost_track_s}")
        if self.relink_gate_heights < 0 or self.relink_max_size_ratio < 1:
            raise ConfigError("tracker: relink_gate_heights must be ≥ 0 and relink_max_size_ratio ≥ 1")


@dataclass
class _Memory:
    """What is remembered of a live track: enough to predict where it is while unseen."""

    centre: tuple[float, float]
    height: float
    t_s: float
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per second, smoothed

    def predicted(self, t_s: float) -> tuple[float, float]:
        dt = t_s - self.t_s
        return (self.centre[0] + self.velocity[0] * dt, self.centre[1] + self.velocity[1] * dt)

    def observe(self, centre: tuple[float, float], height: float, t_s: float) -> None:
        dt = t_s - self.t_s
        if dt > 0:
            vx = (centre[0] - self.centre[0]) / dt
            vy = (centre[1] - self.centre[1]) / dt
            self.velocity = (0.5 * self.velocity[0] + 0.5 * vx, 0.5 * self.velocity[1] + 0.5 * vy)
        self.centre, self.height, self.t_s = centre, height, t_s


class RelinkingTracker:
    """ByteTrack (or OC-SORT) with time-based lifetimes and motion-gated re-linking of lost tracks.

    Ids given out are keliu's own (stable across re-links); ended ids are reported so callers
    can drop their per-track state. All maps here are bounded by the live tracks.
    """

    def __init__(self, config: TrackerSettings | None = None) -> None:
        import supervision as sv
        import trackers

        self.config = config or TrackerSettings()
        self._sv = sv
        # The library measures its lost-track budget as ``lost_track_buffer / 30`` seconds when it
        # is given timestamps, whatever frame_rate says.
        buffer = max(1, round(self.config.lost_track_s * 30))
        self._impl: Any
        if self.config.algorithm == "ocsort":
            self._impl = trackers.OCSORTTracker(
                lost_track_buffer=buffer,
                frame_rate=30.0,
                minimum_consecutive_frames=self.config.minimum_consecutive_frames,
                minimum_iou_threshold=self.config.minimum_iou_threshold,
                high_conf_det_threshold=self.config.high_conf_det_threshold,
            )
        else:
            self._impl = trackers.ByteTrackTracker(
                lost_track_buffer=buffer,
                frame_rate=30.0,
                track_activation_threshold=self.config.track_activation_threshold,
                minimum_consecutive_frames=self.config.minimum_consecutive_frames,
                minimum_iou_threshold=self.config.minimum_iou_threshold,
                high_conf_det_threshold=self.config.high_conf_det_threshold,
            )
        self._stable_of: dict[int, int] = {}  # the library's id -> keliu's id
        self._memory: dict[int, _Memory] = {}  # keliu's id -> last state, for live tracks only
        self._next_id = 1

    def update(self, detections: Detections, t_s: float) -> TrackerUpdate:
        sv_detections = self._sv.Detections(
            xyxy=detections.xyxy.astype(np.float32),
            confidence=detections.confidence.astype(np.float32),
            class_id=np.zeros(len(detections), dtype=int),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._impl.update(sv_detections, timestamp=t_s)
        ids = result.tracker_id if result.tracker_id is not None else np.zeros(0, dtype=int)
        confidences = result.confidence if result.confidence is not None else np.ones(len(result))
        seen: list[tuple[int, tuple[float, float, float, float], float]] = []
        for xyxy, library_id, confidence in zip(result.xyxy, ids, confidences, strict=True):
            if library_id >= 0:
                x1, y1, x2, y2 = (float(v) for v in xyxy)
                seen.append((int(library_id), (x1, y1, x2, y2), float(confidence)))
        self._relink_new_ids(seen, t_s)
        boxes: list[TrackedBox] = []
        used: set[int] = set()
        for library_id, xyxy, confidence in seen:
            stable = self._stable_of[library_id]
            if stable in used:  # the old and the re-linked library track both came back
                stable = self._new_stable_id(library_id)
            used.add(stable)
            centre = ((xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2)
            height = xyxy[3] - xyxy[1]
            memory = self._memory.get(stable)
            if memory is None:
                self._memory[stable] = _Memory(centre, height, t_s)
            else:
                memory.observe(centre, height, t_s)
            boxes.append(TrackedBox(stable, xyxy, confidence))
        expired = t_s - self.config.lost_track_s
        ended = [tid for tid, memory in self._memory.items() if memory.t_s < expired]
        self._forget(ended)
        return TrackerUpdate(boxes, ended)

    def _new_stable_id(self, library_id: int) -> int:
        stable = self._next_id
        self._next_id += 1
        self._stable_of[library_id] = stable
        return stable

    def _relink_new_ids(
        self, seen: list[tuple[int, tuple[float, float, float, float], float]], t_s: float
    ) -> None:
        """Give each library id seen for the first time an id: a lost track's, if one fits, else a new one."""
        fresh = [(lid, xyxy) for lid, xyxy, _ in seen if lid not in self._stable_of]
        if not fresh:
            return
        present = {self._stable_of[lid] for lid, _, _ in seen if lid in self._stable_of}
        lost = {sid: m for sid, m in self._memory.items() if sid not in present and m.t_s < t_s}
        pairs: list[tuple[float, int, int]] = []
        gate, ratio = self.config.relink_gate_heights, self.config.relink_max_size_ratio
        for index, (_, xyxy) in enumerate(fresh):
            centre = ((xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2)
            height = max(xyxy[3] - xyxy[1], 1.0)
            for sid, memory in lost.items():
                if not 1 / ratio <= height / max(memory.height, 1.0) <= ratio:
                    continue
                px, py = memory.predicted(t_s)
                distance = ((centre[0] - px) ** 2 + (centre[1] - py) ** 2) ** 0.5 / max(height, memory.height)
                if distance <= gate:
                    pairs.append((distance, index, sid))
        taken_fresh: set[int] = set()
        taken_lost: set[int] = set()
        for _, index, sid in sorted(pairs):
            if index in taken_fresh or sid in taken_lost:
                continue
            taken_fresh.add(index)
            taken_lost.add(sid)
            self._stable_of[fresh[index][0]] = sid
        for index, (library_id, _) in enumerate(fresh):
            if index not in taken_fresh:
                self._new_stable_id(library_id)

    def _forget(self, stable_ids: list[int]) -> None:
        if not stable_ids:
            return
        gone = set(stable_ids)
        for sid in gone:
            self._memory.pop(sid, None)
        for library_id in [lid for lid, sid in self._stable_of.items() if sid in gone]:
            del self._stable_of[library_id]

    def finish(self) -> list[int]:
        ended = list(self._memory)
        self._forget(ended)
        return ended


def build_tracker(settings: TrackerSettings | None = None) -> Tracker:
    """Build the tracker the settings name (``ocsort`` by default, or ``bytetrack``)."""
    return RelinkingTracker(settings or TrackerSettings())
