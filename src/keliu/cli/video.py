"""The command line's side of the one camera loop (``keliu.runtime.camera``): ``keliu count`` and
``keliu track`` iterate its steps, with progress on stderr (``keliu demo live`` runs it under the
supervisor, see ``keliu.cli.demo``).

It reads video and counts; it must not write to a store or print results (the commands do), and it
holds no counting rules (they live in ``keliu.domain`` and the pipeline built by ``keliu.wiring``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

from keliu.config import CameraConfig
from keliu.runtime.camera import CameraLoop, CameraStep
from keliu.vision.sources import ReconnectPolicy

__all__ = ["CLI_RECONNECT", "camera_steps", "progress_logger"]

# a wrong URL fails within a few seconds; a camera that drops later is retried for ever
CLI_RECONNECT = ReconnectPolicy(max_attempts=None, max_attempts_at_start=3)


def camera_steps(cam: CameraConfig, stride: int | None) -> Iterator[CameraStep]:
    """One camera's steps (frame result, crossings released in time order); the last has no frame."""
    return CameraLoop("cli", cam, stride=stride, reconnect=CLI_RECONNECT).steps()


def progress_logger(label: str) -> Callable[[CameraStep], None]:
    """Called with every step, prints progress on stderr every 5 s."""
    started = time.monotonic()
    last = [started]

    def on_step(step: CameraStep) -> None:
        frame = step.frame
        now = time.monotonic()
        if frame is not None and now - last[0] >= 5.0:
            last[0] = now
            print(
                f"{label}: frame {frame.index}, t={frame.t_s:.1f}s, "
                f"{frame.t_s / max(now - started, 1e-6):.2f}× real time, {len(step.result.boxes)} tracked",
                file=sys.stderr,
            )

    return on_step
