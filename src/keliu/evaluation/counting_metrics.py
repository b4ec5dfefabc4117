"""Ground-truth line crossings from labelled tracks, and one-to-one event matching (F1, count accuracy).

A ground-truth crossing happens between consecutive labelled positions of one track whose foot
points move through the line segment; its time is the later frame's (0-based index / fps).
Predicted and ground-truth events match one-to-one when they share line and direction and lie
within ``tolerance_s``; the matching is optimal (Hungarian on time distance).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from keliu.domain.counting import CrossingEvent
from keliu.domain.geometry import Line, segment_crossing
from keliu.evaluation.mot import MotRow

__all__ = ["CountingScore", "gt_crossings", "score_crossings"]


def gt_crossings(rows: Iterable[MotRow], lines_px: Sequence[Line], fps: float) -> list[CrossingEvent]:
    """Crossings of labelled tracks (consecutive rows of a track, foot points)."""
    by_track: dict[int, list[MotRow]] = defaultdict(list)
    for row in rows:
        by_track[row.track_id].append(row)
    events: list[CrossingEvent] = []
    for track_id, track_rows in by_track.items():
        track_rows.sort(key=lambda r: r.frame)
        for prev, cur in itertools.pairwise(track_rows):
            p, q = prev.foot_point, cur.foot_point
            for line in lines_px:
                if segment_crossing(line, p, q):
                    direction: Literal["in", "out"] = "in" if line.signed_distance(q) > 0 else "out"
                    index = cur.frame - 1
                    events.append(CrossingEvent(line.id, direction, index / fps, track_id, index))
    events.sort(key=lambda e: (e.t_s, e.line_id))
    return events


@dataclass(frozen=True)
class CountingScore:
    true_positives: int
    false_positives: int
    false_negatives: int
    count_error: int  # Σ |pred − gt| over line × direction
    gt_total: int
    per_key: dict[tuple[str, str], tuple[int, int]]  # (line, direction) -> (predicted, gt)

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 1.0

    @property
    def recall(self) -> float:
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def count_accuracy(self) -> float:
        return 1.0 - self.count_error / self.gt_total if self.gt_total else float(self.count_error == 0)


def score_crossings(
    predicted: Iterable[CrossingEvent], truth: Iterable[CrossingEvent], *, tolerance_s: float = 1.0
) -> CountingScore:
    pred_by: dict[tuple[str, str], list[float]] = defaultdict(list)
    gt_by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in predicted:
        pred_by[(e.line_id, e.direction)].append(e.t_s)
    for e in truth:
        gt_by[(e.line_id, e.direction)].append(e.t_s)
    tp = fp = fn = count_error = gt_total = 0
    per_key: dict[tuple[str, str], tuple[int, int]] = {}
    for key in sorted(set(pred_by) | set(gt_by)):
        p = np.array(pred_by.get(key, []), dtype=float)
        g = np.array(gt_by.get(key, []), dtype=float)
        matched = 0
        if len(p) and len(g):
            cost = np.abs(p[:, None] - g[None, :])
            big = 1e6
            rows, cols = linear_sum_assignment(np.where(cost <= tolerance_s, cost, big))
            matched = int(np.sum(cost[rows, cols] <= tolerance_s))
        tp += matched
        fp += len(p) - matched
        fn += len(g) - matched
        count_error += abs(len(p) - len(g))
        gt_total += len(g)
        per_key[key] = (len(p), len(g))
    return CountingScore(tp, fp, fn, count_error, gt_total, per_key)
