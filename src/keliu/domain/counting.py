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
* Per-track state is dropped when the track ends (`end_tracks`), and a hard cap
  (``max_tracks``) evicts the least recently seen track, so memory stays bounded on 24/7 streams.

Must not know about detectors, trackers, frames or files.
"""

from __future__ import annotations

from collections import OrderedDict
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

    def __post_init__(self) -> None:
        if self.hold_observations < 1:
            raise ValueError(f"CountingRules: hold_observations must be ≥ 1, got {self.hold_observations}")
        if self.margin < 0 or self.margin_size_frac < 0:
            raise ValueError(
                f"CountingRules: margins must be ≥ 0, got {self.margin} and {self.margin_size_frac}"
            )
        if self.max_tracks < 1:
            raise ValueError(f"CountingRules: max_tracks must be ≥ 1, got {self.max_tracks}")


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

    @property
    def tracked_count(self) -> int:
        """How many tracks currently hold state (bounded by ``rules.max_tracks``)."""
        return len(self._tracks)

    def update(self, observations: Iterable[TrackPoint]) -> list[CrossingEvent]:
        """Feed the observations of one frame (any order); returns the crossings they complete."""
        events: list[CrossingEvent] = []
        for obs in observations:
            states, _ = self._tracks.touch(obs.track_id)  # evicted tracks were long gone
            for line in self.lines:
                event = self._observe(line, states, obs)
                if event is not None:
                    events.append(event)
        return events

    def end_tracks(self, track_ids: Iterable[int]) -> list[CrossingEvent]:
        """Forget ended tracks; a crossing still pending is counted if the rules say so."""
        events: list[CrossingEvent] = []
        for track_id in track_ids:
            states = self._tracks.pop(track_id)
            if states is None or not self.rules.count_pending_at_track_end:
                continue
            for line in self.lines:
                state = states.get(line.id)
                if state is not None and state.pending_first is not None:
                    event = self._complete(line, state, state.pending_first)
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
