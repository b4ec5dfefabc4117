"""Pure bookkeeping of the visitor-resolution benchmarks (`bench/dedup.py`, `bench/exclusion.py`).

The benchmarks build "visits" from real ground-truth tracks: each person's track is split in time
into a first part ("visit 1") and a later part ("came back") with a gap between them
(`split_track`); a few good views of each part (`shot_quality`, `pick_shots`) give one signature per
part; synthetic door-camera sightings (`door_sighting`) carry them through the real resolver, and
`VisitLedger` reads back which visit each sighting ended up in. What is measured:

* **de-dup** ("same person within the window"): every sighting is a `Decision`: the person it should
  continue (``expected``, None for someone never seen before) and the people of the visit it did
  continue (``continued``, None when it started a new visit). A came-back sighting continuing a visit
  of its own person is a true positive; one continuing a visit of somebody else is *wrong* (a false
  positive and a miss at once); a newcomer continuing any visit is a *false match*; a came-back
  starting a new visit is *missed*. Precision = TP / (TP + wrong + false matches); recall =
  TP / came-backs (`MatchScore`).
* **staff**: held-out views of enrolled staff classified staff (recall) and customer sightings whose
  visit ended up excluded (`ExclusionScore`).

Imports keliu.domain and keliu.evaluation only; no frames, no models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keliu.domain.visits import Sighting, SightingCrossing, Signature, Visit

__all__ = [
    "Decision",
    "ExclusionScore",
    "MatchScore",
    "ShotRules",
    "TrackSplit",
    "VisitLedger",
    "door_sighting",
    "pick_shots",
    "recommend_match_threshold",
    "recommend_staff_threshold",
    "score_decisions",
    "shot_quality",
    "split_track",
]

Box = tuple[float, float, float, float]  # x, y, w, h in pixels (MOTChallenge)


# ---------------------------------------------------------------------------------- material


@dataclass(frozen=True)
class TrackSplit:
    """Frames of one track's first part (visit 1) and later part (came back); the gap is unused."""

    first: tuple[int, ...]
    later: tuple[int, ...]

    @property
    def gap_frames(self) -> int:
        return self.later[0] - self.first[-1] - 1


def split_track(
    frames: Iterable[int], *, part_share: float = 0.4, min_part_frames: int = 8
) -> TrackSplit | None:
    """Split a track (its frame numbers) in time: the first ``part_share`` of its time span, the last
    ``part_share``, and a gap between them (at least one frame). None when a part would have fewer than
    ``min_part_frames`` frames (too short a track)."""
    if not 0.0 < part_share < 0.5:
        raise ValueError("part_share must be in (0, 0.5)")
    ordered = sorted(set(frames))
    if not ordered:
        return None
    start, end = ordered[0], ordered[-1]
    span = end - start
    first_end = start + part_share * span
    later_start = end - part_share * span
    first = tuple(f for f in ordered if f <= first_end)
    later = tuple(f for f in ordered if f >= later_start)
    if len(first) < min_part_frames or len(later) < min_part_frames or later[0] - first[-1] < 2:
        return None
    return TrackSplit(first, later)


@dataclass(frozen=True)
class ShotRules:
    """When a ground-truth box is a usable view, and how good it is (the criteria of the product's
    best-shot selection: not cut by the frame edge, not covered by another box, big enough)."""

    edge_margin_px: float = 2.0  # a box this close to the frame border is truncated
    max_covered: float = 0.25  # share of the box another box may cover
    min_height_px: float = 40.0
    full_height_px: float = 256.0  # quality saturates at this height (the embedder's input height)
    max_shots: int = 5
    min_gap_frames: int = 1  # chosen views at least this many frames apart


def _covered_share(box: Box, others: Iterable[Box]) -> float:
    """The largest share of ``box`` covered by one of ``others`` standing in front of it (their
    bottom edge, the feet, lower in the frame: nearer the camera)."""
    x, y, w, h = box
    area = max(w * h, 1e-9)
    worst = 0.0
    for ox, oy, ow, oh in others:
        if oy + oh <= y + h:
            continue  # behind this person: hidden by them, not hiding them
        iw = min(x + w, ox + ow) - max(x, ox)
        ih = min(y + h, oy + oh) - max(y, oy)
        if iw > 0 and ih > 0:
            worst = max(worst, iw * ih / area)
    return worst


def shot_quality(
    box: Box,
    others: Iterable[Box],
    frame_wh: tuple[int, int],
    rules: ShotRules = ShotRules(),
    *,
    visibility: float | None = None,
) -> float | None:
    """Quality in (0, 1] of a view (bigger is better, up to ``full_height_px``), or None when it is not
    usable: truncated by the frame edge, smaller than ``min_height_px``, or covered more than
    ``max_covered`` — by the annotated ``visibility`` when given (MOT16: share of the person
    visible), else by the one of ``others`` (the frame's other boxes) in front of it that covers most."""
    x, y, w, h = box
    width, height = frame_wh
    m = rules.edge_margin_px
    if w <= 0 or h <= 0 or x < m or y < m or x + w > width - m or y + h > height - m:
        return None
    covered = 1.0 - visibility if visibility is not None else _covered_share(box, others)
    if h < rules.min_height_px or covered > rules.max_covered:
        return None
    return min(1.0, h / rules.full_height_px)


def pick_shots(candidates: Iterable[tuple[int, float]], rules: ShotRules = ShotRules()) -> list[int]:
    """Frames of the best views, best first: up to ``max_shots`` of the (frame, quality) candidates,
    greedily by quality (ties: the earlier frame), each at least ``min_gap_frames`` from those taken."""
    taken: list[int] = []
    for frame, _ in sorted(candidates, key=lambda c: (-c[1], c[0])):
        if len(taken) == rules.max_shots:
            break
        if all(abs(frame - t) >= rules.min_gap_frames for t in taken):
            taken.append(frame)
    return taken


def door_sighting(
    site_id: str,
    track_id: int,
    at: datetime,
    signature: Signature | None,
    *,
    stay_s: float | None = None,
    camera_id: str = "door",
    line_id: str = "door-line",
    view_s: float = 3.0,
) -> Sighting:
    """A door-camera sighting with one ``in`` crossing at ``at`` (seen for ``view_s``); with ``stay_s``
    the same sighting also goes ``out`` ``stay_s`` later (a short stay whose exit is known)."""
    crossings = [SightingCrossing(line_id, "in", at, (0.5, 0.9))]
    last_seen = at + timedelta(seconds=view_s)
    if stay_s is not None:
        out = at + timedelta(seconds=stay_s)
        crossings.append(SightingCrossing(line_id, "out", out, (0.5, 0.9)))
        last_seen = max(last_seen, out)
    return Sighting(site_id, camera_id, track_id, at, last_seen, tuple(crossings), signature=signature)


class VisitLedger:
    """The latest version of every visit the resolver returned, and who is in each one."""

    def __init__(self) -> None:
        self.visits: dict[str, Visit] = {}
        self.people: dict[str, set[str]] = {}  # visit id -> labels of the sightings it holds

    def record(self, label: str, at: datetime, camera_id: str, returned: Iterable[Visit]) -> Decision | None:
        """Record the visits returned for the sighting of person ``label`` whose entry was at ``at``;
        return what it was resolved as: ``continued`` = the people of the earlier visit it joined
        (before it joined), None when it started a visit. None when no returned visit holds its
        entry (``expected`` is left None: the caller sets it)."""
        mine: Visit | None = None
        for visit in returned:
            self.visits[visit.visit_id] = visit
            if any(e.at == at and e.camera_id == camera_id for e in visit.entries):
                mine = visit
        if mine is None:
            return None
        before = self.people.setdefault(mine.visit_id, set())
        continued = frozenset(before) if mine.first_entry < at else None
        before.add(label)
        return Decision(expected=None, continued=continued)

    def visit_of(self, at: datetime, camera_id: str = "door") -> Visit | None:
        """The (latest version of the) visit holding the entry at ``at`` on ``camera_id``."""
        for visit in self.visits.values():
            if any(e.at == at and e.camera_id == camera_id for e in visit.entries):
                return visit
        return None


# ---------------------------------------------------------------------------------- de-dup


@dataclass(frozen=True)
class Decision:
    """One sighting as resolved: ``expected`` = the person whose earlier visit it should continue
    (None: nobody, a newcomer); ``continued`` = the people of the visit it continued (None: new visit)."""

    expected: str | None
    continued: frozenset[str] | None


@dataclass(frozen=True)
class MatchScore:
    """ "Same person within the window" decisions; see the module docstring."""

    true_positives: int = 0  # came back, continued their own visit
    wrong: int = 0  # came back, continued somebody else's visit
    false_matches: int = 0  # newcomer continued a visit
    missed: int = 0  # came back, started a new visit
    true_negatives: int = 0  # newcomer, new visit

    @property
    def came_back(self) -> int:
        return self.true_positives + self.wrong + self.missed

    @property
    def newcomers(self) -> int:
        return self.false_matches + self.true_negatives

    @property
    def false_positives(self) -> int:
        return self.wrong + self.false_matches

    @property
    def precision(self) -> float:
        matched = self.true_positives + self.false_positives
        return self.true_positives / matched if matched else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.came_back if self.came_back else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: MatchScore) -> MatchScore:
        return MatchScore(
            self.true_positives + other.true_positives,
            self.wrong + other.wrong,
            self.false_matches + other.false_matches,
            self.missed + other.missed,
            self.true_negatives + other.true_negatives,
        )


def score_decisions(decisions: Iterable[Decision]) -> MatchScore:
    tp = wrong = false_matches = missed = tn = 0
    for d in decisions:
        if d.expected is None:
            if d.continued is None:
                tn += 1
            else:
                false_matches += 1
        elif d.continued is None:
            missed += 1
        elif d.expected in d.continued:
            tp += 1
        else:
            wrong += 1
    return MatchScore(tp, wrong, false_matches, missed, tn)


def _middle(best: Sequence[tuple[float, object]]) -> float:
    """The middle threshold of a run of equally good ones (the lower of the two middles)."""
    thresholds = sorted(t for t, _ in best)
    return thresholds[(len(thresholds) - 1) // 2]


def recommend_match_threshold(
    curve: Sequence[tuple[float, MatchScore]], *, min_precision: float = 0.90, min_recall: float = 0.90
) -> tuple[float, MatchScore] | None:
    """The threshold with the best F1 among those with precision ≥ ``min_precision`` and recall ≥
    ``min_recall`` (ties: the middle one of the tied thresholds); None when none qualifies."""
    ok = [(t, s) for t, s in curve if s.precision >= min_precision and s.recall >= min_recall]
    if not ok:
        return None
    top = max(round(s.f1, 9) for _, s in ok)
    best = [(t, s) for t, s in ok if round(s.f1, 9) == top]
    chosen = _middle(best)
    return next((t, s) for t, s in best if t == chosen)


# ---------------------------------------------------------------------------------- staff


@dataclass(frozen=True)
class ExclusionScore:
    """Held-out staff sightings and customer sightings after resolution."""

    staff: int = 0  # held-out sightings of enrolled staff
    staff_excluded: int = 0  # ... classified staff
    staff_right_member: int = 0  # ... as the right member
    customers: int = 0  # customer sightings
    customers_excluded: int = 0  # ... whose visit ended up excluded (not customer traffic)

    @property
    def staff_recall(self) -> float:
        return self.staff_excluded / self.staff if self.staff else 1.0

    @property
    def customers_excluded_share(self) -> float:
        return self.customers_excluded / self.customers if self.customers else 0.0

    def __add__(self, other: ExclusionScore) -> ExclusionScore:
        return ExclusionScore(
            self.staff + other.staff,
            self.staff_excluded + other.staff_excluded,
            self.staff_right_member + other.staff_right_member,
            self.customers + other.customers,
            self.customers_excluded + other.customers_excluded,
        )


def recommend_staff_threshold(
    curve: Sequence[tuple[float, ExclusionScore]],
    *,
    min_recall: float = 0.95,
    max_customers_excluded: float = 0.02,
) -> tuple[float, ExclusionScore] | None:
    """Among thresholds keeping customers wrongly excluded ≤ ``max_customers_excluded``, the one with
    the best staff recall (ties: fewest customers excluded, then the middle threshold), if that recall
    is ≥ ``min_recall``; else None (the bar is not met at any threshold)."""
    ok = [(t, s) for t, s in curve if s.customers_excluded_share <= max_customers_excluded]
    if not ok:
        return None
    top = max((s.staff_recall, -s.customers_excluded_share) for _, s in ok)
    if top[0] < min_recall:
        return None
    best = [(t, s) for t, s in ok if (s.staff_recall, -s.customers_excluded_share) == top]
    chosen = _middle(best)
    return next((t, s) for t, s in best if t == chosen)
