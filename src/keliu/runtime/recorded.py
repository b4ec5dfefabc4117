"""Recorded footage in fixed segments: the vision half of an idempotent, resumable file run.

A recorded file is analysed as consecutive segments of ``segment_s`` seconds of video. Each segment
has its own tracker and counters, started ``WARMUP_S`` before the segment (so people already in view
are tracked when it begins) and run ``OVERRUN_S`` past its end (so a crossing just before the end is
confirmed); it keeps only what happened inside it: crossings whose time falls in the segment, and
sightings and zone stays clipped to it. Overlapping segments share one detector call per frame.

Because a segment's sightings depend only on the file and the segment's index, a run that was
killed and resumed at segment *k* produces exactly what an uninterrupted run does: that is what lets
``keliu process`` commit segment by segment (``Store.save_segment``) and still give identical
reports. The price is a seam every ``segment_s``: a person in view across it is two sightings, which
the resolver joins by appearance like any other re-appearance (docs/visitors.md, "Recorded files").

Must not touch the store or keep frames: sightings carry no pixels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from keliu.config import CameraConfig
from keliu.domain.visits import Sighting, SightingZone
from keliu.vision.bestshots import BestShots
from keliu.vision.detectors import Detector
from keliu.vision.pipeline import CountingPipeline
from keliu.vision.sightings import SightingCollector
from keliu.vision.signature import SignatureExtractor
from keliu.vision.sources import FrameSource

__all__ = ["OVERRUN_S", "SEGMENT_S", "TRACK_ID_STRIDE", "WARMUP_S", "SegmentResult", "recorded_segments"]

SEGMENT_S = 60.0  # default segment length: what a kill can cost in re-analysis, at most
WARMUP_S = 4.0  # tracking before a segment starts (OC-SORT confirms a track within a few frames)
OVERRUN_S = 2.0  # tracking after a segment ends (hysteresis confirms a crossing within 0.3 s at 10 fps)
TRACK_ID_STRIDE = 1_000_000  # segment k's track ids are k * TRACK_ID_STRIDE + the tracker's id


@dataclass(frozen=True)
class SegmentResult:
    """The sightings of segment ``index``; ``video_end_s`` is set on the file's last segment."""

    index: int
    sightings: list[Sighting]
    frames: int
    video_end_s: float | None = None


@dataclass
class _Open:
    index: int
    start_s: float
    end_s: float
    pipeline: CountingPipeline
    collector: SightingCollector
    sightings: list[Sighting] = field(default_factory=list)
    frames: int = 0


def _clip(s: Sighting, index: int, start: datetime, end: datetime | None) -> Sighting | None:
    """``s`` restricted to ``[start, end)`` (``end`` None: open to the end of the file), or None."""
    if s.last_seen < start or (end is not None and s.first_seen >= end):
        return None
    crossings = tuple(c for c in s.crossings if c.at >= start and (end is None or c.at < end))
    zones: list[SightingZone] = []
    for z in s.zones:
        left = z.left_at
        if end is not None and (left is None or left > end):
            left = end
        if (left is not None and left < start) or (end is not None and z.entered_at >= end):
            continue
        zones.append(SightingZone(z.zone_id, max(z.entered_at, start), left))
    first = max(s.first_seen, start)
    last = s.last_seen if end is None else min(s.last_seen, end)
    if not crossings and not zones and last <= first:
        return None
    return dataclasses.replace(
        s,
        track_id=index * TRACK_ID_STRIDE + s.track_id,
        first_seen=first,
        last_seen=last,
        crossings=crossings,
        zones=tuple(zones),
    )


def recorded_segments(
    site_id: str,
    camera: CameraConfig,
    source: FrameSource,
    started_at: datetime,
    extractor: SignatureExtractor | None,
    *,
    detector: Detector,
    build_pipeline: Callable[[], CountingPipeline],
    stride: int,
    segment_s: float = SEGMENT_S,
    first_segment: int = 0,
) -> Iterator[SegmentResult]:
    """Analyse ``source`` (a file, read from its start) and yield each segment from ``first_segment``
    on, in order, as soon as it is complete. ``build_pipeline()`` returns a fresh pipeline (own
    tracker and counters) for each segment; ``detector`` runs once per analysed frame."""
    if segment_s <= 0 or not math.isfinite(segment_s):
        raise ValueError(f"segment_s must be a positive number of seconds, got {segment_s}")
    fps = getattr(source, "fps", 0.0) or 0.0
    frame_wh = source.resolution_wh
    open_segments: list[_Open] = []
    next_index = first_segment
    last_index, last_t = -1, 0.0

    def opening(index: int) -> _Open:
        return _Open(
            index,
            index * segment_s,
            (index + 1) * segment_s,
            build_pipeline(),
            SightingCollector(site_id, camera.id, started_at, extractor, BestShots()),
        )

    def closed(seg: _Open, end_s: float | None) -> SegmentResult:
        final = seg.pipeline.finish_result(last_index, last_t)
        seg.sightings += seg.collector.observe(final, None, frame_wh)
        start = started_at + timedelta(seconds=seg.start_s)
        end = None if end_s is not None else started_at + timedelta(seconds=seg.end_s)
        kept = [c for s in seg.sightings if (c := _clip(s, seg.index, start, end)) is not None]
        kept.sort(key=lambda s: (s.first_seen, s.track_id))
        return SegmentResult(seg.index, kept, seg.frames, end_s)

    for frame in source.frames(stride=stride):
        t = frame.t_s
        while max(0.0, next_index * segment_s - WARMUP_S) <= t:
            open_segments.append(opening(next_index))
            next_index += 1
        last_index, last_t = frame.index, t
        detections = detector.detect(frame.image_bgr)
        for seg in open_segments:
            result = seg.pipeline.process_detections(frame.index, t, detections, frame_wh)
            seg.sightings += seg.collector.observe(result, frame.image_bgr, frame_wh)
            seg.frames += seg.start_s <= t < seg.end_s  # its own frames (warm-up and overrun are shared)
        while open_segments and t >= open_segments[0].end_s + OVERRUN_S:
            yield closed(open_segments.pop(0), None)
    video_end = last_t + (1.0 / fps if fps > 0 else 0.0)
    remaining = [seg for seg in open_segments if seg.start_s < video_end]
    if not remaining and last_index < 0:  # an empty file: one empty last segment ends it
        remaining = [opening(next_index)]
    for seg in remaining[:-1]:
        yield closed(seg, None)
    if remaining:
        yield closed(remaining[-1], video_end)
