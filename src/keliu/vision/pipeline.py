"""The counting pipeline of one camera: detections → tracks → line crossings and zone events.

Frames come in, events come out, in time order. The pipeline holds only bounded state (the
tracker's live tracks and the counters' per-track maps, both evicted when tracks end) and never
keeps a frame after `process` returns. Must not store, publish or draw anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from keliu.domain.counting import (
    CountingRules,
    CrossingEvent,
    LineCounter,
    TrackPoint,
    ZoneEvent,
    ZoneMonitor,
)
from keliu.domain.detections import Detections
from keliu.domain.geometry import Line, Zone
from keliu.vision.tracking import TrackedBox, Tracker

if TYPE_CHECKING:
    from keliu.vision.detectors.base import Detector

__all__ = ["CountingPipeline", "FrameResult", "PipelineSettings"]


@dataclass(frozen=True)
class PipelineSettings:
    """Counting settings in frame-relative units, so one config fits any camera resolution."""

    counting_point: Literal["foot", "centre"] = "foot"
    hold_observations: int = CountingRules.hold_observations
    margin_frac: float = 0.0  # dead band around lines, as a fraction of the frame height
    margin_person_frac: float = 0.0  # ... or as a fraction of the person's box height, if larger
    extend_frac: float = 0.0  # lines count a little past their end points (fraction of their length)
    max_tracks: int = 10_000


@dataclass(frozen=True)
class FrameResult:
    frame_index: int
    t_s: float
    boxes: list[TrackedBox]
    crossings: list[CrossingEvent] = field(default_factory=list)
    zone_events: list[ZoneEvent] = field(default_factory=list)
    ended_track_ids: list[int] = field(default_factory=list)  # tracks that ended at this frame


class CountingPipeline:
    """Runs one camera's detector, tracker, line counter and zone monitor.

    ``lines`` and ``zones`` are in frame fractions (0–1); they are scaled to pixels on the
    first frame.
    """

    def __init__(
        self,
        detector: Detector | None,
        tracker: Tracker,
        lines: Sequence[Line] = (),
        zones: Sequence[Zone] = (),
        settings: PipelineSettings | None = None,
    ) -> None:
        self.detector = detector
        self.tracker = tracker
        self.settings = settings or PipelineSettings()
        self._lines_frac = tuple(lines)
        self._zones_frac = tuple(zones)
        self._counter: LineCounter | None = None
        self._zones: ZoneMonitor | None = None
        self._frame_wh: tuple[int, int] | None = None

    def process(self, frame_index: int, t_s: float, image_bgr: np.ndarray) -> FrameResult:
        if self.detector is None:
            raise RuntimeError("CountingPipeline.process needs a detector; use process_detections")
        height, width = image_bgr.shape[:2]
        return self.process_detections(frame_index, t_s, self.detector.detect(image_bgr), (width, height))

    def process_detections(
        self, frame_index: int, t_s: float, detections: Detections, frame_wh: tuple[int, int]
    ) -> FrameResult:
        counter, zones = self._counters_for(frame_wh)
        update = self.tracker.update(detections, t_s)
        foot = self.settings.counting_point == "foot"
        points = [
            TrackPoint(b.track_id, t_s, frame_index, b.foot_point if foot else b.centre_point, b.height)
            for b in update.boxes
        ]
        crossings = counter.update(points) + counter.end_tracks(update.ended_track_ids)
        zone_events = zones.update(points) + zones.end_tracks(update.ended_track_ids)
        crossings.sort(key=lambda e: e.t_s)
        zone_events.sort(key=lambda e: e.t_s)
        return FrameResult(
            frame_index, t_s, update.boxes, crossings, zone_events, list(update.ended_track_ids)
        )

    def finish_result(self, frame_index: int, t_s: float) -> FrameResult:
        """End of input: end all live tracks; the result holds the events that completes."""
        ended = self.tracker.finish()
        if self._counter is None or self._zones is None:
            return FrameResult(frame_index, t_s, [], ended_track_ids=ended)
        # the tracks were not lost, the input ended: no crossing is extrapolated for them
        crossings = sorted(self._counter.end_tracks(ended, lost=False), key=lambda e: e.t_s)
        zone_events = sorted(self._zones.end_tracks(ended), key=lambda e: e.t_s)
        return FrameResult(frame_index, t_s, [], crossings, zone_events, ended)

    def finish(self) -> tuple[list[CrossingEvent], list[ZoneEvent]]:
        """End of input: end all live tracks and return the events that completes."""
        result = self.finish_result(-1, 0.0)
        return result.crossings, result.zone_events

    def occupancy(self) -> dict[str, int]:
        return self._zones.occupancy() if self._zones is not None else {z.id: 0 for z in self._zones_frac}

    def _counters_for(self, frame_wh: tuple[int, int]) -> tuple[LineCounter, ZoneMonitor]:
        if self._counter is None or self._zones is None or self._frame_wh != frame_wh:
            if self._frame_wh is not None and self._frame_wh != frame_wh:
                raise ValueError(f"frame size changed from {self._frame_wh} to {frame_wh} mid-stream")
            width, height = frame_wh
            rules = CountingRules(
                hold_observations=self.settings.hold_observations,
                margin=self.settings.margin_frac * height,
                margin_size_frac=self.settings.margin_person_frac,
                extend=self.settings.extend_frac,
                max_tracks=self.settings.max_tracks,
            )
            self._counter = LineCounter([line.scaled(width, height) for line in self._lines_frac], rules)
            self._zones = ZoneMonitor([zone.scaled(width, height) for zone in self._zones_frac], rules)
            self._frame_wh = frame_wh
        return self._counter, self._zones
