"""Enrolment from a labelled time range of a clip or camera: the signature of the person in view.

Used for staff (员工) and exclusion exemplars. The labelled range should show the one person being
enrolled (a staff member walking past a camera in uniform); if more people appear, the one tracked
longest is taken. Pixels stay in memory and are dropped once the signature exists.
"""

from __future__ import annotations

from keliu.config import CameraConfig
from keliu.domain.visits import Signature
from keliu.errors import ConfigError
from keliu.vision.bestshots import BestShots
from keliu.vision.sources import open_source
from keliu.wiring import build_camera_pipeline, build_signature_extractor

__all__ = ["signatures_from_clip"]


def signatures_from_clip(source: str, start_s: float = 0.0, end_s: float | None = None) -> list[Signature]:
    """One signature: the longest-tracked person in ``[start_s, end_s]`` of ``source``."""
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise ConfigError(f"labelled range {start_s}–{end_s} s is empty or negative")
    camera = CameraConfig(id="enrol", source=source)
    shots = BestShots()
    seen: dict[int, int] = {}
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
                seen[box.track_id] = seen.get(box.track_id, 0) + 1
    if not seen:
        raise ConfigError(f"nobody was detected in {source} between {start_s} and {end_s or 'the end'} s")
    longest = max(seen, key=lambda tid: (seen[tid], -tid))
    signature = build_signature_extractor().extract(shots.take(longest))
    return [signature] if signature is not None else []
