"""`keliu models calibrate VIDEO`: the match thresholds of a custom embedder, measured on a video.

Why a video and not the store: the store holds one signature per track, so it cannot give two
views of the same person; a video run through keliu's own detector and tracker gives both kinds of
evidence without any label:

* **same person**: the best shots of one track (up to five, best first) split into two halves
  (shots 1, 3, 5 and shots 2, 4), one signature per half — two views of one person;
* **different people**: two tracks of the video that were on screen together for at least
  ``MIN_OVERLAP_S`` seconds (a person is not in two places at once).

Both the candidate (the installed custom network) and the reference (the provisioned MobileNetV2,
whose thresholds were measured on labelled people: ``keliu.resolve.rules``) describe the very same
shots in the same pass. For each shipped threshold, the reference's **false-match rate** among the
different-people pairs at that threshold is read off (k of n pairs match), and the candidate's
threshold is put halfway between its k-th and (k+1)-th most similar stranger pairs: the calibrated
network makes the same share of false matches between strangers as the shipped one, and a better
network turns its better separation into recall. When the reference lets no stranger pair of this
video match at a threshold (too few pairs to anchor a rate), its **miss rate** among the
same-person pairs is matched the same way instead, and the threshold is kept above every stranger
pair. Calibrating the provisioned network against itself gives back the shipped thresholds within
the gap between neighbouring pairs (MOT16-09: 0.69 / 0.70 / 0.80 → 0.688 / 0.704 / 0.800).

Caveats (docs/signatures.md): two halves of one track come from one pass of the camera seconds
apart, kinder than a return hours later; tracker identity switches can put one person in two
co-present tracks only rarely (they must overlap for a second). Crops live only inside the
extractor call; only signatures (in memory) and, in the end, three numbers and pair counts are
kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from keliu.domain.visits import Signature, similarity
from keliu.errors import ModelError
from keliu.resolve import ResolverRules
from keliu.vision.signature import MAX_SHOTS, SignatureExtractor, combine

__all__ = [
    "THRESHOLD_NAMES",
    "Calibration",
    "PairEvidence",
    "calibrate_thresholds",
    "collect_pairs",
]

THRESHOLD_NAMES = ("match_threshold", "staff_threshold", "exemplar_threshold")
MIN_OVERLAP_S = 1.0
MIN_SAME = 20
MIN_DIFFERENT = 50


@dataclass
class _Described:
    full: Signature
    halves: tuple[Signature, Signature] | None


@dataclass
class _Track:
    first_s: float
    last_s: float
    candidate: _Described
    reference: _Described


@dataclass
class PairEvidence:
    """Similarities of same-person and different-people pairs, by each network."""

    same: dict[str, list[float]] = field(default_factory=lambda: {"candidate": [], "reference": []})
    different: dict[str, list[float]] = field(default_factory=lambda: {"candidate": [], "reference": []})
    tracks: int = 0


@dataclass(frozen=True)
class Calibration:
    values: dict[str, float]
    # per threshold: (reference value, reference FMR, reference miss rate, candidate FMR,
    # candidate miss rate, anchor)
    table: dict[str, tuple[float, float, float, float, float, str]]
    same_pairs: int
    different_pairs: int
    tracks: int


def _describe(extractor: SignatureExtractor, crops: list[np.ndarray]) -> _Described | None:
    shots = extractor.extract_each(crops[:MAX_SHOTS])
    full = combine(shots)
    if full is None:
        return None
    halves = None
    if len(shots) >= 2:
        a, b = combine(shots[0::2]), combine(shots[1::2])
        if a is not None and b is not None:
            halves = (a, b)
    return _Described(full, halves)


class _Recorder(SignatureExtractor):
    """A SignatureExtractor for the SightingCollector that also describes the same shots with the
    reference network and keeps the two descriptions until the sighting comes out."""

    def __init__(self, candidate: SignatureExtractor, reference: SignatureExtractor) -> None:
        self._candidate, self._reference = candidate, reference
        self.pending: dict[int, tuple[_Described, _Described]] = {}

    def extract(self, crops_bgr: list[np.ndarray]) -> Signature | None:
        cand = _describe(self._candidate, crops_bgr)
        ref = _describe(self._reference, crops_bgr)
        if cand is None or ref is None:
            return None
        self.pending[id(cand.full)] = (cand, ref)
        return cand.full


def collect_pairs(
    video: Path,
    candidate: SignatureExtractor,
    reference: SignatureExtractor,
    *,
    analysis_fps: float = 10.0,
    max_seconds: float | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> PairEvidence:
    """Run detection and tracking over ``video`` and gather the same/different pair similarities."""
    from keliu.config import CameraConfig
    from keliu.vision.bestshots import BestShots
    from keliu.vision.sightings import SightingCollector
    from keliu.vision.sources import open_source
    from keliu.wiring import build_camera_pipeline

    camera = CameraConfig(id="calibration", source=str(video), analysis_fps=analysis_fps)
    recorder = _Recorder(candidate, reference)
    tracks: list[_Track] = []
    start = datetime(2000, 1, 1, tzinfo=UTC)

    def keep(sightings: list) -> None:  # type: ignore[type-arg]
        for s in sightings:
            if s.signature is None:
                continue
            described = recorder.pending.pop(id(s.signature), None)
            if described is None:
                continue
            first = (s.first_seen - start).total_seconds()
            last = (s.last_seen - start).total_seconds()
            tracks.append(_Track(first, last, described[0], described[1]))

    with open_source(str(video)) as source:
        fps, frame_wh = source.fps, source.resolution_wh
        runtime = build_camera_pipeline(camera, fps, frame_wh)
        pipeline = runtime.pipeline
        collector = SightingCollector("calibration", camera.id, start, recorder, BestShots())
        last_index, last_t = -1, 0.0
        for frame in source.frames(stride=runtime.stride):
            if max_seconds is not None and frame.t_s > max_seconds:
                break
            last_index, last_t = frame.index, frame.t_s
            result = pipeline.process(frame.index, frame.t_s, frame.image_bgr)
            keep(collector.observe(result, frame.image_bgr, frame_wh))
            if frame.index % 500 < runtime.stride:
                progress(f"calibration: {frame.t_s:.0f} s of video, {len(tracks)} tracks described")
        keep(collector.observe(pipeline.finish_result(last_index, last_t), None, frame_wh))
    return pairs_of(tracks)


def pairs_of(tracks: list[_Track]) -> PairEvidence:
    evidence = PairEvidence(tracks=len(tracks))
    for t in tracks:
        if t.candidate.halves is not None and t.reference.halves is not None:
            evidence.same["candidate"].append(similarity(*t.candidate.halves))
            evidence.same["reference"].append(similarity(*t.reference.halves))
    for i, a in enumerate(tracks):
        for b in tracks[i + 1 :]:
            if min(a.last_s, b.last_s) - max(a.first_s, b.first_s) >= MIN_OVERLAP_S:
                evidence.different["candidate"].append(similarity(a.candidate.full, b.candidate.full))
                evidence.different["reference"].append(similarity(a.reference.full, b.reference.full))
    return evidence


def _rate_at_or_above(values: np.ndarray, t: float) -> float:
    return float(np.mean(values >= t)) if values.size else 0.0


def calibrate_thresholds(evidence: PairEvidence, defaults: ResolverRules | None = None) -> Calibration:
    """The candidate's thresholds (module docstring); ModelError when the video gave too few pairs."""
    defaults = defaults or ResolverRules()
    same_c, same_r = (np.asarray(evidence.same[k], dtype=np.float64) for k in ("candidate", "reference"))
    diff_c, diff_r = (np.asarray(evidence.different[k], dtype=np.float64) for k in ("candidate", "reference"))
    if same_c.size < MIN_SAME or diff_c.size < MIN_DIFFERENT:
        raise ModelError(
            f"calibration needs at least {MIN_SAME} tracks with two or more good shots and {MIN_DIFFERENT} "
            f"pairs of people on screen together; this video gave {same_c.size} and {diff_c.size}: "
            "use a longer or busier video of the site"
        )
    strangers = np.sort(diff_c)[::-1]  # highest first
    same_sorted = np.sort(same_c)  # lowest first
    values: dict[str, float] = {}
    table: dict[str, tuple[float, float, float, float, float, str]] = {}
    for name in THRESHOLD_NAMES:
        t_ref = float(getattr(defaults, name))
        fmr_ref = _rate_at_or_above(diff_r, t_ref)
        miss_ref = 1.0 - _rate_at_or_above(same_r, t_ref)
        allowed = int(np.floor(fmr_ref * strangers.size + 1e-9))  # stranger pairs that may match
        if allowed > 0:
            # halfway between the last stranger pair allowed to match and the first that must not
            anchor = "false-match rate"
            below = strangers[allowed] if allowed < strangers.size else strangers[-1] - 1e-3
            t = (float(strangers[allowed - 1]) + float(below)) / 2.0
        else:
            # the reference lets no stranger pair of this video match: match its miss rate among
            # same-person pairs instead (halfway between the last pair allowed to miss and the
            # first that must match), never letting a stranger pair match
            anchor = "miss rate"
            missed = int(np.floor(miss_ref * same_sorted.size + 1e-9))
            above = same_sorted[missed] if missed < same_sorted.size else same_sorted[-1] + 1e-3
            low = same_sorted[missed - 1] if missed > 0 else above - 1e-3
            t = max((float(low) + float(above)) / 2.0, float(strangers[0]) + 1e-3)
        values[name] = round(t, 4)
        table[name] = (
            t_ref,
            fmr_ref,
            miss_ref,
            _rate_at_or_above(diff_c, t),
            1.0 - _rate_at_or_above(same_c, t),
            anchor,
        )
    # keep the shipped ordering: staff no looser than match, exemplars the strictest
    values["staff_threshold"] = max(values["staff_threshold"], values["match_threshold"])
    values["exemplar_threshold"] = max(values["exemplar_threshold"], values["staff_threshold"])
    replace(  # validates the values as rules
        defaults,
        match_threshold=values["match_threshold"],
        staff_threshold=values["staff_threshold"],
        exemplar_threshold=values["exemplar_threshold"],
    )
    return Calibration(values, table, int(same_c.size), int(diff_c.size), evidence.tracks)
