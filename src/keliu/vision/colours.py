"""Part-based clothing colours of one person crop: a histogram vector and two colour names.

"Sample the person, not the box": a detector box also holds background (floor, walls, the next
person). Every pixel gets a *person weight* from two cues, both measured on the shared ReID sample
(docs/signatures.md):

* a centre prior: ``1 - (2·dx/w)²`` across the box (people stand in the middle of their box);
* a background model: the colour histogram of the box's left and right border columns (almost
  always background) against the centre's histogram; a pixel whose colour bin is common at the
  border and rare in the centre is down-weighted by ``p_centre / (p_centre + p_border)``.

The crop is first reduced to 32×64 pixels (area interpolation), which also makes the cost a fixed
~0.2 ms whatever the box size. The head (top 15 %) is skipped; the body is cut into four horizontal
stripes (two for the upper body, two for the lower body). Each stripe gets a weighted joint HSV
histogram (16 hue × 4 saturation × 4 value bins) with Hellinger (square-root) normalisation; the
four unit vectors are concatenated and renormalised, so the dot product of two vectors is the mean
Bhattacharyya coefficient of their stripes.

Colour names (``COLOUR_NAMES``) are a person-weighted vote of per-pixel names over the upper body
(15–50 % of the height) and the lower body (50–95 %): achromatic by low chroma or value (black,
grey, white), chromatic by hue range, with brown (dark orange/yellow) and pink (magenta, or light
desaturated red) as the usual special cases.

Nothing here keeps or writes pixels: functions return numbers and names only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from keliu.domain.visits import COLOUR_NAMES, ColourName

__all__ = [
    "BODY_STRIPES",
    "DESCRIPTOR_WH",
    "HISTOGRAM_DIM",
    "LOWER_BODY",
    "UPPER_BODY",
    "ColourDescription",
    "describe_colours",
    "name_pixels",
    "person_weights",
]

DESCRIPTOR_WH = (32, 64)  # (width, height) the crop is reduced to before anything is measured
HUE_BINS, SAT_BINS, VAL_BINS = 16, 4, 4
BINS_PER_STRIPE = HUE_BINS * SAT_BINS * VAL_BINS
# Fractions of the box height, top to bottom; the head (0–15 %) and the feet (95–100 %) are skipped.
UPPER_BODY = (0.15, 0.50)
LOWER_BODY = (0.50, 0.95)
BODY_STRIPES = ((0.15, 0.33), (0.33, 0.50), (0.50, 0.72), (0.72, 0.95))
HISTOGRAM_DIM = BINS_PER_STRIPE * len(BODY_STRIPES)
BORDER_FRACTION = 0.1  # left and right columns taken as the background sample
# Weight of the border histogram against the centre's; stronger rejection (2, 4, or a second pass
# with the refined weights) cleans synthetic crops further but measured worse on real ones.
BACKGROUND_REJECTION = 1.0
MIN_CROP_SIDE = 4  # pixels; anything thinner carries no colour worth naming
MIN_NAMED_WEIGHT = 0.3  # a name needs this share of the region's person weight (2 % of real crops fall short)

# Per-pixel naming thresholds on OpenCV's 8-bit HSV (hue in degrees here; S and V 0–255).
BLACK_VALUE = 50  # darker than this is black whatever the hue
ACHROMATIC_CHROMA = 30  # chroma S·V/255 below this: black, grey or white by value
DARK_GREY_VALUE = 85  # achromatic and darker than this: black
WHITE_VALUE = 190  # achromatic and brighter than this: white
BROWN_VALUE = 150  # orange/yellow hue darker than this: brown
PINK_MAX_SAT, PINK_MIN_VALUE = 140, 170  # light, desaturated red: pink
# Hue ranges in degrees, [start, end): red wraps around 0.
HUE_NAMES: tuple[tuple[float, float, ColourName], ...] = (
    (15.0, 40.0, "orange"),
    (40.0, 70.0, "yellow"),
    (70.0, 160.0, "green"),
    (160.0, 200.0, "cyan"),
    (200.0, 260.0, "blue"),
    (260.0, 290.0, "purple"),
    (290.0, 345.0, "pink"),
)
_INDEX = {name: i for i, name in enumerate(COLOUR_NAMES)}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ColourDescription:
    """``histogram``: L2-normalised float32 vector of ``HISTOGRAM_DIM``; names: None when unsure."""

    histogram: npt.NDArray[np.float32]
    upper: ColourName | None
    lower: ColourName | None


def _centre_prior(w: int, h: int) -> FloatArray:
    dx = (np.arange(w, dtype=np.float64) + 0.5 - w / 2.0) / (w / 2.0)
    row = np.clip(1.0 - dx * dx, 0.0, 1.0)
    return np.broadcast_to(row, (h, w)).copy()


_PRIOR = _centre_prior(*DESCRIPTOR_WH)
_BORDER = np.zeros((DESCRIPTOR_WH[1], DESCRIPTOR_WH[0]), dtype=bool)
_BORDER_COLS = max(1, round(DESCRIPTOR_WH[0] * BORDER_FRACTION))
_BORDER[:, :_BORDER_COLS] = True
_BORDER[:, -_BORDER_COLS:] = True


def _bin_index(hsv_full: np.ndarray) -> IntArray:
    """Joint HSV bin of each pixel of an ``COLOR_BGR2HSV_FULL`` image (all channels 0–255)."""
    x = hsv_full.astype(np.int64)
    hue = (x[..., 0] * HUE_BINS) >> 8
    sat = (x[..., 1] * SAT_BINS) >> 8
    val = (x[..., 2] * VAL_BINS) >> 8
    return np.asarray((hue * SAT_BINS + sat) * VAL_BINS + val, dtype=np.int64)


def person_weights(bins: IntArray) -> FloatArray:
    """Weight in [0, 1] that each pixel of a ``DESCRIPTOR_WH`` crop shows the person, not background."""
    inner = ~_BORDER
    border_hist = np.bincount(bins[_BORDER], minlength=BINS_PER_STRIPE).astype(np.float64)
    border_hist = border_hist / max(float(border_hist.sum()), 1e-12)
    centre_hist = np.bincount(bins[inner], weights=_PRIOR[inner], minlength=BINS_PER_STRIPE).astype(
        np.float64
    )
    centre_hist = centre_hist / max(float(centre_hist.sum()), 1e-12)
    person_share = centre_hist / (centre_hist + BACKGROUND_REJECTION * border_hist + 1e-12)
    return np.asarray(_PRIOR * person_share[bins], dtype=np.float64)


def name_pixels(hsv: np.ndarray) -> IntArray:
    """Index into ``COLOUR_NAMES`` of each pixel of an OpenCV ``COLOR_BGR2HSV`` image (H 0–179)."""
    hue = hsv[..., 0].astype(np.float64) * 2.0
    sat = hsv[..., 1].astype(np.float64)
    val = hsv[..., 2].astype(np.float64)
    names = np.full(hue.shape, _INDEX["red"], dtype=np.int64)
    for start, end, name in HUE_NAMES:
        names[(hue >= start) & (hue < end)] = _INDEX[name]
    warm = (hue >= 15.0) & (hue < 60.0)
    names[warm & (val < BROWN_VALUE)] = _INDEX["brown"]
    reddish = (hue < 15.0) | (hue >= 345.0)
    names[reddish & (sat < PINK_MAX_SAT) & (val >= PINK_MIN_VALUE)] = _INDEX["pink"]
    achromatic = sat * val / 255.0 < ACHROMATIC_CHROMA
    grey_level = np.where(
        val < DARK_GREY_VALUE, _INDEX["black"], np.where(val >= WHITE_VALUE, _INDEX["white"], _INDEX["grey"])
    )
    names = np.where(achromatic, grey_level, names)
    names[val < BLACK_VALUE] = _INDEX["black"]
    return names


def _vote(names: IntArray, weights: FloatArray) -> ColourName | None:
    votes = np.bincount(names.ravel(), weights=weights.ravel(), minlength=len(COLOUR_NAMES))
    total = float(votes.sum())
    if total <= 1e-9:
        return None
    best = int(np.argmax(votes))
    if votes[best] / total < MIN_NAMED_WEIGHT:
        return None
    return COLOUR_NAMES[best]


def _rows(fraction: tuple[float, float]) -> slice:
    h = DESCRIPTOR_WH[1]
    return slice(round(fraction[0] * h), round(fraction[1] * h))


def describe_colours(crop_bgr: np.ndarray) -> ColourDescription | None:
    """Histogram and upper/lower colour names of one uint8 BGR person crop; None if it is unusable."""
    if crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3 or min(crop_bgr.shape[:2]) < MIN_CROP_SIDE:
        return None
    small = cv2.resize(crop_bgr, DESCRIPTOR_WH, interpolation=cv2.INTER_AREA)
    bins = _bin_index(cv2.cvtColor(small, cv2.COLOR_BGR2HSV_FULL))
    weights = person_weights(bins)
    parts: list[FloatArray] = []
    for stripe in BODY_STRIPES:
        rows = _rows(stripe)
        hist = np.sqrt(
            np.bincount(bins[rows].ravel(), weights=weights[rows].ravel(), minlength=BINS_PER_STRIPE)
        )
        parts.append(hist / max(float(np.linalg.norm(hist)), 1e-12))
    vector = np.concatenate(parts)
    norm = float(np.linalg.norm(vector))
    if norm <= 1e-12:
        return None
    names = name_pixels(cv2.cvtColor(small, cv2.COLOR_BGR2HSV))
    upper, lower = _rows(UPPER_BODY), _rows(LOWER_BODY)
    return ColourDescription(
        histogram=(vector / norm).astype(np.float32),
        upper=_vote(names[upper], weights[upper]),
        lower=_vote(names[lower], weights[lower]),
    )
