"""The measuring tools must themselves be right before any figure they give is believed."""

from __future__ import annotations

from pathlib import Path

import pytest

from keliu.domain.counting import CrossingEvent
from keliu.domain.geometry import Line
from keliu.evaluation import gt_crossings, read_mot, sample_lines, score_crossings
from keliu.evaluation.mot import MotRow, interpolate_gaps
from keliu.evaluation.mot_metrics import tracking_score

MOT = Path(__file__).parents[3] / "shared" / "data" / "mot"


@pytest.mark.parametrize(
    ("sequence", "mota", "idf1"), [("TUD-Campus", 0.526, 0.558), ("TUD-Stadtmitte", 0.564, 0.645)]
)
def test_metric_setup_reproduces_py_motmetrics_reference_table(
    sequence: str, mota: float, idf1: float
) -> None:
    score = tracking_score(
        MOT / sequence / "gt" / "gt.txt", MOT / "_motmetrics_reference" / sequence / "test.txt"
    )
    assert score.mota == pytest.approx(mota, abs=0.0006)
    assert score.idf1 == pytest.approx(idf1, abs=0.0006)


def test_mot16_reader_keeps_considered_pedestrians_only() -> None:
    rows = read_mot(MOT / "MOT16-09" / "gt" / "gt.txt")
    raw = [line.split(",") for line in (MOT / "MOT16-09" / "gt" / "gt.txt").read_text().split()]
    assert 0 < len(rows) < len(raw)
    assert len(rows) == sum(1 for r in raw if r[6] == "1" and r[7] == "1")


def test_gt_crossings_from_foot_points() -> None:
    line = Line("door", (100.0, 0.0), (100.0, 200.0), inside=(150.0, 100.0))
    rows = [MotRow(f, 1, 60.0 + 10 * f, 50.0, 20.0, 50.0) for f in range(1, 8)]  # foot x = 70 + 10 f
    events = gt_crossings(rows, [line], fps=10.0)
    assert [(e.direction, e.frame_index) for e in events] == [("in", 3)]


def test_event_matching_is_one_to_one_within_tolerance() -> None:
    gt = [CrossingEvent("a", "in", t, 1, 0) for t in (1.0, 5.0)]
    pred = [CrossingEvent("a", "in", t, 1, 0) for t in (1.4, 1.6, 9.0)] + [
        CrossingEvent("a", "out", 5.0, 2, 0)
    ]
    score = score_crossings(pred, gt, tolerance_s=1.0)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 3, 1)
    assert score.count_accuracy == pytest.approx(1 - (1 + 1) / 2)


def test_interpolation_fills_short_gaps_only() -> None:
    rows = [MotRow(1, 1, 0, 0, 10, 10), MotRow(4, 1, 30, 0, 10, 10), MotRow(20, 1, 30, 0, 10, 10)]
    filled = interpolate_gaps(rows, max_gap_frames=5)
    assert [r.frame for r in filled] == [1, 2, 3, 4, 20]
    assert filled[1].x == pytest.approx(10.0)


def _walkers() -> list[MotRow]:
    """Twenty people walking left to right across a 100 × 100 frame at different heights."""
    return [
        MotRow(f, person, 2.0 * f - 10.0, 5.0 + 4.5 * person - 20.0, 10.0, 20.0)
        for person in range(1, 21)
        for f in range(1, 60)
    ]


def test_random_lines_are_seeded_and_have_crossings() -> None:
    rows = _walkers()
    first = sample_lines(rows, (100, 100), 10.0, count=6, seed=1)
    again = sample_lines(rows, (100, 100), 10.0, count=6, seed=1)
    other = sample_lines(rows, (100, 100), 10.0, count=6, seed=2)
    assert [s.line for s in first] == [s.line for s in again]
    assert [s.line for s in first] != [s.line for s in other]
    for sampled in first:
        assert len(sampled.truth) >= 4
        assert all(0.0 <= v <= 1.0 for p in (sampled.line.a, sampled.line.b, sampled.line.inside) for v in p)
        # the stored truth is what the line's own crossings are, in pixels
        assert list(sampled.truth) == gt_crossings(rows, [sampled.line.scaled(100, 100)], 10.0)


def test_across_keeps_lines_people_cross_rather_than_walk_along() -> None:
    across = sample_lines(_walkers(), (100, 100), 10.0, count=6, seed=3, min_across=0.9)
    assert all(s.across >= 0.9 for s in across)
    for sampled in across:  # people walk along x: a line they cross squarely is close to vertical
        (ax, ay), (bx, by) = sampled.line.a, sampled.line.b
        assert abs(bx - ax) < abs(by - ay)


def test_too_few_crossable_lines_is_an_error() -> None:
    with pytest.raises(ValueError, match="random lines"):
        sample_lines(_walkers()[:3], (100, 100), 10.0, count=2, seed=1)
