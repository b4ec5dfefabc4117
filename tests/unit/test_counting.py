"""Counting semantics as frame tables, plus properties (REQUIREMENTS V1, V4, V8)."""

from __future__ import annotations

import itertools
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from keliu.domain.counting import CountingRules, LineCounter, TrackPoint, ZoneMonitor
from keliu.domain.geometry import Line, Zone

# A vertical door line at x = 10 from y = 0 to y = 20; the store is to the right (x > 10).
DOOR = Line("door", (10.0, 0.0), (10.0, 20.0), inside=(15.0, 10.0))


def run(counter: LineCounter, table: list[tuple[int, float, float]], *, end: bool = True):
    """table rows: (track_id, x, y); one row per frame per track, frames at 1 s."""
    events = []
    for frame, (tid, x, y) in enumerate(table):
        events += counter.update([TrackPoint(tid, float(frame), frame, (x, y))])
    if end:
        events += counter.end_tracks({tid for tid, _, _ in table})
    return events


def test_walking_in_counts_once_at_the_moment_the_line_was_reached() -> None:
    events = run(LineCounter([DOOR]), [(1, 5, 10), (1, 8, 10), (1, 12, 10), (1, 14, 10), (1, 16, 10)])
    # x = 8 at t = 1 s, x = 12 at t = 2 s: the line x = 10 was reached at t = 1.5 s
    assert [(e.line_id, e.direction, e.t_s, e.track_id) for e in events] == [("door", "in", 1.5, 1)]


def test_walking_out_counts_out() -> None:
    events = run(LineCounter([DOOR]), [(1, 16, 10), (1, 13, 10), (1, 8, 10), (1, 5, 10)])
    assert [e.direction for e in events] == ["out"]


def test_jitter_on_the_line_counts_once() -> None:
    table = [
        (1, 7, 10),
        (1, 9.5, 10),
        (1, 10.5, 10),
        (1, 9.6, 10),
        (1, 10.4, 10),
        (1, 9.7, 10),
        (1, 10.6, 10),
        (1, 11, 10),
        (1, 13, 10),
        (1, 15, 10),
    ]
    events = run(LineCounter([DOOR], CountingRules(hold_observations=2)), table)
    assert [e.direction for e in events] == ["in"]


def test_dead_band_ignores_points_near_the_line() -> None:
    rules = CountingRules(hold_observations=1, margin=1.0)
    table = [(1, 5, 10), (1, 9.5, 10), (1, 10.5, 10), (1, 9.5, 10), (1, 10.5, 10), (1, 14, 10)]
    assert [e.direction for e in run(LineCounter([DOOR], rules), table)] == ["in"]


def test_crossing_during_occlusion_is_counted_after_reassociation() -> None:
    counter = LineCounter([DOOR])
    events = counter.update([TrackPoint(7, 0.0, 0, (4.0, 10.0))])
    events += counter.update([TrackPoint(7, 1.0, 1, (6.0, 10.0))])
    # frames 2..5: the person is hidden; the tracker re-finds track 7 on the other side
    events += counter.update([TrackPoint(7, 6.0, 6, (15.0, 11.0))])
    events += counter.update([TrackPoint(7, 7.0, 7, (17.0, 11.0))])
    events += counter.update([TrackPoint(7, 8.0, 8, (19.0, 11.0))])
    # last seen at x = 6 (t = 1 s), next at x = 15 (t = 6 s): the line was reached at t = 1 + 5 · 4/9
    assert [(e.direction, round(e.t_s, 3)) for e in events] == [("in", round(1 + 5 * 4 / 9, 3))]


def test_passing_beside_the_segment_does_not_count() -> None:
    table = [(1, 5, 40), (1, 8, 40), (1, 12, 40), (1, 15, 40)]  # y = 40 is well below the door (0..20)
    assert run(LineCounter([DOOR]), table) == []


def test_pending_crossing_is_counted_when_the_track_ends() -> None:
    events = run(LineCounter([DOOR]), [(1, 5, 10), (1, 8, 10), (1, 12, 10)])
    assert [e.direction for e in events] == ["in"]
    rules = CountingRules(count_pending_at_track_end=False)
    assert run(LineCounter([DOOR], rules), [(1, 5, 10), (1, 8, 10), (1, 12, 10)]) == []


def test_in_then_out_counts_both() -> None:
    table = [(1, 5, 10), (1, 12, 10), (1, 14, 10), (1, 16, 10), (1, 8, 10), (1, 6, 10), (1, 4, 10)]
    assert [e.direction for e in run(LineCounter([DOOR]), table)] == ["in", "out"]


def test_two_tracks_are_counted_separately() -> None:
    counter = LineCounter([DOOR])
    events = []
    for frame, xs in enumerate([(5, 16), (8, 13), (12, 8), (14, 5), (16, 3)]):
        events += counter.update(
            [
                TrackPoint(1, float(frame), frame, (xs[0], 5.0)),
                TrackPoint(2, float(frame), frame, (xs[1], 15.0)),
            ]
        )
    assert sorted((e.track_id, e.direction) for e in events) == [(1, "in"), (2, "out")]


def test_ended_tracks_are_evicted() -> None:
    counter = LineCounter([DOOR])
    counter.update([TrackPoint(i, 0.0, 0, (5.0, 5.0)) for i in range(50)])
    assert counter.tracked_count == 50
    counter.retain(range(10))
    assert counter.tracked_count == 10


# Crossing-level evidence across broken tracks (docs/counting.md): people are 10 units tall here,
# so "near the line" (stitch_near 0.3 heights) is within 3 units of x = 10.
TALL = 10.0


def run_tracks(
    counter: LineCounter, table: list[tuple[float, int, float, float]], *, lost: bool = True
) -> list[tuple[str, float, int]]:
    """table rows: (t_s, track_id, x, y), one observation each, in time order; then every track ends
    (``lost``: the tracker lost them; else the input ended)."""
    events = []
    for t, tid, x, y in table:
        events += counter.update([TrackPoint(tid, t, round(t), (x, y), TALL)])
    events += counter.end_tracks({tid for _, tid, _, _ in table}, lost=lost)
    return [(e.direction, round(e.t_s, 3), e.track_id) for e in events]


def test_track_appearing_just_past_the_line_counts_the_crossing_it_just_made() -> None:
    # hidden behind someone until just past the door, then seen walking steadily in at 2 units/s:
    # 0.5 s before its first point it was at x = 9.5, so it reached x = 10 at t = 3.75 s
    table = [(4.0, 2, 10.5, 10.0), (5.0, 2, 12.5, 10.0), (6.0, 2, 14.5, 10.0)]
    assert run_tracks(LineCounter([DOOR]), table) == [("in", 3.75, 2)]


def test_track_appearing_far_from_the_line_or_walking_along_it_counts_nothing() -> None:
    far = [(4.0, 2, 13.5, 10.0), (5.0, 2, 15.5, 10.0), (6.0, 2, 17.5, 10.0)]  # 3.5 units = 0.35 heights
    along = [(4.0, 2, 10.5, 4.0), (5.0, 2, 10.9, 8.0), (6.0, 2, 11.3, 12.0)]  # mostly along the door
    towards = [(4.0, 2, 12.5, 10.0), (5.0, 2, 11.5, 10.0), (6.0, 2, 10.5, 10.0)]  # not leaving it
    for table in (far, along, towards):
        assert run_tracks(LineCounter([DOOR]), table) == []


def test_track_lost_just_before_the_line_counts_the_crossing_it_was_making() -> None:
    # 2.4 units/s towards the door, lost 0.2 units before it: 0.2 s later it was over (at t ≈ 2.083 s)
    table = [(0.0, 1, 5.0, 10.0), (1.0, 1, 7.5, 10.0), (2.0, 1, 9.8, 10.0)]
    assert run_tracks(LineCounter([DOOR]), table) == [("in", 2.083, 1)]
    # the same walk when the video simply ends there: nobody knows, nothing is counted
    assert run_tracks(LineCounter([DOOR]), table, lost=False) == []


def test_lingering_at_the_line_then_lost_counts_nothing() -> None:
    table = [(0.0, 1, 9.7, 10.0), (1.0, 1, 9.8, 10.0), (2.0, 1, 9.75, 10.0), (3.0, 1, 9.85, 10.0)]
    assert run_tracks(LineCounter([DOOR]), table) == []


def test_stitched_tracks_count_one_crossing_never_two() -> None:
    # track 1 walks towards the door and is lost right before it; 1 s later track 2 appears right
    # past it and walks on: one person, one crossing (track 2's), and track 1's end adds nothing
    table = [
        (0.0, 1, 5.0, 10.0),
        (1.0, 1, 7.5, 10.0),
        (2.0, 1, 9.8, 10.0),
        (3.0, 2, 10.5, 10.0),
        (4.0, 2, 12.5, 10.0),
        (5.0, 2, 14.5, 10.0),
    ]
    assert run_tracks(LineCounter([DOOR]), table) == [("in", 2.75, 2)]
    # without the hand-over each track would count the same crossing
    no_handover = LineCounter([DOOR], CountingRules(handover_s=0.0))
    assert [d for d, _, _ in run_tracks(no_handover, table)] == ["in", "in"]


def test_identities_swapped_while_crossing_side_by_side_count_two() -> None:
    # two people walk in side by side (y = 8 and y = 12); the tracker swaps their ids on the line
    table: list[tuple[float, int, float, float]] = []
    for t, x in enumerate([4.0, 7.0, 9.5, 11.5, 14.0, 16.0]):
        swapped = x > 10
        table.append((float(t), 1, x, 12.0 if swapped else 8.0))
        table.append((float(t), 2, x, 8.0 if swapped else 12.0))
    events = run_tracks(LineCounter([DOOR]), table)
    assert sorted((d, tid) for d, _, tid in events) == [("in", 1), ("in", 2)]


def test_identities_swapped_with_someone_waiting_count_the_one_who_crossed() -> None:
    # person P walks in; person Q waits outside at x = 8; at t = 3 the tracker gives P's id to Q
    # and Q's to P: track 1 never crosses, track 2 jumps from Q (outside) to P (inside)
    table: list[tuple[float, int, float, float]] = []
    for t, x in enumerate([4.0, 6.0, 8.5, 11.5, 13.5, 15.5]):
        p_track, q_track = (1, 2) if t < 3 else (2, 1)
        table.append((float(t), p_track, x, 10.0))
        table.append((float(t), q_track, 8.0, 14.0))
    assert [(d, tid) for d, _, tid in run_tracks(LineCounter([DOOR]), table)] == [("in", 2)]


def test_lingering_back_and_forth_and_side_by_side_hold_with_people_sized() -> None:
    jitter = [9.5, 10.5, 9.6, 10.4, 9.7, 10.6, 11.0, 13.0, 15.0]
    table = [(float(t), 1, x, 10.0) for t, x in enumerate([7.0, *jitter])]
    assert [d for d, _, _ in run_tracks(LineCounter([DOOR], CountingRules(hold_observations=2)), table)] == [
        "in"
    ]
    walk = [5.0, 12.0, 14.0, 16.0, 8.0, 6.0, 4.0]
    table = [(float(t), 1, x, 10.0) for t, x in enumerate(walk)]
    assert [d for d, _, _ in run_tracks(LineCounter([DOOR]), table)] == ["in", "out"]


walk = st.lists(
    st.tuples(st.floats(-50, 50, allow_nan=False), st.floats(-50, 50, allow_nan=False)),
    min_size=1,
    max_size=40,
)


def _events(
    line: Line, points: list[tuple[float, float]], hold: int = 2, size: float = 0.0
) -> list[tuple[str, float]]:
    counter = LineCounter([line], CountingRules(hold_observations=hold))
    events = []
    for i, p in enumerate(points):
        events += counter.update([TrackPoint(1, float(i), i, p, size)])
    events += counter.end_tracks([1])
    return [(e.direction, e.t_s) for e in events]


@given(walk, st.integers(1, 4))
def test_reversing_a_lines_inside_swaps_in_and_out(points, hold) -> None:
    line = Line("l", (0.0, -20.0), (3.0, 20.0), inside=(10.0, 0.0))
    forward = _events(line, points, hold)
    swapped = {"in": "out", "out": "in"}
    assert _events(line.reversed(), points, hold) == [(swapped[d], t) for d, t in forward]


@given(walk, st.floats(-1000, 1000), st.floats(-1000, 1000))
def test_translating_the_scene_changes_nothing(points, dx, dy) -> None:
    line = Line("l", (0.0, -20.0), (3.0, 20.0), inside=(10.0, 0.0))
    moved = Line("l", (dx, dy - 20.0), (dx + 3.0, dy + 20.0), inside=(dx + 10.0, dy))
    shifted = [(x + dx, y + dy) for x, y in points]
    # float rounding may only matter for points within a hair of the line: keep them away
    if any(abs(line.signed_distance(p)) < 1e-6 for p in points):
        return
    rounded = [(d, round(t, 6)) for d, t in _events(moved, shifted)]
    assert rounded == [(d, round(t, 6)) for d, t in _events(line, points)]


@given(walk, st.integers(1, 4))
def test_directions_alternate_so_no_crossing_is_counted_twice(points, hold) -> None:
    events = _events(Line("l", (0.0, -100.0), (0.0, 100.0), inside=(1.0, 0.0)), points, hold)
    directions = [d for d, _ in events]
    assert all(a != b for a, b in itertools.pairwise(directions))
    # the number of counted crossings can never exceed the number of side changes of the walk
    sides = [x > 0 for x, _ in points if x != 0]
    assert len(events) <= sum(a != b for a, b in itertools.pairwise(sides))


@given(walk, st.integers(1, 4), st.floats(1.0, 200.0))
def test_a_sized_track_alternates_and_adds_at_most_its_two_ends(
    points: list[tuple[float, float]], hold: int, size: float
) -> None:
    """With people sized, a track may count a crossing just before it appeared and one just after it
    was lost (crossing-level evidence), but directions still alternate: never the same one twice."""
    events = _events(Line("l", (0.0, -100.0), (0.0, 100.0), inside=(1.0, 0.0)), points, hold, size)
    directions = [d for d, _ in events]
    assert all(a != b for a, b in itertools.pairwise(directions))
    sides = [x > 0 for x, _ in points if x != 0]
    assert len(events) <= sum(a != b for a, b in itertools.pairwise(sides)) + 2


@settings(max_examples=30)
@given(st.lists(st.floats(9.0, 11.0, allow_nan=False), min_size=2, max_size=60))
def test_lingering_on_the_line_counts_at_most_once_with_dead_band(xs) -> None:
    counter = LineCounter([DOOR], CountingRules(hold_observations=2, margin=1.0))
    events = []
    for i, x in enumerate([5.0, *xs, 15.0, 16.0]):
        events += counter.update([TrackPoint(1, float(i), i, (x, 10.0))])
    assert [e.direction for e in events] == ["in"]


def test_state_stays_bounded_over_100k_track_ids() -> None:
    counter = LineCounter([DOOR], CountingRules(max_tracks=1000))
    zones = ZoneMonitor(
        [Zone("z", ((0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)))], CountingRules(max_tracks=1000)
    )
    tracemalloc.start()
    peak_at_10k = 0
    for tid in range(100_000):
        frame = tid
        points = [TrackPoint(tid, float(frame), frame, (5.0 + (tid % 3) * 4, 10.0))]
        counter.update(points)
        zones.update(points)
        if tid % 50 == 49:  # the tracker ends tracks from time to time ...
            alive = range(tid - 20, tid + 1)
            counter.retain(alive)
            zones.retain(alive)
        if tid == 10_000:
            peak_at_10k = tracemalloc.get_traced_memory()[0]
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert counter.tracked_count <= 1000 and zones.tracked_count <= 1000
    assert current < peak_at_10k * 1.5 + 200_000


def test_zone_enter_leave_dwell_and_occupancy() -> None:
    zone = Zone("lounge", ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)))
    monitor = ZoneMonitor([zone], CountingRules(hold_observations=2))
    table = [(20, 5), (5, 5), (5, 6), (6, 6), (7, 7), (20, 5), (21, 5)]
    events = []
    occupancy = []
    for t, (x, y) in enumerate(table):
        events += monitor.update([TrackPoint(1, float(t), t, (float(x), float(y)))])
        occupancy.append(monitor.occupancy()["lounge"])
    assert [(e.kind, e.t_s, e.dwell_s) for e in events] == [("enter", 1.0, None), ("leave", 5.0, 4.0)]
    assert occupancy == [0, 0, 1, 1, 1, 1, 0]


def test_zone_left_when_track_ends_inside() -> None:
    zone = Zone("z", ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)))
    monitor = ZoneMonitor([zone])
    for t in range(5):
        monitor.update([TrackPoint(3, float(t), t, (5.0, 5.0))])
    events = monitor.end_tracks([3])
    assert [(e.kind, e.dwell_s) for e in events] == [("leave", 4.0)]
    assert monitor.occupancy() == {"z": 0}


def test_every_worked_example_in_docs_counting_md_is_a_test_here() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "counting.md").read_text()
    named = set(re.findall(r"`(test_\w+)`", doc))
    assert len(named) >= 14
    assert named <= {name for name in globals() if name.startswith("test_")}
