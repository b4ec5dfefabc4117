"""Best shots: per live track, keep the few views of the person that describe them best.

A view's quality is its size (bigger is better, up to the embedder's input height), its sharpness
(variance of the Laplacian, saturating) and its visibility: views cut by the frame edge or covered by
another person's box are not taken at all. Kept views are spread in time (at least ``min_gap_s``
apart) so five shots are five moments, not one.

Crops live in memory only, resized to the embedder's input (bounded: ``max_shots`` × 128×256×3 bytes
per live track), and are handed over once with `take` when the track ends; `drop` forgets a track.
Must not write, encode, send or log any pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from keliu.vision.tracking import TrackedBox

__all__ = ["BestShots", "ShotSettings", "view_quality"]


@dataclass(frozen=True)
class ShotSettings:
    max_shots: int = 5
    min_height_px: float = 40.0  # smaller people carry too little appearance to be worth a shot
    min_confidence: float = 0.45  # low-confidence boxes are often half a person or a shadow
    edge_margin_px: float = 2.0  # a box this close to the frame border is truncated
    max_covered: float = 0.25  # share of the box another person's box may cover
    min_gap_s: float = 0.4
    sample_every_s: float = 0.2  # consider a track's view at most this often (bounds CPU)
    crop_wh: tuple[int, int] = (128, 256)
    sharpness_half: float = 60.0  # Laplacian variance at which the sharpness factor is 0.5


def _covered_share(box: tuple[float, float, float, float], others: Sequence[TrackedBox]) -> float:
    x1, y1, x2, y2 = box
    area = max((x2 - x1) * (y2 - y1), 1e-6)
    worst = 0.0
    for other in others:
        ox1, oy1, ox2, oy2 = other.xyxy
        iw = min(x2, ox2) - max(x1, ox1)
        ih = min(y2, oy2) - max(y1, oy1)
        if iw > 0 and ih > 0:
            worst = max(worst, iw * ih / area)
    return worst


def view_quality(
    box: TrackedBox, others: Sequence[TrackedBox], frame_wh: tuple[int, int], settings: ShotSettings
) -> float | None:
    """Size-and-visibility part of a view's quality in (0, 1], or None if the view is unusable."""
    x1, y1, x2, y2 = box.xyxy
    width, height = frame_wh
    m = settings.edge_margin_px
    if x1 < m or y1 < m or x2 > width - m or y2 > height - m:
        return None
    if box.confidence < settings.min_confidence or (y2 - y1) < settings.min_height_px:
        return None
    if _covered_share(box.xyxy, [o for o in others if o.track_id != box.track_id]) > settings.max_covered:
        return None
    return float(min(1.0, (y2 - y1) / settings.crop_wh[1]))


@dataclass
class _Shot:
    t_s: float
    score: float
    crop: np.ndarray


@dataclass
class _TrackShots:
    next_sample_s: float = float("-inf")
    shots: list[_Shot] = field(default_factory=list)


class BestShots:
    """Keeps up to ``max_shots`` best views per live track (see module docstring)."""

    def __init__(self, settings: ShotSettings | None = None) -> None:
        self.settings = settings or ShotSettings()
        self._tracks: dict[int, _TrackShots] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def observe(self, t_s: float, image_bgr: np.ndarray, boxes: Sequence[TrackedBox]) -> None:
        height, width = image_bgr.shape[:2]
        s = self.settings
        for box in boxes:
            state = self._tracks.setdefault(box.track_id, _TrackShots())
            if t_s < state.next_sample_s:
                continue
            state.next_sample_s = t_s + s.sample_every_s
            size_score = view_quality(box, boxes, (width, height), s)
            if size_score is None or not self._could_enter(state, t_s, size_score):
                continue
            x1, y1, x2, y2 = (round(v) for v in box.xyxy)
            crop = image_bgr[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]
            if crop.shape[0] < 2 or crop.shape[1] < 2:
                continue
            small = cv2.resize(crop, s.crop_wh, interpolation=cv2.INTER_AREA)
            grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
            score = size_score * sharpness / (sharpness + s.sharpness_half)
            self._offer(state, _Shot(t_s, score, small))

    def _could_enter(self, state: _TrackShots, t_s: float, upper_bound: float) -> bool:
        if len(state.shots) < self.settings.max_shots:
            return True
        near = [shot for shot in state.shots if abs(shot.t_s - t_s) < self.settings.min_gap_s]
        rival = near[0] if near else min(state.shots, key=lambda shot: shot.score)
        return upper_bound > rival.score

    def _offer(self, state: _TrackShots, shot: _Shot) -> None:
        shots = state.shots
        near = [i for i, kept in enumerate(shots) if abs(kept.t_s - shot.t_s) < self.settings.min_gap_s]
        if near:
            i = near[0]
            if shot.score > shots[i].score:
                shots[i] = shot
            return
        if len(shots) < self.settings.max_shots:
            shots.append(shot)
            return
        worst = min(range(len(shots)), key=lambda i: shots[i].score)
        if shot.score > shots[worst].score:
            shots[worst] = shot

    def take(self, track_id: int) -> list[np.ndarray]:
        """The track's kept crops, best first, forgetting them here."""
        state = self._tracks.pop(track_id, None)
        if state is None:
            return []
        return [shot.crop for shot in sorted(state.shots, key=lambda shot: -shot.score)]

    def drop(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)
