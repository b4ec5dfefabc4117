"""Person-detector accuracy and speed on real video with MOTChallenge ground truth.

Recall/precision at IoU 0.5 on every Nth frame, and ms/frame of ``detect()`` (pre-processing,
inference, decoding and NMS; 2 onnxruntime threads), for NanoDet-m variants and input sizes.

    .venv/bin/python bench/detector_recall.py [--model nanodet-m.onnx] [--every 5] [--quick]

The model is ``--model``, else the provisioned one, else it is converted from the npm tarball
named by ``$KELIU_NANODET_TGZ``. Ground truth: PETS09-S2L1 counts every row; MOT16-09 counts rows
with "consider" = 1 and class 1 (pedestrian); other MOT16 rows (static people, people on vehicles,
reflections, distractors) are "don't care": a detection on them is neither a hit nor a false alarm.
``vis≥.5`` is the recall on ground-truth boxes at least half visible (MOT16 column 9).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from keliu.vision.detectors.nanodet import NanoDetDetector

DATA = Path(os.environ.get("KELIU_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
THRESHOLDS = (0.25, 0.35, 0.45)
AP_FLOOR = 0.1
IOU = 0.5


@dataclass
class Truth:
    boxes: np.ndarray  # (n, 4) xyxy, counted
    visible: np.ndarray  # (n,) visibility in [0, 1]
    dont_care: np.ndarray  # (m, 4) xyxy


def load_truth(seq: str) -> dict[int, Truth]:
    rows = np.loadtxt(DATA / "mot" / seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    mot16 = seq.startswith(("MOT16", "MOT17"))
    out: dict[int, Truth] = {}
    for frame in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == frame]
        xyxy = np.c_[r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]]
        if mot16:
            counted = (r[:, 6] == 1) & (r[:, 7] == 1)
            vis = r[:, 8]
        else:
            counted = r[:, 6] != 0
            vis = np.ones(len(r))
        out[int(frame)] = Truth(xyxy[counted], vis[counted], xyxy[~counted])
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Tally:
    """Greedy score-ordered matching of every detection; metrics at any threshold follow from it."""

    scores: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # 1 hit, 0 false alarm, -1 on a don't-care box
    visible: list[bool] = field(default_factory=list)  # the matched box is at least half visible
    gt: int = 0
    gt_vis: int = 0

    def add(self, det: np.ndarray, scores: np.ndarray, truth: Truth) -> None:
        order = np.argsort(-scores, kind="stable")
        iou = iou_matrix(det[order], truth.boxes)
        ignore = iou_matrix(det[order], truth.dont_care)
        taken = np.zeros(len(truth.boxes), dtype=bool)
        for k, i in enumerate(order):
            label, vis = 0, False
            if iou.shape[1]:
                cand = np.where(taken, -1.0, iou[k])
                best = int(np.argmax(cand))
                if cand[best] >= IOU:
                    taken[best] = True
                    label, vis = 1, bool(truth.visible[best] >= 0.5)
            if label == 0 and ignore.shape[1] and (ignore[k] >= IOU).any():
                label = -1
            self.scores.append(float(scores[i]))
            self.labels.append(label)
            self.visible.append(vis)
        self.gt += len(truth.boxes)
        self.gt_vis += int((truth.visible >= 0.5).sum())

    def at(self, threshold: float) -> str:
        s, lab, vis = np.array(self.scores), np.array(self.labels), np.array(self.visible)
        sel = s >= threshold
        tp = int(((lab == 1) & sel).sum())
        fp = int(((lab == 0) & sel).sum())
        tp_vis = int(((lab == 1) & sel & vis).sum())
        return f"{tp / max(self.gt, 1):6.3f} {tp / max(tp + fp, 1):6.3f} {tp_vis / max(self.gt_vis, 1):7.3f}"

    def average_precision(self) -> float:
        s, lab = np.array(self.scores), np.array(self.labels)
        keep = lab >= 0
        order = np.argsort(-s[keep], kind="stable")
        hits = lab[keep][order]
        tp = np.cumsum(hits == 1)
        fp = np.cumsum(hits == 0)
        recall = np.concatenate([[0.0], tp / max(self.gt, 1)])
        precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        return float(np.sum(np.diff(recall) * precision[1:]))


def sampled_frames(seq: str, every: int, limit: int | None) -> tuple[list[tuple[int, np.ndarray]], float]:
    """Every ``every``-th frame (1-based MOT frame number, BGR image) and the decode ms/frame."""
    frames = []
    started = time.perf_counter()
    decoded = 0
    with av.open(str(DATA / "video" / f"{seq}.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            decoded += 1
            if index % every == 0:
                frames.append((index + 1, frame.to_ndarray(format="bgr24")))
            else:
                frame.to_ndarray(format="bgr24")
            if limit is not None and len(frames) >= limit:
                break
    return frames, (time.perf_counter() - started) * 1000 / max(decoded, 1)


def evaluate(detector: NanoDetDetector, frames: list[tuple[int, np.ndarray]], truth: dict[int, Truth]) -> str:
    tally = Tally()
    times = []
    for number, image in frames:
        started = time.perf_counter()
        found = detector.detect(image)
        times.append((time.perf_counter() - started) * 1000)
        gt = truth.get(number, Truth(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4))))
        tally.add(found.xyxy, found.confidence, gt)
    ms = statistics.median(times)
    return f"{tally.average_precision():5.3f} {ms:6.1f} | " + " | ".join(tally.at(t) for t in THRESHOLDS)


def header() -> str:
    cols = " | ".join(f"{f'R@{t:.2f}':>6} {f'P@{t:.2f}':>6} {f'Rv@{t:.2f}':>7}" for t in THRESHOLDS)
    return f"{'variant':<26} {'AP50':>5} {'ms/fr':>6} | {cols}"


def timing(
    onnx_path: Path, image: np.ndarray, sizes: list[tuple[int, int]], rounds: int = 3, runs: int = 15
) -> None:
    """Median ms per detect() on one frame, sizes interleaved over rounds to even out machine load."""
    detectors = {wh: NanoDetDetector(onnx_path, input_wh=wh, threads=2) for wh in sizes}
    samples: dict[tuple[int, int], list[float]] = {wh: [] for wh in sizes}
    for _ in range(rounds):
        for wh, detector in detectors.items():
            for _ in range(runs):
                started = time.perf_counter()
                detector.detect(image)
                samples[wh].append((time.perf_counter() - started) * 1000)
    print(f"{'input':>10} {'ms/frame (median)':>18} {'p90':>6}")
    for wh, values in samples.items():
        print(f"{wh[0]:>5}x{wh[1]:<4} {statistics.median(values):>18.1f} {np.percentile(values, 90):>6.1f}")


def model_path(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    try:
        from keliu.models.install import model_path as installed

        path = Path(installed("nanodet"))
        if path.is_file():
            return path
    except Exception:  # the installer may not exist or the model may not be provisioned
        pass
    tgz = os.environ.get("KELIU_NANODET_TGZ")
    if not tgz:
        sys.exit("no model: pass --model, provision it with 'keliu models install', or set KELIU_NANODET_TGZ")
    from keliu.models.nanodet import provision_nanodet

    return provision_nanodet(Path(tgz), tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="at most this many sampled frames per video")
    parser.add_argument("--quick", action="store_true", help="only the default variants")
    parser.add_argument("--only", action="append", help="only this sequence (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = model_path(args.model, Path(tmp))
        plans: dict[str, list[tuple[str, dict[str, object]]]] = {
            "PETS09-S2L1": [
                ("416x416 letterbox", {"input_wh": (416, 416), "keep_aspect": True}),
                (
                    "416x416 centre i*stride",
                    {"input_wh": (416, 416), "keep_aspect": True, "centre_offset": 0.0},
                ),
                (
                    "416x416 RGB /255",
                    {"input_wh": (416, 416), "keep_aspect": True, "normalisation": "rgb_unit"},
                ),
                ("416x416 stretch", {"input_wh": (416, 416), "keep_aspect": False}),
                ("256x192", {"input_wh": (256, 192)}),
                ("320x256", {"input_wh": (320, 256)}),
                ("416x320", {"input_wh": (416, 320)}),
                ("544x416", {"input_wh": (544, 416)}),
                ("640x480", {"input_wh": (640, 480)}),
                ("768x576", {"input_wh": (768, 576)}),
            ],
            "MOT16-09": [
                ("416x416 letterbox", {"input_wh": (416, 416), "keep_aspect": True}),
                ("416x416 stretch", {"input_wh": (416, 416), "keep_aspect": False}),
                ("512x288", {"input_wh": (512, 288)}),
                ("576x320", {"input_wh": (576, 320)}),
                ("640x352", {"input_wh": (640, 352)}),
                ("640x352 centre i*stride", {"input_wh": (640, 352), "centre_offset": 0.0}),
                ("640x352 RGB /255", {"input_wh": (640, 352), "normalisation": "rgb_unit"}),
                ("704x384", {"input_wh": (704, 384)}),
                ("768x416", {"input_wh": (768, 416)}),
                ("832x480", {"input_wh": (832, 480)}),
                ("960x544", {"input_wh": (960, 544)}),
                ("1088x608", {"input_wh": (1088, 608)}),
                ("1280x736", {"input_wh": (1280, 736)}),
            ],
        }
        plans["MOT16-11"] = [v for v in plans["MOT16-09"] if "*" not in v[0] and "RGB" not in v[0]]
        if args.quick:
            plans = {"PETS09-S2L1": plans["PETS09-S2L1"][:1], "MOT16-09": [plans["MOT16-09"][4]]}
        if args.only:
            plans = {k: v for k, v in plans.items() if k in args.only}
        print(
            f"model {onnx_path}; every {args.every}th frame; IoU {IOU}; 2 threads; R=recall P=precision; "
            f"Rv=recall of gt boxes >=50% visible; AP50 over scores >= {AP_FLOOR}"
        )
        for seq, variants in plans.items():
            truth = load_truth(seq)
            frames, decode_ms = sampled_frames(seq, args.every, args.limit)
            h, w = frames[0][1].shape[:2]
            print(f"\n## {seq} ({w}x{h}), {len(frames)} frames, PyAV decode+BGR {decode_ms:.1f} ms/frame")
            print(header())
            for label, options in variants:
                detector = NanoDetDetector(onnx_path, score_threshold=AP_FLOOR, threads=2, **options)  # type: ignore[arg-type]
                print(f"{label:<26} {evaluate(detector, frames, truth)}", flush=True)
            if seq == "MOT16-09" and not args.quick:
                print(f"\n## detect() time on a {w}x{h} frame, load average {os.getloadavg()[0]:.2f}")
                sizes = [
                    (416, 416),
                    (512, 288),
                    (576, 320),
                    (640, 352),
                    (704, 384),
                    (768, 416),
                    (832, 480),
                    (960, 544),
                    (1088, 608),
                    (1280, 736),
                ]
                timing(onnx_path, frames[len(frames) // 2][1], sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
