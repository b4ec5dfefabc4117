"""Re-identification benchmark of appearance signatures on the shared ReID sample.

    .venv/bin/python bench/reid.py [--weights]

Data: ../shared/data/reid (manifest.csv: file,pid,cam,sequence,…; 662 crops of 112 people from five
sequences, about six crops per person at different moments). Crops are read from there and never
written anywhere.

Protocol (docs/signatures.md), computed by `keliu.evaluation.reid`:
* **single-shot**: every crop gets its own signature, exactly as `SignatureExtractor.extract([crop])`
  makes it. Within each sequence every crop in turn is the query and the gallery is all other crops
  of that sequence; true matches are crops of the same person. Rank-1 and mAP are averaged over
  all queries, for the embedding alone, the colour histogram alone and the combined
  `Signature.vector()` (plain dot product, i.e. `similarity`).
* **multi-shot gallery**: the same single-crop queries, but the gallery holds one signature per
  person of the sequence, combined from up to five of that person's crops (frame order, never the
  query), as the product builds a track's signature from its best shots.

``--weights`` also prints the combined single-shot figures for other embedding weights.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from keliu.domain.visits import EMBEDDING_WEIGHT, Signature
from keliu.evaluation.reid import ReidScore, evaluate_groups, evaluate_multishot_gallery
from keliu.vision.signature import MAX_SHOTS, SignatureExtractor, combine
from keliu.wiring import build_appearance_embedder

REID = Path(__file__).resolve().parents[2] / "shared" / "data" / "reid"


@dataclass(frozen=True)
class Crop:
    file: str
    pid: str
    sequence: str
    frame: int


@dataclass(frozen=True)
class Results:
    single: dict[str, ReidScore]  # "embedding", "colour", "combined"
    multishot: dict[str, ReidScore]
    one_gallery: dict[str, ReidScore]
    ms_per_crop: float  # SignatureExtractor.extract([crop]), embedder included
    crops: int
    signatures: list[Signature]


def load_manifest(root: Path = REID) -> list[Crop]:
    with (root / "manifest.csv").open(newline="") as f:
        rows = [Crop(r["file"], r["pid"], r["sequence"], int(r["frame"])) for r in csv.DictReader(f)]
    # Frame order within each person: the multi-shot gallery takes a person's first crops.
    return sorted(rows, key=lambda c: (c.sequence, c.pid, c.frame))


def single_crop_signatures(
    extractor: SignatureExtractor, crops: list[Crop], root: Path = REID
) -> tuple[list[Signature], float]:
    """One signature per crop (read, used, dropped) and the mean extraction time in ms per crop."""
    signatures: list[Signature] = []
    spent = 0.0
    for crop in crops:
        image = cv2.imread(str(root / "images" / crop.file), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(root / "images" / crop.file)
        started = time.perf_counter()
        signature = extractor.extract([image])
        spent += time.perf_counter() - started
        del image
        if signature is None:
            raise ValueError(f"{crop.file}: no signature")
        signatures.append(signature)
    return signatures, 1000.0 * spent / max(len(crops), 1)


def component(signatures: list[Signature], which: str, weight: float = EMBEDDING_WEIGHT) -> np.ndarray:
    if which == "embedding":
        return np.stack([s.embedding for s in signatures])
    if which == "colour":
        return np.stack([s.colour for s in signatures])
    if weight == EMBEDDING_WEIGHT:
        return np.stack([s.vector() for s in signatures])
    return np.stack(
        [
            np.concatenate([s.embedding * np.sqrt(weight), s.colour * np.sqrt(1.0 - weight)])
            for s in signatures
        ]
    )


Table = dict[str, ReidScore]
FEATURES = ("embedding", "colour", "combined")


def scores(signatures: list[Signature], crops: list[Crop]) -> tuple[Table, Table, Table]:
    """Single-shot, multi-shot gallery and one-gallery scores of each feature (see the docstring)."""
    ids = [c.pid for c in crops]
    groups = [c.sequence for c in crops]
    single = {k: evaluate_groups(component(signatures, k), ids, groups) for k in FEATURES}
    one_gallery = {k: evaluate_groups(component(signatures, k), ids, ["all"] * len(ids)) for k in FEATURES}

    def gallery(which: str) -> Callable[[tuple[int, ...]], np.ndarray]:
        def vector(rows: tuple[int, ...]) -> np.ndarray:
            combined = combine([signatures[r] for r in rows])
            assert combined is not None
            return np.asarray(component([combined], which)[0])

        return vector

    multishot = {
        k: evaluate_multishot_gallery(component(signatures, k), ids, groups, gallery(k), shots=MAX_SHOTS)
        for k in FEATURES
    }
    return single, multishot, one_gallery


def run(root: Path = REID) -> Results:
    crops = load_manifest(root)
    extractor = SignatureExtractor(build_appearance_embedder())
    signatures, ms = single_crop_signatures(extractor, crops, root)
    single, multishot, one_gallery = scores(signatures, crops)
    return Results(single, multishot, one_gallery, ms, len(crops), signatures)


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    results = run()
    people = len({c.pid for c in load_manifest()})
    print(f"{results.crops} crops, {people} people; EMBEDDING_WEIGHT {EMBEDDING_WEIGHT}")
    print(f"{'protocol':<20} {'features':<10} {'rank-1':>7} {'mAP':>7} {'queries':>8}")
    tables = (
        ("single-shot", results.single),
        ("multi-shot gallery", results.multishot),
        ("one gallery", results.one_gallery),
    )
    for name, table in tables:
        for feature, score in table.items():
            print(f"{name:<20} {feature:<10} {score.rank1:>7.3f} {score.mean_ap:>7.3f} {score.queries:>8}")
    crops = load_manifest()
    print(
        f"\n{'single-shot by sequence':<24} {'crops':>5} "
        + " ".join(f"{f + ' r-1/mAP':>20}" for f in FEATURES)
    )
    for sequence in sorted({c.sequence for c in crops}):
        rows = [i for i, c in enumerate(crops) if c.sequence == sequence]
        subset = [results.signatures[i] for i in rows]
        ids = [crops[i].pid for i in rows]
        cells = []
        for feature in FEATURES:
            s = evaluate_groups(component(subset, feature), ids, [sequence] * len(rows))
            cells.append(f"{s.rank1:.3f} / {s.mean_ap:.3f}")
        print(f"{sequence:<24} {len(rows):>5} " + " ".join(f"{c:>20}" for c in cells))
    if "--weights" in argv:
        ids, groups = [c.pid for c in crops], [c.sequence for c in crops]
        for w in np.round(np.arange(0.0, 1.01, 0.1), 2):
            s = evaluate_groups(component(results.signatures, "combined", float(w)), ids, groups)
            print(f"single-shot combined, embedding weight {w:.1f}: rank-1 {s.rank1:.3f} mAP {s.mean_ap:.3f}")
    ms = results.ms_per_crop
    print(f"signature extraction: {ms:.2f} ms per crop (one crop per call, flip TTA, embedder included)")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
