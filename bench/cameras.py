"""Cameras per box (每台设备的摄像头数): N live cameras at once through the service's runtime.

For each N (``--cameras 1,2,4,6``) the bench starts N cameras on one `keliu.runtime.supervisor.
Supervisor` (each camera a `CameraLoop` in its own thread, publishing crossings on the event bus:
what the service runs), half of them the 1080p MOT16-09 video (30 fps), half PETS09-S2L1 (768×576,
7 fps), for ``--seconds`` of wall-clock time. Each camera is a **live source paced at real time**:
the video, opened by the product's own file source (`keliu.vision.sources.open_source`: decoding,
and converting only the analysed frames), hands over frame *i* no earlier than ``started + i / fps``
against the wall clock and drops nothing, so a camera that cannot keep up falls behind instead of
skipping frames. It looks live to the loop (``is_live``: the live cap applies, stream time is
wall-clock time) and loops like a demo camera (``replay``): every pass is a fresh pipeline, the
n-th pass anchored n video-lengths after the first, so a backlog carries over from pass to pass.

Per N it prints a markdown table:

* **backlog** per camera: how late each analysed frame was handed to the analysis (wall clock now −
  the moment the frame was due); the camera *kept real time* when, over the second half of the run,
  its median backlog stayed under 0.5 s and it did not grow (least-squares slope < 0.01 s per s);
* **CPU share**: the process's CPU seconds (user + system, every thread) / wall seconds / cores, and
  CPU seconds per analysed video second, both from the moment every camera analysed its first frame
  (models loaded) to the end: CPU seconds are the robust figure on a shared machine, where the
  real-time verdict is pessimistic (other work takes cores the cameras would have);
* **accuracy** per camera on the random-line protocol of `bench/counting_accuracy.py`
  (``--random-lines 60``: 180 seeded lines per set, sets "across" and "all", scored by
  `keliu.evaluation.score_crossings`), over the first pass: the whole video, or the part the run
  reached less its last 3.5 s (``window``); beside it (``ref``) the same camera counted offline from
  the file (the same `CameraLoop`, not paced) and scored over the same window. ``--lines fixed``
  uses the four lines of ``bench/sites`` instead.

    .venv/bin/python bench/cameras.py [--cameras 1,2,4,6] [--seconds 120] [--lines random|fixed]
                                      [--random-lines 60] [--no-reference] [--detector-threads 1]

``--detector-threads`` sets each camera's detector threads (default: the service's choice, 1 per
camera when two or more run, else 2).

Runs of at least 114 s score a whole pass of both videos (PETS09-S2L1 lasts 113.6 s). Must not
write frames anywhere; holds only the crossings and one backlog figure per analysed frame.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from counting_accuracy import SHARED, SITES, ground_truth, random_line_sets, seq_info
from keliu.config import CameraConfig, LineConfig, load_site_config
from keliu.domain.counting import CrossingEvent
from keliu.evaluation import CountingScore, score_crossings
from keliu.runtime.bus import EventBus
from keliu.runtime.camera import GENERATION_TRACK_STRIDE, CameraLoop
from keliu.runtime.events import CrossingCounted
from keliu.runtime.supervisor import Supervisor
from keliu.vision.sources import Frame, FrameSource, open_source
from keliu.wiring import SERVICE_DETECTOR_THREADS

VIDEOS = ("MOT16-09", "PETS09-S2L1")  # cameras alternate: even → MOT16-09, odd → PETS09-S2L1
SITE_ID = "bench"
KEPT_MEDIAN_S = 0.5  # median backlog over the second half under this ...
KEPT_SLOPE = 0.01  # ... and growing less than this many seconds per second: real time kept
# a first pass cut by the end of the run is scored up to this long before the cut: a crossing is
# final one track lifetime after it happened (`keliu.runtime.camera.CrossingOrder`: lost_track_s + 1 s)
CUT_MARGIN_S = 3.5


# ---------------------------------------------------------------------------------------------
# A video as a live camera


@dataclass
class PacedCamera:
    """One camera's video played as a live stream: opened anew for every pass (the supervisor's
    ``replay``), pass n anchored n video-lengths after the first; records every analysed frame's
    backlog (seconds since the run began, backlog seconds)."""

    path: Path
    duration_s: float
    anchor: float | None = None  # wall time the first pass began
    passes: int = 0
    backlog: list[tuple[float, float]] = field(default_factory=list)
    video_s: float = 0.0  # video seconds handed over, all passes
    first_pass_end_s: float = 0.0  # video time of the last frame of the first pass handed over

    def scored_window_s(self) -> float:
        """The video time over which the first pass is scored: all of it when the pass was complete,
        else up to `CUT_MARGIN_S` before where the run stopped it (a track lost just before the cut
        would still have counted a crossing there)."""
        if self.first_pass_end_s >= self.duration_s:
            return self.duration_s
        return max(0.0, self.first_pass_end_s - CUT_MARGIN_S)

    def open(self, cancel: threading.Event | None) -> PacedSource:
        now = time.time()
        if self.anchor is None:
            self.anchor = now
        started = self.anchor + self.passes * self.duration_s
        self.passes += 1
        return PacedSource(self, open_source(str(self.path)), started, self.passes - 1, cancel)


class PacedSource:
    """A `FrameSource` that looks live: frame i is handed over no earlier than ``started_wall + t``."""

    is_live = True

    def __init__(
        self,
        camera: PacedCamera,
        inner: FrameSource,
        started_wall: float,
        pass_index: int,
        cancel: threading.Event | None,
    ) -> None:
        self.camera = camera
        self.inner = inner
        self.fps = inner.fps
        self.resolution_wh = inner.resolution_wh
        self.started_wall = started_wall
        self.pass_index = pass_index
        self.cancel = cancel or threading.Event()

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        camera = self.camera
        for frame in self.inner.frames(stride):
            due = self.started_wall + frame.t_s
            delay = due - time.time()
            if delay > 0 and self.cancel.wait(delay):
                return
            now = time.time()
            assert camera.anchor is not None
            camera.backlog.append((now - camera.anchor, max(0.0, now - due)))
            camera.video_s = self.pass_index * camera.duration_s + frame.t_s
            if self.pass_index == 0:
                camera.first_pass_end_s = frame.t_s
            yield dataclasses.replace(frame, wall_time=now)
        if self.pass_index == 0:
            camera.first_pass_end_s = camera.duration_s

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PacedOpener:
    """The supervisor's opener: each camera's source text names its `PacedCamera`."""

    def __init__(self) -> None:
        self.cameras: dict[str, PacedCamera] = {}

    def __call__(self, uri: str, *, cancel: threading.Event | None = None, **_: object) -> FrameSource:
        return self.cameras[uri].open(cancel)


# ---------------------------------------------------------------------------------------------
# Lines and scoring


@dataclass(frozen=True)
class LineSets:
    lines: list[LineConfig]
    truth: dict[str, list[CrossingEvent]]  # set name -> ground-truth crossings
    ids: dict[str, set[str]]  # set name -> its line ids


def line_sets(name: str, kind: str, per_seed: int) -> LineSets:
    if kind == "fixed":
        lines = list(load_site_config(SITES / f"{name}.yaml").cameras[0].lines)
        return LineSets(lines, {"fixed": ground_truth(name)}, {"fixed": {line.id for line in lines}})
    sets = random_line_sets(name, per_seed)
    configs = [
        LineConfig(id=s.line.id, a=s.line.a, b=s.line.b, inside=s.line.inside)
        for sampled in sets.values()
        for s in sampled
    ]
    truth = {label: [e for s in sampled for e in s.truth] for label, sampled in sets.items()}
    ids = {label: {s.line.id for s in sampled} for label, sampled in sets.items()}
    order = ["across", "all"]
    return LineSets(configs, {k: truth[k] for k in order}, {k: ids[k] for k in order})


def scores(events: list[CrossingEvent], sets: LineSets, window_s: float) -> dict[str, CountingScore]:
    """Each set's score over video time [0, window_s]."""
    out = {}
    for label, truth in sets.truth.items():
        ids = sets.ids[label]
        predicted = [e for e in events if e.line_id in ids and e.t_s <= window_s]
        out[label] = score_crossings(predicted, [e for e in truth if e.t_s <= window_s], tolerance_s=1.0)
    return out


def offline_events(camera: CameraConfig) -> list[CrossingEvent]:
    """The camera counted from its file as fast as it goes (the `CameraLoop` of `keliu count`)."""
    loop = CameraLoop(SITE_ID, camera.model_copy(update={"source": str(video_path(camera))}))
    return [c for step in loop.steps() for c in step.crossings]


def video_path(camera: CameraConfig) -> Path:
    return SHARED / "video" / f"{camera.name}.mp4"


# ---------------------------------------------------------------------------------------------
# One N


@dataclass
class CameraOutcome:
    camera: CameraConfig
    video: str
    paced: PacedCamera
    events: list[CrossingEvent]

    def kept_real_time(self, run_s: float) -> tuple[bool, float, float, float]:
        """(kept, median backlog and slope over the second half, backlog at the end)."""
        late = [(t, b) for t, b in self.paced.backlog if t >= run_s / 2]
        if len(late) < 2:
            return False, float("nan"), float("nan"), float("nan")
        times = np.array([t for t, _ in late])
        values = np.array([b for _, b in late])
        slope = float(np.polyfit(times, values, 1)[0]) if np.ptp(times) > 0 else 0.0
        median = float(np.median(values))
        return median < KEPT_MEDIAN_S and slope < KEPT_SLOPE, median, slope, float(values[-1])


@dataclass(frozen=True)
class Steady:
    """CPU seconds (the whole process), wall seconds and video seconds analysed (all cameras) from
    the moment every camera had analysed its first frame (models loaded) to the end of the run."""

    cpu_s: float
    wall_s: float
    video_s: float


def run_cameras(
    n: int, seconds: float, sets: dict[str, LineSets], detector_threads: int | None = None
) -> tuple[list[CameraOutcome], Steady]:
    """N paced cameras on one supervisor for ``seconds`` of wall-clock time."""
    opener = PacedOpener()
    bus = EventBus()
    crossings = bus.subscribe("bench", lossless=True, capacity=10_000_000, kinds=(CrossingCounted,))
    supervisor = Supervisor(bus, opener=opener, detector_threads=detector_threads)
    cameras = []
    for i in range(n):
        video = VIDEOS[i % 2]
        source = f"paced:{i}:{video}"
        opener.cameras[source] = PacedCamera(SHARED / "video" / f"{video}.mp4", seq_info(video).duration_s)
        cameras.append(
            CameraConfig(id=f"c{i + 1}-{video.lower()}", name=video, source=source, lines=sets[video].lines)
        )
    wall_started = time.monotonic()
    for camera in cameras:
        supervisor.add_camera(SITE_ID, camera, replay=True)
    paced = list(opener.cameras.values())
    while not all(p.backlog for p in paced) and time.monotonic() - wall_started < seconds:
        time.sleep(0.05)  # start-up: models loaded, every camera's first frame analysed
    cpu_0, wall_0, video_0 = time.process_time(), time.monotonic(), sum(p.video_s for p in paced)
    time.sleep(max(0.0, seconds - (wall_0 - wall_started)))
    steady = Steady(
        time.process_time() - cpu_0, time.monotonic() - wall_0, sum(p.video_s for p in paced) - video_0
    )
    supervisor.stop()
    by_camera: dict[str, list[CrossingEvent]] = {c.id: [] for c in cameras}
    while (event := crossings.get(timeout=0)) is not None:
        assert isinstance(event, CrossingCounted)
        if event.track_id < GENERATION_TRACK_STRIDE:  # the first pass
            by_camera[event.camera_id].append(
                CrossingEvent(event.line_id, event.direction, event.t_s, event.track_id, -1)
            )
    outcomes = [
        CameraOutcome(c, c.name or "", opener.cameras[c.source], sorted(by_camera[c.id], key=lambda e: e.t_s))
        for c in cameras
    ]
    return outcomes, steady


def _fmt(score: CountingScore | None) -> str:
    return "–" if score is None else f"{score.f1:.3f} / {score.count_accuracy:.3f}"


def report(
    n: int,
    seconds: float,
    outcomes: list[CameraOutcome],
    steady: Steady,
    sets: dict[str, LineSets],
    reference: dict[str, list[CrossingEvent]],
) -> bool:
    cores = os.cpu_count() or 1
    labels = list(next(iter(sets.values())).truth)
    kept_all = True
    print(f"\n### N = {n} ({seconds:.0f} s)")
    print()
    header = "| camera | kept real time | backlog median / end (s) | growth (s/s) | video s | window s |"
    header += "".join(f" F1 / acc {label} | ref {label} |" for label in labels)
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for o in outcomes:
        kept, median, slope, end = o.kept_real_time(seconds)
        kept_all &= kept
        window = o.paced.scored_window_s()
        got = scores(o.events, sets[o.video], window)
        ref = scores(reference[o.video], sets[o.video], window) if o.video in reference else {}
        row = (
            f"| {o.camera.id} | {'yes' if kept else '**no**'} | {median:.2f} / {end:.2f} | {slope:+.3f} | "
            f"{o.paced.video_s:.1f} | {window:.1f} |"
        )
        row += "".join(f" {_fmt(got[label])} | {_fmt(ref.get(label))} |" for label in labels)
        print(row)
    print()
    share = steady.cpu_s / steady.wall_s / cores if steady.wall_s > 0 else float("nan")
    per_video = steady.cpu_s / steady.video_s if steady.video_s > 0 else float("nan")
    print(
        f"every camera kept real time: **{'yes' if kept_all else 'no'}**; after start-up: CPU share "
        f"{share:.0%} of {cores} cores, {per_video:.3f} CPU s per video s ({steady.cpu_s:.1f} CPU s, "
        f"{steady.wall_s:.1f} wall s, {steady.video_s:.1f} video s)"
    )
    return kept_all


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", default="1,2,4,6", help="comma-separated N (default 1,2,4,6)")
    parser.add_argument("--seconds", type=float, default=120.0, help="wall seconds per N (default 120)")
    parser.add_argument("--lines", choices=("random", "fixed"), default="random")
    parser.add_argument("--random-lines", type=int, default=60, help="random lines per seed (3 seeds)")
    parser.add_argument("--no-reference", action="store_true", help="skip the offline reference runs")
    parser.add_argument(
        "--detector-threads",
        type=int,
        default=None,
        help=f"each camera's detector threads (default: the service's, {SERVICE_DETECTOR_THREADS} per camera "
        "when two or more run, else 2)",
    )
    args = parser.parse_args(argv)
    counts = [int(v) for v in args.cameras.split(",")]
    sets = {video: line_sets(video, args.lines, args.random_lines) for video in VIDEOS}
    reference: dict[str, list[CrossingEvent]] = {}
    if not args.no_reference:
        for video in VIDEOS[: max(counts)]:
            camera = CameraConfig(id="ref", name=video, source=video, lines=sets[video].lines)
            reference[video] = offline_events(camera)
    print(
        f"cameras per box: {args.seconds:.0f} s per N, {args.lines} lines"
        + (f" ({args.random_lines} per seed, seeds 1–3)" if args.lines == "random" else "")
        + "; F1 / count accuracy of the first pass over its window, ref = offline on the same window"
    )
    results = {
        n: report(
            n, args.seconds, *run_cameras(n, args.seconds, sets, args.detector_threads), sets, reference
        )
        for n in counts
    }
    print("\n" + ", ".join(f"N={n}: {'real time' if ok else 'behind'}" for n, ok in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
