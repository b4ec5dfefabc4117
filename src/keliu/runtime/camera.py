"""The one camera loop (摄像头循环): a source → the pipeline built by ``keliu.wiring`` → steps and events.

`CameraLoop` opens one camera's source (file, stream or USB camera), builds its detector, tracker
and counters through the wiring, and for every analysed frame produces a `CameraStep`: the frame
and the pipeline's result, the door-line crossings released **in time order** (a crossing is final
one track lifetime after it happened), and the sightings of tracks that ended (when sightings are
asked for). Outages of a live source and its (re)connection go to the loop's `CameraSink` at once,
from the loop's thread, while the loop waits for frames.

Every runner of a camera uses it: ``keliu count``/``track`` iterate :meth:`CameraLoop.steps`, the
supervisor (``keliu process`` on live sources, ``keliu demo live``, the service) calls
:meth:`CameraLoop.run` with a sink that publishes on the event bus. Recorded files ingested by
``keliu process`` go through ``keliu.runtime.recorded`` (fixed, resumable segments) and share the
recording clock (`recording_start`) and the pipeline wiring with it.

Rates: each camera analyses about ``analysis_fps`` frames per second of video (a frame stride from
the source's frame rate); a live source is also capped at ``live_max_fps`` analysed frames per
wall-clock second (default 1.5 × ``analysis_fps``), so a stream that sends more frames than it
announces cannot raise the CPU load. Stopping (:meth:`CameraLoop.stop`, from any thread) ends the
tracks in progress and emits what they completed: what was counted is never dropped.

Frames never leave the loop's thread except inside a step, and no step keeps one. Must not touch
the store, parse command lines or print.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from keliu.config import CameraConfig
from keliu.domain.counting import CrossingEvent
from keliu.domain.visits import Sighting
from keliu.errors import StreamUnavailable
from keliu.runtime.clock import recording_clock
from keliu.vision.bestshots import BestShots
from keliu.vision.pipeline import CountingPipeline, FrameResult
from keliu.vision.sightings import SightingCollector
from keliu.vision.sources import Frame, FrameSource, Outage, ReconnectPolicy, mask_credentials, open_source
from keliu.wiring import build_camera_pipeline

if TYPE_CHECKING:
    from keliu.vision.signature import SignatureExtractor

__all__ = [
    "GENERATION_TRACK_STRIDE",
    "CameraCounters",
    "CameraLoop",
    "CameraSink",
    "CameraStep",
    "CrossingOrder",
    "Opener",
    "is_live_source",
    "live_cap_fps",
    "needs_restart",
    "recording_start",
]

log = logging.getLogger("keliu.runtime")

# a camera's pipelines after a restart or a change of lines number their tracks from
# generation × this (like recorded segments), so a new tracker's track 1 is never taken for an
# earlier pipeline's track 1 by the resolver
GENERATION_TRACK_STRIDE = 1_000_000
LIVE_CAP_FACTOR = 1.5  # default live cap: this × analysis_fps (never bites on an honest stream)
_LIVE_CAP_BURST = 2.0  # frames the cap lets through at once after a pause

Opener = Callable[..., FrameSource]
"""Opens a camera's source; called like `keliu.vision.sources.open_source` (the default) with the
source text and the keyword arguments ``reconnect``, ``outage_sink`` and ``cancel``."""


def is_live_source(source: str) -> bool:
    """A network stream or a camera device (not a recorded file)."""
    return ("://" in source and not source.startswith("file://")) or source.startswith(("usb:", "/dev/video"))


def recording_start(camera: CameraConfig, source: FrameSource | None = None) -> datetime:
    """When the source's time 0 happened (UTC): a live source's first connection (its frames carry
    the wall clock); a file's clock (``keliu.runtime.clock``: ``recorded_at``, the container's
    creation time, else its modification time)."""
    if source is not None and getattr(source, "is_live", False):
        started = getattr(source, "started_wall", None)
        return datetime.fromtimestamp(started, UTC) if started is not None else datetime.now(UTC)
    return recording_clock(camera).started_at


def live_cap_fps(camera: CameraConfig) -> float:
    return camera.live_max_fps or LIVE_CAP_FACTOR * camera.analysis_fps


_RESTART_KEYS = ("source", "analysis_fps", "live_max_fps", "recorded_at", "detector")


def needs_restart(old: CameraConfig, new: CameraConfig) -> bool:
    """Whether going from ``old`` to ``new`` needs the source or detector reopened; lines, zones,
    counting and tracker settings (and the name) are applied by a running loop."""
    return any(getattr(old, key) != getattr(new, key) for key in _RESTART_KEYS)


class CrossingOrder:
    """Releases crossings in time order: a crossing is final at the latest ``delay_s`` later (one
    track lifetime: a track that ends late completes crossings that happened before)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._heap: list[tuple[float, int, CrossingEvent]] = []
        self._seq = 0

    def push(self, events: list[CrossingEvent]) -> None:
        for event in events:
            heapq.heappush(self._heap, (event.t_s, self._seq, event))
            self._seq += 1

    def release(self, now_s: float | None) -> list[CrossingEvent]:
        """The crossings final at stream time ``now_s`` (None: all of them), oldest first."""
        out: list[CrossingEvent] = []
        heap = self._heap
        while heap and (now_s is None or heap[0][0] < now_s - self.delay_s):
            out.append(heapq.heappop(heap)[2])
        return out


@dataclass
class CameraCounters:
    """A camera's counters, cumulative over its runs (a supervisor keeps one per camera). Written by
    the camera's thread only; read from anywhere (plain numbers, so a read is never torn)."""

    frames: int = 0  # frames analysed
    detections: int = 0  # person boxes detected
    crossings: int = 0  # crossings released
    sightings: int = 0
    skipped_frames: int = 0  # live frames over the live cap
    outages: int = 0
    in_view: int = 0  # people tracked in the last analysed frame
    video_s: float = 0.0  # stream time of the last analysed frame
    last_frame_wall: float | None = None  # epoch seconds of the last analysed frame


@dataclass(frozen=True)
class CameraStep:
    """One analysed frame's outcome. ``frame`` is None for the flush that ends a pipeline (the end
    of the source, a stop, or new lines taking over: ``final`` is False then)."""

    frame: Frame | None
    result: FrameResult
    detections: int
    crossings: list[CrossingEvent]  # released in time order
    sightings: list[Sighting]
    final: bool = False


class CameraSink:
    """What a camera tells its runner besides steps; every hook is optional (no-op here). Hooks run on
    the camera's thread; they must not block for long."""

    def opened(self, loop: CameraLoop, source: FrameSource) -> None:
        """The source is open and the pipeline built (live: the first frame arrived)."""

    def outage(self, loop: CameraLoop, outage: Outage) -> None:
        """A live source's outage began (``ended_wall`` None) or ended; see `keliu.vision.sources`."""

    def step(self, loop: CameraLoop, step: CameraStep) -> None:
        """One step of :meth:`CameraLoop.run`."""


class _LiveCap:
    """A token bucket: at most ``fps`` frames per second of a live source's time, bursts of a couple
    of frames. Live time stays within seconds of the wall clock (``keliu.vision.sources`` re-anchors
    it), so this bounds the analysis rate per wall-clock second too, while frames that arrive in a
    burst after a reconnection (buffered by the camera, spaced by their own time) are all kept."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.tokens = _LIVE_CAP_BURST
        self.last: float | None = None

    def admit(self, t_s: float) -> bool:
        if self.last is not None:
            self.tokens = min(_LIVE_CAP_BURST, self.tokens + max(0.0, t_s - self.last) * self.fps)
        self.last = t_s
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class CameraLoop:
    """One run of one camera (see the module docstring). Single use: call :meth:`steps` or
    :meth:`run` once; :meth:`stop` and :meth:`reconfigure` may be called from other threads.

    ``extractor``/``sightings``: with ``sightings`` True, ended tracks become `Sighting`s (with an
    appearance signature when an ``extractor`` is given). ``reconnect``: the live source's back-off;
    with ``max_attempts_at_start`` None an unreachable source is retried until it answers or the
    loop is stopped. ``generation``: numbers this run's tracks from ``generation`` ×
    `GENERATION_TRACK_STRIDE` (a supervisor's restarts). ``realtime``: a file is played at its own
    speed with wall-clock time stamps, like a live camera (a demo camera looping a video).
    ``opener``: how the source is opened (default `open_source`; e.g. a source of another kind).
    ``detector_threads``: the detector's intra-op threads unless the camera's ``detector.threads``
    says (None: `keliu.wiring.DEFAULT_DETECTOR_THREADS`), or a function asked for them once the
    source is open (a supervisor's choice from the cameras running then).
    """

    def __init__(
        self,
        site_id: str,
        camera: CameraConfig,
        *,
        extractor: SignatureExtractor | None = None,
        sightings: bool = False,
        stride: int | None = None,
        reconnect: ReconnectPolicy | None = None,
        sink: CameraSink | None = None,
        counters: CameraCounters | None = None,
        generation: int = 0,
        realtime: bool = False,
        opener: Opener = open_source,
        detector_threads: int | Callable[[], int | None] | None = None,
    ) -> None:
        self.site_id = site_id
        self.camera = camera
        self.extractor = extractor
        self.collect_sightings = sightings or extractor is not None
        self.stride = stride
        self.reconnect = reconnect or ReconnectPolicy()
        self.sink = sink or CameraSink()
        self.counters = counters if counters is not None else CameraCounters()
        self.generation = generation
        self.realtime = realtime
        self.opener = opener
        self.detector_threads = detector_threads
        self.started_at: datetime | None = None  # time 0 of the source (set once it is open)
        self.is_live = is_live_source(camera.source)
        self.name = mask_credentials(camera.source)
        self._stop = threading.Event()
        self._cancel = threading.Event()  # handed to a live source: abandons connecting / reading
        self._pending: CameraConfig | None = None
        self._used = False

    # -- control (any thread) ---------------------------------------------------------------------

    def stop(self) -> None:
        """End the run at the next frame (a live source also stops waiting for frames or for a
        connection); the tracks in progress are ended and what they completed is still emitted."""
        self._stop.set()
        self._cancel.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def reconfigure(self, camera: CameraConfig) -> bool:
        """Take new lines, zones, counting or tracker settings at the next frame without reopening
        the source: the current tracks are ended (their crossings and sightings emitted) and a new
        pipeline continues. False (and nothing changes) when the change needs a restart
        (`needs_restart`: another source, detector or rate)."""
        if camera.id != self.camera.id or needs_restart(self.camera, camera):
            return False
        self._pending = camera
        return True

    # -- running (the camera's thread) --------------------------------------------------------------

    def run(self) -> None:
        """Run to the end of the source (files) or until stopped, handing every step to the sink."""
        sink = self.sink
        for step in self.steps():
            sink.step(self, step)

    def steps(self) -> Iterator[CameraStep]:
        """Open the source and yield a step per analysed frame, then the final flush step. Raises
        `InputError` for a source that cannot be opened (a live one only when its reconnect policy
        limits the attempts at start); returns at once when stopped before the source opened."""
        if self._used:
            raise RuntimeError("a CameraLoop runs once; make a new one")
        self._used = True
        source = self._open()
        if source is None:
            return
        with source:
            yield from self._frames(source)

    def _open(self) -> FrameSource | None:
        last_started: list[float] = []

        def on_outage(outage: Outage) -> None:  # also while connecting at start (from this thread)
            if outage.ended_wall is None and last_started != [outage.started_wall]:
                last_started[:] = [outage.started_wall]
                self.counters.outages += 1
            self.sink.outage(self, outage)

        try:
            source = self.opener(
                self.camera.source, reconnect=self.reconnect, outage_sink=on_outage, cancel=self._cancel
            )
        except StreamUnavailable:
            if self._stop.is_set():
                return None  # stopped while connecting
            raise
        if self._stop.is_set():
            source.close()
            return None
        return source

    def _frames(self, source: FrameSource) -> Iterator[CameraStep]:
        camera = self.camera
        fps, frame_wh = source.fps, source.resolution_wh
        threads = self.detector_threads() if callable(self.detector_threads) else self.detector_threads
        runtime = build_camera_pipeline(camera, fps, frame_wh, detector_threads=threads)
        pipeline, detector = runtime.pipeline, runtime.pipeline.detector
        assert detector is not None
        stride = self.stride or runtime.stride
        live = bool(getattr(source, "is_live", False))
        paced = self.realtime and not live
        self.started_at = datetime.now(UTC) if paced else recording_start(camera, source)
        collector = (
            SightingCollector(self.site_id, camera.id, self.started_at, self.extractor, BestShots())
            if self.collect_sightings
            else None
        )
        order = CrossingOrder(delay_s=camera.tracker.lost_track_s + 1.0)
        cap = _LiveCap(live_cap_fps(camera)) if live else None
        counters = self.counters
        offset = self.generation * GENERATION_TRACK_STRIDE
        self.sink.opened(self, source)
        paced_from = time.monotonic()
        last_index, last_t, last_wh = 0, 0.0, frame_wh
        stop = self._stop
        for frame in source.frames(stride=stride):
            if stop.is_set():
                break
            if paced:
                delay = paced_from + frame.t_s - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
            if cap is not None and not cap.admit(frame.t_s):
                counters.skipped_frames += 1
                continue
            if self._pending is not None:  # new lines/zones: end this pipeline's tracks, go on with new
                camera, self._pending = self._pending, None
                step = self._flush(pipeline, collector, order, (last_index, last_t, last_wh), offset, False)
                self.camera = camera
                self.generation += 1
                offset = self.generation * GENERATION_TRACK_STRIDE
                pipeline = build_camera_pipeline(camera, fps, frame_wh, detector=detector).pipeline
                order.delay_s = camera.tracker.lost_track_s + 1.0
                yield step
            image = frame.image_bgr
            detections = detector.detect(image)
            height, width = image.shape[:2]
            result = pipeline.process_detections(frame.index, frame.t_s, detections, (width, height))
            sightings = collector.observe(result, image, (width, height)) if collector is not None else []
            if result.crossings:
                order.push(_offset_crossings(result.crossings, offset))
            released = order.release(frame.t_s)
            if offset and sightings:
                sightings = _offset_sightings(sightings, offset)
            last_index, last_t, last_wh = frame.index, frame.t_s, (width, height)
            counters.frames += 1
            counters.detections += len(detections)
            counters.crossings += len(released)
            counters.sightings += len(sightings)
            counters.in_view = len(result.boxes)
            counters.video_s = frame.t_s
            counters.last_frame_wall = frame.wall_time
            yield CameraStep(frame, result, len(detections), released, sightings)
        yield self._flush(pipeline, collector, order, (last_index, last_t, last_wh), offset, True)

    def _flush(
        self,
        pipeline: CountingPipeline,
        collector: SightingCollector | None,
        order: CrossingOrder,
        last: tuple[int, float, tuple[int, int]],
        offset: int,
        final: bool,
    ) -> CameraStep:
        """End every track of ``pipeline`` (``last``: the last frame's index, time and size): the
        crossings and sightings that completes."""
        last_index, last_t, frame_wh = last
        result = pipeline.finish_result(last_index, last_t)
        order.push(_offset_crossings(result.crossings, offset))
        released = order.release(None if final else last_t)
        sightings = collector.observe(result, None, frame_wh) if collector is not None else []
        sightings = _offset_sightings(sightings, offset)
        self.counters.crossings += len(released)
        self.counters.sightings += len(sightings)
        self.counters.in_view = 0
        return CameraStep(None, result, 0, released, sightings, final=final)


def _offset_crossings(events: list[CrossingEvent], offset: int) -> list[CrossingEvent]:
    if not offset:
        return events
    return [dataclasses.replace(e, track_id=offset + e.track_id) for e in events]


def _offset_sightings(sightings: list[Sighting], offset: int) -> list[Sighting]:
    if not offset:
        return sightings
    return [dataclasses.replace(s, track_id=offset + s.track_id) for s in sightings]
