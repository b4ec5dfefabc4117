"""Golden accuracy regression on real labelled video (STYLE habit 9).

Runs the real CLI (`keliu count`, `keliu track`) with default settings on MOTChallenge sequences
and compares with committed expected figures (`golden_metrics.json`): a drop of more than the
tolerance fails, and so does falling below the issue's bar wherever the committed figure meets it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from keliu.evaluation.mot_metrics import tracking_score

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import counting_accuracy  # noqa: E402
import tracking_metrics  # noqa: E402

GOLDEN = json.loads((Path(__file__).parent / "golden_metrics.json").read_text())
TOLERANCE = GOLDEN["tolerance"]


def floor(expected: float, bar: float) -> float:
    """The committed figure minus the tolerance, but never below a bar the figure meets."""
    return max(expected - TOLERANCE, bar) if expected >= bar else expected - TOLERANCE


@pytest.mark.parametrize("sequence", sorted(GOLDEN["counting"]))
def test_counting_accuracy(sequence: str, shared_data: Path, nanodet_model: Path) -> None:
    golden = GOLDEN["counting"][sequence]
    score, _, _ = counting_accuracy.evaluate(sequence)
    assert score.gt_total > 50
    assert score.f1 >= floor(golden["f1"], golden["bar_f1"]), f"F1 {score.f1:.3f}"
    assert score.count_accuracy >= floor(golden["count_accuracy"], golden["bar_count_accuracy"]), (
        f"count accuracy {score.count_accuracy:.3f}"
    )


@pytest.mark.parametrize("sequence", sorted(GOLDEN["random_lines"]))
def test_counting_accuracy_on_random_lines(sequence: str, shared_data: Path, nanodet_model: Path) -> None:
    """Lines nobody tuned for: 180 seeded random lines per set, one `keliu count` run."""
    scores = counting_accuracy.evaluate_random_lines(sequence, per_seed=60)
    for label, golden in GOLDEN["random_lines"][sequence].items():
        score = scores[label]
        assert score.gt_total > 1000, label
        assert score.f1 >= floor(golden["f1"], golden["bar_f1"]), f"{label}: F1 {score.f1:.3f}"
        assert score.count_accuracy >= floor(golden["count_accuracy"], golden["bar_count_accuracy"]), (
            f"{label}: count accuracy {score.count_accuracy:.3f}"
        )


@pytest.mark.parametrize("sequence", sorted(GOLDEN["tracking"]))
def test_tracking_beats_baseline(
    sequence: str, shared_data: Path, nanodet_model: Path, tmp_path: Path
) -> None:
    golden = GOLDEN["tracking"][sequence]
    out = tmp_path / "tracks.txt"
    tracking_metrics.track(sequence, out)
    score = tracking_score(shared_data / "mot" / sequence / "gt" / "gt.txt", out)
    assert score.mota >= floor(golden["mota"], golden["baseline_mota"]), f"MOTA {score.mota:.3f}"
    assert score.idf1 >= floor(golden["idf1"], golden["baseline_idf1"]), f"IDF1 {score.idf1:.3f}"
    assert score.mota > golden["baseline_mota"] and score.idf1 > golden["baseline_idf1"]
