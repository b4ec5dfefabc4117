"""End-to-end speed of the real CLI with default settings: video-seconds per wall-second.

Two commands, each ratio printed next to its target:
* `keliu count` (decode, detect, track, count) on MOT16-09 and PETS09-S2L1;
* `keliu process` (the above plus best shots, signatures, visitor resolution and the SQLite store, in
  a fresh KELIU_HOME and database) on MOT16-09 (1080p, 30 fps): issue 3's ≥ 1.0× target.

Each run is repeated `--repeat` times (default 2); the median wall time is reported. Wall time is the
whole process, start-up and model loading included.

`--before SRC` compares two versions of keliu on the same machine at the same time: every command
runs with ``PYTHONPATH=SRC`` (e.g. ``git archive`` of an earlier commit, unpacked, ``/src``) and with
this checkout (or ``--after SRC``), alternately (before, after, after, before, …: a load that drifts
hits both alike), and the ratios are printed side by side with after/before, together with the CPU
seconds (user + system) of each, which other work on a shared machine disturbs far less.

    .venv/bin/python bench/speed.py [--repeat N] [--before SRC [--after SRC]]
"""

from __future__ import annotations

import base64
import functools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from counting_accuracy import SITES, seq_info

TARGETS = {"MOT16-09": 1.0, "PETS09-S2L1": 4.0}
PROCESS_TARGETS = {"MOT16-09": 1.0}


def _measured(
    command: list[str], *, env: dict[str, str] | None = None, src: Path | None = None
) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its children) of ``command``."""
    if src is not None:
        env = {**(env or os.environ), "PYTHONPATH": str(src)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _timed(command: list[str], *, env: dict[str, str] | None = None, src: Path | None = None) -> float:
    return _measured(command, env=env, src=src)[0]


def _process_wall(name: str, src: Path | None = None) -> float:
    return _process_measured(name, src)[0]


def _process_measured(name: str, src: Path | None = None) -> tuple[float, float]:
    """Wall seconds of one `keliu process` run in a fresh home and database (models linked in)."""
    from keliu.paths import models_dir

    with tempfile.TemporaryDirectory(prefix="keliu-speed-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "models").symlink_to(models_dir(), target_is_directory=True)
        env = {
            **os.environ,
            "KELIU_HOME": str(home),
            "KELIU_SIGNATURE_KEY": base64.b64encode(bytes(32)).decode(),
        }
        return _measured(
            [sys.executable, "-m", "keliu.cli", "process", "--config", str(SITES / f"{name}.yaml")],
            env=env,
            src=src,
        )


def _count_measured(command: list[str], src: Path | None) -> tuple[float, float]:
    return _measured(command, src=src)


def _side_by_side(repeat: int, before: Path, after: Path | None) -> int:
    """Each command with the ``before`` tree and ``after`` (None: this checkout), alternately: video-s
    per wall-s side by side, and CPU seconds (user + system: what a busy, shared machine disturbs
    least)."""
    runs: list[tuple[str, str, Callable[[Path | None], tuple[float, float]]]] = []
    for name in TARGETS:
        count = [sys.executable, "-m", "keliu.cli", "count", "--config", str(SITES / f"{name}.yaml")]
        runs.append(("keliu count", name, functools.partial(_count_measured, count)))
    for name in PROCESS_TARGETS:
        runs.append(("keliu process", name, functools.partial(_process_measured, name)))
    print(
        f"{'command':<13} {'sequence':<12} {'video s':>7} {'wall s b/a':>13} {'video-s/wall-s b/a':>19} "
        f"{'a/b':>6} {'CPU s b/a':>13} {'a/b':>6}"
    )
    for command, name, run in runs:
        walls: dict[str, list[float]] = {"before": [], "after": []}
        cpus: dict[str, list[float]] = {"before": [], "after": []}
        for i in range(repeat):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for which in order:
                wall, cpu = run(before if which == "before" else after)
                walls[which].append(wall)
                cpus[which].append(cpu)
        video_s = seq_info(name).duration_s
        wall_b, wall_a = statistics.median(walls["before"]), statistics.median(walls["after"])
        cpu_b, cpu_a = statistics.median(cpus["before"]), statistics.median(cpus["after"])
        ratio_b, ratio_a = video_s / wall_b, video_s / wall_a
        print(
            f"{command:<13} {name:<12} {video_s:>7.1f} {f'{wall_b:.2f} / {wall_a:.2f}':>13} "
            f"{f'{ratio_b:.2f} / {ratio_a:.2f}':>19} {ratio_a / ratio_b:>6.3f} "
            f"{f'{cpu_b:.1f} / {cpu_a:.1f}':>13} {cpu_a / cpu_b:>6.3f}"
        )
    return 0


def main(argv: list[str]) -> int:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 2
    if "--before" in argv:
        after = Path(argv[argv.index("--after") + 1]).resolve() if "--after" in argv else None
        return _side_by_side(repeat, Path(argv[argv.index("--before") + 1]).resolve(), after)
    print(f"{'sequence':<13} {'video s':>8} {'wall s (median)':>15} {'video-s/wall-s':>14} {'target':>7}")
    below = False
    for name, target in TARGETS.items():
        count = [sys.executable, "-m", "keliu.cli", "count", "--config", str(SITES / f"{name}.yaml")]
        wall = statistics.median(_timed(count) for _ in range(repeat))
        ratio = seq_info(name).duration_s / wall
        below |= ratio < target
        print(f"{name:<13} {seq_info(name).duration_s:>8.1f} {wall:>15.2f} {ratio:>14.2f} {target:>7.1f}")
    print()
    print(
        f"{'keliu process':<13} {'video s':>8} {'wall s (median)':>15} {'video-s/wall-s':>14} {'target':>7}"
    )
    for name, target in PROCESS_TARGETS.items():
        wall = statistics.median(_process_wall(name) for _ in range(repeat))
        ratio = seq_info(name).duration_s / wall
        below |= ratio < target
        print(f"{name:<13} {seq_info(name).duration_s:>8.1f} {wall:>15.2f} {ratio:>14.2f} {target:>7.1f}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
