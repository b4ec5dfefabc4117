"""MOTA / IDF1 of `keliu track` (default settings) with py-motmetrics, next to the issue's baseline.

The metric setup is first checked against py-motmetrics' published table for TUD-Campus and
TUD-Stadtmitte (`../shared/data/mot/_motmetrics_reference`).

    .venv/bin/python bench/tracking_metrics.py [SEQ ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from keliu.evaluation.mot_metrics import tracking_score

ROOT = Path(__file__).resolve().parents[1]
MOT = ROOT.parent / "shared" / "data" / "mot"
VIDEO = ROOT.parent / "shared" / "data" / "video"
REFERENCE = {"TUD-Campus": (0.526, 0.558), "TUD-Stadtmitte": (0.564, 0.645)}
BASELINE = {"PETS09-S2L1": (0.69, 0.62), "MOT16-09": (0.40, 0.38)}


def track(name: str, out: Path, extra: list[str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keliu.cli",
            "track",
            str(VIDEO / f"{name}.mp4"),
            "--mot",
            str(out),
            *(extra or []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"keliu track failed on {name}: {result.stderr.strip()}")
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    print("metric setup check (py-motmetrics README table):")
    for name, (mota, idf1) in REFERENCE.items():
        s = tracking_score(MOT / name / "gt" / "gt.txt", MOT / "_motmetrics_reference" / name / "test.txt")
        print(
            f"  {name:<15} MOTA {s.mota:.3f} (published {mota:.3f})  IDF1 {s.idf1:.3f} (published {idf1:.3f})"
        )
    print(
        f"\n{'sequence':<13} {'MOTA':>6} {'IDF1':>6} {'baseline MOTA/IDF1':>19} "
        f"{'IDs':>4} {'FP':>5} {'FN':>5}"
    )
    worse = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in argv or list(BASELINE):
            out = Path(tmp) / f"{name}.txt"
            track(name, out, extra)
            s = tracking_score(MOT / name / "gt" / "gt.txt", out)
            base = BASELINE[name]
            worse |= s.mota <= base[0] or s.idf1 <= base[1]
            print(
                f"{name:<13} {s.mota:>6.3f} {s.idf1:>6.3f} {base[0]:>12.2f}/{base[1]:.2f} "
                f"{s.id_switches:>4} {s.false_positives:>5} {s.misses:>5}"
            )
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
