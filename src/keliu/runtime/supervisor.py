"""The camera supervisor (设备监管): every camera in its own thread, isolated, restarted, observable.

Each camera added to a `Supervisor` runs `keliu.runtime.camera.CameraLoop` in a thread of its own
and publishes on the event bus: `SightingSeen`, `CrossingCounted` (in time order), `FrameStats`
(about once a second), `CameraStatus` on every change of state and `CameraOutage` at the start and
end of every outage of a live source. Isolation:

* any exception of a camera's run (a keliu error or a bug: a decoder, a model, a counting rule) is
  logged with its traceback, counted (``errors``, ``last_error``) and the camera restarted with
  exponential back-off (1 s doubling to 60 s; a run that lasted a minute starts the back-off anew);
  other cameras never notice;
* a live source that drops is reconnected by the source itself (``keliu.vision.sources``: back-off,
  for ever), and one that cannot be reached at start is retried until it answers; the camera is
  ``offline`` meanwhile, with the reason;
* cameras are added, changed and removed while the others run: new lines, zones, counting or
  tracker settings are taken by the running loop at its next frame (its tracks are ended and their
  crossings and sightings kept); a new source, detector or rate restarts only that camera.

A recorded file ends its camera (``finished``) unless it is added with ``replay=True``: then it is
played in real time with wall-clock time stamps and started again at its end, like a live camera
(a demo). :meth:`Supervisor.stop` stops every camera at its next frame, ends its tracks and publishes
what they completed before it returns: nothing already counted is lost (the resolution worker,
stopped after the supervisor, commits it). :meth:`Supervisor.cameras` gives each camera's state,
last-frame time, counters (frames, fps, detections, crossings, sightings), outages, restarts and
last error — what ``/metrics`` and the device API show.

Must not touch the store (the resolution worker stores what it needs) or parse command lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keliu.config import CameraConfig
from keliu.errors import Conflict, KeliuError, NotFound
from keliu.runtime.bus import EventBus
from keliu.runtime.camera import CameraCounters, CameraLoop, CameraSink, CameraStep, Opener
from keliu.runtime.events import (
    CameraOutage,
    CameraState,
    CameraStatus,
    CrossingCounted,
    FrameStats,
    SightingSeen,
)
from keliu.vision.sources import FrameSource, Outage, ReconnectPolicy, mask_credentials, open_source
from keliu.wiring import SERVICE_DETECTOR_THREADS

if TYPE_CHECKING:
    from keliu.vision.signature import SignatureExtractor

__all__ = ["RESTART_POLICY", "CameraInfo", "Supervisor"]

log = logging.getLogger("keliu.runtime")

RESTART_POLICY = ReconnectPolicy(initial_s=1.0, max_s=60.0, factor=2.0)
STABLE_AFTER_S = 60.0  # a run this long resets the restart back-off

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CameraInfo:
    """A camera's status and counters at one moment (counters are cumulative since it was added)."""

    site_id: str
    camera_id: str
    name: str | None
    source: str  # credentials masked
    state: CameraState
    reason: str
    since: datetime  # when the state began
    last_frame_at: datetime | None
    frames: int
    fps: float
    detections: int
    crossings: int
    sightings: int
    skipped_frames: int  # live frames over the live cap
    outages: int
    restarts: int
    errors: int
    last_error: str | None
    video_s: float  # stream/video seconds analysed, over all runs
    running_s: float  # wall seconds since the camera was added

    @property
    def online(self) -> bool:
        return self.state == "online"


class _Runner(CameraSink):
    """One camera's thread: runs loops, restarts them, publishes what they produce."""

    def __init__(self, supervisor: Supervisor, site_id: str, camera: CameraConfig, replay: bool) -> None:
        self.sup = supervisor
        self.site_id = site_id
        self.camera = camera
        self.replay = replay
        self.counters = CameraCounters()
        self.state: CameraState = "starting"
        self.reason = ""
        self.since = datetime.now(UTC)
        self.restarts = 0
        self.errors = 0
        self.last_error: str | None = None
        self.fps = 0.0
        self.added = time.monotonic()
        self._video_done = 0.0
        self._generation = 0
        self._lock = threading.Lock()
        self._loop: CameraLoop | None = None
        self._stop = threading.Event()
        self._reopen = False  # a change that needs a new loop (no back-off, not an error)
        self._stats_at = time.monotonic()
        self._stats_frames = 0
        self._noted_at = time.monotonic()
        # the last analysed frame, in memory only (for a snapshot through the API; never stored)
        self.latest: tuple[float, Any] | None = None
        self.thread = threading.Thread(target=self._run, name=f"camera-{site_id}-{camera.id}", daemon=True)

    # -- control (supervisor's thread) -------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            loop = self._loop
        if loop is not None:
            loop.stop()

    def change(self, camera: CameraConfig) -> bool:
        """Take ``camera``'s settings; True when the running loop took them without a restart."""
        with self._lock:
            self.camera = camera
            loop = self._loop
            if loop is not None and loop.reconfigure(camera):
                return True
            self._reopen = True
        if loop is not None:
            loop.stop()
        return False

    def info(self) -> CameraInfo:
        c = self.counters
        last = c.last_frame_wall
        return CameraInfo(
            site_id=self.site_id,
            camera_id=self.camera.id,
            name=self.camera.name,
            source=mask_credentials(self.camera.source),
            state=self.state,
            reason=self.reason,
            since=self.since,
            last_frame_at=None if last is None else datetime.fromtimestamp(last, UTC),
            frames=c.frames,
            fps=self.fps,
            detections=c.detections,
            crossings=c.crossings,
            sightings=c.sightings,
            skipped_frames=c.skipped_frames,
            outages=c.outages,
            restarts=self.restarts,
            errors=self.errors,
            last_error=self.last_error,
            video_s=self._video_done + c.video_s,
            running_s=time.monotonic() - self.added,
        )

    # -- the camera's thread -------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        replaying = False  # a demo video started again at its end: still online, not starting
        try:
            while not self._stop.is_set():
                with self._lock:
                    self._reopen = False
                    loop = CameraLoop(
                        self.site_id,
                        self.camera,
                        extractor=self.sup.extractor,
                        sightings=self.sup.sightings,
                        stride=self.sup.stride,
                        reconnect=self.sup.reconnect,
                        sink=self,
                        counters=self.counters,
                        generation=self._generation,
                        realtime=self.replay,
                        opener=self.sup.opener,
                        detector_threads=self.sup.detector_threads_for_a_run,
                    )
                    self._loop = loop
                if self._stop.is_set():
                    break
                self.counters.video_s = 0.0
                started = time.monotonic()
                failed = self._run_once(loop, starting=not replaying)
                replaying = False
                self._video_done += self.counters.video_s
                self.counters.video_s = 0.0
                self._generation = loop.generation + 1
                self._publish_stats()
                if self._stop.is_set():
                    break
                if self._reopen:
                    continue
                if not failed:
                    if self.replay:  # a demo video: again from its start
                        replaying = True
                        continue
                    if not loop.is_live:
                        self._set_state("finished", "end of the video")
                        return
                    failed = "the stream ended"
                    self.errors += 1
                    self.last_error = failed
                failures = 1 if time.monotonic() - started >= self.sup.stable_after_s else failures + 1
                delay = self.sup.restart.delay_s(failures)
                self.restarts += 1
                self._set_state("offline", f"{failed}; restarting in {delay:.0f} s")
                self._note(f"{self.camera.id}: {failed}; restarting in {delay:.0f} s")
                if self._stop.wait(delay):
                    break
        finally:
            if self.state != "finished":
                self._set_state("stopped", "removed or shut down")

    def _run_once(self, loop: CameraLoop, *, starting: bool) -> str | None:
        """Run ``loop``; the error that ended it (None: it ended by itself or was stopped)."""
        if starting:
            self._set_state("starting", "opening the source")
        try:
            loop.run()
        except KeliuError as exc:  # a known condition: one line, no traceback
            log.warning("camera %s/%s: %s", self.site_id, self.camera.id, exc)
            self.errors += 1
            self.last_error = str(exc)
            return str(exc)
        except Exception as exc:  # anything else: a bug somewhere; the camera must survive it
            log.exception("camera %s/%s crashed", self.site_id, self.camera.id)
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return f"error: {self.last_error}"
        return None

    def _set_state(self, state: CameraState, reason: str = "") -> None:
        if state == self.state and reason == self.reason:
            return
        self.state, self.reason = state, reason
        self.since = datetime.now(UTC)
        self.sup.bus.publish(
            CameraStatus(
                site_id=self.site_id,
                at=self.since,
                camera_id=self.camera.id,
                state=state,
                reason=reason,
                restarts=self.restarts,
            )
        )

    def _note(self, message: str) -> None:
        if self.sup.progress is not None:
            self.sup.progress(message)

    # -- CameraSink: called from the loop, on this thread ---------------------------------------------

    def opened(self, loop: CameraLoop, source: FrameSource) -> None:
        width, height = source.resolution_wh
        self._set_state("online", f"{width}×{height} at {source.fps:g} fps")

    def outage(self, loop: CameraLoop, outage: Outage) -> None:
        started = datetime.fromtimestamp(outage.started_wall, UTC)
        ended = None if outage.ended_wall is None else datetime.fromtimestamp(outage.ended_wall, UTC)
        self.sup.bus.publish(
            CameraOutage(
                site_id=self.site_id,
                at=ended or datetime.now(UTC),
                camera_id=self.camera.id,
                started_at=started,
                ended_at=ended,
                attempts=outage.attempts,
                reason=outage.reason,
            )
        )
        if ended is None:
            self._set_state("offline", f"unreachable: {outage.reason}")
            reason, attempts = outage.reason, outage.attempts
            if attempts:
                self._note(f"{self.camera.id}: unreachable ({reason}), retrying after {attempts} attempts")
            else:
                self._note(f"{self.camera.id}: stream lost ({reason}), reconnecting")
        else:
            self._set_state("online", f"back after {outage.duration_s or 0.0:.0f} s")
            self._note(f"{self.camera.id}: back after {outage.attempts} attempts")

    def step(self, loop: CameraLoop, step: CameraStep) -> None:
        bus, site_id, camera_id = self.sup.bus, self.site_id, self.camera.id
        if step.frame is not None:
            self.latest = (time.monotonic(), step.frame.image_bgr)
        if step.crossings:
            started = loop.started_at or datetime.now(UTC)
            for c in step.crossings:
                bus.publish(
                    CrossingCounted(
                        site_id=site_id,
                        at=started + timedelta(seconds=c.t_s),
                        camera_id=camera_id,
                        line_id=c.line_id,
                        direction=c.direction,
                        track_id=c.track_id,
                        t_s=c.t_s,
                    )
                )
        for s in step.sightings:
            bus.publish(SightingSeen(site_id=site_id, at=s.last_seen, sighting=s))
        now = time.monotonic()
        if now - self._stats_at >= self.sup.stats_every_s or step.final:
            self._publish_stats(now)
            if self.sup.progress_every_s and now - self._noted_at >= self.sup.progress_every_s:
                self._noted_at = now
                n = self.counters
                self._note(
                    f"{camera_id}: t={n.video_s:.1f}s, {self.fps:.1f} frames/s analysed, "
                    f"{n.crossings} crossings, {n.sightings} sightings"
                )

    def _publish_stats(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        c = self.counters
        elapsed = now - self._stats_at
        if elapsed > 0:
            self.fps = (c.frames - self._stats_frames) / elapsed
        self._stats_at, self._stats_frames = now, c.frames
        self.sup.bus.publish(
            FrameStats(
                site_id=self.site_id,
                at=datetime.now(UTC),
                camera_id=self.camera.id,
                frames=c.frames,
                fps=self.fps,
                detections=c.detections,
                crossings=c.crossings,
                sightings=c.sightings,
                in_view=c.in_view,
                video_s=self._video_done + c.video_s,
            )
        )


class Supervisor:
    """Runs cameras, each isolated in its own thread (see the module docstring).

    ``extractor``: the appearance-signature extractor shared by the cameras (thread-safe); with it,
    cameras emit sightings (``sightings`` may also ask for them without signatures). ``stride``
    overrides every camera's frame stride. ``reconnect``: a live source's back-off (default: 0.5 s
    doubling to 30 s, for ever, at start too). ``restart``: the back-off between runs of a camera
    that failed. ``progress``: short human-readable notes (outages, restarts, every
    ``progress_every_s`` a camera's counters; 0 for none). ``opener``: how sources are opened
    (default `open_source`). ``detector_threads``: each camera's detector threads unless its
    ``detector.threads`` says; None (the default) chooses when a camera's run has opened its source:
    while the supervisor runs two cameras or more, `SERVICE_DETECTOR_THREADS` (1: the cores are busy anyway,
    and one thread costs less CPU per inference for the same detections), else the detector's
    default (2: faster by wall time on an idle box, same CPU); docs/benchmarks.md, "Cameras per box".
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        extractor: SignatureExtractor | None = None,
        sightings: bool | None = None,
        stride: int | None = None,
        reconnect: ReconnectPolicy | None = None,
        restart: ReconnectPolicy = RESTART_POLICY,
        stable_after_s: float = STABLE_AFTER_S,
        stats_every_s: float = 1.0,
        progress: Progress | None = None,
        progress_every_s: float = 0.0,
        opener: Opener = open_source,
        detector_threads: int | None = None,
    ) -> None:
        self.bus = bus
        self.extractor = extractor
        self.sightings = extractor is not None if sightings is None else sightings
        self.stride = stride
        self.reconnect = reconnect or ReconnectPolicy(max_attempts=None, max_attempts_at_start=None)
        self.restart = restart
        self.stable_after_s = stable_after_s
        self.stats_every_s = stats_every_s
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.opener = opener
        self.detector_threads = detector_threads
        self._runners: dict[tuple[str, str], _Runner] = {}
        self._lock = threading.Lock()
        self._closed = False

    def detector_threads_for_a_run(self) -> int | None:
        """The detector threads of a camera run whose source opened now (see the class docstring);
        None: the detector's default (`keliu.wiring.DEFAULT_DETECTOR_THREADS`). Called from the
        camera's thread, holding no runner's lock."""
        if self.detector_threads is not None:
            return self.detector_threads
        with self._lock:
            running = sum(runner.thread.is_alive() for runner in self._runners.values())
        return SERVICE_DETECTOR_THREADS if running >= 2 else None

    # -- cameras --------------------------------------------------------------------------------------

    def add_camera(self, site_id: str, camera: CameraConfig, *, replay: bool = False) -> None:
        """Start ``camera`` of ``site_id`` in its own thread; `Conflict` if it runs already."""
        with self._lock:
            if self._closed:
                raise Conflict("the camera supervisor is shutting down")
            key = (site_id, camera.id)
            old = self._runners.get(key)
            if old is not None and old.thread.is_alive():
                raise Conflict(f"camera {camera.id!r} of site {site_id!r} is running already")
            runner = _Runner(self, site_id, camera, replay)
            self._runners[key] = runner
        runner.thread.start()

    def update_camera(self, site_id: str, camera: CameraConfig) -> bool:
        """New settings for a running camera: lines, zones, counting and tracker settings are taken at
        its next frame (True); another source, detector or rate restarts that camera alone (False)."""
        runner = self._runner(site_id, camera.id)
        return runner.change(camera)

    def remove_camera(self, site_id: str, camera_id: str, *, timeout: float | None = 30.0) -> CameraInfo:
        """Stop the camera (its tracks are ended and what they completed published) and forget it."""
        runner = self._runner(site_id, camera_id)
        runner.stop()
        runner.thread.join(timeout)
        with self._lock:
            if self._runners.get((site_id, camera_id)) is runner:
                del self._runners[(site_id, camera_id)]
        return runner.info()

    def _runner(self, site_id: str, camera_id: str) -> _Runner:
        with self._lock:
            runner = self._runners.get((site_id, camera_id))
        if runner is None:
            raise NotFound(f"no camera {camera_id!r} of site {site_id!r} is running")
        return runner

    # -- status ---------------------------------------------------------------------------------------

    def cameras(self, site_id: str | None = None) -> list[CameraInfo]:
        with self._lock:
            runners = list(self._runners.values())
        return [r.info() for r in runners if site_id is None or r.site_id == site_id]

    def camera(self, site_id: str, camera_id: str) -> CameraInfo:
        return self._runner(site_id, camera_id).info()

    def latest_frame(self, site_id: str, camera_id: str, max_age_s: float) -> Any | None:
        """The camera's last analysed frame (BGR array, in memory) if it is at most ``max_age_s``
        old; None if older, none yet, or the camera is not running."""
        with self._lock:
            runner = self._runners.get((site_id, camera_id))
        latest = runner.latest if runner is not None else None
        if latest is None or time.monotonic() - latest[0] > max_age_s:
            return None
        return latest[1]

    def running(self) -> bool:
        """Whether any camera thread is still running (files not finished, streams not stopped)."""
        with self._lock:
            return any(r.thread.is_alive() for r in self._runners.values())

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every camera has ended by itself (files) or was stopped; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(r.thread.is_alive() for r in runners)

    # -- shutdown -------------------------------------------------------------------------------------

    def stop(self, timeout: float | None = 60.0) -> list[CameraInfo]:
        """Stop every camera at its next frame and wait: their tracks are ended and what they completed
        is published before this returns (live sources may take up to their read timeout)."""
        with self._lock:
            self._closed = True
            runners = list(self._runners.values())
        for runner in runners:
            runner.stop()
        self.join(timeout)
        return [r.info() for r in runners]

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
