"""Appearance signatures of tracks: a few person crops in, one anonymous `Signature` out.

A signature is the appearance embedding (MobileNetV2, horizontal-flip test-time augmentation: the
mean of the crop's and its mirror image's embeddings) and the part-based colour histogram and names
of ``keliu.vision.colours``, each averaged over up to ``MAX_SHOTS`` crops of one track and
renormalised. Similarity is `keliu.domain.visits.similarity` (re-exported here): the weighted sum
of the two cosines, equal to the dot product of `Signature.vector()`.

Privacy: crops are read, reduced to numbers and dropped; nothing here stores a crop, a resized or
mirrored copy, or writes anything anywhere (docs/signatures.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from keliu.domain.visits import ColourName, Signature, similarity
from keliu.vision.colours import describe_colours

__all__ = ["MAX_SHOTS", "MIN_CROP_HEIGHT", "CropEmbedder", "SignatureExtractor", "combine", "similarity"]

MAX_SHOTS = 5
MIN_CROP_HEIGHT = 16  # pixels; smaller boxes give neither a usable embedding nor colours
MIN_CROP_WIDTH = 4


class CropEmbedder(Protocol):
    """What the extractor needs of `keliu.vision.embedder.AppearanceEmbedder`."""

    input_wh: tuple[int, int]

    def embed(self, crops_bgr: list[np.ndarray]) -> np.ndarray: ...


def _unit(v: npt.NDArray[np.floating]) -> npt.NDArray[np.float32] | None:
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm <= 1e-12:
        return None
    return (v / norm).astype(np.float32)


def _majority(names: Sequence[ColourName | None]) -> ColourName | None:
    """Most frequent name; ties go to the name seen first (shots come best first)."""
    known = [n for n in names if n is not None]
    if not known:
        return None
    counts = Counter(known)
    top = max(counts.values())
    return next(n for n in known if counts[n] == top)


def combine(signatures: Sequence[Signature]) -> Signature | None:
    """One signature from several (best first): mean embedding and histogram, renormalised."""
    if not signatures:
        return None
    embedding = _unit(np.mean([s.embedding for s in signatures], axis=0))
    colour = _unit(np.mean([s.colour for s in signatures], axis=0))
    if embedding is None or colour is None:
        return None
    return Signature(
        embedding=embedding,
        colour=colour,
        upper_colour=_majority([s.upper_colour for s in signatures]),
        lower_colour=_majority([s.lower_colour for s in signatures]),
        shots=sum(s.shots for s in signatures),
    )


def _usable(crop: np.ndarray) -> bool:
    return (
        isinstance(crop, np.ndarray)
        and crop.dtype == np.uint8
        and crop.ndim == 3
        and crop.shape[2] == 3
        and crop.shape[0] >= MIN_CROP_HEIGHT
        and crop.shape[1] >= MIN_CROP_WIDTH
    )


class SignatureExtractor:
    """Turns up to ``max_shots`` crops of one track into one `Signature` (or None)."""

    def __init__(self, embedder: CropEmbedder, *, max_shots: int = MAX_SHOTS, flip: bool = True) -> None:
        if max_shots < 1:
            raise ValueError("max_shots must be at least 1")
        self._embedder = embedder
        self._max_shots = max_shots
        self._flip = flip

    def extract_each(self, crops_bgr: Sequence[np.ndarray]) -> list[Signature]:
        """One single-shot signature per usable crop, in order (unusable crops are left out)."""
        described = []
        for crop in crops_bgr:
            if not _usable(crop):
                continue
            colours = describe_colours(crop)
            if colours is not None:
                described.append((crop, colours))
        if not described:
            return []
        # Resize once to the network input, then mirror the small copy (cheaper than mirroring the crop;
        # the embedder's own resize is then a no-op).
        size = self._embedder.input_wh
        inputs = [cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR) for crop, _ in described]
        if self._flip:
            inputs += [np.ascontiguousarray(x[:, ::-1]) for x in inputs]
        vectors = np.asarray(self._embedder.embed(inputs), dtype=np.float64)
        del inputs
        n = len(described)
        embeddings = vectors[:n] + vectors[n:] if self._flip else vectors
        out: list[Signature] = []
        for (_, colours), emb in zip(described, embeddings, strict=True):
            unit = _unit(emb)
            if unit is None:
                continue
            out.append(
                Signature(
                    embedding=unit,
                    colour=colours.histogram,
                    upper_colour=colours.upper,
                    lower_colour=colours.lower,
                )
            )
        return out

    def extract(self, crops_bgr: list[np.ndarray]) -> Signature | None:
        """The signature of one track from its crops (best first; at most ``max_shots`` are used)."""
        usable = [c for c in crops_bgr if _usable(c)][: self._max_shots]
        return combine(self.extract_each(usable))
