"""Bookkeeping of the visitor-resolution benchmarks (keliu.evaluation.visits_bench) on hand-made inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from keliu.domain.visits import Entry, PersonCategory, Signature, Visit
from keliu.evaluation.visits_bench import (
    Decision,
    ExclusionScore,
    MatchScore,
    ShotRules,
    VisitLedger,
    door_sighting,
    pick_shots,
    recommend_match_threshold,
    recommend_staff_threshold,
    score_decisions,
    shot_quality,
    split_track,
)
from keliu.resolve import Resolver, ResolverRules

T0 = datetime(2025, 3, 8, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def sig(n: int, dim: int = 8) -> Signature:
    v = np.zeros(dim, np.float32)
    v[n] = 1.0
    return Signature(embedding=v, colour=v.copy())


# ------------------------------------------------------------------ split_track


def test_split_track_keeps_the_first_and_last_parts_of_the_time_span() -> None:
    split = split_track(range(1, 101), part_share=0.4, min_part_frames=8)
    assert split is not None
    # span 99 frames: first part up to 1 + 39.6, later part from 100 - 39.6
    assert split.first == tuple(range(1, 41))
    assert split.later == tuple(range(61, 101))
    assert split.gap_frames == 20


def test_split_track_uses_time_not_frame_count_and_ignores_order_and_repeats() -> None:
    frames = [50, 1, 2, 3, 4, 5, 3, 48, 49, 47, 46]  # seen early and late, a hole in the middle
    split = split_track(frames, part_share=0.4, min_part_frames=3)
    assert split is not None
    assert split.first == (1, 2, 3, 4, 5)
    assert split.later == (46, 47, 48, 49, 50)


def test_split_track_refuses_short_tracks() -> None:
    assert split_track(range(1, 10), min_part_frames=8) is None
    assert split_track([], min_part_frames=1) is None
    assert split_track([7], min_part_frames=1) is None  # one frame cannot be split
    assert split_track([1, 2], min_part_frames=1) is None  # no gap between the parts
    with pytest.raises(ValueError, match="part_share"):
        split_track(range(100), part_share=0.5)


# ------------------------------------------------------------------ shots


def test_shot_quality_grows_with_height_and_saturates() -> None:
    rules = ShotRules(full_height_px=200.0)
    assert shot_quality((100, 100, 40, 100), [], (1000, 800), rules) == pytest.approx(0.5)
    assert shot_quality((100, 100, 80, 400), [], (1000, 800), rules) == 1.0


def test_shot_quality_rejects_truncated_small_and_covered_views() -> None:
    frame = (640, 480)
    assert shot_quality((0, 100, 40, 100), [], frame) is None  # touches the left edge
    assert shot_quality((600, 100, 40, 100), [], frame) is None  # reaches the right edge
    assert shot_quality((100, 390, 40, 90), [], frame) is None  # cut at the bottom
    assert shot_quality((100, 100, 15, 30), [], frame) is None  # smaller than 40 px
    box = (100.0, 100.0, 40.0, 100.0)  # feet at y = 200
    in_front = (110.0, 150.0, 40.0, 100.0)  # feet at 250: nearer, covers 30 × 50 = 37.5 %
    behind = (110.0, 50.0, 40.0, 100.0)  # feet at 150: hidden by this person, not hiding them
    slightly = (130.0, 150.0, 40.0, 100.0)  # in front, covers 10 × 50 = 12.5 %
    assert shot_quality(box, [in_front], frame) is None
    assert shot_quality(box, [behind], frame) is not None
    assert shot_quality(box, [slightly], frame) is not None


def test_shot_quality_prefers_the_annotated_visibility() -> None:
    box = (100.0, 100.0, 40.0, 100.0)
    in_front = (110.0, 150.0, 40.0, 100.0)
    assert shot_quality(box, [in_front], (640, 480), visibility=0.9) is not None
    assert shot_quality(box, [], (640, 480), visibility=0.5) is None


def test_pick_shots_takes_the_best_views_apart_in_time() -> None:
    candidates = [(1, 0.5), (2, 0.9), (3, 0.8), (10, 0.7), (11, 0.95), (20, 0.1)]
    rules = ShotRules(max_shots=3, min_gap_frames=3)
    # 11 (0.95), 2 (0.9); 3 is too near 2, 10 too near 11, 1 too near 2; then 20
    assert pick_shots(candidates, rules) == [11, 2, 20]
    assert pick_shots(candidates, ShotRules(max_shots=2, min_gap_frames=1)) == [11, 2]
    assert pick_shots([], rules) == []
    assert pick_shots([(5, 0.3), (4, 0.3)], ShotRules(min_gap_frames=1)) == [4, 5]  # ties: earlier first


# ------------------------------------------------------------------ sightings and the ledger


def test_door_sighting_has_one_entry_and_optionally_a_known_exit() -> None:
    s = door_sighting("site", 7, T0, sig(1))
    assert [c.direction for c in s.crossings] == ["in"]
    assert (s.first_seen, s.last_seen) == (T0, T0 + timedelta(seconds=3))
    s = door_sighting("site", 7, T0, sig(1), stay_s=120)
    assert [(c.direction, c.at) for c in s.crossings] == [("in", T0), ("out", T0 + timedelta(seconds=120))]
    assert s.last_seen == T0 + timedelta(seconds=120)


def visit(vid: str, *entry_minutes: int) -> Visit:
    entries = [Entry(T0 + timedelta(minutes=m), "door", "door-line") for m in entry_minutes]
    return Visit(vid, "site", PersonCategory.CUSTOMER, entries[0].at, entries)


def test_ledger_tells_a_new_visit_from_a_continued_one() -> None:
    ledger = VisitLedger()
    first = ledger.record("a", T0, "door", [visit("v1", 0)])
    assert first == Decision(expected=None, continued=None)
    # b's entry at 5 min joined v1 (returned changed, with a batch of another visit alongside)
    second = ledger.record("b", T0 + timedelta(minutes=5), "door", [visit("v1", 0, 5), visit("v2", 1)])
    assert second == Decision(expected=None, continued=frozenset({"a"}))
    third = ledger.record("a", T0 + timedelta(minutes=9), "door", [visit("v1", 0, 5, 9)])
    assert third is not None and third.continued == frozenset({"a", "b"})
    assert ledger.record("c", T0 + timedelta(minutes=20), "door", []) is None
    latest = ledger.visit_of(T0 + timedelta(minutes=5))
    assert latest is not None and len(latest.entries) == 3
    assert ledger.visit_of(T0 + timedelta(minutes=5), "other-camera") is None


def test_ledger_with_the_real_resolver() -> None:
    resolver = Resolver("site", ResolverRules(match_threshold=0.8))
    ledger = VisitLedger()
    day = [("p", sig(1)), ("q", sig(2)), ("p", sig(1)), ("r", sig(3))]
    decisions = []
    for i, (label, signature) in enumerate(day):
        at = T0 + timedelta(minutes=i)
        got = ledger.record(label, at, "door", resolver.add(door_sighting("site", i + 1, at, signature)))
        assert got is not None
        decisions.append(Decision("p" if i == 2 else None, got.continued))
    assert score_decisions(decisions) == MatchScore(true_positives=1, true_negatives=3)


# ------------------------------------------------------------------ de-dup decisions


def test_score_decisions_counts_every_outcome() -> None:
    decisions = [
        Decision("a", frozenset({"a"})),  # TP
        Decision("b", frozenset({"a", "b"})),  # TP: b's visit (a was merged into it earlier)
        Decision("c", frozenset({"a"})),  # wrong
        Decision("d", None),  # missed
        Decision(None, frozenset({"a"})),  # false match
        Decision(None, None),  # true negative
        Decision(None, None),
    ]
    s = score_decisions(decisions)
    assert s == MatchScore(true_positives=2, wrong=1, false_matches=1, missed=1, true_negatives=2)
    assert (s.came_back, s.newcomers, s.false_positives) == (4, 3, 2)
    assert s.precision == pytest.approx(2 / 4)
    assert s.recall == pytest.approx(2 / 4)
    assert s.f1 == pytest.approx(0.5)
    assert s + s == MatchScore(4, 2, 2, 2, 4)


def test_match_score_of_nothing_is_not_a_division_by_zero() -> None:
    s = MatchScore()
    assert (s.precision, s.recall) == (1.0, 1.0)
    assert MatchScore(missed=3).precision == 1.0
    assert MatchScore(missed=3).f1 == 0.0


def test_recommend_match_threshold_maximises_f1_within_the_bar() -> None:
    curve = [
        (0.6, MatchScore(true_positives=10, false_matches=5)),  # P 0.67, R 1
        (0.7, MatchScore(true_positives=9, false_matches=1, missed=1)),  # P 0.9, R 0.9, F1 0.9
        (0.8, MatchScore(true_positives=9, missed=1)),  # P 1, R 0.9, F1 0.947
        (0.9, MatchScore(true_positives=9, missed=1)),  # same F1
        (0.95, MatchScore(true_positives=9, missed=1)),  # same F1: the middle one of 0.8 … 0.95 wins
        (0.99, MatchScore(true_positives=2, missed=8)),
    ]
    assert recommend_match_threshold(curve) == (0.9, curve[3][1])
    assert recommend_match_threshold(curve, min_recall=0.95) is None
    assert recommend_match_threshold(curve[:2]) == (0.7, curve[1][1])


# ------------------------------------------------------------------ staff


def test_exclusion_score_rates_and_sum() -> None:
    s = ExclusionScore(
        staff=20, staff_excluded=19, staff_right_member=18, customers=100, customers_excluded=2
    )
    assert s.staff_recall == pytest.approx(0.95)
    assert s.customers_excluded_share == pytest.approx(0.02)
    assert (s + s).staff == 40
    assert ExclusionScore().staff_recall == 1.0
    assert ExclusionScore().customers_excluded_share == 0.0


def test_recommend_staff_threshold_respects_both_bars() -> None:
    curve = [
        (0.7, ExclusionScore(20, 20, 20, 100, 10)),  # recall 1, 10 % customers: too many
        (0.8, ExclusionScore(20, 19, 19, 100, 2)),  # recall 0.95, 2 %: meets the bar
        (0.85, ExclusionScore(20, 19, 19, 100, 1)),  # same recall, fewer customers: better
        (0.9, ExclusionScore(20, 10, 10, 100, 0)),
    ]
    assert recommend_staff_threshold(curve) == (0.85, curve[2][1])
    assert recommend_staff_threshold(curve[3:]) is None  # within 2 % but recall 0.5
    assert recommend_staff_threshold(curve[3:], min_recall=0.0) == (0.9, curve[3][1])
    assert recommend_staff_threshold(curve[:1]) is None  # nothing within 2 %
