"""One camera's frame results → sightings (what the camera saw of each track, without pixels).

`SightingCollector` follows each live track's first/last time, crossings and zone stays, keeps its
best shots (`keliu.vision.bestshots`), and when the tracker ends the track it computes the
appearance signature, drops the pixels and emits a `Sighting`. Stream time (seconds since the
source opened) becomes absolute UTC time through ``started_at``.

State is per live track and removed when the track ends. Must not write, store or publish anything
(the caller hands sightings to a sink) and must not keep any crop after the signature exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from keliu.domain.visits import Sighting, SightingCrossing, SightingZone
from keliu.vision.bestshots import BestShots
from keliu.vision.pipeline import FrameResult
from keliu.vision.signature import SignatureExtractor

__all__ = ["SightingCollector"]


@dataclass
class _Track:
    first_t: float
    last_t: float
    foot: tuple[float, float]
    crossings: list[SightingCrossing] = field(default_factory=list)
    open_zones: dict[str, float] = field(default_factory=dict)
    zones: list[SightingZone] = field(default_factory=list)


class SightingCollector:
    """Builds `Sighting`s for one camera of one site (see module docstring).

    Tracks that cross no line, touch no zone and last less than ``min_presence_s`` are tracker
    fragments, not sightings; they are dropped without a signature.
    """

    def __init__(
        self,
        site_id: str,
        camera_id: str,
        started_at: datetime,
        extractor: SignatureExtractor | None,
        shots: BestShots | None = None,
        *,
        min_presence_s: float = 1.0,
    ) -> None:
        if started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        self.site_id = site_id
        self.camera_id = camera_id
        self.started_at = started_at.astimezone(UTC)
        self.extractor = extractor
        self.shots = shots if shots is not None else BestShots()
        self.min_presence_s = min_presence_s
        self._tracks: dict[int, _Track] = {}

    def at(self, t_s: float) -> datetime:
        return self.started_at + timedelta(seconds=t_s)

    def observe(
        self, result: FrameResult, image_bgr: np.ndarray | None, frame_wh: tuple[int, int]
    ) -> list[Sighting]:
        """Take one frame's result (and its image, for best shots); return sightings of ended tracks."""
        width, height = frame_wh
        for box in result.boxes:
            fx, fy = box.foot_point
            foot = (min(1.0, max(0.0, fx / width)), min(1.0, max(0.0, fy / height)))
            track = self._tracks.get(box.track_id)
            if track is None:
                self._tracks[box.track_id] = _Track(result.t_s, result.t_s, foot)
            else:
                track.last_t, track.foot = result.t_s, foot
        if image_bgr is not None and self.extractor is not None and result.boxes:
            self.shots.observe(result.t_s, image_bgr, result.boxes)
        for crossing in result.crossings:
            track = self._tracks.get(crossing.track_id)
            if track is not None:
                track.crossings.append(
                    SightingCrossing(crossing.line_id, crossing.direction, self.at(crossing.t_s), track.foot)
                )
        for event in result.zone_events:
            track = self._tracks.get(event.track_id)
            if track is None:
                continue
            if event.kind == "enter":
                track.open_zones[event.zone_id] = event.t_s
            else:
                entered = track.open_zones.pop(event.zone_id, event.t_s - (event.dwell_s or 0.0))
                track.zones.append(SightingZone(event.zone_id, self.at(entered), self.at(event.t_s)))
        return [s for tid in result.ended_track_ids if (s := self._end(tid)) is not None]

    def _end(self, track_id: int) -> Sighting | None:
        track = self._tracks.pop(track_id, None)
        crops = self.shots.take(track_id)
        if track is None:
            return None
        zones = track.zones + [
            SightingZone(zone_id, self.at(t), None) for zone_id, t in sorted(track.open_zones.items())
        ]
        if not track.crossings and not zones and track.last_t - track.first_t < self.min_presence_s:
            return None
        signature = self.extractor.extract(crops) if self.extractor is not None and crops else None
        del crops  # pixels are gone once the signature exists
        return Sighting(
            site_id=self.site_id,
            camera_id=self.camera_id,
            track_id=track_id,
            first_seen=self.at(track.first_t),
            last_seen=self.at(track.last_t),
            crossings=tuple(sorted(track.crossings, key=lambda c: c.at)),
            zones=tuple(zones),
            signature=signature,
        )

    def live_tracks(self) -> int:
        return len(self._tracks)
