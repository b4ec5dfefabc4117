"""Running a site: every camera → sightings → visitor resolution → store (`keliu process`).

**Recorded files** are idempotent and resumable. Every source is opened and checked before anything
runs; each file is entered in the footage ledger by a fingerprint of its content and its time span
(``keliu.store.footage``), so footage already ingested is skipped and a different file overlapping it
on the same camera is refused. Each file is analysed in fixed segments (``keliu.runtime.recorded``),
each segment's sightings committed with the ledger's progress, so a killed run resumes at the first
unfinished segment. When every file's vision is done, the sightings of the footage not yet resolved
are read back from the store and resolved in time order, and the visits saved in the transaction that
marks the footage resolved: an interrupted and an uninterrupted run give identical visits.

**Live streams** run on the runtime (``keliu.runtime``): the camera supervisor runs each camera in its
own thread (a camera that cannot be reached is retried with back-off for as long as the run lasts,
one that fails is restarted, each outage is stored as a camera outage) and publishes sightings on the
event bus; the site's resolution worker resolves and commits them as they arrive, so a kill loses
only the tracks in progress, and Ctrl-C or SIGTERM ends the tracks in progress and commits them.

Only one run may write a site at a time (``Store.writer_lock``). The resolver starts from what the
store remembers (staff, exclusion classes, remembered signatures, visits still within the de-dup
window), and the signatures it remembers are saved encrypted with their expiry; expired ones are
purged at the end of a run (live: also on the resolution worker's timer).

Frames and crops never leave the camera threads' memory. Must not parse command lines or print.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from keliu.config import CameraConfig, SiteConfig
from keliu.domain.visits import Sighting
from keliu.errors import ConfigError
from keliu.resolve import default_courier_classes
from keliu.runtime.bus import EventBus
from keliu.runtime.camera import is_live_source
from keliu.runtime.clock import RecordingClock, recording_clock
from keliu.runtime.recorded import SEGMENT_S, recorded_segments
from keliu.runtime.report import CameraStats, ProcessReport
from keliu.runtime.resolution import ResolutionWorker, SiteResolution
from keliu.runtime.supervisor import Supervisor
from keliu.store import Footage, Store, file_fingerprint
from keliu.store.reference import Area, Entrance, OpeningHours, SiteProfile
from keliu.vision.pipeline import CountingPipeline
from keliu.vision.signature import SignatureExtractor
from keliu.vision.sources import open_source
from keliu.wiring import build_camera_pipeline, resolver_rules

__all__ = [
    "CameraStats",
    "ProcessReport",
    "SiteResolution",
    "is_live_source",
    "process_site",
    "register_site",
]

Progress = Callable[[str], None]


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
            store.upsert_line(
                site.site.id, camera.id, line.id, line.a, line.b, line.to_line().inside, kind=line.kind
            )
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


def process_site(
    site: SiteConfig,
    store: Store,
    extractor: SignatureExtractor,
    *,
    stride: int | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    segment_s: float = SEGMENT_S,
    recorded_at: datetime | None = None,
) -> ProcessReport:
    """Process every camera of ``site`` into ``store`` (see module docstring). Raises `StoreBusy` when
    another run is writing the site, `InputError` for a source that cannot be opened (before anything
    runs) or footage that overlaps other footage of its camera. ``recorded_at``: the start of every
    recorded file of this run, over the cameras' ``recorded_at`` (``keliu.runtime.clock``); each
    file's clock is reported through ``progress``."""
    site_id = site.site.id
    report = ProcessReport(site_id, {camera.id: CameraStats() for camera in site.cameras})
    live = [c for c in site.cameras if is_live_source(c.source)]
    if live and len(live) != len(site.cameras):
        raise ConfigError(
            f"site {site_id!r}: cameras {', '.join(c.id for c in live)} are live streams and the others "
            "recorded files; process them in separate runs (one config each)"
        )
    if live and recorded_at is not None:
        raise ConfigError(
            f"site {site_id!r}: a recording start time is for recorded files; cameras "
            f"{', '.join(c.id for c in live)} are live streams (their frames carry the wall clock)"
        )
    with store.writer_lock(site_id):
        if live:
            register_site(store, site)
            return _run_live(site, store, extractor, stride, report, progress, stop or threading.Event())
        plans = [  # all checked first
            _plan_recorded(site_id, camera, segment_s, recorded_at) for camera in site.cameras
        ]
        register_site(store, site)
        footage = [store.claim_footage(plan.footage) for plan in plans]
        for plan, claimed in zip(plans, footage, strict=True):
            plan.footage = claimed
            if progress is not None:
                progress(_clock_note(plan, claimed))
            _analyse_recorded(
                site_id, plan, store, extractor, stride, report.cameras[plan.camera.id], progress
            )
        resolution = SiteResolution(site, store, report)
        pending = [plan.footage for plan in plans if not plan.footage.resolved]
        if pending:
            resolution.add_recorded(_stored_sightings(store, pending), pending)
        return resolution.finish()


@dataclass
class _RecordedPlan:
    camera: CameraConfig
    footage: Footage
    clock: RecordingClock


def _clock_note(plan: _RecordedPlan, claimed: Footage) -> str:
    """Which clock a recorded file runs on (docs/configuration.md, "Recorded files: which clock")."""
    camera_id = plan.camera.id
    if claimed.started_at != plan.clock.started_at:
        return (
            f"{camera_id}: recording starts {claimed.started_at.isoformat()} (kept from the footage "
            f"ledger: this file was first ingested on that clock; this run's would be "
            f"{plan.clock.describe()})"
        )
    return f"{camera_id}: recording starts {plan.clock.describe()}"


def _plan_recorded(
    site_id: str, camera: CameraConfig, segment_s: float, recorded_at: datetime | None = None
) -> _RecordedPlan:
    """Open the camera's file (a missing or broken file fails here, before any camera runs) and
    describe it for the ledger: content fingerprint and the time span it covers, on its clock."""
    path = camera.source[len("file://") :] if camera.source.startswith("file://") else camera.source
    with open_source(path) as source:
        fps = getattr(source, "fps", 0.0)
        duration = _duration_s(path) or 0.0
    clock = recording_clock(camera, recorded_at)
    started = clock.started_at
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
        clock,
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


def _run_live(
    site: SiteConfig,
    store: Store,
    extractor: SignatureExtractor,
    stride: int | None,
    report: ProcessReport,
    progress: Progress | None,
    stop: threading.Event,
) -> ProcessReport:
    """The site's live cameras on the runtime until ``stop`` is set (or Ctrl-C): a supervisor (each
    camera in its own thread, unreachable ones retried for ever, failed ones restarted, outages
    published) and the site's resolution worker (sightings resolved and committed as they arrive,
    outages stored). Stopping ends the tracks in progress, commits what they completed, then saves
    the remembered signatures, computes staff suggestions and purges."""
    bus = EventBus()
    worker = ResolutionWorker(site, store, bus, report=report, progress=progress).start()
    supervisor = Supervisor(bus, extractor=extractor, stride=stride, progress=progress, progress_every_s=5.0)
    cameras = []
    try:
        for camera in site.cameras:
            supervisor.add_camera(site.site.id, camera)
        while not stop.is_set() and supervisor.running():
            stop.wait(0.5)
    except KeyboardInterrupt:
        stop.set()
    finally:
        cameras = supervisor.stop()
        worker.stop()
        bus.close()
    for info in cameras:
        report.cameras[info.camera_id] = CameraStats(
            frames=info.frames,
            video_s=info.video_s,
            wall_s=info.running_s,
            sightings=info.sightings,
            error=info.last_error,
        )
    return report
