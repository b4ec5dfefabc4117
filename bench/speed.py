"""End-to-end speed of the real CLI with default settings: video-seconds per wall-second.

Two commands, each ratio printed next to its target:
* `keliu count` (decode, detect, track, count) on MOT16-09 and PETS09-S2L1;
* `keliu process` (the above plus best shots, signatures, visitor resolution and the SQLite store, in
  a fresh KELIU_HOME and database) on MOT16-09 (1080p, 30 fps): issue 3's ≥ 1.0× target.

Each run is repeated `--repeat` times (default 2); the median wall time is reported. Wall time is the
whole process, start-up and model loading included.

    .venv/bin/python bench/speed.py [--repeat N]
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from counting_accuracy import SITES, seq_info

TARGETS = {"MOT16-09": 1.0, "PETS09-S2L1": 4.0}
PROCESS_TARGETS = {"MOT16-09": 1.0}


def _timed(command: list[str], *, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=env)
    return time.perf_counter() - started


def _process_wall(name: str) -> float:
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
        return _timed(
            [sys.executable, "-m", "keliu.cli", "process", "--config", str(SITES / f"{name}.yaml")], env=env
        )


def main(argv: list[str]) -> int:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 2
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
