"""Line crossing and zone occupancy rules: the counting semantics of keliu, defined once.

Input is a stream of per-track foot points (`TrackPoint`); output is `CrossingEvent` and
`ZoneEvent`. Rules:

* A track's side of a line only changes when the new side is *held* for ``hold_observations``
  consecutive observations outside a dead band around the line (``margin``, or
  ``margin_size_frac`` × the person's apparent size if larger), so a person lingering on the line
  is counted once (hysteresis in time and space).
* The crossing is counted only if the move from the last point on the old side to the first point
  on the new side passes through the line *segment* (extended by ``extend`` of its length at each
  end): walking around the end of a door line is not an entry.
* The move may span frames where the track was not detected (occlusion): once the tracker
  re-associates the track on the other side, the crossing is counted.
* The event time is when the counting point was on the line, interpolated linearly between the
  last observation on the old side and the first on the new side.
* Crossing-level evidence across broken tracks (a crowd hides or swaps people right at the line):
  a track that *appears* within ``stitch_near`` person heights of a line, moving steadily away
  from it, counts the crossing its motion over its first ``motion_observations`` observations says
  it made in the last ``new_extrapolate_s`` seconds; a track that is *lost* within ``stitch_near``
  heights of a line, moving steadily towards it, counts the crossing its last motion would have
  completed within ``lost_extrapolate_s``. Only motion within 60° of the line's normal
  (``min_normal_cos``) counts. When a new track's crossing is counted, a track lost near the line
  on the other side within ``handover_s`` (and ``handover_gap`` heights) is the same person
  handed over: its side is moved over, so the crossing is counted once, never twice.
* Per-track state is dropped when the track ends (`end_tracks`), and a hard cap
  (``max_tracks``) evicts the least recently seen track, so memory stays bounded on 24/7 streams.

Must not know about detectors, trackers, frames or files.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from keliu.domain.geometry import Line, Point, Zone, segment_crossing

__all__ = [
    "CountingRules",
    "CrossingEvent",
    "LineCounter",
    "TrackPoint",
    "ZoneEvent",
    "ZoneMonitor",
]

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class TrackPoint:
    """Where a tracked person's counting point (foot point by default) was at one moment."""

    track_id: int
    t_s: float
    frame_index: int
    point: Point
    size: float = 0.0  # the person's apparent size (box height), for size-relative dead bands


@dataclass(frozen=True)
class CrossingEvent:
    """One person crossing one line; ``in`` means moving onto the inside side."""

    line_id: str
    direction: Direction
    t_s: float
    track_id: int
    frame_index: int


@dataclass(frozen=True)
class ZoneEvent:
    """A track entering or leaving a zone; ``dwell_s`` is set on ``leave``."""

    zone_id: str
    kind: Literal["enter", "leave"]
    t_s: float
    track_id: int
    dwell_s: float | None = None


@dataclass(frozen=True)
class CountingRules:
    """Tuning of the counting rules (units: observations, and the units of the points)."""

    hold_observations: int = 3
    margin: float = 0.0
    margin_size_frac: float = 0.0
    extend: float = 0.1
    max_tracks: int = 10_000
    count_pending_at_track_end: bool = True
    # Crossing-level evidence across broken tracks (docs/counting.md, measured in
    # docs/benchmarks.md); both extrapolations 0 turns it off.
    new_extrapolate_s: float = 0.5
    lost_extrapolate_s: float = 0.2
    stitch_near: float = 0.3  # person heights from the line
    min_normal_cos: float = 0.5
    motion_observations: int = 3
    handover_s: float = 1.0
    handover_near: float = 0.5  # person heights from the line
    handover_gap: float = 1.0  # person heights between the lost track's last point and the new one

    def __post_init__(self) -> None:
        if self.hold_observations < 1:
            raise ValueError(f"CountingRules: hold_observations must be ≥ 1, got {self.hold_observations}")
        if self.margin < 0 or self.margin_size_frac < 0:
            raise ValueError(
                f"CountingRules: margins must be ≥ 0, got {self.margin} and {self.margin_size_frac}"
            )
        if self.max_tracks < 1:
            raise ValueError(f"CountingRules: max_tracks must be ≥ 1, got {self.max_tracks}")
        if min(self.new_extrapolate_s, self.lost_extrapolate_s, self.stitch_near, self.handover_s) < 0:
            raise ValueError("CountingRules: extrapolation times, stitch_near and handover_s must be ≥ 0")
        if self.motion_observations < 2:
            raise ValueError(
                f"CountingRules: motion_observations must be ≥ 2, got {self.motion_observations}"
            )


S = TypeVar("S")


class _RecentTracks(Generic[S]):
    """Per-track, per-line (or per-zone) state, least recently seen first, at most ``max_tracks``."""

    def __init__(self, max_tracks: int) -> None:
        self._items: OrderedDict[int, dict[str, S]] = OrderedDict()
        self._max_tracks = max_tracks

    def __len__(self) -> int:
        return len(self._items)

    def touch(self, track_id: int) -> tuple[dict[str, S], list[tuple[int, dict[str, S]]]]:
        """The track's states (new if unseen), and the tracks evicted to stay within the cap."""
        states = self._items.get(track_id)
        evicted: list[tuple[int, dict[str, S]]] = []
        if states is None:
            states = {}
            self._items[track_id] = states
            while len(self._items) > self._max_tracks:
                evicted.append(self._items.popitem(last=False))
        else:
            self._items.move_to_end(track_id)
        return states, evicted

    def pop(self, track_id: int) -> dict[str, S] | None:
        return self._items.pop(track_id, None)

    def get(self, track_id: int) -> dict[str, S] | None:
        return self._items.get(track_id)

    def ids_not_in(self, alive_track_ids: Iterable[int]) -> list[int]:
        alive = set(alive_track_ids)
        return [tid for tid in self._items if tid not in alive]

    def states(self) -> Iterable[dict[str, S]]:
        return self._items.values()


@dataclass
class _LineState:
    confirmed_side: int
    anchor: TrackPoint  # the last observation on the confirmed side, outside the dead band
    pending_first: TrackPoint | None = None
    pending_count: int = 0


class LineCounter:
    """Counts crossings of several lines by many tracks, one observation at a time."""

    def __init__(self, lines: Iterable[Line], rules: CountingRules | None = None) -> None:
        self.lines = tuple(lines)
        ids = [line.id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"LineCounter: line ids must be unique, got {ids}")
        self.rules = rules or CountingRules()
        self._tracks: _RecentTracks[_LineState] = _RecentTracks(self.rules.max_tracks)
        # per live track: its last few observations (motion) and how many it has had (capped)
        self._motion: dict[int, tuple[deque[TrackPoint], list[int]]] = {}

    @property
    def tracked_count(self) -> int:
        """How many tracks currently hold state (bounded by ``rules.max_tracks``)."""
        return len(self._tracks)

    def update(self, observations: Iterable[TrackPoint]) -> list[CrossingEvent]:
        """Feed the observations of one frame (any order); returns the crossings they complete."""
        events: list[CrossingEvent] = []
        n_motion = self.rules.motion_observations
        for obs in observations:
            states, evicted = self._tracks.touch(obs.track_id)
            for track_id, _ in evicted:  # long gone: nothing left to count
                self._motion.pop(track_id, None)
            recent, seen = self._motion.setdefault(obs.track_id, (deque(maxlen=n_motion), [0]))
            recent.append(obs)
            seen[0] = min(seen[0] + 1, n_motion + 1)
            for line in self.lines:
                event = self._observe(line, states, obs)
                if event is None and seen[0] == n_motion:
                    event = self._appeared_across(line, states.get(line.id), recent)
                if event is not None:
                    events.append(event)
        return events

    def end_tracks(self, track_ids: Iterable[int], *, lost: bool = True) -> list[CrossingEvent]:
        """Forget ended tracks; a crossing still pending is counted if the rules say so, and so is
        the crossing a track ``lost`` (not merely at the end of the input) was about to make."""
        events: list[CrossingEvent] = []
        for track_id in track_ids:
            states = self._tracks.pop(track_id)
            recent, _ = self._motion.pop(track_id, (deque(), [0]))
            if states is None:
                continue
            for line in self.lines:
                state = states.get(line.id)
                if state is None:
                    continue
                if state.pending_first is not None:
                    if self.rules.count_pending_at_track_end:
                        event = self._complete(line, state, state.pending_first)
                        if event is not None:
                            events.append(event)
                elif lost:
                    event = self._vanished_across(line, state, recent)
                    if event is not None:
                        events.append(event)
        return events

    def retain(self, alive_track_ids: Iterable[int]) -> list[CrossingEvent]:
        """End every track not in ``alive_track_ids``."""
        return self.end_tracks(self._tracks.ids_not_in(alive_track_ids))

    def _observe(self, line: Line, states: dict[str, _LineState], obs: TrackPoint) -> CrossingEvent | None:
        distance = line.signed_distance(obs.point)
        if distance == 0:
            return None  # exactly on the line: neither side (keeps in/out symmetric)
        side = 1 if distance > 0 else -1
        state = states.get(line.id)
        if state is None:
            states[line.id] = _LineState(confirmed_side=side, anchor=obs)
            return None
        if side == state.confirmed_side:
            state.anchor = obs
            state.pending_first = None
            state.pending_count = 0
            return None
        if abs(distance) <= max(self.rules.margin, self.rules.margin_size_frac * obs.size):
            return None  # not yet clearly over: the dead band only delays a change of side
        if state.pending_first is None:
            state.pending_first = obs
        state.pending_count += 1
        if state.pending_count < self.rules.hold_observations:
            return None
        first = state.pending_first
        event = self._complete(line, state, first)
        state.anchor = obs
        return event

    def _motion_across(
        self, line: Line, points: deque[TrackPoint], size: float
    ) -> tuple[float, float] | None:
        """Velocity over ``points`` (units per second) if it is steady and mostly across ``line``."""
        first, last = points[0], points[-1]
        dt = last.t_s - first.t_s
        if dt <= 0 or size <= 0:
            return None
        vx = (last.point[0] - first.point[0]) / dt
        vy = (last.point[1] - first.point[1]) / dt
        speed = (vx * vx + vy * vy) ** 0.5
        (ax, ay), (bx, by) = line.a, line.b
        normal = abs(vx * -(by - ay) + vy * (bx - ax)) / line.length
        if speed == 0 or normal / speed < self.rules.min_normal_cos:
            return None
        return vx, vy

    def _appeared_across(
        self, line: Line, state: _LineState | None, recent: deque[TrackPoint]
    ) -> CrossingEvent | None:
        """A track's first observations, all on one side, leaving the line from right beside it:
        the crossing it made just before it was first seen (once per track and line)."""
        tau = self.rules.new_extrapolate_s
        if tau <= 0 or state is None or state.pending_first is not None:
            return None
        first = recent[0]
        distances = [line.signed_distance(p.point) for p in recent]
        if not all(d * state.confirmed_side > 0 for d in distances):
            return None  # touched the line or the other side, or already counted a change
        magnitudes = [abs(d) for d in distances]
        if magnitudes[0] > self.rules.stitch_near * first.size:
            return None
        if any(b <= a for a, b in itertools.pairwise(magnitudes)):
            return None  # not steadily moving away from the line
        velocity = self._motion_across(line, recent, first.size)
        if velocity is None:
            return None
        before = (first.point[0] - velocity[0] * tau, first.point[1] - velocity[1] * tau)
        if not segment_crossing(line, before, first.point, extend=self.rules.extend):
            return None
        d_before, d_first = line.signed_distance(before), distances[0]
        t_s = first.t_s - tau + d_before / (d_before - d_first) * tau
        self._hand_over(line, first, state.confirmed_side)
        direction: Direction = "in" if state.confirmed_side > 0 else "out"
        return CrossingEvent(line.id, direction, t_s, first.track_id, first.frame_index)

    def _hand_over(self, line: Line, first: TrackPoint, side: int) -> None:
        """Tracks lost just before ``first`` near the line on the other side were this person:
        move them to ``side`` so their end does not count the same crossing again."""
        rules = self.rules
        for track_id, (recent, _) in self._motion.items():
            last = recent[-1]
            if track_id == first.track_id or not 0 < first.t_s - last.t_s <= rules.handover_s:
                continue
            states = self._tracks.get(track_id)
            state = states.get(line.id) if states is not None else None
            if state is None or state.confirmed_side != -side:
                continue
            height = max(first.size, last.size)
            if abs(line.signed_distance(last.point)) > rules.handover_near * height:
                continue
            gap = ((last.point[0] - first.point[0]) ** 2 + (last.point[1] - first.point[1]) ** 2) ** 0.5
            if gap > rules.handover_gap * height:
                continue
            state.confirmed_side = side
            state.pending_first = None
            state.pending_count = 0

    def _vanished_across(
        self, line: Line, state: _LineState, recent: deque[TrackPoint]
    ) -> CrossingEvent | None:
        """A lost track last seen heading steadily for the line from right beside it: the crossing
        its motion would have completed within ``lost_extrapolate_s``."""
        tau = self.rules.lost_extrapolate_s
        if tau <= 0 or len(recent) < 2:
            return None
        last = recent[-1]
        distances = [line.signed_distance(p.point) for p in recent]
        if distances[-1] * state.confirmed_side <= 0:
            return None
        magnitudes = [abs(d) for d in distances]
        if magnitudes[-1] > self.rules.stitch_near * last.size:
            return None
        if any(b >= a for a, b in itertools.pairwise(magnitudes)):
            return None  # not steadily approaching the line
        velocity = self._motion_across(line, recent, last.size)
        if velocity is None:
            return None
        ahead = (last.point[0] + velocity[0] * tau, last.point[1] + velocity[1] * tau)
        if not segment_crossing(line, last.point, ahead, extend=self.rules.extend):
            return None
        d_last, d_ahead = distances[-1], line.signed_distance(ahead)
        t_s = last.t_s + d_last / (d_last - d_ahead) * tau
        direction: Direction = "out" if state.confirmed_side > 0 else "in"
        return CrossingEvent(line.id, direction, t_s, last.track_id, last.frame_index)

    def _complete(self, line: Line, state: _LineState, first: TrackPoint) -> CrossingEvent | None:
        anchor = state.anchor
        crossed = segment_crossing(line, anchor.point, first.point, extend=self.rules.extend)
        state.confirmed_side = -state.confirmed_side
        state.pending_first = None
        state.pending_count = 0
        if not crossed:
            return None
        direction: Direction = "in" if state.confirmed_side > 0 else "out"
        # when the counting point was on the line, interpolated between the two observations
        d_before = line.signed_distance(anchor.point)
        d_after = line.signed_distance(first.point)
        share = d_before / (d_before - d_after) if d_before != d_after else 1.0
        t_s = anchor.t_s + share * (first.t_s - anchor.t_s)
        frame_index = anchor.frame_index + round(share * (first.frame_index - anchor.frame_index))
        return CrossingEvent(line.id, direction, t_s, first.track_id, frame_index)


@dataclass
class _ZoneState:
    inside: bool
    since_t: float
    last_t: float
    pending_count: int = 0
    pending_t: float = 0.0


class ZoneMonitor:
    """Enter/leave events, live occupancy and dwell seconds for polygon zones."""

    def __init__(self, zones: Iterable[Zone], rules: CountingRules | None = None) -> None:
        self.zones = tuple(zones)
        ids = [zone.id for zone in self.zones]
        if len(set(ids)) != len(ids):
            raise ValueError(f"ZoneMonitor: zone ids must be unique, got {ids}")
        self.rules = rules or CountingRules()
        self._tracks: _RecentTracks[_ZoneState] = _RecentTracks(self.rules.max_tracks)

    @property
    def tracked_count(self) -> int:
        return len(self._tracks)

    def occupancy(self) -> dict[str, int]:
        """How many tracks are inside each zone right now."""
        counts = {zone.id: 0 for zone in self.zones}
        for states in self._tracks.states():
            for zone_id, state in states.items():
                counts[zone_id] += state.inside
        return counts

    def update(self, observations: Iterable[TrackPoint]) -> list[ZoneEvent]:
        events: list[ZoneEvent] = []
        for obs in observations:
            states, evicted = self._tracks.touch(obs.track_id)
            for track_id, old_states in evicted:
                events.extend(self._leave_all(track_id, old_states))
            for zone in self.zones:
                inside = zone.contains(obs.point)
                state = states.get(zone.id)
                if state is None:
                    states[zone.id] = _ZoneState(inside=inside, since_t=obs.t_s, last_t=obs.t_s)
                    if inside:
                        events.append(ZoneEvent(zone.id, "enter", obs.t_s, obs.track_id))
                    continue
                state.last_t = obs.t_s
                if inside == state.inside:
                    state.pending_count = 0
                    continue
                if state.pending_count == 0:
                    state.pending_t = obs.t_s
                state.pending_count += 1
                if state.pending_count < self.rules.hold_observations:
                    continue
                state.inside = inside
                state.pending_count = 0
                if inside:
                    state.since_t = state.pending_t
                    events.append(ZoneEvent(zone.id, "enter", state.pending_t, obs.track_id))
                else:
                    dwell = state.pending_t - state.since_t
                    events.append(ZoneEvent(zone.id, "leave", state.pending_t, obs.track_id, dwell))
        return events

    def end_tracks(self, track_ids: Iterable[int]) -> list[ZoneEvent]:
        """A track that ends inside a zone leaves it at its last observation."""
        events: list[ZoneEvent] = []
        for track_id in track_ids:
            states = self._tracks.pop(track_id)
            if states is not None:
                events.extend(self._leave_all(track_id, states))
        return events

    def retain(self, alive_track_ids: Iterable[int]) -> list[ZoneEvent]:
        return self.end_tracks(self._tracks.ids_not_in(alive_track_ids))

    @staticmethod
    def _leave_all(track_id: int, states: dict[str, _ZoneState]) -> list[ZoneEvent]:
        return [
            ZoneEvent(zone_id, "leave", state.last_t, track_id, state.last_t - state.since_t)
            for zone_id, state in states.items()
            if state.inside
        ]
