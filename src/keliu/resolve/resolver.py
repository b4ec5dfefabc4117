"""Per-site visitor resolution: sightings in, visits out (docs/visitors.md has the worked examples).

The resolver is pure given its inputs: no wall clock, no randomness, no I/O. Its clock is the latest
``first_seen`` of the sightings it was given (``forget_expired(now)`` and ``remembered(now)`` take an
explicit time). The same sightings in the same order give the same visits, ids included.

How one sighting is resolved (all of its crossings belong to one person):

1. **Same track**: a sighting of the same camera and track id as an earlier one that ended at most
   ``track_continuation_s`` before it started is the same person.
2. **Staff**: a signature matching an enrolled staff member (similarity ≥ ``staff_threshold``) is
   that member: their current visit if any, else the visit it matches by appearance (which becomes
   staff), else a new staff visit.
3. **De-dup / cross-camera**: otherwise the best-matching person seen at this site (any camera)
   within ``dedup_window_s`` of this sighting (similarity ≥ ``match_threshold``; ``staff_threshold``
   against staff people; ties: nearest in time, then smaller key) is the same person. Two sightings
   that overlap in time on the same camera are never the same person; with the space-time rules an
   entry continues only a visit whose exit was seen before it (``reentry_needs_exit``), and
   sightings on two cameras are at least their walking time apart (``min_travel_s``). A sighting
   with only exits prefers people whose visit is open, and may match an open visit up to
   ``open_visit_s`` after the person was last seen (people inside may be seen by no camera).
4. Otherwise a new person. A sighting **without a signature** cannot be matched, so each of its
   sightings is a new person (only rule 1 applies): de-dup cannot work for it.

Then its crossings, in time order: an ``in`` appends an ``Entry`` to the person's visit, creating
the visit (new or returning, batch) if the person has none; an ``out`` sets ``last_exit`` when the
person has a visit (an exit nobody entered for is ignored). Sightings without crossings only feed
matching and presence (staff suggestions). Finally the visit is classified (staff > invalid-traffic
class > outside business hours > customer) and every visit created or changed is returned.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from keliu.domain.visits import (
    ColourName,
    ColourRule,
    Entry,
    Exclusion,
    ExclusionClass,
    PersonCategory,
    RememberedPerson,
    Sighting,
    SightingCrossing,
    Signature,
    StaffMember,
    Visit,
)
from keliu.resolve.rules import ResolverRules

__all__ = ["Resolver", "ResolverStats", "StaffSuggestion"]

Vector = npt.NDArray[np.float32]
K = TypeVar("K", bound=Hashable)

_MAINTENANCE_EVERY = timedelta(seconds=60)
_SPANS_PER_CAMERA = 8  # recent track intervals kept per person and camera (same-camera overlap guard)
OUTSIDE_HOURS = "outside_hours"


@dataclass(frozen=True)
class StaffSuggestion:
    """Someone who looks like staff on ``day``, for a manager to confirm; never enrolled automatically.

    ``signature`` is what enrolling them as a ``StaffMember`` would use; ``visit_ids`` their visits.
    """

    person_key: str
    day: date
    present_s: float  # time seen during the day's business hours (union over cameras)
    business_hours_s: float
    share: float  # present_s / business_hours_s
    staff_zones: tuple[str, ...]  # configured staff zones they were seen in
    reasons: tuple[str, ...]
    visit_ids: tuple[str, ...]
    signature: Signature | None


@dataclass(frozen=True)
class ResolverStats:
    """Sizes of the in-memory state (all bounded: time limits plus the hard caps in the rules)."""

    active_people: int
    remembered: int
    tracks: int
    batch_entries: int
    presence_days: int
    presence_records: int


class _VectorIndex(Generic[K]):
    """Unit vectors by key in one growing matrix; add, remove (swap with the last row), dot products."""

    def __init__(self) -> None:
        self._matrix: Vector | None = None
        self._keys: list[K] = []
        self._rows: dict[K, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: K, vector: Vector) -> None:
        if key in self._rows:
            self.remove(key)
        if self._matrix is None:
            self._matrix = np.zeros((16, vector.shape[0]), dtype=np.float32)
        if vector.shape[0] != self._matrix.shape[1]:
            raise ValueError(
                f"signature has {vector.shape[0]} dimensions, the gallery {self._matrix.shape[1]}"
            )
        n = len(self._keys)
        if n == self._matrix.shape[0]:
            grown = np.zeros((2 * n, self._matrix.shape[1]), dtype=np.float32)
            grown[:n] = self._matrix
            self._matrix = grown
        self._matrix[n] = vector
        self._keys.append(key)
        self._rows[key] = n

    def remove(self, key: K) -> None:
        row = self._rows.pop(key, None)
        if row is None or self._matrix is None:
            return
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._matrix[row] = self._matrix[last]
            self._keys[row] = moved
            self._rows[moved] = row
        self._keys.pop()

    def above(self, vector: Vector, threshold: float) -> list[tuple[K, float]]:
        """(key, similarity) of every row with similarity ≥ ``threshold``, in no particular order."""
        if not self._keys or self._matrix is None:
            return []
        if vector.shape[0] != self._matrix.shape[1]:
            raise ValueError(
                f"signature has {vector.shape[0]} dimensions, the gallery {self._matrix.shape[1]}"
            )
        sims = self._matrix[: len(self._keys)] @ vector
        return [(self._keys[i], float(sims[i])) for i in np.flatnonzero(sims >= threshold)]


@dataclass
class _Person:
    """One person as the resolver tracks them while they may still be continued."""

    key: str
    first_seen: datetime
    last_seen: datetime
    signatures: list[tuple[int, Signature]] = field(default_factory=list)  # (serial, signature)
    serial: int = 0
    upper_votes: dict[ColourName, int] = field(default_factory=dict)
    lower_votes: dict[ColourName, int] = field(default_factory=dict)
    colour_pairs: dict[tuple[ColourName | None, ColourName | None], int] = field(default_factory=dict)
    spans: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)  # camera -> spans
    visit: Visit | None = None
    staff: tuple[str, str, float] | None = None  # staff_id, name, best similarity
    exemplar: tuple[str, float] | None = None  # class_id, best similarity

    def open_visit(self) -> bool:
        v = self.visit
        return v is not None and (v.last_exit is None or v.last_exit < v.entries[-1].at)

    def representative(self) -> Signature | None:
        """The signature with the most best-shots (ties: the most recent)."""
        best: Signature | None = None
        for _, sig in self.signatures:
            if best is None or sig.shots >= best.shots:
                best = sig
        return best


@dataclass
class _Presence:
    person_key: str
    intervals: list[tuple[datetime, datetime]] = field(default_factory=list)  # merged, sorted
    zones: list[str] = field(default_factory=list)
    visit_ids: list[str] = field(default_factory=list)
    signature: Signature | None = None
    staff: bool = False

    def add_interval(self, start: datetime, end: datetime) -> None:
        merged: list[tuple[datetime, datetime]] = []
        for a, b in sorted([*self.intervals, (start, end)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.intervals = merged

    def seconds(self) -> float:
        return sum((b - a).total_seconds() for a, b in self.intervals)


@dataclass
class _Change:
    visit: Visit
    before: tuple[object, ...] | None  # None: created by this sighting


def _snapshot(v: Visit) -> tuple[object, ...]:
    return (
        v.category,
        v.first_entry,
        tuple(v.entries),
        v.last_exit,
        v.exclusion,
        v.batch_id,
        v.returning,
        v.since_previous_s,
        v.upper_colour,
        v.lower_colour,
    )


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _gap_s(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    """Seconds between two time intervals (0 when they overlap)."""
    if b0 > a1:
        return (b0 - a1).total_seconds()
    if a0 > b1:
        return (a0 - b1).total_seconds()
    return 0.0


def _majority(votes: dict[ColourName, int]) -> ColourName | None:
    """The most observed colour; ties go to the one observed first."""
    best: ColourName | None = None
    for colour, n in votes.items():
        if best is None or n > votes[best]:
            best = colour
    return best


def _check_aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {at!r}")


class Resolver:
    """Turns one site's sightings into visits. Not thread-safe: feed it from one task.

    ``staff``: enrolled staff (员工). ``exclusion_classes``: invalid-traffic classes (disabled ones are
    ignored), e.g. ``default_courier_classes()``. ``memory``: remembered people loaded from the store
    (returning-visitor matching). ``open_visits``: after a restart, the store's visits whose people
    are still within the de-dup window; with their ``memory`` entry (same ``visit_id``) they are
    continued instead of counted again. Without it, such people count as returning visitors.
    """

    def __init__(
        self,
        site_id: str,
        rules: ResolverRules | None = None,
        staff: Sequence[StaffMember] = (),
        exclusion_classes: Sequence[ExclusionClass] = (),
        memory: Iterable[RememberedPerson] = (),
        open_visits: Iterable[Visit] = (),
    ) -> None:
        self.site_id = site_id
        self.rules = rules or ResolverRules()
        self._staff: tuple[StaffMember, ...] = ()
        self._staff_index: _VectorIndex[tuple[int, int]] = _VectorIndex()
        self.use_staff(staff)
        self._classes: tuple[ExclusionClass, ...] = ()
        self._class_ids: frozenset[str] = frozenset()
        self._exemplars: _VectorIndex[tuple[int, int]] = _VectorIndex()
        self.use_exclusion_classes(exclusion_classes)

        self._people: dict[str, _Person] = {}
        self._active: _VectorIndex[tuple[str, int]] = _VectorIndex()
        self._by_visit: dict[str, str] = {}  # visit_id -> person key
        self._tracks: dict[tuple[str, int], tuple[str, datetime]] = {}  # (camera, track) -> key, end
        self._staff_people: dict[str, str] = {}  # staff_id -> person key
        self._past: dict[str, RememberedPerson] = {}
        self._past_index: _VectorIndex[str] = _VectorIndex()
        # batches: visit_id -> (camera, entry time, entry point); batch_id -> member visit ids
        self._batch_entry: dict[str, tuple[str, datetime, tuple[float, float]]] = {}
        self._batch_times: dict[str, list[tuple[datetime, str]]] = {}  # camera -> (entry time, visit)
        self._batch_members: dict[str, list[str]] = {}
        self._presence: dict[date, dict[str, _Presence]] = {}
        self._clock: datetime | None = None
        self._maintained: datetime | None = None

        restored = {v.visit_id: v for v in open_visits if v.site_id == site_id}
        for person in sorted(memory, key=lambda p: (p.last_seen, p.visit_id)):
            if person.site_id != site_id:
                continue
            _check_aware(person.last_seen, "RememberedPerson.last_seen")
            visit = restored.get(person.visit_id)
            if visit is not None and visit.entries:
                self._restore(visit, person)
            else:
                self._remember(person)

    # ------------------------------------------------------------------ public API

    def use_staff(self, staff: Sequence[StaffMember]) -> None:
        """Replace the enrolled staff (员工): a member removed or enrolled while the site runs. From
        the next sighting on only the members given are matched, and a person in view who was taken
        for a removed member is no longer staff: their visit is classified again when they are next
        seen (visits already closed keep their category; a manager corrects those on the visits
        page)."""
        self._staff = tuple(staff)
        self._staff_index = _VectorIndex()
        for i, member in enumerate(self._staff):
            for j, sig in enumerate(member.signatures):
                self._staff_index.add((i, j), sig.vector())
        if not hasattr(self, "_staff_people"):
            return  # called from __init__: nobody is in view yet
        kept = {m.staff_id for m in self._staff}
        for staff_id in [sid for sid in self._staff_people if sid not in kept]:
            person = self._people.get(self._staff_people.pop(staff_id))
            if person is not None and person.staff is not None and person.staff[0] == staff_id:
                person.staff = None

    def use_exclusion_classes(self, exclusion_classes: Sequence[ExclusionClass]) -> None:
        """Replace the exclusion classes (disabled ones are ignored): added, changed or removed while
        the site runs. They apply from the next sighting on: a visit is classified again when it is
        next seen, and an exemplar match of a class that is gone or off no longer counts."""
        self._classes = tuple(c for c in exclusion_classes if c.enabled)
        self._class_ids = frozenset(c.class_id for c in self._classes)
        self._exemplars = _VectorIndex()
        for i, cls in enumerate(self._classes):
            for j, sig in enumerate(cls.exemplars):
                self._exemplars.add((i, j), sig.vector())

    def add(self, sighting: Sighting) -> list[Visit]:
        """Resolve one sighting; return copies of the visits it created or changed (upsert them)."""
        return self.resolve(sighting)[0]

    def resolve(self, sighting: Sighting) -> tuple[list[Visit], str | None]:
        """Like :meth:`add`, and also the id of the visit the sighting belongs to (None: no visit,
        e.g. a floor camera's view of somebody who never entered); zone stays are filed under it."""
        s = sighting
        if s.site_id != self.site_id:
            raise ValueError(f"sighting of site {s.site_id!r} given to the resolver of {self.site_id!r}")
        for at, what in [(s.first_seen, "first_seen"), (s.last_seen, "last_seen")]:
            _check_aware(at, f"Sighting.{what}")
        for c in s.crossings:
            _check_aware(c.at, "SightingCrossing.at")
        self._advance(s.first_seen)
        if self._is_repeat(s):
            return [], None  # delivered twice (at-least-once queues): already resolved

        changes: dict[str, _Change] = {}
        crossings = sorted(s.crossings, key=lambda c: c.at)
        has_in = any(c.direction == "in" for c in crossings)
        vector = s.signature.vector() if s.signature is not None else None

        person = self._person_of_track(s)
        staff_hit = self._match_staff(vector) if vector is not None else None
        if person is None and vector is not None:
            person = self._match_person(s, vector, staff_hit, prefer_open=bool(crossings) and not has_in)
        if person is None:
            if not has_in and s.signature is None:
                return [], None
            key = self._unused(f"p/{self.site_id}/{_stamp(s.first_seen)}/{s.camera_id}/{s.track_id}")
            person = _Person(key=key, first_seen=s.first_seen, last_seen=s.last_seen)
            self._people[key] = person
        if person.visit is not None:
            self._touch(changes, person.visit)

        self._observe(person, s, vector)
        if staff_hit is not None:
            member, sim = staff_hit
            best = sim if person.staff is None else max(sim, person.staff[2])
            person.staff = (member.staff_id, member.name, best)
            self._staff_people[member.staff_id] = person.key
        if vector is not None:
            hit = self._match_exemplar(vector)
            held = person.exemplar
            if hit is not None and (held is None or hit[1] > held[1] or held[0] not in self._class_ids):
                person.exemplar = hit

        for c in crossings:
            if c.direction == "in":
                self._enter(person, s, c, vector, changes)
            elif person.visit is not None and c.at >= person.visit.first_entry:
                v = person.visit
                v.last_exit = c.at if v.last_exit is None else max(v.last_exit, c.at)

        if person.visit is not None:
            self._classify(person, changes)
        self._record_presence(person, s)
        self._enforce_caps()

        out = [
            replace(ch.visit, entries=list(ch.visit.entries))
            for ch in changes.values()
            if ch.before is None or ch.before != _snapshot(ch.visit)
        ]
        visit_id = person.visit.visit_id if person.visit is not None else None
        return sorted(out, key=lambda v: (v.first_entry, v.visit_id)), visit_id

    def visit(self, visit_id: str) -> Visit | None:
        """A copy of the visit ``visit_id`` while the resolver still holds it (None: unknown or
        retired); e.g. to link a sighting's exits to the visit :meth:`resolve` named."""
        key = self._by_visit.get(visit_id)
        v = self._people[key].visit if key is not None and key in self._people else None
        if v is None or v.visit_id != visit_id:
            return None
        return replace(v, entries=list(v.entries))

    def remembered(self, now: datetime) -> list[RememberedPerson]:
        """The signatures the store should keep (people with a visit), each until ``expires_at``."""
        _check_aware(now, "now")
        out = [p for p in self._past.values() if self.rules.expires_at(p) > now]
        for person in self._people.values():
            rp = self._as_remembered(person)
            if rp is not None and self.rules.expires_at(rp) > now:
                out.append(rp)
        return sorted(out, key=lambda p: (p.last_seen, p.visit_id))

    def expires_at(self, person: RememberedPerson) -> datetime:
        return self.rules.expires_at(person)

    def forget_expired(self, now: datetime) -> None:
        """Drop what is past its time at ``now`` (same clock as the sightings): people no longer within
        the de-dup window become memory, memory past ``returning_memory_s`` is deleted, presence older
        than ``presence_days_kept`` days is dropped."""
        _check_aware(now, "now")
        self._maintain(now)

    def staff_suggestions(self, day: date) -> list[StaffSuggestion]:
        """People on local ``day`` present for ≥ ``staff_presence_share`` of business hours or seen in a
        staff zone, not already enrolled; longest presence first. A manager confirms them."""
        open_at, close_at = self.rules.business_hours(day)
        hours_s = (close_at - open_at).total_seconds()
        out: list[StaffSuggestion] = []
        for key, rec in sorted(self._presence.get(day, {}).items()):
            if rec.staff:
                continue
            present = rec.seconds()
            share = present / hours_s if hours_s > 0 else 0.0
            reasons: list[str] = []
            if share >= self.rules.staff_presence_share:
                reasons.append(f"present {share:.0%} of business hours")
            if rec.zones:
                reasons.append("seen in staff zone " + ", ".join(rec.zones))
            if reasons:
                out.append(
                    StaffSuggestion(
                        person_key=key,
                        day=day,
                        present_s=present,
                        business_hours_s=hours_s,
                        share=share,
                        staff_zones=tuple(rec.zones),
                        reasons=tuple(reasons),
                        visit_ids=tuple(rec.visit_ids),
                        signature=rec.signature,
                    )
                )
        return sorted(out, key=lambda x: (-x.present_s, x.person_key))

    def stats(self) -> ResolverStats:
        return ResolverStats(
            active_people=len(self._people),
            remembered=len(self._past),
            tracks=len(self._tracks),
            batch_entries=len(self._batch_entry),
            presence_days=len(self._presence),
            presence_records=sum(len(d) for d in self._presence.values()),
        )

    # ------------------------------------------------------------------ matching

    def _is_repeat(self, s: Sighting) -> bool:
        known = self._tracks.get((s.camera_id, s.track_id))
        person = self._people.get(known[0]) if known is not None else None
        return person is not None and (s.first_seen, s.last_seen) in person.spans.get(s.camera_id, [])

    def _person_of_track(self, s: Sighting) -> _Person | None:
        known = self._tracks.get((s.camera_id, s.track_id))
        person = self._people.get(known[0]) if known is not None else None  # None once retired
        if person is None or known is None:
            return None
        gap = (s.first_seen - known[1]).total_seconds()
        return person if -1.0 <= gap <= self.rules.track_continuation_s else None

    def _match_staff(self, vector: Vector) -> tuple[StaffMember, float] | None:
        hits = self._staff_index.above(vector, self.rules.staff_threshold)
        if not hits:
            return None
        (i, _), sim = min(hits, key=lambda h: (-h[1], self._staff[h[0][0]].staff_id))
        return self._staff[i], sim

    def _match_exemplar(self, vector: Vector) -> tuple[str, float] | None:
        hits = self._exemplars.above(vector, self.rules.exemplar_threshold)
        if not hits:
            return None
        (i, _), sim = min(hits, key=lambda h: (-h[1], h[0]))
        return self._classes[i].class_id, sim

    def _compatible(self, person: _Person, s: Sighting, exit_only: bool) -> float | None:
        """Seconds between the person and the sighting if they can be the same person: within the
        de-dup window (an exit: within ``open_visit_s`` of an open visit), never seen at the same
        time on the same camera, and the space-time rules (``reentry_needs_exit``, ``min_travel_s``)
        hold; else None."""
        gap = _gap_s(person.first_seen, person.last_seen, s.first_seen, s.last_seen)
        window = self.rules.dedup_window_s
        if exit_only and person.open_visit():
            window = max(window, self.rules.open_visit_s)
        if gap > window:
            return None
        if any(a < s.last_seen and s.first_seen < b for a, b in person.spans.get(s.camera_id, [])):
            return None
        if not self._plausible(person, s):
            return None
        return gap

    def _plausible(self, person: _Person, s: Sighting) -> bool:
        """The space-time rules: an entry needs the person's exit seen before it (staff exempt), and
        sightings on two cameras need at least their walking time between them."""
        rules = self.rules
        if rules.reentry_needs_exit and person.staff is None and person.visit is not None:
            entry = min((c.at for c in s.crossings if c.direction == "in"), default=None)
            if entry is not None:
                v = person.visit
                if v.last_exit is None or v.last_exit < v.entries[-1].at:
                    return False  # still inside: nobody saw them leave
                if (entry - v.last_exit).total_seconds() < rules.min_reentry_s:
                    return False
        for cam_a, cam_b, walk_s in rules.min_travel_s:
            if s.camera_id not in (cam_a, cam_b):
                continue
            other = cam_b if s.camera_id == cam_a else cam_a
            for a, b in person.spans.get(other, []):
                if _gap_s(a, b, s.first_seen, s.last_seen) < walk_s:
                    return False
        return True

    def _match_person(
        self,
        s: Sighting,
        vector: Vector,
        staff_hit: tuple[StaffMember, float] | None,
        prefer_open: bool,
    ) -> _Person | None:
        if staff_hit is not None:
            key = self._staff_people.get(staff_hit[0].staff_id)
            member_person = self._people.get(key) if key is not None else None
            if member_person is not None and self._compatible(member_person, s, prefer_open) is not None:
                return member_person
        best: dict[str, float] = {}
        for (key, _), sim in self._active.above(vector, self.rules.match_threshold):
            if sim > best.get(key, -math.inf):
                best[key] = sim
        candidates: list[tuple[float, float, str, bool]] = []
        for key, sim in best.items():
            person = self._people[key]
            if person.staff is not None and staff_hit is None and sim < self.rules.staff_threshold:
                continue  # looking like a staff person is not enough to become one
            hit_id = staff_hit[0].staff_id if staff_hit is not None else None
            if hit_id is not None and person.staff is not None and person.staff[0] != hit_id:
                continue
            gap = self._compatible(person, s, prefer_open)
            if gap is not None:
                candidates.append((sim, gap, key, person.open_visit()))
        if prefer_open and any(c[3] for c in candidates):
            candidates = [c for c in candidates if c[3]]
        if not candidates:
            return None
        _, _, key, _ = min(candidates, key=lambda c: (-c[0], c[1], c[2]))  # ties: nearest in time
        return self._people[key]

    def _match_returning(self, vector: Vector, at: datetime, exclude: str) -> tuple[float, datetime] | None:
        """Best earlier visit (memory, or a person past the de-dup window) → (similarity, last seen)."""
        window = self.rules.dedup_window_s
        memory = self.rules.returning_memory_s
        candidates: list[tuple[float, str, datetime]] = []
        for visit_id, sim in self._past_index.above(vector, self.rules.match_threshold):
            seen = self._past[visit_id].last_seen
            if seen < at and (at - seen).total_seconds() <= memory:
                candidates.append((sim, visit_id, seen))
        best: dict[str, float] = {}
        for (key, _), sim in self._active.above(vector, self.rules.match_threshold):
            if key != exclude and sim > best.get(key, -math.inf):
                best[key] = sim
        for key, sim in best.items():
            person = self._people[key]
            if person.visit is None:
                continue
            gap = (at - person.last_seen).total_seconds()
            if window < gap <= memory:
                candidates.append((sim, person.visit.visit_id, person.last_seen))
        if not candidates:
            return None
        sim, _, seen = min(candidates, key=lambda c: (-c[0], c[1]))
        return sim, seen

    # ------------------------------------------------------------------ updating people and visits

    def _visit_id(self, s: Sighting, first_in: SightingCrossing) -> str:
        return f"{self.site_id}/{_stamp(first_in.at)}/{s.camera_id}/{s.track_id}"

    def _unused(self, key: str) -> str:
        """``key`` (a person key or a visit id), or with ``+`` appended until nothing uses it; only a
        clash of camera, track id and time (e.g. track ids restarting) gets there."""
        while key in self._people or key in self._by_visit or key in self._past:
            key += "+"
        return key

    def _touch(self, changes: dict[str, _Change], v: Visit) -> None:
        if v.visit_id not in changes:
            changes[v.visit_id] = _Change(v, _snapshot(v))

    def _observe(self, person: _Person, s: Sighting, vector: Vector | None) -> None:
        person.first_seen = min(person.first_seen, s.first_seen)
        person.last_seen = max(person.last_seen, s.last_seen)
        spans = person.spans.setdefault(s.camera_id, [])
        spans.append((s.first_seen, s.last_seen))
        spans.sort()
        del spans[:-_SPANS_PER_CAMERA]
        self._tracks[(s.camera_id, s.track_id)] = (person.key, s.last_seen)
        sig = s.signature
        if sig is None or vector is None:
            return
        person.signatures.append((person.serial, sig))
        self._active.add((person.key, person.serial), vector)
        person.serial += 1
        if len(person.signatures) > self.rules.signatures_per_person:
            dropped = person.signatures.pop(1 if self.rules.signatures_per_person > 1 else 0)
            self._active.remove((person.key, dropped[0]))
        if sig.upper_colour is not None:
            person.upper_votes[sig.upper_colour] = person.upper_votes.get(sig.upper_colour, 0) + 1
        if sig.lower_colour is not None:
            person.lower_votes[sig.lower_colour] = person.lower_votes.get(sig.lower_colour, 0) + 1
        if sig.upper_colour is not None or sig.lower_colour is not None:
            pair = (sig.upper_colour, sig.lower_colour)
            person.colour_pairs[pair] = person.colour_pairs.get(pair, 0) + 1

    def _enter(
        self,
        person: _Person,
        s: Sighting,
        c: SightingCrossing,
        vector: Vector | None,
        changes: dict[str, _Change],
    ) -> None:
        entry = Entry(at=c.at, camera_id=s.camera_id, line_id=c.line_id)
        v = person.visit
        if v is not None:
            self._touch(changes, v)
            bisect.insort(v.entries, entry, key=lambda e: e.at)
            v.first_entry = min(v.first_entry, c.at)
            return
        v = Visit(
            visit_id=self._unused(self._visit_id(s, c)),
            site_id=self.site_id,
            category=PersonCategory.CUSTOMER,
            first_entry=c.at,
            entries=[entry],
        )
        person.visit = v
        self._by_visit[v.visit_id] = person.key
        changes[v.visit_id] = _Change(v, None)
        if vector is not None and person.staff is None:
            hit = self._match_returning(vector, c.at, exclude=person.key)
            if hit is not None:
                v.returning = True
                v.since_previous_s = (c.at - hit[1]).total_seconds()
        if person.staff is None:
            self._batch_add(v.visit_id, s.camera_id, c.at, c.point, changes)

    def _classify(self, person: _Person, changes: dict[str, _Change]) -> None:
        v = person.visit
        assert v is not None
        v.upper_colour = _majority(person.upper_votes)
        v.lower_colour = _majority(person.lower_votes)
        exclusion: Exclusion | None = None
        if person.staff is not None:
            exclusion = Exclusion(PersonCategory.STAFF, f"staff:{person.staff[1]}", person.staff[2])
            if v.batch_id is not None:
                self._batch_remove(v.visit_id, changes)
        elif person.exemplar is not None and person.exemplar[0] in self._class_ids:
            exclusion = Exclusion(PersonCategory.INVALID, person.exemplar[0], person.exemplar[1])
        else:
            for cls in self._classes:
                conf = self._colour_rule_confidence(person, v, cls.colour_rule)
                if conf is not None:
                    exclusion = Exclusion(PersonCategory.INVALID, cls.class_id, conf)
                    break
        if (
            exclusion is None
            and self.rules.exclude_outside_hours
            and not any(self.rules.within_business_hours(e.at) for e in v.entries)
        ):
            exclusion = Exclusion(PersonCategory.INVALID, OUTSIDE_HOURS, 1.0)
        v.exclusion = exclusion
        v.category = exclusion.category if exclusion is not None else PersonCategory.CUSTOMER

    def _colour_rule_confidence(self, person: _Person, v: Visit, rule: ColourRule | None) -> float | None:
        """None when the rule does not apply; else the share of colour observations agreeing with it."""
        if rule is None or v.upper_colour not in rule.upper_colours:
            return None
        if rule.lower_colours and v.lower_colour not in rule.lower_colours:
            return None
        if rule.max_stay_s is not None:
            closed = v.last_exit is not None and v.last_exit >= v.entries[-1].at
            if not closed or v.last_exit is None:
                return None  # the stay is not known until the exit is
            if (v.last_exit - v.first_entry).total_seconds() > rule.max_stay_s:
                return None
        total = sum(person.colour_pairs.values())
        agree = sum(
            n
            for (upper, lower), n in person.colour_pairs.items()
            if upper in rule.upper_colours and (not rule.lower_colours or lower in rule.lower_colours)
        )
        return agree / total if total else 0.0

    # ------------------------------------------------------------------ batches (批次)

    def _linked(self, a: str, b: str) -> bool:
        ca, ta, pa = self._batch_entry[a]
        cb, tb, pb = self._batch_entry[b]
        return (
            ca == cb
            and abs((ta - tb).total_seconds()) <= self.rules.batch_gap_s
            and math.hypot(pa[0] - pb[0], pa[1] - pb[1]) <= self.rules.batch_proximity
        )

    def _batch_add(
        self,
        visit_id: str,
        camera: str,
        at: datetime,
        point: tuple[float, float],
        changes: dict[str, _Change],
    ) -> None:
        self._batch_entry[visit_id] = (camera, at, point)
        times = self._batch_times.setdefault(camera, [])
        bisect.insort(times, (at, visit_id))
        gap = timedelta(seconds=self.rules.batch_gap_s)
        lo = bisect.bisect_left(times, at - gap, key=lambda x: x[0])
        hi = bisect.bisect_right(times, at + gap, key=lambda x: x[0])
        members = [visit_id]
        for _, other in times[lo:hi]:
            if other == visit_id or not self._linked(visit_id, other):
                continue
            batch = self._visit(other).batch_id
            if batch is not None:
                members += [m for m in self._batch_members.get(batch, [other]) if m not in members]
        self._relabel(members, changes)

    def _batch_remove(self, visit_id: str, changes: dict[str, _Change]) -> None:
        v = self._visit(visit_id)
        batch = v.batch_id
        self._touch(changes, v)
        v.batch_id = None
        self._batch_forget(visit_id)
        if batch is not None:
            rest = [m for m in self._batch_members.pop(batch, []) if m != visit_id]
            self._relabel(rest, changes)

    def _relabel(self, members: list[str], changes: dict[str, _Change]) -> None:
        """Split ``members`` into linked groups; each is labelled by its earliest entry's visit id."""
        for m in members:
            old = self._visit(m).batch_id
            if old is not None:
                self._batch_members.pop(old, None)
        remaining = sorted(members, key=lambda m: (self._batch_entry[m][1], m))
        while remaining:
            group = [remaining.pop(0)]
            grew = True
            while grew:
                grew = False
                for m in list(remaining):
                    if any(self._linked(m, g) for g in group):
                        group.append(m)
                        remaining.remove(m)
                        grew = True
            group.sort(key=lambda m: (self._batch_entry[m][1], m))
            label = f"b/{group[0]}"
            self._batch_members[label] = group
            for m in group:
                v = self._visit(m)
                if v.batch_id != label:
                    self._touch(changes, v)
                    v.batch_id = label

    def _batch_forget(self, visit_id: str) -> None:
        entry = self._batch_entry.pop(visit_id, None)
        if entry is None:
            return
        camera, at, _ = entry
        times = self._batch_times[camera]
        i = bisect.bisect_left(times, (at, visit_id))
        if i < len(times) and times[i] == (at, visit_id):
            del times[i]
        if not times:
            del self._batch_times[camera]

    def _visit(self, visit_id: str) -> Visit:
        v = self._people[self._by_visit[visit_id]].visit
        assert v is not None
        return v

    # ------------------------------------------------------------------ presence (staff suggestions)

    def _record_presence(self, person: _Person, s: Sighting) -> None:
        if not person.signatures:
            return  # nobody could confirm or enrol a person without a signature
        rules = self.rules
        staff_zones = [z.zone_id for z in s.zones if z.zone_id in rules.staff_zone_ids]
        days: dict[date, list[tuple[datetime, datetime]]] = {}
        day = rules.local_day(s.first_seen)
        if rules.overnight:  # the hours after midnight belong to the business day before
            day -= timedelta(days=1)
        while day <= rules.local_day(s.last_seen):
            open_at, close_at = rules.business_hours(day)
            start, end = max(s.first_seen, open_at), min(s.last_seen, close_at)
            days[day] = [(start, end)] if start < end else []
            day += timedelta(days=1)
        zone_days: dict[date, list[str]] = {}
        for z in s.zones:
            if z.zone_id in staff_zones:
                business_day = rules.business_day(z.entered_at) or rules.local_day(z.entered_at)
                zone_days.setdefault(business_day, []).append(z.zone_id)
        for d in sorted(set(days) | set(zone_days)):
            if not days.get(d) and not zone_days.get(d):
                continue
            rec = self._presence.setdefault(d, {}).setdefault(person.key, _Presence(person.key))
            for a, b in days.get(d, []):
                rec.add_interval(a, b)
            for zone in zone_days.get(d, []):
                if zone not in rec.zones:
                    rec.zones.append(zone)
            if person.visit is not None and person.visit.visit_id not in rec.visit_ids:
                rec.visit_ids.append(person.visit.visit_id)
            rec.signature = person.representative()
            rec.staff = person.staff is not None

    # ------------------------------------------------------------------ memory

    def _as_remembered(self, person: _Person) -> RememberedPerson | None:
        sig = person.representative()
        if person.visit is None or sig is None:
            return None
        return RememberedPerson(
            visit_id=person.visit.visit_id,
            site_id=self.site_id,
            last_seen=person.last_seen,
            signature=sig,
            category=person.visit.category,
        )

    def _remember(self, rp: RememberedPerson) -> None:
        self._past[rp.visit_id] = rp
        self._past_index.add(rp.visit_id, rp.signature.vector())

    def _restore(self, visit: Visit, rp: RememberedPerson) -> None:
        v = replace(visit, entries=sorted(visit.entries, key=lambda e: e.at))
        key = self._unused(f"p/{v.visit_id}")
        person = _Person(key=key, first_seen=v.first_entry, last_seen=rp.last_seen, visit=v)
        if v.exclusion is not None and v.exclusion.reason.startswith("staff:"):
            name = v.exclusion.reason.removeprefix("staff:")
            member = next((m for m in self._staff if m.name == name), None)
            staff_id = member.staff_id if member is not None else name
            person.staff = (staff_id, name, v.exclusion.confidence)
            self._staff_people[staff_id] = person.key
        self._people[person.key] = person
        self._by_visit[v.visit_id] = person.key
        person.signatures.append((0, rp.signature))
        person.serial = 1
        self._active.add((person.key, 0), rp.signature.vector())
        if v.upper_colour is not None:
            person.upper_votes[v.upper_colour] = 1
        if v.lower_colour is not None:
            person.lower_votes[v.lower_colour] = 1
        if v.upper_colour is not None or v.lower_colour is not None:
            person.colour_pairs[(v.upper_colour, v.lower_colour)] = 1

    def _retire(self, person: _Person) -> None:
        del self._people[person.key]
        for serial, _ in person.signatures:
            self._active.remove((person.key, serial))
        if person.staff is not None and self._staff_people.get(person.staff[0]) == person.key:
            del self._staff_people[person.staff[0]]
        if person.visit is not None:
            vid = person.visit.visit_id
            self._by_visit.pop(vid, None)
            self._batch_forget(vid)
            batch = person.visit.batch_id
            if batch is not None and batch in self._batch_members:
                rest = [m for m in self._batch_members[batch] if m != vid]
                if rest:
                    self._batch_members[batch] = rest
                else:
                    del self._batch_members[batch]
        rp = self._as_remembered(person)
        if rp is not None:
            self._remember(rp)

    def _advance(self, at: datetime) -> None:
        self._clock = at if self._clock is None else max(self._clock, at)
        if self._maintained is None or self._clock - self._maintained >= _MAINTENANCE_EVERY:
            self._maintain(self._clock)

    def _maintain(self, now: datetime) -> None:
        self._maintained = now if self._maintained is None else max(self._maintained, now)
        rules = self.rules
        window = timedelta(seconds=rules.dedup_window_s)
        open_s = timedelta(seconds=max(rules.dedup_window_s, rules.open_visit_s))
        for person in [
            p
            for p in self._people.values()
            if now - p.last_seen > window and not (p.open_visit() and now - p.last_seen <= open_s)
        ]:
            self._retire(person)
        for track in [t for t, (_, end) in self._tracks.items() if now - end > window]:
            del self._tracks[track]
        for rp in [p for p in self._past.values() if rules.expires_at(p) <= now]:
            del self._past[rp.visit_id]
            self._past_index.remove(rp.visit_id)
        first_kept = rules.local_day(now) - timedelta(days=rules.presence_days_kept - 1)
        for day in [d for d in self._presence if d < first_kept]:
            del self._presence[day]
        self._enforce_caps()

    def _enforce_caps(self) -> None:
        rules = self.rules
        if len(self._people) > rules.max_active_people:
            by_age = sorted(self._people.values(), key=lambda p: (p.last_seen, p.key))
            for person in by_age[: len(self._people) - rules.max_active_people]:
                self._retire(person)
        if len(self._past) > rules.max_remembered:
            oldest = sorted(self._past.values(), key=lambda p: (p.last_seen, p.visit_id))
            for rp in oldest[: len(self._past) - rules.max_remembered]:
                del self._past[rp.visit_id]
                self._past_index.remove(rp.visit_id)
