"""Exclusion accuracy (员工 / 无效): staff recognised by their enrolment, couriers by the default rules.

    .venv/bin/python bench/exclusion.py [--sequences PETS09-S2L1 MOT16-09 ...]

Material (bench/_material.py): every usable ground-truth person of the five sequences, split in time
into a first and a later part, one signature per part (`SignatureExtractor.extract`, up to five
ground-truth views each).

**(a) Staff.** Per sequence (a site), the people are dealt into folds of three; in each fold those
three are staff, enrolled (`StaffMember`) with the signature of their *first* part, and their later
part is held out; everyone else is a customer. A site day from 10:00, one door-camera sighting a
minute with a single `in` crossing: the customers' first parts, then the staff's held-out parts and
the customers' later parts, shuffled (fixed seed). The real `Resolver` runs every fold at every
`staff_threshold` (``match_threshold`` stays at its default). Staff recall = held-out staff sightings
whose visit ends up STAFF; customers wrongly excluded = customer sightings whose visit ends up
anything but a customer. The bar: staff recall ≥ 0.95 with ≤ 2 % customers excluded.

**(b) Couriers.** `default_courier_classes()` (Meituan yellow and Ele.me blue upper body, stay ≤ 300 s,
on; JD red upper + black/grey lower and SF black + black, off; also run with all four on). Every
part of every person is one short visit (in, out 120 s later: the stay condition holds), each on a
day of its own so that de-dup cannot merge two people (de-dup has its own benchmark):
* ordinary people: every visit excluded as a courier is a false positive;
* courier-like people: there is no courier footage here, so these are **synthetic**: the same real
  crops with the upper body (16–52 % of the box height, the middle 60 % of its width, feathered
  edges) recoloured to the brand colour (hue and saturation of the brand, brightness following the
  original shading; SF also the legs, black). They are the best case for a colour rule — a clean,
  fully visible jacket — and say nothing about real riders' helmets, boxes or faded jackets.
Recall = courier-like visits excluded as their brand's class. The recoloured crops exist only in
memory, like the others.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from _material import PARTS, SEQUENCES, CropTransform, SequenceMaterial, build_all
from keliu.domain.visits import PersonCategory, Sighting, StaffMember, similarity
from keliu.evaluation.visits_bench import (
    ExclusionScore,
    VisitLedger,
    door_sighting,
    recommend_staff_threshold,
)
from keliu.resolve import Resolver, ResolverRules, default_courier_classes

START = datetime(2025, 3, 8, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SPACING = timedelta(seconds=60)
SEED = 20250308
STAFF_PER_FOLD = 3
THRESHOLDS = tuple(round(0.60 + 0.01 * i, 2) for i in range(36))  # 0.60 … 0.95
MIN_STAFF_RECALL = 0.95
MAX_CUSTOMERS_EXCLUDED = 0.02
COURIER_STAY_S = 120.0

# Brand colours (BGR) of the riders' jackets; SF is black, upper and lower body.
BRANDS: dict[str, tuple[int, int, int]] = {
    "meituan": (0, 209, 255),  # 美团 yellow #FFD100
    "eleme": (255, 140, 0),  # 饿了么 blue #008CFF
    "jd": (27, 37, 225),  # 京东 red #E1251B
    "sf": (26, 26, 26),  # 顺丰 black
}
UPPER_ROWS = (0.16, 0.52)
UPPER_HALF_WIDTH = 0.30  # of the box width, each side of the centre
LOWER_ROWS = (0.52, 0.95)
LOWER_HALF_WIDTH = 0.22


def _region_mask(h: int, w: int, rows: tuple[float, float], half_width: float) -> np.ndarray:
    mask = np.zeros((h, w), np.float32)
    y1, y2 = round(rows[0] * h), round(rows[1] * h)
    x1, x2 = round((0.5 - half_width) * w), round((0.5 + half_width) * w)
    mask[y1:y2, x1:x2] = 1.0
    k = max(3, (min(h, w) // 12) | 1)
    return cv2.GaussianBlur(mask, (k, k), 0)


def _paint(crop: np.ndarray, mask: np.ndarray, bgr: tuple[int, int, int]) -> np.ndarray:
    """``crop`` with the masked region in colour ``bgr``, brightness following the original shading."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).astype(np.float32)
    target = cv2.cvtColor(np.array([[bgr]], np.uint8), cv2.COLOR_BGR2HSV)[0, 0].astype(np.float32)
    inside = mask > 0.5
    median_v = float(np.median(hsv[..., 2][inside])) if inside.any() else 128.0
    shade = np.clip(np.sqrt((hsv[..., 2] + 1.0) / (median_v + 1.0)), 0.6, 1.25)
    painted = np.empty_like(hsv)
    painted[..., 0] = target[0]
    painted[..., 1] = target[1]
    painted[..., 2] = np.clip(target[2] * shade, 0, 255)
    out = cv2.cvtColor(painted.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    blended = mask[..., None] * out + (1.0 - mask[..., None]) * crop.astype(np.float32)
    return np.asarray(np.clip(blended, 0, 255).astype(np.uint8))


def courier_like(brand: str) -> CropTransform:
    """A crop transform: the upper body recoloured to ``brand`` (SF: also the legs, black)."""
    colour = BRANDS[brand]

    def transform(crop: np.ndarray) -> np.ndarray:
        h, w = crop.shape[:2]
        out = _paint(crop, _region_mask(h, w, UPPER_ROWS, UPPER_HALF_WIDTH), colour)
        if brand == "sf":
            out = _paint(out, _region_mask(h, w, LOWER_ROWS, LOWER_HALF_WIDTH), colour)
        return out

    return transform


# ---------------------------------------------------------------------------------- (a) staff


@dataclass(frozen=True)
class StaffPlan:
    staff: tuple[StaffMember, ...]
    sightings: tuple[tuple[Sighting, str, bool], ...]  # sighting, person, is a held-out staff view


def staff_folds(material: SequenceMaterial) -> list[StaffPlan]:
    sig = material.signatures[""]
    people = material.people
    n_folds = max(1, math.ceil(len(people) / STAFF_PER_FOLD))
    plans = []
    for fold in range(n_folds):
        staff_ids = people[fold::n_folds]
        customers = [p for p in people if p not in staff_ids]
        rng = random.Random(f"{SEED}/{material.sequence}/staff/{fold}")
        first = [(p, "first", False) for p in customers]
        rng.shuffle(first)
        later = [(p, "later", True) for p in staff_ids] + [(p, "later", False) for p in customers]
        rng.shuffle(later)
        sightings = []
        at = START
        for track, (pid, part, held_out) in enumerate(first + later, start=1):
            sightings.append(
                (door_sighting(material.sequence, track, at, sig[(pid, part)]), str(pid), held_out)
            )
            at += SPACING
        members = tuple(StaffMember(f"s{p}", f"staff {p}", (sig[(p, "first")],)) for p in staff_ids)
        plans.append(StaffPlan(members, tuple(sightings)))
    return plans


def run_staff(
    plan: StaffPlan, site: str, threshold: float, match_threshold: float | None = None
) -> ExclusionScore:
    rules = ResolverRules(staff_threshold=threshold)
    if match_threshold is not None:
        rules = replace(rules, match_threshold=match_threshold)
    resolver = Resolver(site, rules, staff=plan.staff)
    ledger = VisitLedger()
    for s, label, _ in plan.sightings:
        ledger.record(label, s.entries[0].at, s.camera_id, resolver.add(s))
    staff = excluded = right = customers = wrong = 0
    for s, label, held_out in plan.sightings:
        visit = ledger.visit_of(s.entries[0].at, s.camera_id)
        if visit is None:
            raise RuntimeError(f"{site}: no visit holds person {label}'s entry")
        if held_out:
            staff += 1
            if visit.category == PersonCategory.STAFF:
                excluded += 1
                right += visit.exclusion is not None and visit.exclusion.reason == f"staff:staff {label}"
        else:
            customers += 1
            wrong += visit.category != PersonCategory.CUSTOMER
    return ExclusionScore(staff, excluded, right, customers, wrong)


def direct(plan: StaffPlan, threshold: float) -> ExclusionScore:
    """The same sightings judged one by one against the enrolments alone (no resolver, no de-dup):
    a sighting is staff when its best similarity to an enrolled signature is ≥ ``threshold``."""
    staff = excluded = right = customers = wrong = 0
    for s, label, held_out in plan.sightings:
        assert s.signature is not None
        sims = [(similarity(s.signature, m.signatures[0]), m.name) for m in plan.staff]
        best, name = max(sims) if sims else (-1.0, "")
        hit = best >= threshold
        if held_out:
            staff += 1
            excluded += hit
            right += hit and name == f"staff {label}"
        else:
            customers += 1
            wrong += hit
    return ExclusionScore(staff, excluded, right, customers, wrong)


# ---------------------------------------------------------------------------------- (b) couriers


@dataclass(frozen=True)
class CourierCase:
    sequence: str
    person: int
    part: str
    variant: str  # "" = the real crops, else the brand of the synthetic recolouring
    upper: str | None
    lower: str | None
    reason: str | None  # exclusion reason of its visit (None: a customer)


def run_couriers(material: SequenceMaterial, variant: str, all_on: bool) -> list[CourierCase]:
    """Every part of every person as one short visit on a day of its own, through one resolver."""
    classes = default_courier_classes()
    if all_on:
        classes = tuple(replace(c, enabled=True) for c in classes)
    site = material.sequence
    resolver = Resolver(site, ResolverRules(), exclusion_classes=classes)
    ledger = VisitLedger()
    sig = material.signatures[variant]
    cases: list[tuple[int, str, Sighting]] = []
    day = 0
    for pid in material.people:
        for part in PARTS:
            at = START.replace(hour=12) + timedelta(days=day)
            day += 1
            s = door_sighting(site, len(cases) + 1, at, sig[(pid, part)], stay_s=COURIER_STAY_S)
            ledger.record(str(pid), at, s.camera_id, resolver.add(s))
            cases.append((pid, part, s))
    out = []
    for pid, part, s in cases:
        visit = ledger.visit_of(s.entries[0].at, s.camera_id)
        assert visit is not None and s.signature is not None
        reason = visit.exclusion.reason if visit.exclusion is not None else None
        out.append(
            CourierCase(site, pid, part, variant, s.signature.upper_colour, s.signature.lower_colour, reason)
        )
    return out


# ---------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class StaffResult:
    curve: list[tuple[float, ExclusionScore]]  # all sequences summed
    by_sequence: dict[str, list[tuple[float, ExclusionScore]]]
    direct: list[tuple[float, ExclusionScore]]  # enrolments alone, no resolver
    recommended: tuple[float, ExclusionScore] | None  # meets the bar
    best_within_customer_bar: tuple[float, ExclusionScore] | None


def evaluate_staff(
    materials: list[SequenceMaterial],
    thresholds: tuple[float, ...] = THRESHOLDS,
    match_threshold: float | None = None,
) -> StaffResult:
    by_sequence: dict[str, list[tuple[float, ExclusionScore]]] = {}
    direct_total = dict.fromkeys(thresholds, ExclusionScore())
    for m in materials:
        plans = staff_folds(m)
        by_sequence[m.sequence] = [
            (t, sum((run_staff(p, m.sequence, t, match_threshold) for p in plans), ExclusionScore()))
            for t in thresholds
        ]
        for t in thresholds:
            direct_total[t] += sum((direct(p, t) for p in plans), ExclusionScore())
    curve = [
        (t, sum((rows[i][1] for rows in by_sequence.values()), ExclusionScore()))
        for i, t in enumerate(thresholds)
    ]
    return StaffResult(
        curve=curve,
        by_sequence=by_sequence,
        direct=list(direct_total.items()),
        recommended=recommend_staff_threshold(
            curve, min_recall=MIN_STAFF_RECALL, max_customers_excluded=MAX_CUSTOMERS_EXCLUDED
        ),
        best_within_customer_bar=recommend_staff_threshold(
            curve, min_recall=0.0, max_customers_excluded=MAX_CUSTOMERS_EXCLUDED
        ),
    )


def evaluate_couriers(materials: list[SequenceMaterial]) -> dict[tuple[str, bool], list[CourierCase]]:
    """(variant, all four classes on) -> every visit's outcome."""
    out: dict[tuple[str, bool], list[CourierCase]] = {}
    for variant in ("", *BRANDS):
        for all_on in (False, True):
            out[(variant, all_on)] = [c for m in materials for c in run_couriers(m, variant, all_on)]
    return out


def materials_for(sequences: tuple[str, ...], *, quiet: bool = False) -> list[SequenceMaterial]:
    """Real signatures plus one synthetic courier-like variant per brand."""
    return build_all(sequences, {brand: courier_like(brand) for brand in BRANDS}, quiet=quiet)


def _staff_row(label: str, s: ExclusionScore) -> str:
    return (
        f"| {label} | {s.staff_recall:.3f} ({s.staff_excluded}/{s.staff}) | {s.staff_right_member} | "
        f"{s.customers_excluded_share:.3f} ({s.customers_excluded}/{s.customers}) |"
    )


def _share(cases: list[CourierCase], ok: object) -> str:
    hits = sum(1 for c in cases if (c.reason is not None and c.reason.startswith("courier:")) == ok)
    return f"{hits / len(cases):.3f} ({hits}/{len(cases)})" if cases else "–"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", nargs="+", default=list(SEQUENCES))
    ap.add_argument("--match-threshold", type=float, default=None, help="default: ResolverRules'")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    materials = materials_for(tuple(args.sequences))
    staff = evaluate_staff(materials, match_threshold=args.match_threshold)
    couriers = evaluate_couriers(materials)
    rules = ResolverRules()
    print(f"people: { {m.sequence: len(m.people) for m in materials} }")

    match = args.match_threshold if args.match_threshold is not None else rules.match_threshold
    print(f"\n(a) staff, all sequences (match_threshold {match:.2f}):")
    print(
        "| staff_threshold | staff recall | as the right member | customers wrongly excluded | "
        "enrolments alone: staff recall | customers ≥ threshold |"
    )
    print("|---|---|---|---|---|---|")
    for (t, s), (_, d) in zip(staff.curve, staff.direct, strict=True):
        print(
            _staff_row(f"{t:.2f}", s)
            + f" {d.staff_recall:.3f} | {d.customers_excluded_share:.3f} ({d.customers_excluded}) |"
        )
    rec, best = staff.recommended, staff.best_within_customer_bar
    bar = f"staff recall ≥ {MIN_STAFF_RECALL} with ≤ {MAX_CUSTOMERS_EXCLUDED:.0%} customers excluded"
    if rec is not None:
        print(
            f"\nrecommended staff_threshold {rec[0]:.2f} ({bar}; "
            f"ResolverRules default {rules.staff_threshold:.2f})"
        )
    else:
        print(f"\nno staff_threshold reaches {bar}")
        if best is not None:
            print(
                f"best staff recall with ≤ {MAX_CUSTOMERS_EXCLUDED:.0%} customers excluded: "
                f"{best[1].staff_recall:.3f} at {best[0]:.2f} "
                f"({best[1].customers_excluded_share:.3f} excluded)"
            )
        reach = [(t, s) for t, s in staff.curve if s.staff_recall >= MIN_STAFF_RECALL]
        if reach:
            t, s = reach[-1]
            print(
                f"staff recall ≥ {MIN_STAFF_RECALL} needs staff_threshold ≤ {t:.2f}, where "
                f"{s.customers_excluded_share:.3f} of customers are excluded"
            )
    shown = {rules.staff_threshold} | ({rec[0]} if rec is not None else set())
    for t in sorted(shown):
        print(f"\nby sequence at staff_threshold {t:.2f}:")
        print("| sequence | staff recall | as the right member | customers wrongly excluded |")
        print("|---|---|---|---|")
        for seq, rows in staff.by_sequence.items():
            print(_staff_row(seq, next(sc for th, sc in rows if abs(th - t) < 1e-9)))

    print("\n(b) couriers: share of short visits (in, out 120 s later) excluded as a courier")
    print("| people | defaults (Meituan, Ele.me on) | all four classes on |")
    print("|---|---|---|")
    for variant in ("", *BRANDS):
        label = (
            "ordinary (real crops): false positives" if not variant else f"{variant}-like (synthetic): recall"
        )
        cells = []
        for all_on in (False, True):
            cases = couriers[(variant, all_on)]
            if variant:
                hits = sum(1 for c in cases if c.reason == f"courier:{variant}")
                cells.append(f"{hits / len(cases):.3f} ({hits}/{len(cases)})")
            else:
                cells.append(_share(cases, True))
        print(f"| {label} | {cells[0]} | {cells[1]} |")

    ordinary = couriers[("", False)]
    uppers = Counter(c.upper or "unsure" for c in ordinary)
    print("\nupper-body colour names of the ordinary people's visits:", dict(uppers.most_common()))
    print("\nordinary people excluded by the defaults (false positives):")
    print("| sequence | person | part | upper | lower | excluded as |")
    print("|---|---|---|---|---|---|")
    for c in ordinary:
        if c.reason is not None:
            print(f"| {c.sequence} | {c.person} | {c.part} | {c.upper} | {c.lower} | {c.reason} |")
    on = Counter(c.reason for c in couriers[("", True)] if c.reason is not None)
    print("with all four classes on, ordinary visits excluded by class:", dict(sorted(on.items())))
    print("\nsynthetic couriers missed by their class (all four on), by the colour names they got:")
    for brand in BRANDS:
        missed = [c for c in couriers[(brand, True)] if c.reason != f"courier:{brand}"]
        names = Counter(f"{c.upper}/{c.lower}" for c in missed)
        print(f"  {brand}: {len(missed)} missed {dict(names.most_common())}")
    print(f"\n{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
