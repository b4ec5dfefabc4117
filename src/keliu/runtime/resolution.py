"""Visitor resolution of one site (访客归并): sightings → resolver → store, in batch and as a worker.

`SiteResolution` holds a site's `Resolver` (``keliu.resolve``), started from what the store remembers
(staff, exclusion classes, remembered signatures, visits still open, the stored business hours),
and saves what it decides: sightings, visits and zone stays. ``keliu process`` uses it directly for
recorded files (`SiteResolution.add_recorded`, in the transaction that marks the footage resolved).
Exclusion classes changed through the API while it runs are handed to it
(`SiteResolution.use_exclusion_classes`) and apply from the next sighting on.

`ResolutionWorker` runs it for live cameras: one thread per site that takes the site's
`SightingSeen` events from the bus through a lossless subscription (sightings are never dropped; a
slow store slows the cameras instead), resolves and commits them in arrival order, then publishes a
`VisitChanged` per new (arrival, 到店) or changed visit. `CameraOutage` events of the site are
stored as camera outages (设备离线) by the same worker. On a wall-clock timer it saves the
signatures the resolver remembers (encrypted, with their expiry), publishes staff suggestions
(`StaffSuggested`) and runs the purge; stopping it drains what the bus already holds, commits it and
runs them one last time. A store that is down is retried with back-off (the camera threads wait on
the full queue); any other error is logged and counted, and the worker goes on.

Must not parse command lines or print; runs no pipeline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from keliu.config import SiteConfig
from keliu.domain.crossings import Exit, PassbyCrossing, exits_of, split_passby
from keliu.domain.visits import ExclusionClass, Sighting, StaffMember, Visit
from keliu.errors import KeliuError
from keliu.resolve import Resolver, StaffSuggestion
from keliu.runtime.bus import EventBus, Subscription
from keliu.runtime.events import CameraOutage, Event, SightingSeen, StaffSuggested, VisitChanged
from keliu.runtime.report import ProcessReport
from keliu.store import Footage, Store
from keliu.store.crossings import PassbyWatch
from keliu.store.reference import ZoneStay
from keliu.wiring import resolver_rules

__all__ = ["ResolutionWorker", "Resolved", "SiteResolution", "resolver_for"]

log = logging.getLogger("keliu.runtime")

Progress = Callable[[str], None]


def resolver_for(store: Store, site: SiteConfig, now: datetime) -> tuple[Resolver, list[Visit]]:
    """The site's resolver at ``now``, from what the store remembers; and the open visits it took."""
    site_id = site.site.id
    rules = resolver_rules(site)
    stored = {h.weekday: (h.opens_min, h.closes_min) for h in store.business_hours(site_id)}
    if stored:  # the store's hours (config, import or API: docs/configuration.md) over the config's
        rules = replace(rules, weekly_minutes=tuple(stored.get(day) for day in range(7)))
    open_visits: list[Visit] = store.visits(site_id, now - timedelta(seconds=rules.open_visit_s), now)
    resolver = Resolver(
        site_id,
        rules,
        staff=store.staff(site_id),
        exclusion_classes=store.exclusion_classes(site_id),
        memory=store.remembered_people(site_id, now),
        open_visits=open_visits,
    )
    return resolver, open_visits


@dataclass
class Resolved:
    """What resolving some sightings decided, before it is saved (`SiteResolution.persist`)."""

    sightings: list[Sighting]
    visits: list[Visit]  # new or changed, each once (the latest copy)
    arrivals: set[str]  # ids of the visits among them that are new (到店)
    stays: list[ZoneStay]  # the complete zone stays of every visit whose stays changed
    saved: bool = field(default=False)
    exits: list[Exit] = field(default_factory=list)  # 离店: every 'out' crossing of a door line
    passby: list[PassbyCrossing] = field(default_factory=list)  # 过店: crossings of pass-by lines


class SiteResolution:
    """Sightings of one site → resolver → store; the resolver starts from what the store remembers."""

    def __init__(self, site: SiteConfig, store: Store, report: ProcessReport | None = None) -> None:
        self.site = site
        self.store = store
        self.report = report or ProcessReport(site.site.id)
        self.resolver: Resolver | None = None
        self._seen_until: datetime | None = None
        self._remembered_until: datetime | None = None  # checkpoints saved people seen after this
        # 驻留 zone stays by visit, kept while the visit may still grow (the store replaces a visit's
        # stays as a whole); (stays, last seen) per visit id
        self._stays: dict[str, tuple[set[ZoneStay], datetime]] = {}
        self._known: dict[str, datetime] = {}  # visit id -> last touched: arrival vs update
        self._passby_lines = site.passby_lines()  # their crossings never reach the resolver
        # exclusion classes and enrolled staff changed while it runs, for the resolver's thread to
        # take (None: no change)
        self._new_classes: tuple[ExclusionClass, ...] | None = None
        self._new_staff: tuple[StaffMember, ...] | None = None
        self._changes_lock = threading.Lock()

    def use_passby_lines(self, lines: frozenset[tuple[str, str]]) -> None:
        """The site's pass-by lines (camera id, line id) changed while it runs (a camera added,
        changed or removed through the API): taken from the next sighting on."""
        self._passby_lines = frozenset(lines)

    def use_exclusion_classes(self, classes: Sequence[ExclusionClass]) -> None:
        """The exclusion classes that apply to the site (the store's, disabled ones included) changed
        while it runs (created, changed or removed through the API): the resolver takes them, on its
        own thread, before the next sighting. A resolver not started yet reads the store anyway."""
        with self._changes_lock:
            self._new_classes = tuple(classes)

    def use_staff(self, staff: Sequence[StaffMember]) -> None:
        """The site's enrolled staff (员工) changed while it runs (a member removed, a staff suggestion
        confirmed through the API): the resolver takes them, on its own thread, before the next
        sighting, like :meth:`use_exclusion_classes`."""
        with self._changes_lock:
            self._new_staff = tuple(staff)

    def _take_changes(self, resolver: Resolver) -> None:
        with self._changes_lock:
            classes, self._new_classes = self._new_classes, None
            staff, self._new_staff = self._new_staff, None
        if classes is not None:
            resolver.use_exclusion_classes(classes)
        if staff is not None:
            resolver.use_staff(staff)

    def _start(self, now: datetime) -> Resolver:
        with self._changes_lock:  # the store's classes and staff are read now: they are at least as new
            self._new_classes = None
            self._new_staff = None
        resolver, open_visits = resolver_for(self.store, self.site, now)
        self.resolver = resolver
        self._remembered_until = now
        for visit in open_visits:
            self._known[visit.visit_id] = now
        return resolver

    def resolve(self, sightings: list[Sighting]) -> Resolved:
        """Resolve ``sightings`` in the order given (the resolver's state moves on; nothing is saved)."""
        resolved = Resolved(list(sightings), [], set(), [])
        if not sightings:
            return resolved
        # the clock of a file run is the recording's, not the wall clock
        resolver = self.resolver or self._start(min(s.first_seen for s in sightings))
        self._take_changes(resolver)
        changed: dict[str, Visit] = {}
        stays_changed: set[str] = set()
        for sighting in sightings:
            visits, visit_id = self._resolve_one(resolver, sighting, resolved.exits, resolved.passby)
            for visit in visits:
                changed[visit.visit_id] = visit
            if visit_id is not None and sighting.zones:
                stays, seen = self._stays.get(visit_id, (set(), sighting.last_seen))
                stays.update(ZoneStay(visit_id, z.zone_id, z.entered_at, z.left_at) for z in sighting.zones)
                self._stays[visit_id] = (stays, max(seen, sighting.last_seen))
                stays_changed.add(visit_id)
        latest = max(s.last_seen for s in sightings)
        for visit_id in changed:
            if visit_id not in self._known:
                resolved.arrivals.add(visit_id)
            self._known[visit_id] = latest
        resolved.visits = list(changed.values())
        resolved.stays = [z for v in sorted(stays_changed) for z in self._stays[v][0]]
        self._forget_old(latest)
        self._seen_until = latest if self._seen_until is None else max(self._seen_until, latest)
        return resolved

    def persist(self, resolved: Resolved) -> None:
        """Save resolved sightings, visits and zone stays (may raise `StoreUnavailable`: call again)."""
        if resolved.saved or not resolved.sightings:
            return
        self.store.save_sightings(resolved.sightings)
        self.report.visits_saved += self.store.save_visits(resolved.visits)
        if resolved.stays:
            self.store.save_visit_zones(self.site.site.id, resolved.stays)
        if resolved.exits or resolved.passby:
            self.store.save_crossings(self.site.site.id, resolved.exits, resolved.passby)
        self.report.sightings += len(resolved.sightings)
        resolved.saved = True

    def add(self, sightings: list[Sighting]) -> Resolved:
        """Resolve and save ``sightings`` in the order given."""
        resolved = self.resolve(sightings)
        self.persist(resolved)
        return resolved

    def _forget_old(self, now: datetime) -> None:
        """Drop the stays and arrival marks of visits not touched for the resolver's open-visit time:
        they are complete."""
        if self.resolver is None:
            return
        horizon = now - timedelta(seconds=self.resolver.rules.open_visit_s)
        for visit_id in [v for v, (_, seen) in self._stays.items() if seen < horizon]:
            del self._stays[visit_id]
        for visit_id in [v for v, seen in self._known.items() if seen < horizon]:
            del self._known[visit_id]

    def add_recorded(self, sightings: list[Sighting], footage: list[Footage]) -> None:
        """Resolve recorded footage's sightings (already stored) and save the visits and zone stays in
        the one transaction that marks the footage resolved."""
        ordered = sorted(sightings, key=lambda s: (s.first_seen, s.camera_id, s.track_id))
        if ordered and self.resolver is None:
            self._start(ordered[0].first_seen)
        if self.resolver is not None:
            self._take_changes(self.resolver)
        changed: dict[str, Visit] = {}
        stays: dict[str, set[ZoneStay]] = {}
        exits: list[Exit] = []
        passby: list[PassbyCrossing] = []
        for sighting in ordered:
            assert self.resolver is not None
            visits, visit_id = self._resolve_one(self.resolver, sighting, exits, passby)
            for visit in visits:
                changed[visit.visit_id] = visit
            if visit_id is not None and sighting.zones:
                stays.setdefault(visit_id, set()).update(
                    ZoneStay(visit_id, z.zone_id, z.entered_at, z.left_at) for z in sighting.zones
                )
        self.report.visits_saved += self.store.ingest(
            self.site.site.id,
            changed.values(),
            [z for v in sorted(stays) for z in stays[v]],
            resolved_footage=footage,
            exits=exits,
            passby_crossings=passby,
            passby_watched=[  # every hour a file covers is measured, nobody passing included
                PassbyWatch(f.camera_id, line_id, f.started_at, f.ended_at)
                for f in footage
                for camera_id, line_id in sorted(self._passby_lines)
                if camera_id == f.camera_id
            ],
        )
        self.report.sightings += len(ordered)
        if ordered:
            latest = max(s.last_seen for s in ordered)
            self._seen_until = latest if self._seen_until is None else max(self._seen_until, latest)

    def _resolve_one(
        self, resolver: Resolver, sighting: Sighting, exits: list[Exit], passby: list[PassbyCrossing]
    ) -> tuple[list[Visit], str | None]:
        """Resolve one sighting without its pass-by crossings (collected in ``passby``) and collect
        its exits, linked to the visit it joined (docs/metrics.md, "Exits and pass-by")."""
        door, passers = split_passby(sighting, self._passby_lines)
        passby += passers
        visits, visit_id = resolver.resolve(door)
        exits += exits_of(door, None if visit_id is None else resolver.visit(visit_id))
        return visits, visit_id

    def checkpoint(self, now: datetime, *, purge: bool) -> list[StaffSuggestion]:
        """A live site's periodic upkeep at wall-clock ``now``: retire what is past its window, save
        the remembered people seen since the last checkpoint, compute and store today's staff suggestions and
        (``purge``) delete expired signatures. Returns the suggestions (also in the report)."""
        resolver = self.resolver
        if resolver is None:
            if purge:
                self.report.purged += self.store.purge_expired(now)
            return []
        resolver.forget_expired(now)
        since = self._remembered_until
        site_id = self.site.site.id
        for person in resolver.remembered(now):
            if since is None or person.last_seen > since:
                self.store.remember(site_id, person, resolver.expires_at(person))
        self._remembered_until = max(since, self._seen_until or now) if since is not None else now
        self.report.staff_suggestions = resolver.staff_suggestions(resolver.rules.local_day(now))
        self.store.save_staff_suggestions(site_id, self.report.staff_suggestions)  # for a manager to decide
        if purge:
            self.report.purged += self.store.purge_expired(now)
        return self.report.staff_suggestions

    def finish(self) -> ProcessReport:
        """Save what the resolver remembers (encrypted, with expiry), suggest staff, purge expired."""
        if self.resolver is not None and self._seen_until is not None:
            clock, site_id = self._seen_until, self.site.site.id
            for person in self.resolver.remembered(clock):
                self.store.remember(site_id, person, self.resolver.expires_at(person))
            self.report.staff_suggestions = self.resolver.staff_suggestions(
                self.resolver.rules.local_day(clock)
            )
            self.store.save_staff_suggestions(site_id, self.report.staff_suggestions)  # before the purge
            self.report.purged = self.store.purge_expired(clock)
        return self.report


class ResolutionWorker:
    """One site's live resolution on the bus (see the module docstring). ``start()``, then
    ``stop()`` after the cameras have stopped: it drains, commits and finishes (`finish`)."""

    def __init__(
        self,
        site: SiteConfig,
        store: Store,
        bus: EventBus,
        *,
        report: ProcessReport | None = None,
        checkpoint_every_s: float = 300.0,
        purge_every_s: float = 3600.0,
        batch: int = 256,
        capacity: int = 4096,
        retry_s: tuple[float, float] = (0.5, 30.0),
        progress: Progress | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.site = site
        self.site_id = site.site.id
        self.store = store
        self.bus = bus
        self.resolution = SiteResolution(site, store, report)
        self.checkpoint_every_s = checkpoint_every_s
        self.purge_every_s = purge_every_s
        self.batch = batch
        self.retry_s = retry_s
        self.progress = progress
        self.clock = clock
        self.errors = 0  # errors other than a store that is down (logged, the worker went on)
        self.last_error: str | None = None
        self.outages_stored = 0
        self._subscription: Subscription = bus.subscribe(
            f"resolution:{self.site_id}",
            lossless=True,
            capacity=capacity,
            kinds=(SightingSeen, CameraOutage),
            site_id=self.site_id,
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"resolution-{self.site_id}", daemon=True)

    @property
    def report(self) -> ProcessReport:
        return self.resolution.report

    @property
    def queue_depth(self) -> int:
        return self._subscription.depth

    def start(self) -> ResolutionWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> ProcessReport:
        """Take no more events, commit what the bus holds, save remembered signatures, suggest staff,
        purge; returns the report."""
        self._stopping.set()
        self._subscription.close()  # what is queued is still delivered
        if self._thread.is_alive():
            self._thread.join(timeout)
        return self.report

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- the worker thread --------------------------------------------------------------------------

    def _run(self) -> None:
        sub = self._subscription
        now = time.monotonic()
        next_checkpoint, next_purge = now + self.checkpoint_every_s, now + self.purge_every_s
        while True:
            wait = max(0.0, min(next_checkpoint, next_purge) - time.monotonic())
            events = sub.get_many(self.batch, timeout=min(wait, 1.0))
            if events:
                self._guarded(self._handle, events)
            elif sub.closed:
                break
            now = time.monotonic()
            if now >= next_checkpoint or now >= next_purge:
                purge = now >= next_purge
                self._guarded(self._checkpoint, purge)
                next_checkpoint = now + self.checkpoint_every_s
                if purge:
                    next_purge = now + self.purge_every_s
        self._guarded(self._finish)

    def _guarded(self, action: Callable[..., None], *args: object) -> None:
        try:
            action(*args)
        except Exception as exc:  # a bug or a store error while finishing: log, count, go on
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("site %s: resolution: %s", self.site_id, self.last_error)
            self._note(f"site {self.site_id}: resolution error: {self.last_error}")

    def _note(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def _handle(self, events: list[Event]) -> None:
        sightings: list[Sighting] = []
        for event in events:
            if isinstance(event, SightingSeen):
                sightings.append(event.sighting)
            elif isinstance(event, CameraOutage):
                self._commit(sightings)  # keep the store's order the bus's order
                sightings = []
                self._store_outage(event)
        self._commit(sightings)

    def _commit(self, sightings: list[Sighting]) -> None:
        if not sightings:
            return
        resolved = self.resolution.resolve(sightings)
        self._retrying(lambda: self.resolution.persist(resolved), "sightings not saved")
        if not resolved.saved:
            return
        at = self.clock()
        for visit in resolved.visits:
            arrival = visit.visit_id in resolved.arrivals
            self.bus.publish(
                VisitChanged(
                    site_id=self.site_id, at=at, visit=visit, kind="arrival" if arrival else "update"
                )
            )

    def _retrying(self, action: Callable[[], None], what: str) -> None:
        """Run ``action``; while the store is unavailable retry with back-off (for ever while running,
        a few more times once stopping)."""
        delay, attempts = self.retry_s[0], 0
        while True:
            try:
                action()
                return
            except KeliuError as exc:
                attempts += 1
                if self._stopping.is_set() and attempts >= 3:
                    self.errors += 1
                    self.last_error = str(exc)
                    log.error("site %s: %s, giving up at shutdown: %s", self.site_id, what, exc)
                    self._note(f"site {self.site_id}: {what}: {exc}")
                    return
                if attempts == 1:
                    log.warning("site %s: %s (%s); retrying", self.site_id, what, exc)
                    self._note(f"site {self.site_id}: {what} ({exc}); retrying")
                time.sleep(delay)
                delay = min(self.retry_s[1], delay * 2)

    def _store_outage(self, event: CameraOutage) -> None:
        try:
            self.store.record_outage(
                self.site_id, event.camera_id, event.started_at, event.ended_at, event.attempts, event.reason
            )
            self.outages_stored += 1
        except KeliuError as exc:  # the store being down must not stop the site
            self._note(f"{event.camera_id}: outage not stored: {exc}")

    def _checkpoint(self, purge: bool) -> None:
        now = self.clock()
        suggestions = self.resolution.checkpoint(now, purge=purge)
        if suggestions:
            day = suggestions[0].day
            self.bus.publish(
                StaffSuggested(site_id=self.site_id, at=now, day=day, suggestions=tuple(suggestions))
            )

    def _finish(self) -> None:
        self._checkpoint(purge=True)
