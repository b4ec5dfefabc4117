"""Counting accuracy on the random-line sets, as mean ± sd over replays with ± 1 px of box noise.

`bench/counting_accuracy.py --random-lines 60` runs `keliu count` once. On MOT16-09 that one
figure moves by about 0.02 F1 and 0.03 count accuracy (sd) when every box moves by up to a pixel,
or when the frame is shifted by 3 px at equal detector AP (docs/benchmarks.md, "Counting accuracy",
2026-12-03: detector levers): the 360 lines share one tracking run, so one identity swap in the
crowd moves many lines at once. A change to tracking or counting is therefore judged here on the
mean of many replays, paired (the same noise seeds for every variant).

The detector runs once per video on the frames the CLI analyses (the default camera settings of
`keliu count VIDEO --line …`); its boxes are replayed through the tracker and the counter
(`keliu.wiring.build_camera_pipeline`, `CountingPipeline.process_detections`): once as detected —
the figure `counting_accuracy.py --random-lines N` prints — and once per noise seed, each box
coordinate moved by uniform noise in ±1 px.

    .venv/bin/python bench/counting_noise.py [SEQ ...] [--seeds 10] [--random-lines 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from counting_accuracy import SHARED, random_line_sets
from keliu.config import CameraConfig, LineConfig
from keliu.domain.counting import CrossingEvent
from keliu.domain.detections import Detections
from keliu.evaluation import SampledLine, score_crossings
from keliu.vision.sources import open_source
from keliu.wiring import build_camera_pipeline

NOISE_PX = 1.0


@dataclass
class Detected:
    """One video's detections on the frames the CLI analyses."""

    camera: CameraConfig
    fps: float
    frame_wh: tuple[int, int]
    frames: list[tuple[int, float, Detections]]  # (frame index, t_s, boxes)
    detector_cpu_s: float


def detect(name: str) -> Detected:
    video = SHARED / "video" / f"{name}.mp4"
    camera = CameraConfig(id="bench", source=str(video))
    started = time.process_time()
    with open_source(str(video)) as source:
        fps, frame_wh = source.fps, source.resolution_wh
        runtime = build_camera_pipeline(camera, fps, frame_wh)
        detector = runtime.pipeline.detector
        assert detector is not None
        frames = [(f.index, f.t_s, detector.detect(f.image_bgr)) for f in source.frames(runtime.stride)]
    return Detected(camera, fps, frame_wh, frames, time.process_time() - started)


def with_noise(boxes: Detections, seed: int, frame_index: int) -> Detections:
    """``boxes`` with each coordinate moved by uniform noise in ±NOISE_PX (seeded per frame)."""
    if seed == 0 or len(boxes.xyxy) == 0:
        return boxes
    rng = np.random.default_rng((seed, frame_index))
    noise = rng.uniform(-NOISE_PX, NOISE_PX, size=boxes.xyxy.shape).astype(np.float32)
    return Detections(boxes.xyxy + noise, boxes.confidence)


def replay(detected: Detected, lines: list[SampledLine], seed: int) -> list[CrossingEvent]:
    """The crossings of one tracking run over the cached boxes (seed 0: the boxes as detected)."""
    configs = [
        LineConfig(
            id=s.line.id,
            a=(round(s.line.a[0], 5), round(s.line.a[1], 5)),
            b=(round(s.line.b[0], 5), round(s.line.b[1], 5)),
            inside=(round(s.line.inside[0], 5), round(s.line.inside[1], 5)),
        )
        for s in lines
    ]
    camera = detected.camera.model_copy(update={"lines": configs})
    pipeline = build_camera_pipeline(camera, detected.fps, detected.frame_wh, detector=_NoDetector()).pipeline
    events: list[CrossingEvent] = []
    for index, t_s, boxes in detected.frames:
        events += pipeline.process_detections(
            index, t_s, with_noise(boxes, seed, index), detected.frame_wh
        ).crossings
    last_index, last_t, _ = detected.frames[-1]
    events += pipeline.finish_result(last_index, last_t).crossings
    return events


class _NoDetector:
    """Stands in for the detector: replays give the pipeline boxes, never frames."""

    name = "cached"

    def detect(self, image_bgr: np.ndarray) -> Detections:  # pragma: no cover - never called
        raise RuntimeError("replayed pipelines take cached detections")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="*", default=["MOT16-09", "PETS09-S2L1"])
    parser.add_argument("--seeds", type=int, default=10, help="noise seeds besides the boxes as detected")
    parser.add_argument("--random-lines", type=int, default=60, help="random lines per seed (seeds 1-3)")
    args = parser.parse_args(argv)
    for name in args.sequences:
        detected = detect(name)
        sets = random_line_sets(name, args.random_lines)
        all_lines = [s for lines in sets.values() for s in lines]
        scores: dict[str, list[tuple[float, float]]] = {label: [] for label in sets}
        started = time.process_time()
        for seed in range(args.seeds + 1):
            events = replay(detected, all_lines, seed)
            for label, lines in sets.items():
                ids = {s.line.id for s in lines}
                truth = [e for s in lines for e in s.truth]
                score = score_crossings([e for e in events if e.line_id in ids], truth, tolerance_s=1.0)
                scores[label].append((score.f1, score.count_accuracy))
        replay_cpu = time.process_time() - started
        print(
            f"{name}: detector {detected.detector_cpu_s:.1f} CPU s on {len(detected.frames)} frames, "
            f"{args.seeds + 1} replays {replay_cpu:.1f} CPU s"
        )
        for label, values in scores.items():
            f1 = [v[0] for v in values]
            acc = [v[1] for v in values]
            spread = (
                f" ± {statistics.stdev(f1):.3f} / ± {statistics.stdev(acc):.3f} (sd)"
                if len(values) > 1
                else ""
            )
            print(
                f"    random lines, {label:<6}: F1 / count acc as detected {f1[0]:.3f} / {acc[0]:.3f}; "
                f"mean of {len(values)} {statistics.mean(f1):.3f} / {statistics.mean(acc):.3f}{spread}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
