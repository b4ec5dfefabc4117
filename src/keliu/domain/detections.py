"""Person detections of one frame: the boundary type between detectors and the tracker."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Detections"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Detections:
    """Boxes of one frame in pixels, ``xyxy`` (x1, y1, x2, y2), with a confidence in [0, 1] each."""

    xyxy: FloatArray
    confidence: FloatArray = field(default_factory=lambda: np.zeros((0,), dtype=np.float32))

    def __post_init__(self) -> None:
        xyxy = (
            np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
            if np.size(self.xyxy)
            else np.zeros((0, 4), dtype=np.float32)
        )
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if confidence.shape[0] != xyxy.shape[0]:
            raise ValueError(
                f"Detections: expected one confidence per box ({xyxy.shape[0]}), got {confidence.shape[0]}"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), dtype=np.float32), np.zeros((0,), dtype=np.float32))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])
