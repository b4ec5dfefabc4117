"""Material shared by bench/dedup.py and bench/exclusion.py: per-person, per-part signatures built from
the real videos and their MOTChallenge ground truth.

For every ground-truth person of a sequence (MOT16: rows to be considered, class 1 = pedestrian) with
a long enough track, `split_track` cuts the track in time into a first part ("visit 1") and a later
part ("came back"), leaving a gap. In each part up to five good views are chosen from the ground-truth
boxes (`shot_quality`: not cut by the frame edge; at least 75 % visible — MOT16's annotated
visibility, elsewhere no other ground-truth box in front of it, i.e. with its bottom edge lower,
covering more than 25 % of it —; at least 40 px tall, bigger is better; at least 0.4 s apart, as
the product's best shots). The video is decoded once, frame by frame (PyAV);
only the frames holding a chosen view are converted to pixels, the views are cut out, and as soon as
a part's last view is collected its crops are handed to ``consume`` (which turns them into numbers)
and dropped. Crops never leave memory: nothing image-like is written anywhere.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from keliu.domain.visits import Signature
from keliu.evaluation.mot import MotRow, read_mot
from keliu.evaluation.visits_bench import ShotRules, pick_shots, shot_quality, split_track
from keliu.vision.signature import SignatureExtractor
from keliu.wiring import build_appearance_embedder

DATA = Path(os.environ.get("KELIU_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SEQUENCES = ("PETS09-S2L1", "MOT16-09", "MOT16-11", "TUD-Campus", "TUD-Stadtmitte")
PARTS = ("first", "later")
PART_SHARE = 0.4  # first and last 40 % of a track's time span; the middle 20 % is the gap
MIN_PART_FRAMES = 8
MIN_GAP_S = 0.4  # chosen views at least this far apart (as the product's best shots)

Key = tuple[int, str]  # (person id, part)
CropTransform = Callable[[np.ndarray], np.ndarray]


@dataclass
class SequenceMaterial:
    """Signatures of one sequence: ``signatures[variant][(person, part)]`` ("" = the real crops)."""

    sequence: str
    fps: float
    people: list[int]  # persons with a signature for both parts, sorted
    signatures: dict[str, dict[Key, Signature]]
    skipped: dict[int, str] = field(default_factory=dict)  # person -> why not used
    shots: dict[Key, int] = field(default_factory=dict)  # views used per part
    seconds: float = 0.0  # decode + crop + extract time


def _fps(sequence: str) -> float:
    for line in (DATA / "mot" / sequence / "seqinfo.ini").read_text().splitlines():
        if line.startswith("frameRate="):
            return float(line.split("=", 1)[1])
    raise ValueError(f"{sequence}: no frameRate in seqinfo.ini")


def _visibility(gt: Path) -> dict[tuple[int, int], float]:
    """MOT16 ground truth's annotated visibility (9th column) by (frame, id); empty for other files."""
    out: dict[tuple[int, int], float] = {}
    for line in gt.read_text().splitlines():
        cols = line.split(",")
        if len(cols) == 9:
            out[(int(cols[0]), int(cols[1]))] = float(cols[8])
    return out


def plan(
    sequence: str, frame_wh: tuple[int, int], fps: float
) -> tuple[dict[Key, list[tuple[int, MotRow]]], dict[int, str]]:
    """The views to collect, best first, per (person, part); and the persons left out, with why."""
    gt = DATA / "mot" / sequence / "gt" / "gt.txt"
    visibility = _visibility(gt)
    people = read_mot(gt)  # MOT16: considered pedestrians only
    everything = read_mot(gt, mot16_pedestrians_only=False)  # every box may hide someone
    boxes_by_frame: dict[int, list[MotRow]] = {}
    for row in everything:
        boxes_by_frame.setdefault(row.frame, []).append(row)
    tracks: dict[int, dict[int, MotRow]] = {}
    for row in people:
        tracks.setdefault(row.track_id, {})[row.frame] = row
    rules = ShotRules(min_gap_frames=max(1, round(MIN_GAP_S * fps)))
    wanted: dict[Key, list[tuple[int, MotRow]]] = {}
    skipped: dict[int, str] = {}
    for pid in sorted(tracks):
        rows = tracks[pid]
        split = split_track(rows, part_share=PART_SHARE, min_part_frames=MIN_PART_FRAMES)
        if split is None:
            skipped[pid] = f"track too short ({len(rows)} frames)"
            continue
        chosen: dict[str, list[int]] = {}
        for part, frames in zip(PARTS, (split.first, split.later), strict=True):
            candidates = []
            for f in frames:
                r = rows[f]
                others = [(o.x, o.y, o.w, o.h) for o in boxes_by_frame.get(f, []) if o.track_id != pid]
                q = shot_quality(
                    (r.x, r.y, r.w, r.h), others, frame_wh, rules, visibility=visibility.get((f, pid))
                )
                if q is not None:
                    candidates.append((f, q))
            chosen[part] = pick_shots(candidates, rules)
        missing = [p for p in PARTS if not chosen[p]]
        if missing:
            skipped[pid] = f"no usable view in the {' and '.join(missing)} part"
            continue
        for part in PARTS:
            wanted[(pid, part)] = [(f, rows[f]) for f in chosen[part]]
    return wanted, skipped


def _cut(image: np.ndarray, r: MotRow) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1 = max(0, round(r.x)), max(0, round(r.y))
    x2, y2 = min(w, round(r.x + r.w)), min(h, round(r.y + r.h))
    return image[y1:y2, x1:x2].copy()


def collect(
    sequence: str,
    consume: Callable[[Key, list[np.ndarray]], None],
) -> tuple[dict[Key, int], dict[int, str], float]:
    """Decode ``sequence`` once and hand each (person, part)'s crops, best first, to ``consume`` as soon
    as they are all collected; the crops are dropped right after. Returns views per part, skipped
    persons and the frame rate."""
    fps = _fps(sequence)
    with av.open(str(DATA / "video" / f"{sequence}.mp4")) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frame_wh = (stream.codec_context.width, stream.codec_context.height)
        wanted, skipped = plan(sequence, frame_wh, fps)
        by_frame: dict[int, list[tuple[Key, int, MotRow]]] = {}
        last_frame: dict[Key, int] = {}
        for key, views in wanted.items():
            for rank, (f, row) in enumerate(views):
                by_frame.setdefault(f, []).append((key, rank, row))
            last_frame[key] = max(f for f, _ in views)
        finishing: dict[int, list[Key]] = {}
        for key, f in last_frame.items():
            finishing.setdefault(f, []).append(key)
        pending: dict[Key, dict[int, np.ndarray]] = {}
        last_needed = max(by_frame, default=0)
        for index, frame in enumerate(container.decode(stream), start=1):  # MOT frames are 1-based
            if index > last_needed:
                break
            jobs = by_frame.get(index)
            if not jobs:
                continue
            image = frame.to_ndarray(format="bgr24")
            for key, rank, row in jobs:
                pending.setdefault(key, {})[rank] = _cut(image, row)
            del image
            for key in finishing.get(index, []):
                crops = pending.pop(key)
                consume(key, [crops[r] for r in sorted(crops)])
                del crops
    if pending:
        raise RuntimeError(f"{sequence}: the video ended before {len(pending)} parts were collected")
    return {k: len(v) for k, v in wanted.items()}, skipped, fps


def extractor() -> SignatureExtractor:
    return SignatureExtractor(build_appearance_embedder(threads=2))


def build(
    sequence: str,
    extract: SignatureExtractor,
    variants: Mapping[str, CropTransform] | None = None,
) -> SequenceMaterial:
    """Signatures of every usable person's two parts; each variant transforms every crop first (e.g.
    a synthetic recolouring) and gets its own signatures."""
    started = time.perf_counter()
    transforms: dict[str, CropTransform | None] = {"": None, **(variants or {})}
    signatures: dict[str, dict[Key, Signature]] = {name: {} for name in transforms}

    def consume(key: Key, crops: list[np.ndarray]) -> None:
        for name, transform in transforms.items():
            views = crops if transform is None else [transform(c) for c in crops]
            sig = extract.extract(views)
            if sig is not None:
                signatures[name][key] = sig
            del views

    shots, skipped, fps = collect(sequence, consume)
    people: list[int] = []
    for pid in sorted({k[0] for k in shots}):
        if all((pid, p) in signatures[""] for p in PARTS):
            people.append(pid)
        else:
            skipped[pid] = "no signature for a part"
    return SequenceMaterial(
        sequence=sequence,
        fps=fps,
        people=people,
        signatures=signatures,
        skipped=dict(sorted(skipped.items())),
        shots=shots,
        seconds=time.perf_counter() - started,
    )


def build_all(
    sequences: tuple[str, ...],
    variants: Mapping[str, CropTransform] | None = None,
    *,
    quiet: bool = False,
) -> list[SequenceMaterial]:
    extract = extractor()
    out = []
    for seq in sequences:
        material = build(seq, extract, variants)
        if not quiet:
            print(
                f"{seq}: {len(material.people)} people with two parts, {len(material.skipped)} left out, "
                f"{material.seconds:.1f} s",
                file=sys.stderr,
            )
        out.append(material)
    return out
