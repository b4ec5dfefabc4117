"""Tracker adapter: stable ids across short occlusions, ended-track reports, bounded state (V4)."""

from __future__ import annotations

import numpy as np
import pytest

from keliu.domain.detections import Detections
from keliu.domain.geometry import Line
from keliu.errors import ConfigError
from keliu.vision.pipeline import CountingPipeline
from keliu.vision.tracking import RelinkingTracker, TrackerSettings


def person(x: float, y: float = 100.0, w: float = 30.0, h: float = 80.0) -> list[float]:
    return [x, y, x + w, y + h]


def frames_walking(xs: list[float | None], fps: float = 10.0) -> list[tuple[float, Detections]]:
    out = []
    for i, x in enumerate(xs):
        boxes = [person(x)] if x is not None else []
        out.append(
            (i / fps, Detections(np.array(boxes, dtype=np.float32).reshape(-1, 4), np.full(len(boxes), 0.9)))
        )
    return out


@pytest.mark.parametrize("algorithm", ["ocsort", "bytetrack"])
def test_one_walking_person_keeps_one_id(algorithm: str) -> None:
    tracker = RelinkingTracker(TrackerSettings(algorithm=algorithm))
    ids = set()
    for t, detections in frames_walking([10.0 + 6 * i for i in range(30)]):
        ids |= {b.track_id for b in tracker.update(detections, t).boxes}
    assert len(ids) == 1


@pytest.mark.parametrize("algorithm", ["ocsort", "bytetrack"])
def test_occluded_person_keeps_id_and_crossing_is_counted(algorithm: str) -> None:
    # walks right at 6 px per frame; hidden for 6 frames while passing behind a pillar at x = 100
    xs: list[float | None] = (
        [10.0 + 6 * i for i in range(14)] + [None] * 6 + [10.0 + 6 * i for i in range(20, 34)]
    )
    door = Line("door", (130.0 / 400, 0.0), (130.0 / 400, 1.0), inside=(0.9, 0.5))
    pipeline = CountingPipeline(None, RelinkingTracker(TrackerSettings(algorithm=algorithm)), [door])
    ids, crossings = set(), []
    for i, (t, detections) in enumerate(frames_walking(xs)):
        result = pipeline.process_detections(i, t, detections, (400, 300))
        ids |= {b.track_id for b in result.boxes}
        crossings += result.crossings
    crossings += pipeline.finish()[0]
    assert len(ids) == 1
    assert [(c.line_id, c.direction) for c in crossings] == [("door", "in")]
    # the foot point (x + 15) reaches x = 130 between frames 19 and 20 (both hidden or just seen)
    assert 1.5 <= crossings[0].t_s <= 2.2


def test_ended_tracks_are_reported_and_forgotten() -> None:
    tracker = RelinkingTracker(TrackerSettings(lost_track_s=0.5))
    ended: list[int] = []
    t = 0.0
    for k in range(200):  # 200 people, each seen for 5 frames at a new place, one after another
        for _ in range(5):
            update = tracker.update(Detections(np.array([person(5.0 + (k % 20) * 40)]), np.array([0.9])), t)
            ended += update.ended_track_ids
            t += 0.1
        t += 1.0
    ended += tracker.finish()
    assert len(set(ended)) == len(ended)
    assert len(tracker._memory) == 0 and len(tracker._stable_of) == 0


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="lost_track_s"):
        TrackerSettings(lost_track_s=0)
    with pytest.raises(ConfigError, match="unknown tracker"):
        TrackerSettings(algorithm="magic")  # type: ignore[arg-type]
