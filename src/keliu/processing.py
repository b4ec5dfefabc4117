"""Running a site: every camera → sightings → visitor resolution → store (`keliu process`).

Files are processed one camera after the other and their sightings resolved in time order, so a
re-run of the same files gives the same visits. Live streams run one thread per camera and are
resolved in arrival order. The resolver starts from what the store remembers (staff, exclusion
classes, remembered signatures, visits still within the de-dup window), and the signatures it
remembers are saved encrypted with their expiry; expired ones are purged at the end of a run.

Frames and crops never leave the camera threads' memory. Must not parse command lines or print.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keliu.config import CameraConfig, SiteConfig
from keliu.domain.visits import Sighting, Visit
from keliu.errors import KeliuError
from keliu.resolve import Resolver, StaffSuggestion, default_courier_classes
from keliu.store import Store
from keliu.store.reference import Area, Entrance, OpeningHours, SiteProfile, ZoneStay
from keliu.vision.bestshots import BestShots
from keliu.vision.sightings import SightingCollector
from keliu.vision.signature import SignatureExtractor
from keliu.vision.sources import ReconnectPolicy, open_source
from keliu.wiring import build_camera_pipeline, resolver_rules

__all__ = [
    "CameraStats",
    "ProcessReport",
    "SiteResolution",
    "camera_sightings",
    "process_site",
    "register_site",
]

Progress = Callable[[str], None]


@dataclass
class CameraStats:
    frames: int = 0
    video_s: float = 0.0
    wall_s: float = 0.0
    sightings: int = 0


@dataclass
class ProcessReport:
    site_id: str
    cameras: dict[str, CameraStats] = field(default_factory=dict)
    sightings: int = 0
    visits_saved: int = 0
    purged: int = 0
    staff_suggestions: list[StaffSuggestion] = field(default_factory=list)


def _recording_start(camera: CameraConfig, is_live: bool) -> datetime:
    if is_live:
        return datetime.now(UTC)
    if camera.recorded_at is not None:
        return camera.recorded_at.astimezone(UTC)
    return datetime.fromtimestamp(Path(camera.source).stat().st_mtime, UTC)


def camera_sightings(
    site_id: str,
    camera: CameraConfig,
    extractor: SignatureExtractor,
    *,
    stride: int | None = None,
    stats: CameraStats | None = None,
    progress: Progress | None = None,
) -> Iterator[Sighting]:
    """Run one camera to the end of its source (files) or for ever (streams), yielding sightings."""
    stats = stats if stats is not None else CameraStats()
    policy = ReconnectPolicy(max_attempts=None, max_attempts_at_start=3)
    started = time.monotonic()
    last_note = started
    with open_source(camera.source, reconnect=policy) as source:
        runtime = build_camera_pipeline(camera, source.fps, source.resolution_wh)
        collector = SightingCollector(
            site_id,
            camera.id,
            _recording_start(camera, getattr(source, "is_live", False)),
            extractor,
            BestShots(),
        )
        frame_wh = source.resolution_wh
        last_index, last_t = 0, 0.0
        for frame in source.frames(stride=stride or runtime.stride):
            result = runtime.pipeline.process(frame.index, frame.t_s, frame.image_bgr)
            sightings = collector.observe(result, frame.image_bgr, frame_wh)
            stats.frames += 1
            stats.video_s = frame.t_s
            stats.sightings += len(sightings)
            last_index, last_t = frame.index, frame.t_s
            yield from sightings
            now = time.monotonic()
            if progress is not None and now - last_note >= 5.0:
                last_note = now
                speed = frame.t_s / max(now - started, 1e-6)
                progress(
                    f"{camera.id}: t={frame.t_s:.1f}s, {speed:.2f}× real time, {stats.sightings} sightings"
                )
        final = runtime.pipeline.finish_result(last_index, last_t)
        sightings = collector.observe(final, None, frame_wh)
        stats.sightings += len(sightings)
        yield from sightings
    stats.wall_s = time.monotonic() - started


def register_site(store: Store, site: SiteConfig) -> None:
    """Write the site, its cameras, lines and zones, and the shipped courier classes, to the store."""
    rules = resolver_rules(site)
    store.upsert_site(
        site.site.id,
        site.site.name,
        site.site.timezone,
        dedup_window_s=rules.dedup_window_s,
        returning_memory_days=rules.returning_memory_s / 86400.0,
    )
    for camera in site.cameras:
        store.upsert_camera(site.site.id, camera.id, camera.name)
        for line in camera.lines:
            store.upsert_line(site.site.id, camera.id, line.id, line.a, line.b, line.inside)
        for zone in camera.zones:
            store.upsert_zone(site.site.id, camera.id, zone.id, zone.polygon)
    _register_analytics(store, site)
    known = {c.class_id for c in store.exclusion_classes(site.site.id)}
    for cls in default_courier_classes(rules.courier_max_stay_s):
        if cls.class_id not in known:
            store.save_exclusion_class(None, cls)


def _register_analytics(store: Store, site: SiteConfig) -> None:
    """The config's analytics attributes → the store: profile, entrances, areas, and the business
    hours (营业时间) for every weekday, so the rollups and the resolver use the same hours."""
    a, site_id = site.analytics, site.site.id
    store.set_site_profile(
        site_id,
        SiteProfile(a.region, a.store_type, a.weight, a.area_m2, a.reception_min_s, a.week_start),
    )
    store.set_entrances(site_id, [Entrance(e.camera, e.line, e.name, e.group, e.main) for e in a.entrances])
    store.set_areas(
        site_id,
        [Area(x.zone, x.kind, x.name, x.floor, x.building, tuple(x.category), x.area_m2) for x in a.areas],
    )
    opens, closes = (t.strftime("%H:%M") for t in site.visitors.business_hours)
    store.set_business_hours(site_id, [OpeningHours.parse(day, opens, closes) for day in range(7)])


def _resolver_for(store: Store, site: SiteConfig, now: datetime) -> Resolver:
    rules = resolver_rules(site)
    site_id = site.site.id
    open_visits: list[Visit] = store.visits(site_id, now - timedelta(seconds=rules.open_visit_s), now)
    return Resolver(
        site_id,
        rules,
        staff=store.staff(site_id),
        exclusion_classes=store.exclusion_classes(site_id),
        memory=store.remembered_people(site_id, now),
        open_visits=open_visits,
    )


class SiteResolution:
    """Sightings of one site → resolver → store; the resolver starts from what the store remembers."""

    def __init__(self, site: SiteConfig, store: Store, report: ProcessReport | None = None) -> None:
        self.site = site
        self.store = store
        self.report = report or ProcessReport(site.site.id)
        self.resolver: Resolver | None = None
        self._seen_until: datetime | None = None
        # 驻留 zone stays by visit, kept while the visit may still grow (the store replaces a visit's
        # stays as a whole); (stays, last seen) per visit id
        self._stays: dict[str, tuple[set[ZoneStay], datetime]] = {}

    def add(self, sightings: list[Sighting]) -> None:
        if not sightings:
            return
        if self.resolver is None:  # the clock of a file run is the recording's, not the wall clock
            self.resolver = _resolver_for(self.store, self.site, min(s.first_seen for s in sightings))
        changed: dict[str, Visit] = {}
        stays_changed: set[str] = set()
        for sighting in sightings:
            visits, visit_id = self.resolver.resolve(sighting)
            for visit in visits:
                changed[visit.visit_id] = visit
            if visit_id is not None and sighting.zones:
                stays, seen = self._stays.get(visit_id, (set(), sighting.last_seen))
                stays.update(ZoneStay(visit_id, z.zone_id, z.entered_at, z.left_at) for z in sighting.zones)
                self._stays[visit_id] = (stays, max(seen, sighting.last_seen))
                stays_changed.add(visit_id)
        self.store.save_sightings(sightings)
        self.report.visits_saved += self.store.save_visits(changed.values())
        if stays_changed:
            site_id = self.site.site.id
            self.store.save_visit_zones(
                site_id, [z for v in sorted(stays_changed) for z in self._stays[v][0]]
            )
        self._forget_old_stays(max(s.last_seen for s in sightings))
        self.report.sightings += len(sightings)
        latest = max(s.last_seen for s in sightings)
        self._seen_until = latest if self._seen_until is None else max(self._seen_until, latest)

    def _forget_old_stays(self, now: datetime) -> None:
        """Drop the stays of visits not seen for the resolver's open-visit time: they are complete."""
        if self.resolver is None:
            return
        horizon = now - timedelta(seconds=self.resolver.rules.open_visit_s)
        for visit_id in [v for v, (_, seen) in self._stays.items() if seen < horizon]:
            del self._stays[visit_id]

    def finish(self) -> ProcessReport:
        """Save what the resolver remembers (encrypted, with expiry), suggest staff, purge expired."""
        if self.resolver is not None and self._seen_until is not None:
            clock, site_id = self._seen_until, self.site.site.id
            for person in self.resolver.remembered(clock):
                self.store.remember(site_id, person, self.resolver.expires_at(person))
            self.report.staff_suggestions = self.resolver.staff_suggestions(
                self.resolver.rules.local_day(clock)
            )
            self.report.purged = self.store.purge_expired(clock)
        return self.report


def process_site(
    site: SiteConfig,
    store: Store,
    extractor: SignatureExtractor,
    *,
    stride: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> ProcessReport:
    """Process every camera of ``site`` into ``store`` (see module docstring)."""
    register_site(store, site)
    report = ProcessReport(site.site.id, {camera.id: CameraStats() for camera in site.cameras})
    resolution = SiteResolution(site, store, report)
    live = [c for c in site.cameras if "://" in c.source or c.source.startswith(("usb:", "/dev/video"))]
    if not live:
        gathered: list[Sighting] = []
        for camera in site.cameras:
            stats = report.cameras[camera.id]
            gathered += camera_sightings(
                site.site.id, camera, extractor, stride=stride, stats=stats, progress=progress
            )
        resolution.add(sorted(gathered, key=lambda s: (s.first_seen, s.camera_id, s.track_id)))
    else:
        _run_threads(site, extractor, stride, report, resolution.add, progress, stop or threading.Event())
    return resolution.finish()


def _run_threads(
    site: SiteConfig,
    extractor: SignatureExtractor,
    stride: int | None,
    report: ProcessReport,
    resolve: Callable[[list[Sighting]], None],
    progress: Progress | None,
    stop: threading.Event,
) -> None:
    """One thread per camera; sightings are resolved in arrival order as they come."""
    inbox: queue.Queue[Sighting | KeliuError | None] = queue.Queue(maxsize=10_000)

    def run(camera: CameraConfig) -> None:
        try:
            for sighting in camera_sightings(
                site.site.id,
                camera,
                extractor,
                stride=stride,
                stats=report.cameras[camera.id],
                progress=progress,
            ):
                inbox.put(sighting)
                if stop.is_set():
                    break
        except KeliuError as exc:
            inbox.put(exc)
        finally:
            inbox.put(None)

    threads = [
        threading.Thread(target=run, args=(c,), name=f"camera-{c.id}", daemon=True) for c in site.cameras
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    while running:
        item = inbox.get()
        if item is None:
            running -= 1
        elif isinstance(item, KeliuError):
            if progress is not None:
                progress(f"camera stopped: {item}")
        else:
            resolve([item])
