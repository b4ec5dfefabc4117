"""NanoDet-m person detector on onnxruntime (the model converted by keliu.models.nanodet).

Pre-processing, GFL box decoding and NMS for the person class only. Must not download or
convert models, and must not keep frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from keliu.domain.detections import Detections
from keliu.errors import ConfigError, ModelError
from keliu.vision.detectors.base import (
    Letterbox,
    letterbox_geometry,
    nms,
    onnx_session,
    resize_into,
    run_session,
)

__all__ = ["NanoDetDetector"]

STRIDES = (8, 16, 32)
REG_BINS = 11  # reg_max 10 → 11 bins per side
PERSON = 0
BGR_MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
BGR_STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)

ASPECT_TOLERANCE = 1.15

Normalisation = Literal["bgr_meanstd", "rgb_unit"]


class NanoDetDetector:
    """Person boxes from the converted NanoDet-m ONNX model.

    ``input_wh`` must be multiples of 32 (the model's largest stride). ``keep_aspect=True``
    letterboxes the frame (padding with the mean colour); ``False`` stretches it to the input size,
    using every input pixel; ``None`` stretches only when the frame's and the input's aspect
    ratios differ by at most 15 % (squashed people are missed: 16:9 stretched to 416×416 loses a
    quarter of the recall). ``centre_offset`` and ``normalisation`` exist for the accuracy
    benchmark; the defaults are the measured best (bench/detector_recall.py).
    """

    name = "nanodet"

    def __init__(
        self,
        onnx_path: Path,
        *,
        input_wh: tuple[int, int] = (416, 416),
        score_threshold: float = 0.35,
        nms_iou: float = 0.6,
        threads: int = 2,
        keep_aspect: bool | None = None,
        centre_offset: float = 0.5,
        normalisation: Normalisation = "bgr_meanstd",
        max_detections: int = 300,
    ) -> None:
        width, height = (int(v) for v in input_wh)
        if width <= 0 or height <= 0 or width % 32 or height % 32:
            raise ConfigError(
                f"detector 'nanodet': input size {width}x{height} must be positive multiples of 32"
            )
        if not 0.0 < score_threshold < 1.0:
            raise ConfigError(
                f"detector 'nanodet': score_threshold {score_threshold} must be between 0 and 1"
            )
        if normalisation not in ("bgr_meanstd", "rgb_unit"):
            raise ConfigError(f"detector 'nanodet': unknown normalisation {normalisation!r}")
        self.input_wh = (width, height)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.keep_aspect = keep_aspect
        self.max_detections = max_detections
        self._path = Path(onnx_path)
        self._session = onnx_session(self._path, threads)
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{self._path.name} is not a NanoDet model (expected one image input)")
        self._input_name = inputs[0].name
        if normalisation == "bgr_meanstd":
            self._scale, self._shift, self._swap_rb = 1.0 / BGR_STD, -BGR_MEAN / BGR_STD, False
        else:
            self._scale, self._shift, self._swap_rb = (
                np.full(3, 1 / 255, np.float32),
                np.zeros(3, np.float32),
                True,
            )
        self._scale = self._scale.astype(np.float32)
        self._shift = self._shift.astype(np.float32)
        # a letterbox pad value that normalises to 0 (the training mean)
        self._pad_colour = np.round(BGR_MEAN if normalisation == "bgr_meanstd" else np.zeros(3)).astype(
            np.uint8
        )
        self._canvas = np.empty((height, width, 3), dtype=np.uint8)
        self._blob = np.empty((1, 3, height, width), dtype=np.float32)
        self._geometry: tuple[tuple[int, int], Letterbox] | None = None
        self._centres: dict[int, npt.NDArray[np.float32]] = {}
        for stride in STRIDES:
            gw, gh = width // stride, height // stride
            xs = (np.arange(gw, dtype=np.float32) + centre_offset) * stride
            ys = (np.arange(gh, dtype=np.float32) + centre_offset) * stride
            cx, cy = np.meshgrid(xs, ys)
            self._centres[gw * gh] = np.stack([cx.ravel(), cy.ravel()], axis=1)
        self._bins = np.arange(REG_BINS, dtype=np.float32)
        self._pairs = self._match_outputs()
        self.detect(np.zeros((height, width, 3), dtype=np.uint8))  # warm-up; fails early on a bad model

    def _match_outputs(self) -> list[tuple[int, int, int]]:
        """(score output index, box output index, stride) for each level, found by output shapes."""
        self._blob.fill(0)
        outputs = run_session(self._session, {self._input_name: self._blob}, self._path.name)
        scores: dict[int, int] = {}
        boxes: dict[int, int] = {}
        for i, out in enumerate(outputs):
            if out.ndim == 3 and out.shape[2] == 80:
                scores[out.shape[1]] = i
            elif out.ndim == 3 and out.shape[2] == 4 * REG_BINS:
                boxes[out.shape[1]] = i
        width, height = self.input_wh
        pairs = []
        for stride in STRIDES:
            cells = (width // stride) * (height // stride)
            if cells not in scores or cells not in boxes:
                raise ModelError(
                    f"{self._path.name} does not give NanoDet outputs for a {width}x{height} input "
                    f"(stride {stride}); re-run 'keliu models install'"
                )
            pairs.append((scores[cells], boxes[cells], stride))
        return pairs

    def _prepare(self, image_bgr: npt.NDArray[np.uint8]) -> Letterbox:
        frame_wh = (int(image_bgr.shape[1]), int(image_bgr.shape[0]))
        if self._geometry is None or self._geometry[0] != frame_wh:
            keep = self.keep_aspect
            if keep is None:
                ratio = (frame_wh[0] / frame_wh[1]) / (self.input_wh[0] / self.input_wh[1])
                keep = not (1 / ASPECT_TOLERANCE <= ratio <= ASPECT_TOLERANCE)
            box = letterbox_geometry(frame_wh, self.input_wh, keep_aspect=keep)
            self._canvas[...] = self._pad_colour
            self._geometry = (frame_wh, box)
        box = self._geometry[1]
        resize_into(image_bgr, box, self._canvas)
        for c in range(3):
            src = 2 - c if self._swap_rb else c
            np.multiply(self._canvas[:, :, src], self._scale[c], out=self._blob[0, c], casting="unsafe")
            self._blob[0, c] += self._shift[c]
        return box

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError(
                f"NanoDetDetector.detect: expected an H×W×3 BGR image, got shape {image_bgr.shape}"
            )
        box = self._prepare(image_bgr)
        outputs = run_session(self._session, {self._input_name: self._blob}, self._path.name)
        all_boxes: list[npt.NDArray[np.float32]] = []
        all_scores: list[npt.NDArray[np.float32]] = []
        for score_i, box_i, stride in self._pairs:
            person = outputs[score_i][0, :, PERSON]
            idx = np.flatnonzero(person > self.score_threshold)
            if idx.size == 0:
                continue
            logits = outputs[box_i][0, idx].reshape(-1, 4, REG_BINS)
            logits = logits - logits.max(axis=2, keepdims=True)
            weights = np.exp(logits)
            dist = (weights @ self._bins) / weights.sum(axis=2) * stride  # (n, 4): l, t, r, b
            centre = self._centres[person.shape[0]][idx]
            xyxy = np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1)
            all_boxes.append(xyxy.astype(np.float32))
            all_scores.append(person[idx].astype(np.float32))
        if not all_boxes:
            return Detections.empty()
        xyxy = np.concatenate(all_boxes)
        scores = np.concatenate(all_scores)
        keep = nms(xyxy, scores, self.nms_iou, self.max_detections)
        frame_wh = (int(image_bgr.shape[1]), int(image_bgr.shape[0]))
        return Detections(box.to_frame(xyxy[keep], frame_wh), scores[keep])
