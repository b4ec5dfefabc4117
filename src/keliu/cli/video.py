"""The command line's one-camera loop: open a source, run the counting pipeline, release crossings in
time order (``keliu count``, ``keliu track`` and ``keliu demo live`` run on it).

It reads video and counts; it must not write to a store or print results (the commands do), and it
holds no counting rules (they live in ``keliu.domain`` and the pipeline built by ``keliu.wiring``).
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Iterator

from keliu.config import CameraConfig
from keliu.domain.counting import CrossingEvent

__all__ = ["TimeOrder", "progress_logger", "run_camera"]


class TimeOrder:
    """Releases crossings in time order: a crossing is final at the latest one track-lifetime later."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._heap: list[tuple[float, int, CrossingEvent]] = []
        self._seq = 0

    def push(self, events: list[CrossingEvent]) -> None:
        for event in events:
            heapq.heappush(self._heap, (event.t_s, self._seq, event))
            self._seq += 1

    def release(self, now_s: float | None) -> Iterator[CrossingEvent]:
        while self._heap and (now_s is None or self._heap[0][0] < now_s - self.delay_s):
            yield heapq.heappop(self._heap)[2]


def run_camera(cam: CameraConfig, stride: int | None, *, on_frame=None):  # type: ignore[no-untyped-def]
    """Yield (FrameResult | None, crossings-in-order) for one camera; None marks the end."""
    from keliu.vision.sources import ReconnectPolicy, open_source
    from keliu.wiring import build_camera_pipeline

    # a wrong URL fails within a few seconds; a camera that drops later is retried for ever
    policy = ReconnectPolicy(max_attempts=None, max_attempts_at_start=3)
    with open_source(cam.source, reconnect=policy) as source:
        runtime = build_camera_pipeline(cam, source.fps, source.resolution_wh)
        step = stride or runtime.stride
        order = TimeOrder(delay_s=cam.tracker.lost_track_s + 1.0)
        for frame in source.frames(stride=step):
            result = runtime.pipeline.process(frame.index, frame.t_s, frame.image_bgr)
            order.push(result.crossings)
            if on_frame is not None:
                on_frame(frame, result, runtime.pipeline)
            yield result, list(order.release(frame.t_s))
        crossings, _ = runtime.pipeline.finish()
        order.push(crossings)
        yield None, list(order.release(None))


def progress_logger(label: str):  # type: ignore[no-untyped-def]
    """An ``on_frame`` callback for :func:`run_camera` that prints progress on stderr every 5 s."""
    started = time.monotonic()
    last = [started]

    def on_frame(frame, result, pipeline) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if now - last[0] >= 5.0:
            last[0] = now
            print(
                f"{label}: frame {frame.index}, t={frame.t_s:.1f}s, "
                f"{frame.t_s / max(now - started, 1e-6):.2f}× real time, {len(result.boxes)} tracked",
                file=sys.stderr,
            )

    return on_frame
