"""Accuracy measurement against labelled video: MOTChallenge files, ground-truth crossings, event F1.

Used by the golden tests and `bench/`; also usable by integrators on their own labelled footage.
Must not import the vision pipeline (it judges its output, it does not run it).
"""

from keliu.evaluation.counting_metrics import (
    CountingScore,
    SampledLine,
    gt_crossings,
    sample_lines,
    score_crossings,
)
from keliu.evaluation.mot import MotRow, read_mot, write_mot

__all__ = [
    "CountingScore",
    "MotRow",
    "SampledLine",
    "gt_crossings",
    "read_mot",
    "sample_lines",
    "score_crossings",
    "write_mot",
]
