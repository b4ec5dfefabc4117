"""Person detector for user-supplied YOLO-format ONNX models (Ultralytics, YOLOv5, decoded YOLOX).

Accepted outputs (first model output, boxes already decoded to input pixels):
``[1, 4+nc, N]`` (Ultralytics v8 and later: cx, cy, w, h, class scores), the same transposed
``[1, N, 4+nc]``, and ``[1, N, 5+nc]`` with an objectness column (YOLOv5, YOLOX exported with
decoding). Pre-processing is a letterbox to the model's input size, RGB scaled to [0, 1].
Must not download models or keep frames; end-to-end exports with NMS inside are not supported.
"""

from __future__ import annotations

from pathlib import Path

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

__all__ = ["YoloOnnxDetector"]

DEFAULT_INPUT = 640
PAD_VALUE = 114  # the grey Ultralytics letterboxes with
COCO_CLASSES = 80


class YoloOnnxDetector:
    """Person boxes from a YOLO-style ONNX model.

    ``input_wh`` defaults to the model's fixed input size (640×640 when the model's size is
    dynamic). ``objectness`` says whether the rows carry an objectness column before the class
    scores; ``None`` decides from the layout: channel-first outputs have none, channel-last
    outputs have one unless there are exactly 4 + 80 columns.
    """

    name = "yolo"

    def __init__(
        self,
        onnx_path: Path,
        *,
        person_class: int = 0,
        input_wh: tuple[int, int] | None = None,
        score_threshold: float = 0.3,
        nms_iou: float = 0.5,
        threads: int = 2,
        objectness: bool | None = None,
        max_detections: int = 300,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ConfigError(f"detector 'yolo': score_threshold {score_threshold} must be between 0 and 1")
        if person_class < 0:
            raise ConfigError(f"detector 'yolo': person_class {person_class} must not be negative")
        self._path = Path(onnx_path)
        self._session = onnx_session(self._path, threads)
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{self._path.name} is not a YOLO image model (expected one N×3×H×W input)")
        self._input_name = inputs[0].name
        model_h, model_w = inputs[0].shape[2], inputs[0].shape[3]
        fixed = isinstance(model_h, int) and isinstance(model_w, int) and model_h > 0 and model_w > 0
        if input_wh is None:
            input_wh = (int(model_w), int(model_h)) if fixed else (DEFAULT_INPUT, DEFAULT_INPUT)
        width, height = (int(v) for v in input_wh)
        if width <= 0 or height <= 0:
            raise ConfigError(f"detector 'yolo': input size {width}x{height} must be positive")
        if fixed and (width, height) != (model_w, model_h):
            raise ConfigError(
                f"detector 'yolo': {self._path.name} has a fixed {model_w}x{model_h} input, "
                f"not {width}x{height}"
            )
        self.input_wh = (width, height)
        self.person_class = int(person_class)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = max_detections
        self._objectness = objectness
        self._canvas = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
        self._blob = np.empty((1, 3, height, width), dtype=np.float32)
        self._geometry: tuple[tuple[int, int], Letterbox] | None = None
        self.detect(np.zeros((height, width, 3), dtype=np.uint8))  # warm-up; checks the output layout

    def _rows(self, output: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], bool]:
        """The output as (N, columns) rows and whether column 4 is objectness."""
        if output.ndim != 3 or output.shape[0] != 1:
            raise ModelError(
                f"{self._path.name}: unsupported output shape {list(output.shape)} (want [1, C, N])"
            )
        a, b = output.shape[1], output.shape[2]
        channel_first = a < b
        rows = output[0].T if channel_first else output[0]
        columns = rows.shape[1]
        objectness = self._objectness
        if objectness is None:
            objectness = not channel_first and columns != 4 + COCO_CLASSES
        classes = columns - (5 if objectness else 4)
        if classes <= self.person_class:
            raise ModelError(
                f"{self._path.name}: output has {max(classes, 0)} classes, person_class {self.person_class} "
                "is out of range"
            )
        return rows, objectness

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
            raise ValueError(
                f"YoloOnnxDetector.detect: expected an H×W×3 BGR image, got shape {image_bgr.shape}"
            )
        frame_wh = (int(image_bgr.shape[1]), int(image_bgr.shape[0]))
        if self._geometry is None or self._geometry[0] != frame_wh:
            self._canvas[...] = PAD_VALUE
            self._geometry = (frame_wh, letterbox_geometry(frame_wh, self.input_wh, keep_aspect=True))
        box = self._geometry[1]
        resize_into(image_bgr, box, self._canvas)
        for c in range(3):
            np.multiply(
                self._canvas[:, :, 2 - c], np.float32(1 / 255), out=self._blob[0, c], casting="unsafe"
            )
        output = run_session(self._session, {self._input_name: self._blob}, self._path.name)[0]
        rows, objectness = self._rows(np.asarray(output, dtype=np.float32))
        first_class = 5 if objectness else 4
        scores = rows[:, first_class + self.person_class]
        if objectness:
            scores = scores * rows[:, 4]
        idx = np.flatnonzero(scores > self.score_threshold)
        if idx.size == 0:
            return Detections.empty()
        cxcywh = rows[idx, :4]
        xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        xyxy = xyxy.astype(np.float32)
        kept_scores = scores[idx].astype(np.float32)
        keep = nms(xyxy, kept_scores, self.nms_iou, self.max_detections)
        return Detections(box.to_frame(xyxy[keep], frame_wh), kept_scores[keep])
