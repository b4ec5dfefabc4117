"""End-to-end speed of `keliu count` with default settings: video-seconds per wall-second.

Runs the real CLI (decode, detect, track, count) on this machine and prints the ratio next to the
issue's targets. Each sequence is run `--repeat` times (default 2); the median is reported.

    .venv/bin/python bench/speed.py [--repeat N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from counting_accuracy import SITES, seq_info

TARGETS = {"MOT16-09": 1.0, "PETS09-S2L1": 4.0}


def main(argv: list[str]) -> int:
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 2
    print(f"{'sequence':<13} {'video s':>8} {'wall s (median)':>15} {'video-s/wall-s':>14} {'target':>7}")
    below = False
    for name, target in TARGETS.items():
        walls = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "keliu.cli", "count", "--config", str(SITES / f"{name}.yaml")],
                capture_output=True,
                check=True,
            )
            walls.append(time.perf_counter() - started)
        wall = statistics.median(walls)
        ratio = seq_info(name).duration_s / wall
        below |= ratio < target
        print(f"{name:<13} {seq_info(name).duration_s:>8.1f} {wall:>15.2f} {ratio:>14.2f} {target:>7.1f}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
