"""Running a site: every camera → sightings → visitor resolution → store (`keliu process`).

**Recorded files** are idempotent and resumable. Every source is opened and checked before anything
runs; each file is entered in the footage ledger by a fingerprint of its content and its time span
(``keliu.store.footage``), so footage already ingested is skipped and a different file overlapping it
on the same camera is refused. Each file is analysed in fixed segments (``keliu.runtime.recorded``),
each segment's sightings committed with the ledger's progress, so a killed run resumes at the first
unfinished segment. When every file's vision is done, the sightings of the footage not yet resolved
are read back from the store and resolved in time order, and the visits saved in the transaction that
marks the footage resolved: an interrupted and an uninterrupted run give identical visits.

**Live streams** run one thread per camera; a camera that cannot be reached is retried with back-off
for as long as the run lasts (each outage is stored as a camera outage), and sightings are resolved
and committed as they arrive, so a kill loses only the tracks in progress.

Only one run may write a site at a time (``Store.writer_lock``). The resolver starts from what the
store remembers (staff, exclusion classes, remembered signatures, visits still within the de-dup
window), and the signatures it remembers are saved encrypted with their expiry; expired ones are
purged at the end of a run.

Frames and crops never leave the camera threads' memory. Must not parse command lines or print.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keliu.config import CameraConfig, SiteConfig
from keliu.domain.visits import Sighting, Visit
from keliu.errors import ConfigError, KeliuError
from keliu.resolve import Resolver, StaffSuggestion, default_courier_classes
from keliu.runtime.recorded import SEGMENT_S, recorded_segments
from keliu.store import Footage, Store, file_fingerprint
from keliu.store.reference import Area, Entrance, OpeningHours, SiteProfile, ZoneStay
from keliu.vision.bestshots import BestShots
from keliu.vision.pipeline import CountingPipeline
from keliu.vision.sightings import SightingCollector
from keliu.vision.signature import SignatureExtractor
from keliu.vision.sources import Outage, ReconnectPolicy, open_source
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
    skipped: str | None = None  # why nothing was analysed (footage already ingested)
    resumed_at_s: float | None = None  # a killed run's footage, resumed at this second of video
    error: str | None = None  # why the camera stopped early


@dataclass
class ProcessReport:
    site_id: str
    cameras: dict[str, CameraStats] = field(default_factory=dict)
    sightings: int = 0
    visits_saved: int = 0
    purged: int = 0
    staff_suggestions: list[StaffSuggestion] = field(default_factory=list)

    @property
    def sources_failed(self) -> bool:
        """No camera delivered a frame (and none was skipped as already ingested): nothing was
        counted because the sources failed or never answered (the CLI exits non-zero)."""
        stats = self.cameras.values()
        return bool(stats) and all(c.frames == 0 and c.skipped is None for c in stats)


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
    outage_sink: Callable[[Outage], None] | None = None,
) -> Iterator[Sighting]:
    """Run one camera to the end of its source (files) or for ever (streams: an unreachable stream is
    retried with back-off for ever, at start too), yielding sightings."""
    stats = stats if stats is not None else CameraStats()
    policy = ReconnectPolicy(max_attempts=None, max_attempts_at_start=None)
    started = time.monotonic()
    last_note = started
    with open_source(camera.source, reconnect=policy, outage_sink=outage_sink) as source:
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
    # which source wins (docs/configuration.md): hours imported or set through the API are never
    # overwritten from the config; the config's (or the default) apply while nobody else set them
    if store.setting_source(site_id, "business_hours") in (None, "config"):
        opens, closes = (t.strftime("%H:%M") for t in site.visitors.business_hours)
        store.set_business_hours(
            site_id, [OpeningHours.parse(day, opens, closes) for day in range(7)], source="config"
        )


def _resolver_for(store: Store, site: SiteConfig, now: datetime) -> Resolver:
    site_id = site.site.id
    rules = resolver_rules(site)
    stored = {h.weekday: (h.opens_min, h.closes_min) for h in store.business_hours(site_id)}
    if stored:  # the store's hours (config, import or API: docs/configuration.md) over the config's
        rules = replace(rules, weekly_minutes=tuple(stored.get(day) for day in range(7)))
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

    def add_recorded(self, sightings: list[Sighting], footage: list[Footage]) -> None:
        """Resolve recorded footage's sightings (already stored) and save the visits and zone stays in
        the one transaction that marks the footage resolved."""
        ordered = sorted(sightings, key=lambda s: (s.first_seen, s.camera_id, s.track_id))
        if ordered and self.resolver is None:
            self.resolver = _resolver_for(self.store, self.site, ordered[0].first_seen)
        changed: dict[str, Visit] = {}
        stays: dict[str, set[ZoneStay]] = {}
        for sighting in ordered:
            assert self.resolver is not None
            visits, visit_id = self.resolver.resolve(sighting)
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
        )
        self.report.sightings += len(ordered)
        if ordered:
            latest = max(s.last_seen for s in ordered)
            self._seen_until = latest if self._seen_until is None else max(self._seen_until, latest)

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
    segment_s: float = SEGMENT_S,
) -> ProcessReport:
    """Process every camera of ``site`` into ``store`` (see module docstring). Raises `StoreBusy` when
    another run is writing the site, `InputError` for a source that cannot be opened (before anything
    runs) or footage that overlaps other footage of its camera."""
    site_id = site.site.id
    report = ProcessReport(site_id, {camera.id: CameraStats() for camera in site.cameras})
    live = [c for c in site.cameras if is_live_source(c.source)]
    if live and len(live) != len(site.cameras):
        raise ConfigError(
            f"site {site_id!r}: cameras {', '.join(c.id for c in live)} are live streams and the others "
            "recorded files; process them in separate runs (one config each)"
        )
    with store.writer_lock(site_id):
        if live:
            register_site(store, site)
            resolution = SiteResolution(site, store, report)
            _run_threads(
                site, store, extractor, stride, report, resolution.add, progress, stop or threading.Event()
            )
            return resolution.finish()
        plans = [_plan_recorded(site_id, camera, segment_s) for camera in site.cameras]  # all checked first
        register_site(store, site)
        footage = [store.claim_footage(plan.footage) for plan in plans]
        for plan, claimed in zip(plans, footage, strict=True):
            plan.footage = claimed
            _analyse_recorded(
                site_id, plan, store, extractor, stride, report.cameras[plan.camera.id], progress
            )
        resolution = SiteResolution(site, store, report)
        pending = [plan.footage for plan in plans if not plan.footage.resolved]
        if pending:
            resolution.add_recorded(_stored_sightings(store, pending), pending)
        return resolution.finish()


def is_live_source(source: str) -> bool:
    """A network stream or a camera device (not a recorded file)."""
    return ("://" in source and not source.startswith("file://")) or source.startswith(("usb:", "/dev/video"))


@dataclass
class _RecordedPlan:
    camera: CameraConfig
    footage: Footage


def _plan_recorded(site_id: str, camera: CameraConfig, segment_s: float) -> _RecordedPlan:
    """Open the camera's file (a missing or broken file fails here, before any camera runs) and
    describe it for the ledger: content fingerprint and the time span it covers."""
    path = camera.source[len("file://") :] if camera.source.startswith("file://") else camera.source
    with open_source(path) as source:
        fps = getattr(source, "fps", 0.0)
        duration = _duration_s(path) or 0.0
    started = _recording_start(camera, is_live=False)
    return _RecordedPlan(
        camera,
        Footage(
            site_id=site_id,
            camera_id=camera.id,
            fingerprint=file_fingerprint(Path(path)),
            source=str(Path(path).resolve()),
            started_at=started,
            ended_at=started + timedelta(seconds=max(duration, 1.0 / fps if fps else 0.0)),
            segment_s=segment_s,
        ),
    )


def _duration_s(path: str) -> float | None:
    """The container's idea of the video's length (an estimate until the file has been decoded)."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return container.duration / 1_000_000 if container.duration else None
    except (av.error.FFmpegError, OSError, IndexError):
        return None


def _analyse_recorded(
    site_id: str,
    plan: _RecordedPlan,
    store: Store,
    extractor: SignatureExtractor,
    stride: int | None,
    stats: CameraStats,
    progress: Progress | None,
) -> None:
    """Run the camera's file from its first unfinished segment, committing segment by segment."""
    footage, camera = plan.footage, plan.camera
    if footage.vision_done:
        stats.skipped = "already ingested" if footage.resolved else "analysed; resolving"
        return
    first = footage.segments_done
    if first:
        stats.resumed_at_s = first * footage.segment_s
        if progress is not None:
            progress(
                f"{camera.id}: resuming {footage.source} at {stats.resumed_at_s:.0f} s (segment {first})"
            )
    started = time.monotonic()
    with open_source(footage.source) as source:
        fps, frame_wh = source.fps, source.resolution_wh
        runtime = build_camera_pipeline(camera, fps, frame_wh)
        detector = runtime.pipeline.detector
        assert detector is not None

        def fresh_pipeline() -> CountingPipeline:
            return build_camera_pipeline(camera, fps, frame_wh, detector=detector).pipeline

        for segment in recorded_segments(
            site_id,
            camera,
            source,
            footage.started_at,
            extractor,
            detector=detector,
            build_pipeline=fresh_pipeline,
            stride=stride or runtime.stride,
            segment_s=footage.segment_s,
            first_segment=first,
        ):
            ended = (
                None
                if segment.video_end_s is None
                else footage.started_at + timedelta(seconds=segment.video_end_s)
            )
            footage = store.save_segment(footage, segment.index, segment.sightings, ended_at=ended)
            stats.frames += segment.frames
            stats.sightings += len(segment.sightings)
            stats.video_s = segment.video_end_s or (segment.index + 1) * footage.segment_s
            if progress is not None:
                wall = max(time.monotonic() - started, 1e-6)
                done_s = stats.video_s - (stats.resumed_at_s or 0.0)
                progress(
                    f"{camera.id}: {stats.video_s:.0f} s committed ({done_s / wall:.2f}× real time), "
                    f"{stats.sightings} sightings"
                )
    stats.wall_s = time.monotonic() - started
    plan.footage = footage


def _stored_sightings(store: Store, footage: list[Footage]) -> list[Sighting]:
    """The stored sightings of each footage (its camera, its span)."""
    out: list[Sighting] = []
    for f in footage:
        out += [
            s
            for s in store.sightings(f.site_id, f.started_at, f.ended_at + timedelta(microseconds=1))
            if s.camera_id == f.camera_id
        ]
    return out


def _run_threads(
    site: SiteConfig,
    store: Store,
    extractor: SignatureExtractor,
    stride: int | None,
    report: ProcessReport,
    resolve: Callable[[list[Sighting]], None],
    progress: Progress | None,
    stop: threading.Event,
) -> None:
    """One thread per live camera; sightings are resolved and committed in arrival order as they come.

    A camera that cannot be reached, at start or later, is retried with back-off until ``stop`` is set
    (a box that boots before its NVR counts from the moment the NVR answers); each outage is stored.
    Ctrl-C sets ``stop``: what was counted is already committed, and the run ends cleanly."""
    inbox: queue.Queue[Sighting | tuple[str, KeliuError] | None] = queue.Queue(maxsize=10_000)
    site_id = site.site.id

    def outage_sink(camera_id: str) -> Callable[[Outage], None]:
        def record(outage: Outage) -> None:
            started = datetime.fromtimestamp(outage.started_wall, UTC)
            ended = None if outage.ended_wall is None else datetime.fromtimestamp(outage.ended_wall, UTC)
            if progress is not None:
                state = "back" if ended is not None else f"unreachable ({outage.reason}), retrying"
                progress(f"{camera_id}: {state} after {outage.attempts} attempts")
            try:
                store.record_outage(site_id, camera_id, started, ended, outage.attempts, outage.reason)
            except KeliuError as exc:  # the store being down must not stop the camera
                if progress is not None:
                    progress(f"{camera_id}: outage not stored: {exc}")

        return record

    def run(camera: CameraConfig) -> None:
        try:
            for sighting in camera_sightings(
                site_id,
                camera,
                extractor,
                stride=stride,
                stats=report.cameras[camera.id],
                progress=progress,
                outage_sink=outage_sink(camera.id),
            ):
                inbox.put(sighting)
                if stop.is_set():
                    break
        except KeliuError as exc:
            inbox.put((camera.id, exc))
        finally:
            inbox.put(None)

    threads = [
        threading.Thread(target=run, args=(c,), name=f"camera-{c.id}", daemon=True) for c in site.cameras
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running and not stop.is_set():
            try:
                item = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                running -= 1
            elif isinstance(item, tuple):
                camera_id, error = item
                report.cameras[camera_id].error = str(error)
                if progress is not None:
                    progress(f"{camera_id}: camera stopped: {error}")
            else:
                resolve([item])
    except KeyboardInterrupt:
        stop.set()
