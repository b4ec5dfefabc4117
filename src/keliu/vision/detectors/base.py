"""The person-detector interface, plus the resize and NMS helpers the ONNX detectors share.

A detector turns one BGR frame into person boxes in that frame's own pixels. Must not track,
count, store or draw anything, and must not keep a frame after ``detect`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from keliu.domain.detections import Detections
from keliu.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = ["Detector", "Letterbox", "letterbox_geometry", "nms", "onnx_session"]

FloatArray = npt.NDArray[np.float32]


@runtime_checkable
class Detector(Protocol):
    """Finds people in one frame."""

    name: str

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        """Person boxes, ``xyxy`` in the pixels of ``image_bgr`` (H×W×3, uint8, BGR)."""
        ...


@dataclass(frozen=True)
class Letterbox:
    """How a frame maps into the network input: ``net = frame * scale + (pad_x, pad_y)``.

    With ``keep_aspect=False`` the two axes have their own scale (a plain resize).
    """

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int
    resized_wh: tuple[int, int]

    def to_frame(self, xyxy: FloatArray, frame_wh: tuple[int, int]) -> FloatArray:
        out = np.empty_like(xyxy)
        out[:, 0::2] = (xyxy[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (xyxy[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0, frame_wh[0], out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, frame_wh[1], out=out[:, 1::2])
        return out


def letterbox_geometry(
    frame_wh: tuple[int, int], input_wh: tuple[int, int], *, keep_aspect: bool
) -> Letterbox:
    """Scale (and centre-pad, when keeping the aspect ratio) a frame into the network input."""
    fw, fh = frame_wh
    iw, ih = input_wh
    if not keep_aspect:
        return Letterbox(iw / fw, ih / fh, 0, 0, (iw, ih))
    scale = min(iw / fw, ih / fh)
    rw, rh = min(iw, round(fw * scale)), min(ih, round(fh * scale))
    return Letterbox(scale, scale, (iw - rw) // 2, (ih - rh) // 2, (rw, rh))


def resize_into(image: npt.NDArray[np.uint8], box: Letterbox, canvas: npt.NDArray[np.uint8]) -> None:
    """Resize ``image`` into its place on ``canvas`` (H×W×3, already filled with the pad colour)."""
    rw, rh = box.resized_wh
    target = canvas[box.pad_y : box.pad_y + rh, box.pad_x : box.pad_x + rw]
    if image.shape[1] == rw and image.shape[0] == rh:
        target[...] = image
    else:
        cv2.resize(image, (rw, rh), dst=target, interpolation=cv2.INTER_LINEAR)


def nms(
    xyxy: FloatArray, scores: FloatArray, iou_threshold: float, max_boxes: int = 300
) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression; returns the kept indices, best first."""
    order = np.argsort(-scores, kind="stable")[: max(max_boxes * 4, max_boxes)]
    x1, y1, x2, y2 = (xyxy[:, i] for i in range(4))
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep: list[int] = []
    while order.size and len(keep) < max_boxes:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        w = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0)
        h = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0)
        inter = w * h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def onnx_session(onnx_path: Path, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session tuned for one stream: ``threads`` intra-op threads, full graph optimisation.

    Idle worker threads do not spin, so the decoder and tracker get the CPU between inferences.
    onnxruntime's telemetry is off (keliu.vision.onnx_runtime).
    """
    from keliu.vision.onnx_runtime import onnxruntime_module

    ort = onnxruntime_module()

    path = Path(onnx_path)
    if not path.is_file():
        raise ModelError(f"model file {path} not found; run 'keliu models install'")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"cannot load model {path.name}: {first[:200]}") from None


def run_session(session: ort.InferenceSession, feeds: dict[str, Any], model_name: str) -> list[Any]:
    try:
        return list(session.run(None, feeds))
    except Exception as error:  # onnxruntime raises its own exception types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"model {model_name} failed to run: {first[:200]}") from None
