"""A small TensorFlow.js graph-model → ONNX converter, written for the NanoDet-m graph.

It reads ``model.json`` + its weight shards, dequantizes the weights, folds constant
sub-graphs, removes the NCHW⇄NHWC transposes the graph is full of (it tracks each tensor's
layout instead), fuses explicit Pads and bias Adds into Conv/MaxPool, and can make the spatial
input size dynamic. Only the op types listed in ``SUPPORTED_OPS`` are converted; any other op
raises :class:`~keliu.errors.ModelError`. Must not import TensorFlow, download anything, or run
the model.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from keliu.errors import ModelError

__all__ = ["SUPPORTED_OPS", "convert_tfjs_graph", "tfjs_graph_to_onnx"]

SUPPORTED_OPS = frozenset(
    {
        "Add",
        "AddN",
        "AddV2",
        "AvgPool",
        "ConcatV2",
        "Const",
        "Conv2D",
        "Conv2DBackpropInput",
        "DepthwiseConv2dNative",
        "FusedDepthwiseConv2dNative",
        "Identity",
        "LeakyRelu",
        "MaxPool",
        "Mul",
        "Pad",
        "PadV2",
        "Placeholder",
        "Relu",
        "Relu6",
        "Reshape",
        "ResizeBilinear",
        "Sigmoid",
        "SparseToDense",
        "SplitV",
        "Transpose",
        "_FusedConv2D",
    }
)

OPSET = 17
IR_VERSION = 8  # the oldest IR that carries opset 17, so older onnxruntime builds load the file too

_TF_DTYPES: dict[str, type[np.generic]] = {
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_BOOL": np.bool_,
}
_MANIFEST_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "float16": np.float16,
    "uint8": np.uint8,
    "uint16": np.uint16,
}
_ONNX_DTYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.bool_): TensorProto.BOOL,
}

Array = npt.NDArray[Any]
Perm = tuple[int, ...]


def convert_tfjs_graph(
    model_json: Path, weights_bin: Path, out_onnx: Path, *, dynamic_hw: bool = True
) -> None:
    """Convert a TF.js graph model to an ONNX file.

    ``weights_bin`` is the (single) weights file named in the manifest; other shards, if any, are
    looked up next to it. With ``dynamic_hw`` the image input's height and width are symbolic, so
    the model runs at any size the network's strides divide (multiples of 32 for NanoDet).
    """
    model = tfjs_graph_to_onnx(model_json, weights_bin, dynamic_hw=dynamic_hw)
    out_onnx = Path(out_onnx)
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_onnx.with_name(out_onnx.name + ".part")
    try:
        onnx.save_model(model, str(tmp))
        tmp.replace(out_onnx)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"cannot write the converted model to {out_onnx}: {error.strerror or error}"
        ) from None


def tfjs_graph_to_onnx(model_json: Path, weights_bin: Path, *, dynamic_hw: bool = True) -> onnx.ModelProto:
    """Like :func:`convert_tfjs_graph`, but returns the checked ONNX model instead of writing it."""
    spec = _read_json(Path(model_json))
    topology = spec.get("modelTopology")
    if not isinstance(topology, dict) or not isinstance(topology.get("node"), list):
        raise ModelError(f"{model_json} is not a TensorFlow.js graph model (no modelTopology.node list)")
    nodes: list[dict[str, Any]] = topology["node"]
    unknown = sorted({str(node.get("op")) for node in nodes} - SUPPORTED_OPS)
    if unknown:
        raise ModelError(
            f"{Path(model_json).name}: unsupported TF.js op(s) {', '.join(unknown)}; cannot convert"
        )
    weights = _load_weights(spec.get("weightsManifest", []), Path(weights_bin))
    builder = _Builder(weights, dynamic_hw=dynamic_hw)
    for node in _topological(nodes):
        builder.add(node)
    outputs = _output_names(spec, nodes)
    model = builder.finish(outputs, graph_name=Path(model_json).stem)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "invalid graph"
        raise ModelError(
            f"conversion of {Path(model_json).name} produced an invalid ONNX graph: {first}"
        ) from None
    return model


# --------------------------------------------------------------------------------------------- reading


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"cannot read {path} as TF.js model JSON: {error}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a TensorFlow.js model (top level is not an object)")
    return data


def _load_weights(manifest: Any, weights_bin: Path) -> dict[str, Array]:
    """Decode every weight in the manifest; quantized ones are dequantized to their original dtype."""
    if not isinstance(manifest, list):
        raise ModelError("TF.js model JSON: weightsManifest is not a list")
    all_paths = [str(p) for group in manifest for p in group.get("paths", [])]
    weights: dict[str, Array] = {}
    for group in manifest:
        paths = [str(p) for p in group.get("paths", [])]
        files = [weights_bin] if len(all_paths) == 1 else [weights_bin.parent / p for p in paths]
        try:
            data = b"".join(f.read_bytes() for f in files)
        except FileNotFoundError as error:
            raise ModelError(f"weights file {error.filename} not found") from None
        except OSError as error:
            raise ModelError(f"cannot read weights file: {error}") from None
        offset = 0
        for entry in group.get("weights", []):
            name = str(entry["name"])
            shape = [int(d) for d in entry.get("shape", [])]
            count = math.prod(shape)
            dtype_name = str(entry.get("dtype", "float32"))
            quant = entry.get("quantization")
            stored = str(quant["dtype"]) if quant else dtype_name
            if stored not in _MANIFEST_DTYPES or dtype_name not in _MANIFEST_DTYPES:
                raise ModelError(f"weight {name}: unsupported dtype {stored}")
            stored_dtype = np.dtype(_MANIFEST_DTYPES[stored]).newbyteorder("<")
            nbytes = count * stored_dtype.itemsize
            if offset + nbytes > len(data):
                raise ModelError(f"weights file {weights_bin.name} is truncated (weight {name} is missing)")
            raw = np.frombuffer(data, dtype=stored_dtype, count=count, offset=offset).reshape(shape)
            offset += nbytes
            target = np.dtype(_MANIFEST_DTYPES[dtype_name])
            if quant and stored in ("uint8", "uint16"):
                if "scale" not in quant or "min" not in quant:
                    raise ModelError(f"weight {name}: affine quantization without scale/min")
                value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                if np.issubdtype(target, np.integer):
                    value = np.rint(value)
                weights[name] = value.astype(target)
            else:
                weights[name] = raw.astype(target)
    return weights


def _topological(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes in an order where every node comes after the nodes it reads."""
    by_name = {str(n["name"]): n for n in nodes}

    def sources(name: str) -> list[str]:
        return [_split_ref(str(ref))[0] for ref in by_name[name].get("input", [])]

    order: list[dict[str, Any]] = []
    state: dict[str, int] = {}  # 1: in progress, 2: done
    for root in by_name:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(sources(root)))]
        while stack:
            name, pending = stack[-1]
            for src in pending:
                if src not in by_name:
                    raise ModelError(f"TF.js graph: node {name} reads missing node {src}")
                if state.get(src) == 1:
                    raise ModelError(f"TF.js graph has a cycle through node {src}")
                if src not in state:
                    state[src] = 1
                    stack.append((src, iter(sources(src))))
                    break
            else:
                stack.pop()
                state[name] = 2
                order.append(by_name[name])
    return order


def _split_ref(ref: str) -> tuple[str, int]:
    ref = ref.removeprefix("^")
    name, _, index = ref.partition(":")
    return name, int(index) if index else 0


def _output_names(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> list[str]:
    signature = spec.get("signature") or spec.get("modelTopology", {}).get("signature") or {}
    outputs = signature.get("outputs") if isinstance(signature, dict) else None
    names: list[str]
    if isinstance(outputs, dict) and outputs:
        names = [str(v.get("name", k)) for k, v in outputs.items()]
    else:
        consumed = {_split_ref(str(r))[0] for n in nodes for r in n.get("input", [])}
        names = [str(n["name"]) for n in nodes if n["name"] not in consumed and n.get("op") != "Const"]
    refs = {"{}:{}".format(*_split_ref(n)) for n in names}
    return sorted(refs, key=_natural_key)


def _natural_key(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _attr(node: dict[str, Any], key: str, default: Any = None) -> Any:
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "s" in value:
        return base64.b64decode(value["s"]).decode("ascii")
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "list" in value:
        items = value["list"]
        if "i" in items:
            return [int(v) for v in items["i"]]
        if "f" in items:
            return [float(v) for v in items["f"]]
        return []
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    return default


# --------------------------------------------------------------------------------------------- building


@dataclass(frozen=True)
class _Dyn:
    """A runtime tensor: the TF tensor equals ``np.transpose(onnx_value, perm)``.

    ``shape`` is the TF-layout shape at the placeholder's nominal size; ``spatial`` flags the
    dimensions that scale with the input's height/width (they become symbolic with dynamic_hw).
    """

    name: str
    perm: Perm
    shape: tuple[int, ...]
    spatial: tuple[bool, ...]


@dataclass(frozen=True)
class _Const:
    value: Array


_Value = _Dyn | _Const


def _identity(rank: int) -> Perm:
    return tuple(range(rank))


def _inverse(perm: Sequence[int]) -> Perm:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


class _Builder:
    def __init__(self, weights: dict[str, Array], *, dynamic_hw: bool) -> None:
        self.weights = weights
        self.dynamic_hw = dynamic_hw
        self.values: dict[str, _Value] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, Array] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self._counter = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "Const": self._const,
            "Placeholder": self._placeholder,
            "Identity": self._identity_op,
            "Conv2D": self._conv2d,
            "MaxPool": self._maxpool,
            "Pad": self._pad,
            "PadV2": self._pad,
            "LeakyRelu": self._leaky_relu,
            "Sigmoid": self._sigmoid,
            "Add": self._add,
            "AddV2": self._add,
            "Mul": self._mul,
            "AddN": self._add_n,
            "Relu": self._relu,
            "Relu6": self._relu6,
            "AvgPool": self._avgpool,
            "DepthwiseConv2dNative": self._depthwise,
            "Conv2DBackpropInput": self._conv_transpose,
            "_FusedConv2D": self._fused_conv,
            "FusedDepthwiseConv2dNative": self._fused_conv,
            "ConcatV2": self._concat,
            "Transpose": self._transpose,
            "Reshape": self._reshape,
            "SplitV": self._split,
            "ResizeBilinear": self._resize,
            "SparseToDense": self._sparse_to_dense,
        }

    # ------------------------------------------------------------------ helpers

    def add(self, node: dict[str, Any]) -> None:
        handler = self._handlers.get(str(node["op"]))
        if handler is None:  # pragma: no cover - filtered before building
            raise ModelError(f"unsupported TF.js op {node['op']}; cannot convert")
        try:
            handler(node)
        except ModelError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise ModelError(f"cannot convert TF.js node {node['name']} ({node['op']}): {error}") from None

    def _fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}__{self._counter}"

    def _in(self, node: dict[str, Any], index: int) -> _Value:
        refs = [r for r in node.get("input", []) if not str(r).startswith("^")]
        name, out = _split_ref(str(refs[index]))
        return self.values[f"{name}:{out}"]

    def _n_inputs(self, node: dict[str, Any]) -> int:
        return len([r for r in node.get("input", []) if not str(r).startswith("^")])

    def _const_in(self, node: dict[str, Any], index: int, what: str) -> Array:
        value = self._in(node, index)
        if not isinstance(value, _Const):
            raise ModelError(f"TF.js node {node['name']} ({node['op']}): {what} must be a constant")
        return value.value

    def _set(self, node: dict[str, Any], value: _Value, index: int = 0) -> None:
        self.values[f"{node['name']}:{index}"] = value

    def _initializer(self, value: Array, hint: str) -> str:
        name = self._fresh(hint)
        self.initializers[name] = np.ascontiguousarray(value)
        return name

    def _emit(self, op: str, inputs: Sequence[str], hint: str, n_out: int = 1, **attrs: Any) -> list[str]:
        outs = [self._fresh(hint) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=self._fresh(op), **attrs))
        return outs

    def _dyn(self, value: _Value, hint: str) -> _Dyn:
        if isinstance(value, _Dyn):
            return value
        arr = value.value
        if arr.dtype == np.int32:
            arr = arr.astype(np.int64)
        name = self._initializer(arr, hint)
        return _Dyn(name, _identity(arr.ndim), tuple(arr.shape), (False,) * arr.ndim)

    def _to_perm(self, value: _Dyn, target: Perm, hint: str) -> str:
        """The ONNX name of ``value`` laid out so that ``TF tensor == transpose(onnx, target)``."""
        q = tuple(value.perm[i] for i in _inverse(target))
        if q == _identity(len(q)):
            return value.name
        return self._emit("Transpose", [value.name], hint, perm=list(q))[0]

    def _const_for(self, const: Array, like: _Dyn, hint: str) -> str:
        """A constant broadcast against ``like`` (TF semantics), laid out in ``like``'s ONNX layout."""
        rank = len(like.perm)
        if const.ndim > rank:
            raise ModelError(f"{hint}: constant of rank {const.ndim} broadcast against rank {rank}")
        full = const.reshape((1,) * (rank - const.ndim) + const.shape)
        arr = np.transpose(full, _inverse(like.perm))
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return self._initializer(arr, hint)

    # ------------------------------------------------------------------ ops

    def _const(self, node: dict[str, Any]) -> None:
        name = str(node["name"])
        if name not in self.weights:
            raise ModelError(f"TF.js constant {name} has no value in the weights manifest")
        value = self.weights[name]
        dtype = _attr(node, "dtype")
        if dtype in _TF_DTYPES:
            value = value.astype(_TF_DTYPES[dtype])
        self._set(node, _Const(value))

    def _placeholder(self, node: dict[str, Any]) -> None:
        dtype = _attr(node, "dtype", "DT_FLOAT")
        if dtype != "DT_FLOAT":
            raise ModelError(f"input {node['name']}: only float32 inputs are supported, not {dtype}")
        shape = [int(d) for d in _attr(node, "shape", [])]
        if len(shape) == 4 and shape[0] == -1:
            shape[0] = 1  # an unknown batch: keliu runs one image at a time
        if not shape or any(d < 0 for d in shape):
            raise ModelError(f"input {node['name']}: needs a fully known shape, got {shape}")
        spatial = [False] * len(shape)
        dims: list[int | str] = list(shape)
        if self.dynamic_hw:
            if len(shape) != 4:
                raise ModelError(f"input {node['name']}: dynamic height/width needs a 4-D image input")
            axes = (2, 3) if shape[1] <= 4 < shape[3] else (1, 2) if shape[3] <= 4 else None
            if axes is None:
                raise ModelError(f"input {node['name']}: cannot tell NCHW from NHWC in shape {shape}")
            for axis, label in zip(axes, ("height", "width"), strict=True):
                spatial[axis] = True
                dims[axis] = label
        name = str(node["name"])
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
        self._set(node, _Dyn(name, _identity(len(shape)), tuple(shape), tuple(spatial)))

    def _identity_op(self, node: dict[str, Any]) -> None:
        self._set(node, self._in(node, 0))

    def _image_layout(self, node: dict[str, Any]) -> tuple[Perm, tuple[int, int], int]:
        """(perm of an NCHW ONNX tensor seen as TF, the H/W axes in TF layout, the channel axis)."""
        fmt = _attr(node, "data_format", "NHWC")
        if fmt == "NHWC":
            return (0, 2, 3, 1), (1, 2), 3
        if fmt == "NCHW":
            return (0, 1, 2, 3), (2, 3), 1
        raise ModelError(f"TF.js node {node['name']}: unsupported data_format {fmt}")

    def _window(
        self, node: dict[str, Any], x: _Dyn, kernel: tuple[int, int], hw: tuple[int, int]
    ) -> tuple[dict[str, Any], list[int]]:
        strides_full = _attr(node, "strides", [1, 1, 1, 1])
        dil_full = _attr(node, "dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
        strides = [strides_full[a] for a in hw]
        dilations = [dil_full[a] for a in hw]
        padding = _attr(node, "padding", "VALID")
        attrs: dict[str, Any] = {"strides": strides}
        out = []
        for i, axis in enumerate(hw):
            size = x.shape[axis]
            eff = (kernel[i] - 1) * dilations[i] + 1
            if padding == "VALID":
                out.append((size - eff) // strides[i] + 1)
            elif padding == "SAME":
                out.append(-(-size // strides[i]))
            else:
                raise ModelError(f"TF.js node {node['name']}: padding {padding} is not supported")
        if padding == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"
        if any(d != 1 for d in dilations):
            attrs["dilations"] = dilations
        return attrs, out

    def _conv2d(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "conv_in")
        kernel = self._const_in(node, 1, "the filter").astype(np.float32)  # HWIO
        perm, hw, caxis = self._image_layout(node)
        channels = x.shape[caxis]
        if kernel.ndim != 4 or channels % kernel.shape[2]:
            raise ModelError(
                f"Conv2D {node['name']}: filter {kernel.shape} does not fit {channels} input channels"
            )
        group = channels // kernel.shape[2]
        attrs, out_hw = self._window(node, x, (kernel.shape[0], kernel.shape[1]), hw)
        if group != 1:
            attrs["group"] = group
        w = self._initializer(np.transpose(kernel, (3, 2, 0, 1)), "conv_w")
        name = self._emit(
            "Conv",
            [self._to_perm(x, perm, "to_nchw"), w],
            "conv",
            kernel_shape=list(kernel.shape[:2]),
            **attrs,
        )[0]
        shape = list(x.shape)
        shape[hw[0]], shape[hw[1]], shape[caxis] = out_hw[0], out_hw[1], kernel.shape[3]
        self._set(node, _Dyn(name, perm, tuple(shape), x.spatial))

    def _maxpool(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "pool_in")
        perm, hw, _ = self._image_layout(node)
        ksize = _attr(node, "ksize", [1, 1, 1, 1])
        kernel = (ksize[hw[0]], ksize[hw[1]])
        attrs, out_hw = self._window(node, x, kernel, hw)
        attrs.pop("dilations", None)
        name = self._emit(
            "MaxPool", [self._to_perm(x, perm, "to_nchw")], "maxpool", kernel_shape=list(kernel), **attrs
        )[0]
        shape = list(x.shape)
        shape[hw[0]], shape[hw[1]] = out_hw
        self._set(node, _Dyn(name, perm, tuple(shape), x.spatial))

    def _pad(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "pad_in")
        paddings = self._const_in(node, 1, "paddings").astype(np.int64).reshape(-1, 2)
        rank = len(x.shape)
        if paddings.shape[0] != rank:
            raise ModelError(
                f"Pad {node['name']}: paddings for rank {paddings.shape[0]}, tensor has rank {rank}"
            )
        if (paddings < 0).any():
            raise ModelError(f"Pad {node['name']}: negative paddings are not supported")
        pads_onnx = [0] * (2 * rank)
        for axis in range(rank):
            pads_onnx[x.perm[axis]] = int(paddings[axis, 0])
            pads_onnx[rank + x.perm[axis]] = int(paddings[axis, 1])
        fill = 0.0
        if self._n_inputs(node) > 2:
            fill = float(self._const_in(node, 2, "the constant value").reshape(-1)[0])
        inputs = [
            x.name,
            self._initializer(np.array(pads_onnx, dtype=np.int64), "pads"),
            self._initializer(np.array(fill, dtype=np.float32), "pad_value"),
        ]
        name = self._emit("Pad", inputs, "pad", mode="constant")[0]
        shape = tuple(int(s + p[0] + p[1]) for s, p in zip(x.shape, paddings, strict=True))
        self._set(node, _Dyn(name, x.perm, shape, x.spatial))

    def _leaky_relu(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "lrelu_in")
        name = self._emit("LeakyRelu", [x.name], "lrelu", alpha=float(_attr(node, "alpha", 0.2)))[0]
        self._set(node, _Dyn(name, x.perm, x.shape, x.spatial))

    def _sigmoid(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "sigmoid_in")
        name = self._emit("Sigmoid", [x.name], "sigmoid")[0]
        self._set(node, _Dyn(name, x.perm, x.shape, x.spatial))

    def _add(self, node: dict[str, Any]) -> None:
        self._binary(node, "Add", np.add)

    def _mul(self, node: dict[str, Any]) -> None:
        self._binary(node, "Mul", np.multiply)

    def _binary(self, node: dict[str, Any], op: str, fold: Callable[[Array, Array], Array]) -> None:
        """An element-wise, commutative op with TF broadcasting (Add, Mul)."""
        hint = op.lower()
        a, b = self._in(node, 0), self._in(node, 1)
        if isinstance(a, _Const) and isinstance(b, _Const):
            self._set(node, _Const(fold(a.value, b.value).astype(np.result_type(a.value, b.value))))
            return
        if isinstance(a, _Const):
            a, b = b, a
        assert isinstance(a, _Dyn)
        if isinstance(b, _Const):
            other = self._const_for(b.value.astype(np.float32), a, f"{hint}_const")
            shape = np.broadcast_shapes(a.shape, b.value.shape)
            name = self._emit(op, [a.name, other], hint)[0]
            self._set(node, _Dyn(name, a.perm, tuple(shape), a.spatial))
            return
        if len(a.shape) != len(b.shape):
            perm = _identity(max(len(a.shape), len(b.shape)))
            lhs = self._to_perm(a, _identity(len(a.shape)), f"{hint}_lhs")
            rhs = self._to_perm(b, _identity(len(b.shape)), f"{hint}_rhs")
            sp_a = (False,) * (len(perm) - len(a.spatial)) + a.spatial
            sp_b = (False,) * (len(perm) - len(b.spatial)) + b.spatial
        else:
            perm = a.perm
            lhs, rhs = a.name, self._to_perm(b, a.perm, f"{hint}_rhs")
            sp_a, sp_b = a.spatial, b.spatial
        shape = np.broadcast_shapes(a.shape, b.shape)
        name = self._emit(op, [lhs, rhs], hint)[0]
        spatial = tuple(x or y for x, y in zip(sp_a, sp_b, strict=True))
        self._set(node, _Dyn(name, perm, tuple(shape), spatial))

    def _add_n(self, node: dict[str, Any]) -> None:
        parts = [self._in(node, i) for i in range(self._n_inputs(node))]
        dyn = [p for p in parts if isinstance(p, _Dyn)]
        if not dyn or any(p.shape != dyn[0].shape for p in dyn):
            raise ModelError(f"AddN {node['name']}: needs runtime inputs of one shape")
        first = dyn[0]
        names = [
            self._to_perm(p, first.perm, "addn_in")
            if isinstance(p, _Dyn)
            else self._const_for(p.value.astype(np.float32), first, "addn_const")
            for p in parts
        ]
        spatial = tuple(any(p.spatial[i] for p in dyn) for i in range(len(first.shape)))
        name = self._emit("Sum", names, "addn")[0]
        self._set(node, _Dyn(name, first.perm, first.shape, spatial))

    def _relu(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "relu_in")
        name = self._emit("Relu", [x.name], "relu")[0]
        self._set(node, _Dyn(name, x.perm, x.shape, x.spatial))

    def _relu6(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "relu6_in")
        low = self._initializer(np.array(0.0, dtype=np.float32), "relu6_min")
        high = self._initializer(np.array(6.0, dtype=np.float32), "relu6_max")
        name = self._emit("Clip", [x.name, low, high], "relu6")[0]
        self._set(node, _Dyn(name, x.perm, x.shape, x.spatial))

    def _avgpool(self, node: dict[str, Any]) -> None:
        """TF average pooling; with SAME padding the padded cells are not counted (ONNX's default)."""
        x = self._dyn(self._in(node, 0), "avgpool_in")
        perm, hw, _ = self._image_layout(node)
        ksize = _attr(node, "ksize", [1, 1, 1, 1])
        kernel = (ksize[hw[0]], ksize[hw[1]])
        attrs, out_hw = self._window(node, x, kernel, hw)
        attrs.pop("dilations", None)
        name = self._emit(
            "AveragePool", [self._to_perm(x, perm, "to_nchw")], "avgpool", kernel_shape=list(kernel), **attrs
        )[0]
        shape = list(x.shape)
        shape[hw[0]], shape[hw[1]] = out_hw
        self._set(node, _Dyn(name, perm, tuple(shape), x.spatial))

    def _depthwise(self, node: dict[str, Any]) -> None:
        """TF depthwise convolution (filter H×W×C×M, output channel c·M + m) as a grouped Conv."""
        x = self._dyn(self._in(node, 0), "dw_in")
        kernel = self._const_in(node, 1, "the filter").astype(np.float32)
        perm, hw, caxis = self._image_layout(node)
        channels = x.shape[caxis]
        if kernel.ndim != 4 or kernel.shape[2] != channels:
            raise ModelError(
                f"DepthwiseConv2dNative {node['name']}: filter {kernel.shape} "
                f"does not fit {channels} channels"
            )
        kh, kw, _, mult = kernel.shape
        attrs, out_hw = self._window(node, x, (kh, kw), hw)
        w = self._initializer(kernel.transpose(2, 3, 0, 1).reshape(channels * mult, 1, kh, kw), "dw_w")
        name = self._emit(
            "Conv",
            [self._to_perm(x, perm, "to_nchw"), w],
            "dwconv",
            kernel_shape=[kh, kw],
            group=channels,
            **attrs,
        )[0]
        shape = list(x.shape)
        shape[hw[0]], shape[hw[1]], shape[caxis] = out_hw[0], out_hw[1], channels * mult
        self._set(node, _Dyn(name, perm, tuple(shape), x.spatial))

    def _fused_conv(self, node: dict[str, Any]) -> None:
        """Grappler's fused convolutions: Conv2D or depthwise, then BiasAdd, then optionally Relu or
        Relu6 (the only forms accepted); the bias becomes an Add that ``_fuse`` folds into the Conv."""
        fused = [
            base64.b64decode(v).decode("ascii")
            for v in node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
        ]
        if (
            not fused
            or fused[0] != "BiasAdd"
            or len(fused) > 2
            or (len(fused) == 2 and fused[1] not in ("Relu", "Relu6"))
            or int(_attr(node, "num_args", 1)) != 1
        ):
            raise ModelError(f"{node['op']} {node['name']}: fused ops {fused} are not supported")
        refs = [r for r in node.get("input", []) if not str(r).startswith("^")]
        inner = {**node, "name": f"{node['name']}/conv", "input": refs[:2]}
        if node["op"] == "_FusedConv2D":
            self._conv2d(inner)
        else:
            self._depthwise(inner)
        conv = self.values[f"{inner['name']}:0"]
        assert isinstance(conv, _Dyn)
        bias = self._const_in(node, 2, "the bias").astype(np.float32)
        out = self._emit("Add", [conv.name, self._const_for(bias, conv, "bias")], "bias")[0]
        if len(fused) == 2 and fused[1] == "Relu":
            out = self._emit("Relu", [out], "relu")[0]
        elif len(fused) == 2:
            low = self._initializer(np.array(0.0, dtype=np.float32), "relu6_min")
            high = self._initializer(np.array(6.0, dtype=np.float32), "relu6_max")
            out = self._emit("Clip", [out, low, high], "relu6")[0]
        self._set(node, _Dyn(out, conv.perm, conv.shape, conv.spatial))

    def _conv_transpose(self, node: dict[str, Any]) -> None:
        """TF Conv2DBackpropInput (inputs: output size, filter H×W×out×in, tensor) as ConvTranspose
        with explicit pads: SAME crops ``total // 2`` at the start, as TF's forward SAME pads."""
        sizes = [int(v) for v in self._const_in(node, 0, "the output size").reshape(-1)]
        kernel = self._const_in(node, 1, "the filter").astype(np.float32)
        x = self._dyn(self._in(node, 2), "deconv_in")
        perm, hw, caxis = self._image_layout(node)
        if self.dynamic_hw and any(x.spatial):
            raise ModelError(
                f"Conv2DBackpropInput {node['name']}: a fixed output size cannot follow the input size; "
                "convert with dynamic_hw=False"
            )
        if kernel.ndim != 4 or kernel.shape[3] != x.shape[caxis] or len(sizes) != 4:
            raise ModelError(f"Conv2DBackpropInput {node['name']}: filter {kernel.shape} does not fit")
        dil_full = _attr(node, "dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
        if any(dil_full[a] != 1 for a in hw):
            raise ModelError(f"Conv2DBackpropInput {node['name']}: dilations are not supported")
        strides_full = _attr(node, "strides", [1, 1, 1, 1])
        padding = _attr(node, "padding", "VALID")
        begin, end, extra = [], [], []
        for i, axis in enumerate(hw):
            k, stride, size_in, size_out = kernel.shape[i], strides_full[axis], x.shape[axis], sizes[axis]
            full = (size_in - 1) * stride + k
            if padding == "SAME":
                total = max((-(-size_out // stride) - 1) * stride + k - size_out, 0)
                before = total // 2
            elif padding == "VALID":
                before = 0
            else:
                raise ModelError(f"Conv2DBackpropInput {node['name']}: padding {padding} is not supported")
            after = full - before - size_out
            begin.append(before)
            end.append(max(after, 0))
            extra.append(max(-after, 0))
        if any(e >= s for e, s in zip(extra, (strides_full[a] for a in hw), strict=True)):
            raise ModelError(f"Conv2DBackpropInput {node['name']}: output size {sizes} does not fit")
        attrs: dict[str, Any] = {"strides": [strides_full[a] for a in hw], "pads": begin + end}
        if any(extra):
            attrs["output_padding"] = extra
        w = self._initializer(kernel.transpose(3, 2, 0, 1), "deconv_w")
        name = self._emit(
            "ConvTranspose",
            [self._to_perm(x, perm, "to_nchw"), w],
            "deconv",
            kernel_shape=list(kernel.shape[:2]),
            **attrs,
        )[0]
        shape = list(x.shape)
        shape[hw[0]], shape[hw[1]], shape[caxis] = sizes[hw[0]], sizes[hw[1]], kernel.shape[2]
        self._set(node, _Dyn(name, perm, tuple(shape), x.spatial))

    def _concat(self, node: dict[str, Any]) -> None:
        n = self._n_inputs(node)
        axis = int(self._const_in(node, n - 1, "the axis").reshape(-1)[0])
        parts = [self._in(node, i) for i in range(n - 1)]
        if all(isinstance(p, _Const) for p in parts):
            self._set(
                node, _Const(np.concatenate([p.value for p in parts if isinstance(p, _Const)], axis=axis))
            )
            return
        first = next(p for p in parts if isinstance(p, _Dyn))
        rank = len(first.shape)
        axis %= rank
        names = []
        shape = list(first.shape)
        shape[axis] = 0
        spatial = list(first.spatial)
        for p in parts:
            if isinstance(p, _Const):
                names.append(self._const_for(p.value.astype(np.float32), first, "concat_const"))
                shape[axis] += p.value.shape[axis]
            else:
                names.append(self._to_perm(p, first.perm, "concat_in"))
                shape[axis] += p.shape[axis]
                spatial = [x or y for x, y in zip(spatial, p.spatial, strict=True)]
        name = self._emit("Concat", names, "concat", axis=first.perm[axis])[0]
        self._set(node, _Dyn(name, first.perm, tuple(shape), tuple(spatial)))

    def _transpose(self, node: dict[str, Any]) -> None:
        x = self._in(node, 0)
        perm = [int(v) for v in self._const_in(node, 1, "the permutation").reshape(-1)]
        if isinstance(x, _Const):
            self._set(node, _Const(np.transpose(x.value, perm)))
            return
        if sorted(perm) != list(range(len(x.shape))):
            raise ModelError(f"Transpose {node['name']}: {perm} is not a permutation of rank {len(x.shape)}")
        new_perm = tuple(x.perm[p] for p in perm)
        shape = tuple(x.shape[p] for p in perm)
        spatial = tuple(x.spatial[p] for p in perm)
        self._set(node, _Dyn(x.name, new_perm, shape, spatial))

    def _reshape(self, node: dict[str, Any]) -> None:
        x = self._in(node, 0)
        target = [int(v) for v in self._const_in(node, 1, "the shape").reshape(-1)]
        if isinstance(x, _Const):
            self._set(node, _Const(x.value.reshape(target)))
            return
        total = math.prod(x.shape)
        if target.count(-1) > 1:
            raise ModelError(f"Reshape {node['name']}: more than one -1 in {target}")
        static = list(target)
        if -1 in static:
            known = math.prod(d for d in static if d != -1)
            static[static.index(-1)] = total // known if known else 0
        if math.prod(static) != total:
            raise ModelError(f"Reshape {node['name']}: cannot reshape {x.shape} to {target}")
        spatial = [False] * len(target)
        if self.dynamic_hw and any(x.spatial):
            if -1 not in target:
                # a size baked in at the nominal input size: the dimension that holds the spatial
                # extent becomes -1 so that the graph follows the actual input size
                extent = math.prod(d for d, s in zip(x.shape, x.spatial, strict=True) if s)
                candidates = [i for i, d in enumerate(target) if extent and d % extent == 0]
                if len(candidates) != 1:
                    raise ModelError(
                        f"Reshape {node['name']}: cannot make {target} follow the input size; "
                        "convert with dynamic_hw=False"
                    )
                target[candidates[0]] = -1
            spatial[target.index(-1)] = True
        src = self._to_perm(x, _identity(len(x.shape)), "reshape_in")
        shape_name = self._initializer(np.array(target, dtype=np.int64), "shape")
        name = self._emit("Reshape", [src, shape_name], "reshape")[0]
        self._set(node, _Dyn(name, _identity(len(target)), tuple(static), tuple(spatial)))

    def _split(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "split_in")
        sizes = [int(v) for v in self._const_in(node, 1, "size_splits").reshape(-1)]
        axis = int(self._const_in(node, 2, "split_dim").reshape(-1)[0]) % len(x.shape)
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
        if sum(sizes) != x.shape[axis] or any(s < 0 for s in sizes):
            raise ModelError(f"SplitV {node['name']}: sizes {sizes} do not add up to {x.shape[axis]}")
        if x.spatial[axis]:
            raise ModelError(f"SplitV {node['name']}: splitting a spatial axis is not supported")
        split = self._initializer(np.array(sizes, dtype=np.int64), "split")
        outs = self._emit("Split", [x.name, split], "split", n_out=len(sizes), axis=x.perm[axis])
        for i, (out, size) in enumerate(zip(outs, sizes, strict=True)):
            shape = list(x.shape)
            shape[axis] = size
            self._set(node, _Dyn(out, x.perm, tuple(shape), x.spatial), index=i)

    def _resize(self, node: dict[str, Any]) -> None:
        x = self._dyn(self._in(node, 0), "resize_in")
        size = [int(v) for v in self._const_in(node, 1, "the size").reshape(-1)]
        if len(x.shape) != 4 or len(size) != 2:
            raise ModelError(f"ResizeBilinear {node['name']}: expects a 4-D NHWC image and a 2-element size")
        align = bool(_attr(node, "align_corners", False))
        half = bool(_attr(node, "half_pixel_centers", False))
        if align and half:
            raise ModelError(
                f"ResizeBilinear {node['name']}: align_corners with half_pixel_centers is invalid"
            )
        mode = "align_corners" if align else "half_pixel" if half else "asymmetric"
        tf_shape = [x.shape[0], size[0], size[1], x.shape[3]]
        onnx_axis = x.perm  # TF axis i is ONNX axis perm[i]
        if self.dynamic_hw and (x.spatial[1] or x.spatial[2]):
            if align:
                raise ModelError(f"ResizeBilinear {node['name']}: align_corners cannot follow the input size")
            scales = [1.0] * 4
            for axis in (1, 2):
                scales[onnx_axis[axis]] = tf_shape[axis] / x.shape[axis]
            extra = ["", self._initializer(np.array(scales, dtype=np.float32), "scales")]
        else:
            sizes = [0] * 4
            for axis in range(4):
                sizes[onnx_axis[axis]] = tf_shape[axis]
            extra = ["", "", self._initializer(np.array(sizes, dtype=np.int64), "sizes")]
        name = self._emit(
            "Resize", [x.name, *extra], "resize", mode="linear", coordinate_transformation_mode=mode
        )[0]
        self._set(node, _Dyn(name, x.perm, tuple(tf_shape), x.spatial))

    def _sparse_to_dense(self, node: dict[str, Any]) -> None:
        indices = self._const_in(node, 0, "sparse_indices").astype(np.int64)
        shape = [int(v) for v in self._const_in(node, 1, "output_shape").reshape(-1)]
        values = self._const_in(node, 2, "sparse_values")
        default = self._const_in(node, 3, "default_value").reshape(-1)[0]
        dtype = _TF_DTYPES.get(_attr(node, "T", ""), values.dtype.type)
        dense = np.full(shape, default, dtype=dtype)
        if indices.size:
            idx = indices.reshape(indices.shape[0], -1) if indices.ndim > 1 else indices.reshape(-1, 1)
            if len(shape) == 1 and indices.ndim == 1:
                idx = indices.reshape(-1, 1)
            vals = np.broadcast_to(values, (idx.shape[0],))
            for row, val in zip(idx, vals, strict=True):
                dense[tuple(row)] = val
        self._set(node, _Const(dense))

    # ------------------------------------------------------------------ finishing

    def finish(self, outputs: list[str], *, graph_name: str) -> onnx.ModelProto:
        graph_outputs: list[onnx.ValueInfoProto] = []
        taken: set[str] = set()
        for ref in outputs:
            name, index = _split_ref(ref)
            key = f"{name}:{index}"
            if key not in self.values:
                raise ModelError(f"TF.js model output {ref} is not produced by the graph")
            value = self._dyn(self.values[key], "const_out")
            src = self._to_perm(value, _identity(len(value.shape)), "out")
            out_name = name if index == 0 else f"{name}_{index}"
            if out_name in taken:
                raise ModelError(f"duplicate output name {out_name}")
            taken.add(out_name)
            self.nodes.append(helper.make_node("Identity", [src], [out_name], name=self._fresh("Identity")))
            dims: list[int | str] = [
                f"{out_name}_d{i}" if sp and self.dynamic_hw else d
                for i, (d, sp) in enumerate(zip(value.shape, value.spatial, strict=True))
            ]
            graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, dims))
        _fuse(self.nodes, self.initializers, {o.name for o in graph_outputs})
        _bypass_identities(self.nodes, {o.name for o in graph_outputs})
        used = {i for n in self.nodes for i in n.input}
        inits = [numpy_helper.from_array(v, k) for k, v in self.initializers.items() if k in used]
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, graph_outputs, initializer=inits)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="keliu.tfjs_onnx"
        )
        model.ir_version = IR_VERSION
        return model


# --------------------------------------------------------------------------------------------- fusion


def _consumers(nodes: list[onnx.NodeProto]) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def _get_attr(node: onnx.NodeProto, key: str) -> Any:
    for attribute in node.attribute:
        if attribute.name == key:
            return helper.get_attribute_value(attribute)
    return None


def _set_attr(node: onnx.NodeProto, key: str, value: Any) -> None:
    for i, attribute in enumerate(node.attribute):
        if attribute.name == key:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(key, value))


def _fuse(nodes: list[onnx.NodeProto], inits: dict[str, Array], outputs: set[str]) -> None:
    """Fold explicit spatial Pads into Conv/MaxPool and per-channel Adds into the Conv bias."""
    producers = {out: n for n in nodes for out in n.output}
    users = _consumers(nodes)
    dead: set[int] = set()
    for node in nodes:
        if node.op_type not in ("Conv", "MaxPool") or _get_attr(node, "auto_pad") not in (
            None,
            b"NOTSET",
            "NOTSET",
        ):
            continue
        pad = producers.get(node.input[0])
        if (
            pad is None
            or pad.op_type != "Pad"
            or len(users.get(pad.output[0], [])) != 1
            or pad.output[0] in outputs
        ):
            continue
        pads = inits.get(pad.input[1])
        fill = inits.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.array(0.0)
        if pads is None or fill is None or len(pads) != 8 or any(pads[[0, 1, 4, 5]]):
            continue
        fill_value = float(np.asarray(fill).reshape(-1)[0])
        if node.op_type == "Conv" and fill_value != 0.0:
            continue
        if node.op_type == "MaxPool" and not (fill_value == -math.inf or fill_value <= -3.0e38):
            continue
        old = _get_attr(node, "pads") or [0, 0, 0, 0]
        _set_attr(
            node,
            "pads",
            [int(old[0] + pads[2]), int(old[1] + pads[3]), int(old[2] + pads[6]), int(old[3] + pads[7])],
        )
        node.input[0] = pad.input[0]
        dead.add(id(pad))
    users = _consumers([n for n in nodes if id(n) not in dead])
    for node in nodes:
        if node.op_type != "Add" or id(node) in dead:
            continue
        for conv_in, bias_in in ((0, 1), (1, 0)):
            conv = producers.get(node.input[conv_in])
            bias = inits.get(node.input[bias_in])
            if conv is None or conv.op_type != "Conv" or len(conv.input) != 2 or bias is None:
                continue
            if len(users.get(conv.output[0], [])) != 1 or conv.output[0] in outputs:
                continue
            channels = inits[conv.input[1]].shape[0]
            if bias.ndim != 4 or bias.shape[0] != 1 or bias.shape[1] != channels or bias.size != channels:
                continue
            conv.input.append(node.input[bias_in])
            inits[node.input[bias_in]] = bias.reshape(channels).astype(np.float32)
            conv.output[0] = node.output[0]
            dead.add(id(node))
            break
    nodes[:] = [n for n in nodes if id(n) not in dead]


def _bypass_identities(nodes: list[onnx.NodeProto], outputs: set[str]) -> None:
    """Let the last real node write each graph output directly instead of through an Identity."""
    users = _consumers(nodes)
    producers = {out: n for n in nodes for out in n.output}
    dead: set[int] = set()
    for node in nodes:
        if node.op_type != "Identity" or node.output[0] not in outputs:
            continue
        src = producers.get(node.input[0])
        if src is None or len(users.get(node.input[0], [])) != 1 or node.input[0] in outputs:
            continue
        for i, out in enumerate(src.output):
            if out == node.input[0]:
                src.output[i] = node.output[0]
        dead.add(id(node))
    nodes[:] = [n for n in nodes if id(n) not in dead]
