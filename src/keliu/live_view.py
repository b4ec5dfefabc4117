"""Live terminal view of one camera's counts (进店 in / 离店 out per line, people in view, speed).

A thin presenter over the counting pipeline; it never keeps frames and must not count anything
itself.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from keliu.config import CameraConfig

__all__ = ["run_live_view"]


def _table(cam: CameraConfig, counts: Counter[tuple[str, str]], state: dict[str, Any]) -> Table:
    table = Table(title=f"keliu 客流 — {cam.source}", caption=state["caption"], expand=False)
    table.add_column("线 line")
    table.add_column("进 in", justify="right")
    table.add_column("出 out", justify="right")
    for line in cam.lines:
        table.add_row(line.id, str(counts[(line.id, "in")]), str(counts[(line.id, "out")]))
    return table


def run_live_view(cam: CameraConfig, run_camera: Callable[..., Any], stride: int | None) -> None:
    console = Console(stderr=False)
    counts: Counter[tuple[str, str]] = Counter()
    state: dict[str, Any] = {"caption": "starting…"}
    started = time.monotonic()
    with Live(_table(cam, counts, state), console=console, refresh_per_second=4) as live:
        for result, crossings in run_camera(cam, stride):
            for event in crossings:
                counts[(event.line_id, event.direction)] += 1
                console.log(
                    f"{event.direction:>3} line={event.line_id} t={event.t_s:.1f}s track={event.track_id}"
                )
            if result is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                state["caption"] = (
                    f"t={result.t_s:.1f}s · 画面内 in view: {len(result.boxes)} · "
                    f"speed {result.t_s / elapsed:.2f}× real time"
                )
            else:
                state["caption"] += " · 结束 finished"
            live.update(_table(cam, counts, state))
