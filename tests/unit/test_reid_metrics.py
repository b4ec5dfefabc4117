"""Rank-1 and mAP of the re-identification benchmark, checked on hand-made rankings."""

from __future__ import annotations

import numpy as np
import pytest

from keliu.evaluation.reid import (
    average_precision,
    evaluate_groups,
    evaluate_multishot_gallery,
    evaluate_ranking,
    rank_gallery,
    summarise,
)


def unit(*angles_deg: float) -> np.ndarray:
    """Points on the unit circle: cosine similarity falls as the angle between them grows."""
    a = np.radians(angles_deg)
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def test_average_precision_of_hand_ranked_lists() -> None:
    assert average_precision([True, False, False]) == 1.0
    assert average_precision([False, True]) == 0.5
    # true matches at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision([True, False, True, False]) == pytest.approx((1 + 2 / 3) / 2)
    # ranks 2 and 4: (1/2 + 2/4) / 2
    assert average_precision([False, True, False, True]) == pytest.approx(0.5)
    assert average_precision([False, False]) == 0.0


def test_rank_gallery_orders_by_cosine_and_keeps_ties_stable() -> None:
    gallery = unit(90, 10, 10, 45)
    assert list(rank_gallery(unit(0)[0], gallery)) == [1, 2, 3, 0]


def test_evaluate_ranking_excludes_and_skips() -> None:
    q = unit(0, 100)
    g = unit(5, 30, 95)
    hits, aps, skipped = evaluate_ranking(q, ["a", "z"], g, ["b", "a", "c"])
    # query a: ranked b (5°), a (30°), c → miss at rank 1, AP 1/2; query z has no true match
    assert (hits, aps, skipped) == ([False], [0.5], 1)
    hits, aps, _ = evaluate_ranking(q[:1], ["a"], g, ["b", "a", "c"], exclude=[[0]])
    assert (hits, aps) == ([True], [1.0])


def test_evaluate_groups_on_a_tiny_two_group_set() -> None:
    # Group 1: p at 0° and 10°, q at 25°. Group 2: r at 180° and 200° (never mixed with group 1).
    vectors = unit(0, 10, 25, 180, 200)
    ids = ["p", "p", "q", "r", "r"]
    groups = [1, 1, 1, 2, 2]
    score = evaluate_groups(vectors, ids, groups)
    # q has no other q in its group: skipped. p@0: [p, q] → hit, AP 1. p@10: p (10° away) before
    # q (15° away) → hit. r, r: hits.
    assert score.queries == 4
    assert score.skipped == 1
    assert score.rank1 == 1.0
    assert score.mean_ap == 1.0


def test_evaluate_groups_counts_misses_and_their_precision() -> None:
    # a at 0° and 40°, b at 5° and 45°: everyone's nearest neighbour is the other person.
    #   a@0:  b@5, a@40, b@45 → [F, T, F] AP 1/2     a@40: b@45, b@5, a@0 → [F, F, T] AP 1/3
    #   b@5:  a@0, a@40, b@45 → [F, F, T] AP 1/3     b@45: a@40, b@5, a@0 → [F, T, F] AP 1/2
    score = evaluate_groups(unit(0, 40, 5, 45), ["a", "a", "b", "b"], ["g"] * 4)
    assert score.queries == 4
    assert score.rank1 == 0.0
    assert score.mean_ap == pytest.approx((1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)


def test_multishot_gallery_builds_one_entry_per_identity_without_the_query() -> None:
    vectors = unit(0, 10, 50, 60, 70)
    ids = ["a", "a", "b", "b", "b"]
    seen: list[tuple[int, ...]] = []

    def gallery_vector(rows: tuple[int, ...]) -> np.ndarray:
        seen.append(rows)
        mean = np.asarray(vectors[list(rows)].mean(axis=0))
        return np.asarray(mean / np.linalg.norm(mean))

    score = evaluate_multishot_gallery(vectors, ids, ["g"] * 5, gallery_vector, shots=2)
    assert score.queries == 5 and score.rank1 == 1.0 and score.mean_ap == 1.0
    assert all(len(rows) <= 2 for rows in seen)
    assert (1,) in seen and (0,) in seen  # a's entry leaves out the querying a
    assert (2, 3) in seen and (3, 4) in seen  # b's first two rows, or the two after the query


def test_summarise_and_input_checks() -> None:
    assert summarise([], [], 3).queries == 0
    assert summarise([True, False], [1.0, 0.25]).rank1 == 0.5
    with pytest.raises(ValueError):
        evaluate_groups(unit(0, 1), ["a"], ["g", "g"])
    with pytest.raises(ValueError):
        evaluate_ranking(unit(0), ["a"], np.ones((2, 3)), ["a", "b"])
