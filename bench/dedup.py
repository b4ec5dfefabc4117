"""De-dup (去重) accuracy: "is this the same person, within the de-dup window?" on real people.

    .venv/bin/python bench/dedup.py [--sequences PETS09-S2L1 MOT16-09 ...]

Material (bench/_material.py): every ground-truth person of the five sequences with a long enough
track is split in time into a first part ("visit 1") and a later part ("came back"), with a gap;
one signature per part from up to five good ground-truth views (`SignatureExtractor.extract`).

A simulated site day per sequence (a site = one sequence: people are only ever compared with people
of the same video), run through the real `Resolver` once per `match_threshold`:

* the people are split into two halves, A and B; in fold 1 A come back and B are "other people",
  in fold 2 the roles swap (every person is used in both roles; the two folds are summed);
* 10:00 local time on: the visit-1 sightings of the people who will come back, one a minute;
* 30 min after the last of them: the came-back sightings of the same people and the later-part
  sightings of the others (whose first part is never shown: they are newcomers and must not be
  matched to anyone), shuffled together (fixed seed), one a minute: everyone comes back well
  within the 4 h de-dup window;
* each sighting is one door-camera track seen for 3 s with a single `in` crossing.

A sighting is a decision (keliu.evaluation.visits_bench): a came-back continuing the visit of its
own person is a true positive; continuing somebody else's visit is wrong (a false positive and a
miss); a newcomer (a visit-1 sighting or another person) continuing any visit is a false match
(false positive); a came-back starting a new visit is missed. Precision = TP / (TP + FP), recall =
TP / came-backs. The recommended threshold maximises F1 with precision ≥ 0.90 and recall ≥ 0.90.

Caveat: both parts come from one pass through the same camera view a few seconds apart, the same
light and often the same side of the person, so this is kinder than a real return hours later.

``--space-time [--exits-seen P]`` also measures the space-time rule (``ResolverRules.
reentry_needs_exit``: an entry continues only a visit whose exit was seen before it). The days above
have no exits, so it needs days that do: every visit-1 person also leaves, 5–25 min after entering
(uniform, seeded), through the door camera (an exit-only sighting seen 3 s, with the person's
visit-1 signature: the exit is assumed linked to the right visit by appearance), each exit seen
with probability P (default 1.0; a missed exit is a door-count miss). Came-backs arrive after
everyone has left. The same days are resolved with the rule off and on; exits are not decisions.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from _material import SEQUENCES, SequenceMaterial, build_all
from keliu.domain.visits import Sighting, SightingCrossing, Signature, similarity
from keliu.evaluation.visits_bench import (
    Decision,
    MatchScore,
    VisitLedger,
    door_sighting,
    recommend_match_threshold,
    score_decisions,
)
from keliu.resolve import Resolver, ResolverRules

START = datetime(2025, 3, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SPACING = timedelta(seconds=60)
PAUSE = timedelta(minutes=30)
SEED = 20250308
THRESHOLDS = tuple(round(0.50 + 0.01 * i, 2) for i in range(46))  # 0.50 … 0.95
MIN_PRECISION = 0.90
MIN_RECALL = 0.90


@dataclass(frozen=True)
class Planned:
    sighting: Sighting
    label: str  # the person
    expected: str | None  # whose earlier visit it should continue (None: a newcomer)
    visit1: bool = False  # a visit-1 sighting (the first block of the day)
    scored: bool = True  # False: an exit (--space-time days), not a decision


@dataclass(frozen=True)
class Result:
    sequences: tuple[str, ...]
    people: dict[str, int]
    curve: list[tuple[float, MatchScore]]  # all sequences summed
    by_sequence: dict[str, list[tuple[float, MatchScore]]]
    at_visit1: dict[float, int]  # false matches among visit-1 sightings, by threshold (all sequences)
    recommended: tuple[float, MatchScore] | None  # meets the bar
    best_f1: tuple[float, MatchScore]  # whatever the bar
    separation: dict[str, tuple[float, float, float, float]]  # same p50, p10; best other p50; rank-1
    seconds: float


def exit_sighting(site_id: str, track_id: int, at: datetime, signature: Signature) -> Sighting:
    """An exit-only door sighting (one ``out`` crossing at ``at``, seen 3 s)."""
    crossing = SightingCrossing("door-line", "out", at, (0.5, 0.9))
    return Sighting(
        site_id, "door", track_id, at, at + timedelta(seconds=3), (crossing,), signature=signature
    )


def site_day(material: SequenceMaterial, fold: int, exits_seen: float | None = None) -> list[Planned]:
    """One simulated day (see the module docstring) of fold 0 or 1; with ``exits_seen`` the visit-1
    people also leave (each exit seen with that probability)."""
    seq = material.sequence
    sig = material.signatures[""]
    halves = (material.people[0::2], material.people[1::2])
    returners, others = halves[fold], halves[1 - fold]
    rng = random.Random(f"{SEED}/{seq}/{fold}")
    first = list(returners)
    rng.shuffle(first)
    later = [(p, True) for p in returners] + [(p, False) for p in others]
    rng.shuffle(later)
    out: list[Planned] = []
    track = 0
    at = START
    stays = random.Random(f"{SEED}/{seq}/{fold}/exits")
    exits: list[Planned] = []
    for pid in first:
        track += 1
        out.append(Planned(door_sighting(seq, track, at, sig[(pid, "first")]), str(pid), None, visit1=True))
        if exits_seen is not None:
            left = at + timedelta(minutes=stays.uniform(5.0, 25.0))
            if stays.random() < exits_seen:
                exits.append(
                    Planned(
                        exit_sighting(seq, 10_000 + track, left, sig[(pid, "first")]),
                        str(pid),
                        None,
                        scored=False,
                    )
                )
        at += SPACING
    out = sorted(out + exits, key=lambda p: p.sighting.first_seen)
    at += PAUSE
    for pid, back in later:
        track += 1
        label = str(pid)
        out.append(
            Planned(door_sighting(seq, track, at, sig[(pid, "later")]), label, label if back else None)
        )
        at += SPACING
    return out


def resolve(day: list[Planned], threshold: float, *, space_time: bool = False) -> tuple[MatchScore, int]:
    """Run one site day through a fresh resolver at ``threshold``; its score and the false matches
    among the visit-1 sightings."""
    site = day[0].sighting.site_id
    resolver = Resolver(site, ResolverRules(match_threshold=threshold, reentry_needs_exit=space_time))
    ledger = VisitLedger()
    decisions: list[Decision] = []
    day_scored = [p for p in day if p.scored]
    for p in day:
        if not p.scored:
            for visit in resolver.add(p.sighting):
                ledger.visits[visit.visit_id] = visit
            continue
        entry = p.sighting.entries[0]
        got = ledger.record(p.label, entry.at, p.sighting.camera_id, resolver.add(p.sighting))
        if got is None:
            raise RuntimeError(f"{site}: no visit holds the entry of person {p.label}")
        decisions.append(Decision(p.expected, got.continued))
    visit1 = score_decisions(d for d, p in zip(decisions, day_scored, strict=True) if p.visit1)
    return score_decisions(decisions), visit1.false_matches


def separation(material: SequenceMaterial) -> tuple[float, float, float, float]:
    """Median and 10th percentile of same-person similarity (later vs first part), the median of each
    person's best similarity to another person's first part, and the share of people whose later
    part is most similar to their own first part (rank-1 among all first parts of the sequence)."""
    sig = material.signatures[""]
    same, other, hits = [], [], 0
    for p in material.people:
        own = similarity(sig[(p, "later")], sig[(p, "first")])
        same.append(own)
        rivals = [similarity(sig[(p, "later")], sig[(q, "first")]) for q in material.people if q != p]
        if rivals:
            other.append(max(rivals))
        hits += all(own > r for r in rivals)
    return (
        float(np.median(same)),
        float(np.percentile(same, 10)),
        float(np.median(other)) if other else float("nan"),
        hits / len(material.people),
    )


def space_time_curves(
    materials: list[SequenceMaterial], thresholds: tuple[float, ...], exits_seen: float
) -> dict[str, list[tuple[float, MatchScore]]]:
    """All-sequence curves on days with exits: the rule off ("exits") and on ("exits + rule")."""
    days = [d for m in materials for d in (site_day(m, 0, exits_seen), site_day(m, 1, exits_seen)) if d]
    curves: dict[str, list[tuple[float, MatchScore]]] = {}
    for label, rule in (("exits, rule off", False), ("exits, rule on", True)):
        curves[label] = [
            (t, sum((resolve(day, t, space_time=rule)[0] for day in days), MatchScore())) for t in thresholds
        ]
    return curves


def run(
    sequences: tuple[str, ...] = SEQUENCES,
    thresholds: tuple[float, ...] = THRESHOLDS,
    materials: list[SequenceMaterial] | None = None,
) -> Result:
    """The benchmark; ``materials`` (of ``sequences``) are built when not given."""
    started = time.perf_counter()
    if materials is None:
        materials = build_all(sequences)
    days = {m.sequence: [site_day(m, 0), site_day(m, 1)] for m in materials}
    by_sequence: dict[str, list[tuple[float, MatchScore]]] = {}
    at_visit1 = dict.fromkeys(thresholds, 0)
    for seq, folds in days.items():
        by_sequence[seq] = []
        for t in thresholds:
            total = MatchScore()
            for day in folds:
                if day:
                    score, early = resolve(day, t)
                    total += score
                    at_visit1[t] += early
            by_sequence[seq].append((t, total))
    curve = [
        (t, sum((by_sequence[s][i][1] for s in by_sequence), MatchScore())) for i, t in enumerate(thresholds)
    ]
    return Result(
        sequences=sequences,
        people={m.sequence: len(m.people) for m in materials},
        curve=curve,
        by_sequence=by_sequence,
        at_visit1=at_visit1,
        recommended=recommend_match_threshold(curve, min_precision=MIN_PRECISION, min_recall=MIN_RECALL),
        best_f1=recommend_match_threshold(curve, min_precision=0.0, min_recall=0.0) or curve[0],
        separation={m.sequence: separation(m) for m in materials},
        seconds=time.perf_counter() - started,
    )


def _row(t: float, s: MatchScore, early: int) -> str:
    return (
        f"| {t:.2f} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.true_positives} | "
        f"{s.wrong} | {s.false_matches} ({early}) | {s.missed} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", nargs="+", default=list(SEQUENCES))
    ap.add_argument("--space-time", action="store_true", help="also measure reentry_needs_exit")
    ap.add_argument("--exits-seen", type=float, nargs="+", default=[1.0], help="with --space-time")
    args = ap.parse_args(argv)
    materials = build_all(tuple(args.sequences))
    result = run(tuple(args.sequences), materials=materials)
    if args.space_time:
        for seen in args.exits_seen:
            curves = space_time_curves(materials, THRESHOLDS, seen)
            print(f"\nspace-time, visit-1 exits seen with probability {seen:.2f} (all sequences):")
            print("| days | match_threshold | precision | recall | F1 | TP | wrong | false match | missed |")
            print("|---|---|---|---|---|---|---|---|---|")
            for label, curve in [("no exits, rule off", result.curve), *curves.items()]:
                for t, sc in curve:
                    if round(t, 2) in (0.60, 0.65, 0.69, 0.72, 0.75):
                        print(f"| {label} | {_row(t, sc, 0)[2:].replace(' (0)', '')}")
                t, best = max(curve, key=lambda r: (round(r[1].f1, 9), -r[0]))
                scores = f"{best.precision:.3f} | {best.recall:.3f} | {best.f1:.3f}"
                print(f"| {label}, best F1 | {t:.2f} | {scores} | | | | |")
    default = ResolverRules().match_threshold
    first = result.curve[0][1]
    print(
        f"people: {result.people}; per threshold {first.came_back} came-back and {first.newcomers} "
        "newcomer sightings (two folds)"
    )
    print("\n| sequence | people | same person p50 / p10 | best other p50 | own visit 1 ranked first |")
    print("|---|---|---|---|---|")
    for seq, (p50, p10, rival, rank1) in result.separation.items():
        print(f"| {seq} | {result.people[seq]} | {p50:.3f} / {p10:.3f} | {rival:.3f} | {rank1:.3f} |")
    print("\nall sequences (false match: in brackets, those among visit-1 sightings):")
    print("| match_threshold | precision | recall | F1 | TP | wrong | false match | missed |")
    print("|---|---|---|---|---|---|---|---|")
    for t, s in result.curve:
        print(_row(t, s, result.at_visit1[t]))
    rec = result.recommended
    if rec is None:
        t, best = result.best_f1
        print(
            f"\nno threshold reaches precision ≥ {MIN_PRECISION} and recall ≥ {MIN_RECALL}; best F1 "
            f"{best.f1:.3f} at {t:.2f} (precision {best.precision:.3f}, recall {best.recall:.3f}; "
            f"ResolverRules default {default:.2f})"
        )
    else:
        print(
            f"\nrecommended match_threshold {rec[0]:.2f}: precision {rec[1].precision:.3f}, recall "
            f"{rec[1].recall:.3f}, F1 {rec[1].f1:.3f} (ResolverRules default {default:.2f})"
        )
    chosen = rec or result.best_f1
    shown = [(f"{'recommended' if rec else 'best F1'} {chosen[0]:.2f}", chosen[0])]
    if abs(chosen[0] - default) > 1e-9:
        shown.append((f"ResolverRules default {default:.2f}", default))
    for label, t in shown:
        print(f"\nby sequence at {label}:")
        print("| sequence | people | precision | recall | F1 | TP | wrong | false match | missed |")
        print("|---|---|---|---|---|---|---|---|---|")
        for seq, rows in result.by_sequence.items():
            s = next(sc for th, sc in rows if abs(th - t) < 1e-9)
            print(
                f"| {seq} | {result.people[seq]} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | "
                f"{s.true_positives} | {s.wrong} | {s.false_matches} | {s.missed} |"
            )
    print("\nbest F1 per sequence (a threshold of its own):")
    print("| sequence | threshold | precision | recall | F1 |")
    print("|---|---|---|---|---|")
    for seq, rows in result.by_sequence.items():
        t, s = max(rows, key=lambda r: (round(r[1].f1, 9), -r[0]))
        print(f"| {seq} | {t:.2f} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} |")
    print(f"\n{result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
