"""Enrolment from a labelled time range of a clip or camera: the signature of the person in view.

Used for staff (员工) and exclusion exemplars. The labelled range should show the one person being
enrolled (a staff member walking past a camera in uniform). When more than one person is tracked in
it, nobody is picked silently: the caller must choose a track (``track=ID``, listed in the error with
its time on screen) or ask for the one tracked longest (``longest=True``); see docs/visitors.md,
"Enrolling staff from a clip". Pixels stay in memory and are dropped once the signature exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from keliu.config import CameraConfig
from keliu.domain.visits import Signature
from keliu.errors import ConfigError
from keliu.vision.bestshots import BestShots
from keliu.vision.sources import open_source
from keliu.wiring import build_camera_pipeline, build_signature_extractor

__all__ = ["TrackSeen", "signatures_from_clip"]

_LISTED_TRACKS = 8  # tracks named in the "several people" error (the longest first)


@dataclass
class TrackSeen:
    """One tracked person of the labelled range: first and last time on screen, frames analysed."""

    track_id: int
    first_s: float
    last_s: float
    frames: int = 1

    def describe(self) -> str:
        return f"track {self.track_id} ({self.first_s:.1f}–{self.last_s:.1f} s, {self.frames} frames)"


def _by_time_on_screen(seen: dict[int, TrackSeen]) -> list[TrackSeen]:
    return sorted(seen.values(), key=lambda s: (-s.frames, s.track_id))


def _listing(seen: dict[int, TrackSeen]) -> str:
    tracks = _by_time_on_screen(seen)
    shown = ", ".join(t.describe() for t in tracks[:_LISTED_TRACKS])
    more = f", and {len(tracks) - _LISTED_TRACKS} more" if len(tracks) > _LISTED_TRACKS else ""
    return shown + more


def signatures_from_clip(
    source: str,
    start_s: float = 0.0,
    end_s: float | None = None,
    *,
    track: int | None = None,
    longest: bool = False,
) -> list[Signature]:
    """One signature: the person tracked in ``[start_s, end_s]`` of ``source``.

    With one person in view, that person. With several, ``track`` (a track id the error lists) or
    ``longest`` (the one tracked in the most frames) must say which; otherwise a :class:`ConfigError`
    says how many people were seen and lists their tracks with their time on screen."""
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ConfigError(f"labelled range {start_s}–{end_s} s is empty or negative")
    if track is not None and longest:
        raise ConfigError("give --track ID or --longest, not both")
    camera = CameraConfig(id="enrol", source=source)
    shots = BestShots()
    seen: dict[int, TrackSeen] = {}
    with open_source(source) as video:
        runtime = build_camera_pipeline(camera, video.fps, video.resolution_wh)
        for frame in video.frames(stride=runtime.stride):
            if frame.t_s < start_s:
                continue
            if end_s is not None and frame.t_s > end_s:
                break
            result = runtime.pipeline.process(frame.index, frame.t_s, frame.image_bgr)
            shots.observe(frame.t_s, frame.image_bgr, result.boxes)
            for box in result.boxes:
                known = seen.get(box.track_id)
                if known is None:
                    seen[box.track_id] = TrackSeen(box.track_id, frame.t_s, frame.t_s)
                else:
                    known.last_s, known.frames = frame.t_s, known.frames + 1
    where = f"{source} between {start_s:g} and {'the end' if end_s is None else f'{end_s:g}'} s"
    if not seen:
        raise ConfigError(f"nobody was detected in {where}")
    if track is not None:
        if track not in seen:
            raise ConfigError(f"no track {track} in {where}; the tracks are: {_listing(seen)}")
        chosen = track
    elif len(seen) == 1 or longest:
        chosen = _by_time_on_screen(seen)[0].track_id
    else:
        raise ConfigError(
            f"{len(seen)} people were tracked in {where}, so it is not clear whom to enrol: "
            f"{_listing(seen)}; choose one with --track ID, or --longest for the one tracked longest "
            "(or narrow the range with --from-s/--to-s)"
        )
    signature = build_signature_extractor().extract(shots.take(chosen))
    return [signature] if signature is not None else []
