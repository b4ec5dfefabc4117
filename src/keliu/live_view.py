"""Live terminal view of one camera's counts (进店 in / 离店 out per line, people in view, speed).

A subscriber of the runtime's event bus (``keliu.runtime.bus``, a lossy queue: it never slows the
camera): `CrossingCounted` events count, `FrameStats` fill the caption, a `CameraStatus` of
``finished`` or ``stopped`` ends the view. It never sees a frame and must not count anything itself.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from keliu.config import CameraConfig
from keliu.runtime.bus import Subscription
from keliu.runtime.events import CameraStatus, CrossingCounted, FrameStats

__all__ = ["run_live_view"]


def _table(cam: CameraConfig, counts: Counter[tuple[str, str]], state: dict[str, Any]) -> Table:
    table = Table(title=f"keliu 客流 — {cam.source}", caption=state["caption"], expand=False)
    table.add_column("线 line")
    table.add_column("进 in", justify="right")
    table.add_column("出 out", justify="right")
    for line in cam.lines:
        table.add_row(line.id, str(counts[(line.id, "in")]), str(counts[(line.id, "out")]))
    return table


def run_live_view(cam: CameraConfig, events: Subscription) -> None:
    """Show ``cam``'s counts from ``events`` until the camera finishes or stops (or the subscription
    is closed)."""
    console = Console(stderr=False)
    counts: Counter[tuple[str, str]] = Counter()
    state: dict[str, Any] = {"caption": "starting…"}
    started = time.monotonic()
    with Live(_table(cam, counts, state), console=console, refresh_per_second=4) as live:
        while True:
            event = events.get(timeout=0.25)
            if event is None:
                if events.closed:
                    return
                continue
            if getattr(event, "camera_id", None) != cam.id:
                continue
            if isinstance(event, CrossingCounted):
                counts[(event.line_id, event.direction)] += 1
                console.log(
                    f"{event.direction:>3} line={event.line_id} t={event.t_s:.1f}s track={event.track_id}"
                )
            elif isinstance(event, FrameStats):
                elapsed = max(time.monotonic() - started, 1e-6)
                state["caption"] = (
                    f"t={event.video_s:.1f}s · 画面内 in view: {event.in_view} · "
                    f"speed {event.video_s / elapsed:.2f}× real time"
                )
            elif isinstance(event, CameraStatus):
                if event.state in ("finished", "stopped"):
                    state["caption"] += " · 结束 finished"
                    live.update(_table(cam, counts, state))
                    return
                if event.state == "offline":
                    state["caption"] = f"离线 offline: {event.reason}"
            live.update(_table(cam, counts, state))
