"""Counting accuracy (event F1, count accuracy) and speed of `keliu count` on real labelled video.

For each sequence, `bench/sites/<SEQ>.yaml` holds the lines; ground-truth crossings come from the
MOTChallenge ground-truth tracks' foot points (keliu.evaluation.gt_crossings). Predicted events come
from the real CLI (`keliu count --config ...`), so this measures exactly what users run.

    .venv/bin/python bench/counting_accuracy.py [SEQ ...] [--random-lines N] [-- extra keliu count args]

``--random-lines N`` also scores N seeded random lines per seed (seeds 1–3) that nobody tuned for
(`keliu.evaluation.sample_lines`), in one `keliu count VIDEO --line ...` run per sequence: once over
all of them, and once over those people cross rather than walk along ("across": median |cos|
between motion and line normal ≥ 0.7), which is what lines across a walkway look like.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from keliu.config import load_site_config
from keliu.domain.counting import CrossingEvent
from keliu.evaluation import CountingScore, SampledLine, gt_crossings, read_mot, sample_lines, score_crossings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SITES = ROOT / "bench" / "sites"
KELIU = [sys.executable, "-m", "keliu.cli"]

# Bars from the issue; baseline = supervision ByteTrack + LineZone with the same NanoDet detector.
BARS = {"PETS09-S2L1": (0.95, 0.95), "MOT16-09": (0.75, 0.75)}
BASELINE = {"PETS09-S2L1": (0.94, 0.94), "MOT16-09": (0.57, 0.41)}


@dataclass(frozen=True)
class SeqInfo:
    name: str
    width: int
    height: int
    fps: float
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def seq_info(name: str) -> SeqInfo:
    ini = configparser.ConfigParser()
    ini.read(SHARED / "mot" / name / "seqinfo.ini")
    s = ini["Sequence"]
    return SeqInfo(name, int(s["imWidth"]), int(s["imHeight"]), float(s["frameRate"]), int(s["seqLength"]))


def ground_truth(name: str) -> list[CrossingEvent]:
    info = seq_info(name)
    camera = load_site_config(SITES / f"{name}.yaml").cameras[0]
    lines = [line.to_line().scaled(info.width, info.height) for line in camera.lines]
    return gt_crossings(read_mot(SHARED / "mot" / name / "gt" / "gt.txt"), lines, info.fps)


def count_events(name: str, args: list[str]) -> tuple[list[CrossingEvent], float]:
    """Run the real CLI (`keliu count ARGS`) on ``name``; returns its events and the wall time."""
    started = time.perf_counter()
    out = subprocess.run([*KELIU, "count", *args], capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"keliu count failed on {name}: {out.stderr.strip()}")
    events = []
    for row in out.stdout.splitlines():
        record = json.loads(row)
        events.append(CrossingEvent(record["line"], record["direction"], record["t"], record["track"], -1))
    return events, wall_s


def run_count(name: str, extra: list[str] | None = None) -> tuple[list[CrossingEvent], float]:
    """The CLI on the sequence's site config (`bench/sites`)."""
    return count_events(name, ["--config", str(SITES / f"{name}.yaml"), *(extra or [])])


def evaluate(name: str, extra: list[str] | None = None) -> tuple[CountingScore, float, float]:
    """(score, wall seconds, video seconds) for one sequence."""
    events, wall_s = run_count(name, extra)
    return score_crossings(events, ground_truth(name), tolerance_s=1.0), wall_s, seq_info(name).duration_s


RANDOM_SEEDS = (1, 2, 3)
ACROSS = 0.7


def random_line_sets(name: str, per_seed: int) -> dict[str, list[SampledLine]]:
    """{"all": …, "across": …}: seeded random lines with their ground truth (ids unique across sets)."""
    info = seq_info(name)
    rows = read_mot(SHARED / "mot" / name / "gt" / "gt.txt")
    sets: dict[str, list[SampledLine]] = {"all": [], "across": []}
    for seed in RANDOM_SEEDS:
        for label, min_across in (("all", 0.0), ("across", ACROSS)):
            sets[label] += sample_lines(
                rows,
                (info.width, info.height),
                info.fps,
                count=per_seed,
                seed=seed,
                min_across=min_across,
                prefix=f"{label[:2]}{seed}_",
            )
    return sets


def evaluate_random_lines(
    name: str, per_seed: int, extra: list[str] | None = None
) -> dict[str, CountingScore]:
    """Scores over random lines, pooled over seeds; one `keliu count VIDEO --line …` run."""
    sets = random_line_sets(name, per_seed)
    args: list[str] = []
    for sampled in (s for lines in sets.values() for s in lines):
        line = sampled.line
        coords = (*line.a, *line.b, *line.inside)
        args += ["--line", f"{line.id}:" + ",".join(f"{v:.5f}" for v in coords)]
    events, _ = count_events(name, [str(SHARED / "video" / f"{name}.mp4"), *args, *(extra or [])])
    scores = {}
    for label, lines in sets.items():
        ids = {s.line.id for s in lines}
        truth = [e for s in lines for e in s.truth]
        scores[label] = score_crossings([e for e in events if e.line_id in ids], truth, tolerance_s=1.0)
    return scores


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    per_seed = 0
    if "--random-lines" in argv:
        at = argv.index("--random-lines")
        per_seed = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    names = argv or list(BARS)
    print(
        f"{'sequence':<13} {'gt':>4} {'pred':>4} {'F1':>6} {'count acc':>9} {'P':>6} {'R':>6} "
        f"{'baseline F1/acc':>15} {'bar':>9} {'video-s/wall-s':>14}"
    )
    failed = False
    for name in names:
        score, wall_s, video_s = evaluate(name, extra)
        bar = BARS.get(name, (0.0, 0.0))
        base = BASELINE.get(name, (float("nan"), float("nan")))
        ok = score.f1 >= bar[0] and score.count_accuracy >= bar[1]
        failed |= not ok
        pred = score.true_positives + score.false_positives
        print(
            f"{name:<13} {score.gt_total:>4} {pred:>4} {score.f1:>6.3f} {score.count_accuracy:>9.3f} "
            f"{score.precision:>6.3f} {score.recall:>6.3f} {base[0]:>7.2f}/{base[1]:.2f} "
            f"{bar[0]:>4.2f}/{bar[1]:.2f} {video_s / wall_s:>14.2f}{'' if ok else '  BELOW BAR'}"
        )
        for (line, direction), (p, g) in sorted(score.per_key.items()):
            print(f"    {line:>10} {direction:<3} pred {p:>3}  gt {g:>3}")
        if per_seed:
            n_lines = per_seed * len(RANDOM_SEEDS)
            for label, rscore in evaluate_random_lines(name, per_seed, extra).items():
                print(
                    f"    random lines, {label:<6} ({n_lines} lines, {rscore.gt_total} gt events): "
                    f"F1 {rscore.f1:.3f}  count acc {rscore.count_accuracy:.3f}  "
                    f"P {rscore.precision:.3f}  R {rscore.recall:.3f}"
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
