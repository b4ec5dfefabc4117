"""MOTA / IDF1 of a tracker output against MOTChallenge ground truth, with py-motmetrics.

py-motmetrics is a test/benchmark extra, imported lazily; the product does not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from keliu.evaluation.mot import MotRow, read_mot

__all__ = ["TrackingScore", "tracking_score"]


@dataclass(frozen=True)
class TrackingScore:
    mota: float
    idf1: float
    motp: float
    recall: float
    precision: float
    id_switches: int
    false_positives: int
    misses: int


def _iou_distance(a_xywh: np.ndarray, b_xywh: np.ndarray, iou_threshold: float) -> np.ndarray:
    """1 − IoU, NaN (no match allowed) below the threshold — py-motmetrics' convention.

    Written here because py-motmetrics 1.4.0's own helper uses an API NumPy 2 removed.
    """
    if len(a_xywh) == 0 or len(b_xywh) == 0:
        return np.empty((len(a_xywh), len(b_xywh)))
    a = np.c_[a_xywh[:, :2], a_xywh[:, :2] + a_xywh[:, 2:]]
    b = np.c_[b_xywh[:, :2], b_xywh[:, :2] + b_xywh[:, 2:]]
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    union = np.prod(a_xywh[:, 2:], axis=1)[:, None] + np.prod(b_xywh[:, 2:], axis=1)[None, :] - inter
    distance = 1.0 - inter / np.maximum(union, 1e-12)
    distance[distance > 1.0 - iou_threshold] = np.nan
    return np.asarray(distance, dtype=float)


def tracking_score(gt_path: Path, pred_path: Path, *, iou_threshold: float = 0.5) -> TrackingScore:
    """Score ``pred_path`` against ``gt_path`` (MOT16 gt: considered pedestrians only)."""
    import motmetrics as mm

    gt = read_mot(gt_path)
    pred = read_mot(pred_path, mot16_pedestrians_only=False)
    by_frame_gt: dict[int, list[MotRow]] = {}
    by_frame_pred: dict[int, list[MotRow]] = {}
    for r in gt:
        by_frame_gt.setdefault(r.frame, []).append(r)
    for r in pred:
        by_frame_pred.setdefault(r.frame, []).append(r)
    acc = mm.MOTAccumulator(auto_id=False)
    for frame in sorted(set(by_frame_gt) | set(by_frame_pred)):
        g = by_frame_gt.get(frame, [])
        p = by_frame_pred.get(frame, [])
        gb = np.array([[r.x, r.y, r.w, r.h] for r in g]).reshape(-1, 4)
        pb = np.array([[r.x, r.y, r.w, r.h] for r in p]).reshape(-1, 4)
        dist = _iou_distance(gb, pb, iou_threshold)
        acc.update([r.track_id for r in g], [r.track_id for r in p], dist, frameid=frame)
    names = [
        "mota",
        "idf1",
        "motp",
        "recall",
        "precision",
        "num_switches",
        "num_false_positives",
        "num_misses",
    ]
    summary = mm.metrics.create().compute(acc, metrics=names, name="seq")
    row = summary.loc["seq"]
    return TrackingScore(
        mota=float(row["mota"]),
        idf1=float(row["idf1"]),
        motp=float(row["motp"]),
        recall=float(row["recall"]),
        precision=float(row["precision"]),
        id_switches=int(row["num_switches"]),
        false_positives=int(row["num_false_positives"]),
        misses=int(row["num_misses"]),
    )
