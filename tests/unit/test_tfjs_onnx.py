"""The TF.js → ONNX converter, op by op, against NumPy implementations of the TensorFlow semantics.

Every test writes a tiny synthetic TF.js graph model (model.json + weights.bin) to tmp_path,
converts it, runs it with onnxruntime and compares with the reference. No network, no npm.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from keliu.errors import ModelError
from keliu.models.tfjs_onnx import convert_tfjs_graph

RNG = np.random.default_rng(7)

# ------------------------------------------------------------------------------------------ graph DSL


@dataclass
class Graph:
    """A TF.js graph under construction; constants keep the value the reference must see."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    weights: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def placeholder(self, name: str, shape: tuple[int, ...]) -> str:
        self.inputs[name] = shape
        dims = [{"size": str(d)} for d in shape]
        self.nodes.append(
            {
                "name": name,
                "op": "Placeholder",
                "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": dims}}},
            }
        )
        return name

    def const(
        self,
        name: str,
        value: Any,
        *,
        dtype: str = "float32",
        quant: str | None = "float16",
        tf_dtype: str | None = None,
    ) -> str:
        arr = np.asarray(value)
        entry: dict[str, Any] = {"name": name, "shape": list(arr.shape), "dtype": dtype}
        if dtype == "int32":
            data = arr.astype("<i4").tobytes()
            ref: np.ndarray = arr.astype(np.int64 if tf_dtype == "DT_INT64" else np.int32)
        elif quant == "float16":
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            data = arr.astype("<f2").tobytes()
            ref = arr.astype(np.float16).astype(np.float32)
        elif quant == "uint8":
            lo, hi = float(arr.min()), float(arr.max())
            scale = (hi - lo) / 255 or 1.0
            q = np.rint((arr - lo) / scale).astype(np.uint8)
            entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo, "original_dtype": "float32"}
            data = q.tobytes()
            ref = (q.astype(np.float32) * np.float32(scale) + np.float32(lo)).astype(np.float32)
        else:
            data = arr.astype("<f4").tobytes()
            ref = arr.astype(np.float32)
        self.weights.append((entry, data))
        self.consts[name] = ref
        node_dtype = tf_dtype or ("DT_INT32" if dtype == "int32" else "DT_FLOAT")
        self.nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": node_dtype}}})
        return name

    def ints(self, name: str, value: Any, tf_dtype: str = "DT_INT32") -> str:
        return self.const(name, np.asarray(value, dtype=np.int64), dtype="int32", tf_dtype=tf_dtype)

    def op(self, op: str, name: str, inputs: list[str], **attr: Any) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": attr})
        return name

    def write(self, directory: Path, outputs: list[str]) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        spec = {
            "format": "graph-model",
            "signature": {"outputs": {f"{o}:0": {"name": f"{o}:0"} for o in outputs}},
            "modelTopology": {"node": self.nodes},
            "weightsManifest": [{"paths": ["weights.bin"], "weights": [w for w, _ in self.weights]}],
        }
        (directory / "model.json").write_text(json.dumps(spec))
        (directory / "weights.bin").write_bytes(b"".join(d for _, d in self.weights))
        return directory / "model.json", directory / "weights.bin"


def s_attr(text: str) -> dict[str, str]:
    return {"s": base64.b64encode(text.encode()).decode()}


def ilist(values: list[int]) -> dict[str, Any]:
    return {"list": {"i": [str(v) for v in values]}}


# ------------------------------------------------------------------------------------------ reference


def ref_conv(
    x: np.ndarray, w: np.ndarray, strides: tuple[int, int], padding: str, dil: tuple[int, int] = (1, 1)
) -> np.ndarray:
    n, h, wd, c = x.shape
    kh, kw, ci, co = w.shape
    sh, sw = strides
    dh, dw = dil
    if padding == "SAME":
        oh, ow = -(-h // sh), -(-wd // sw)
        ph = max((oh - 1) * sh + (kh - 1) * dh + 1 - h, 0)
        pw = max((ow - 1) * sw + (kw - 1) * dw + 1 - wd, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        h, wd = x.shape[1:3]
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (wd - (kw - 1) * dw - 1) // sw + 1
    groups = c // ci
    cog = co // groups
    out = np.zeros((n, oh, ow, co))
    for g in range(groups):
        xs, ws = x[..., g * ci : (g + 1) * ci], w[..., g * cog : (g + 1) * cog]
        for i in range(kh):
            for j in range(kw):
                patch = xs[
                    :, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw
                ]
                out[..., g * cog : (g + 1) * cog] += patch.astype(np.float64) @ ws[i, j].astype(np.float64)
    return out.astype(np.float32)


def ref_maxpool(x: np.ndarray, k: tuple[int, int], s: tuple[int, int]) -> np.ndarray:
    n, h, w, c = x.shape
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    out = np.full((n, oh, ow, c), -np.inf, np.float32)
    for i in range(k[0]):
        for j in range(k[1]):
            out = np.maximum(
                out, x[:, i : i + (oh - 1) * s[0] + 1 : s[0], j : j + (ow - 1) * s[1] + 1 : s[1]]
            )
    return out


def ref_resize(x: np.ndarray, size: list[int], align_corners: bool, half_pixel: bool) -> np.ndarray:
    """tf.image.resize_bilinear (TF1 kernel semantics)."""

    def axis(out_len: int, in_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = (in_len - 1) / (out_len - 1) if align_corners and out_len > 1 else in_len / out_len
        pos = np.arange(out_len, dtype=np.float64)
        src = (pos + 0.5) * scale - 0.5 if half_pixel else pos * scale
        lower = np.floor(src)
        frac = src - lower
        lo = np.clip(lower, 0, in_len - 1).astype(int)
        hi = np.clip(np.ceil(src), 0, in_len - 1).astype(int)
        return lo, hi, frac

    y0, y1, fy = axis(size[0], x.shape[1])
    x0, x1, fx = axis(size[1], x.shape[2])
    fx4, fy4 = fx[None, None, :, None], fy[None, :, None, None]
    top = x[:, y0][:, :, x0] * (1 - fx4) + x[:, y0][:, :, x1] * fx4
    bottom = x[:, y1][:, :, x0] * (1 - fx4) + x[:, y1][:, :, x1] * fx4
    return (top * (1 - fy4) + bottom * fy4).astype(np.float32)


def ref_depthwise(x: np.ndarray, w: np.ndarray, strides: tuple[int, int], padding: str) -> np.ndarray:
    """tf.nn.depthwise_conv2d: filter H×W×C×M, output channel c·M + m."""
    per_channel = [
        ref_conv(x[..., c : c + 1], w[:, :, c : c + 1, :], strides, padding) for c in range(x.shape[3])
    ]
    return np.concatenate(per_channel, axis=3)


def ref_avgpool(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], padding: str) -> np.ndarray:
    """tf.nn.avg_pool: with SAME padding the padded cells are not counted."""
    n, h, w, c = x.shape
    if padding == "SAME":
        oh, ow = -(-h // s[0]), -(-w // s[1])
        ph, pw = max((oh - 1) * s[0] + k[0] - h, 0), max((ow - 1) * s[1] + k[1] - w, 0)
        pads = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
        x, ones = np.pad(x, pads), np.pad(np.ones((1, h, w, 1)), pads)
    else:
        oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
        ones = np.ones((1, h, w, 1))
    total, count = np.zeros((n, oh, ow, c)), np.zeros((1, oh, ow, 1))
    for i in range(k[0]):
        for j in range(k[1]):
            total += x[:, i : i + (oh - 1) * s[0] + 1 : s[0], j : j + (ow - 1) * s[1] + 1 : s[1]]
            count += ones[:, i : i + (oh - 1) * s[0] + 1 : s[0], j : j + (ow - 1) * s[1] + 1 : s[1]]
    return (total / count).astype(np.float32)


def ref_conv_transpose(
    x: np.ndarray, w: np.ndarray, size: list[int], strides: tuple[int, int], padding: str
) -> np.ndarray:
    """tf.nn.conv2d_transpose (Conv2DBackpropInput): filter H×W×out×in, output size N×H×W×C."""
    n, h, wd, _ = x.shape
    kh, kw, co, _ = w.shape
    sh, sw = strides
    full = np.zeros((n, (h - 1) * sh + kh, (wd - 1) * sw + kw, co))
    for i in range(h):
        for j in range(wd):
            full[:, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.einsum(
                "nc,hwoc->nhwo", x[:, i, j].astype(np.float64), w.astype(np.float64)
            )
    begin = []
    for out, k, st in ((size[1], kh, sh), (size[2], kw, sw)):
        total = max((-(-out // st) - 1) * st + k - out, 0) if padding == "SAME" else 0
        begin.append(total // 2)
    full = np.pad(full, ((0, 0), (0, size[1]), (0, size[2]), (0, 0)))  # room for output padding
    return full[:, begin[0] : begin[0] + size[1], begin[1] : begin[1] + size[2]].astype(np.float32)


def reference(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate the graph (nodes are written in order) with NumPy, TF semantics, NHWC."""
    v: dict[str, Any] = {}

    def get(ref: str) -> Any:
        name, _, idx = ref.partition(":")
        return v[f"{name}:{idx or 0}"]

    for node in graph.nodes:
        op, name, attr = node["op"], node["name"], node.get("attr", {})
        ins = [get(r) for r in node.get("input", [])]

        def a(key: str, default: Any = None, attr: dict[str, Any] = attr) -> Any:
            val = attr.get(key)
            if val is None:
                return default
            if "s" in val:
                return base64.b64decode(val["s"]).decode()
            if "list" in val:
                return [int(i) for i in val["list"]["i"]]
            return next(iter(val.values()))

        if op == "Const":
            out = graph.consts[name]
        elif op == "Placeholder":
            out = feeds[name]
        elif op == "Identity":
            out = ins[0]
        elif op == "Conv2D":
            st, dl = a("strides"), a("dilations", [1, 1, 1, 1])
            out = ref_conv(ins[0], ins[1], (st[1], st[2]), a("padding"), (dl[1], dl[2]))
        elif op == "MaxPool":
            k, st = a("ksize"), a("strides")
            out = ref_maxpool(ins[0], (k[1], k[2]), (st[1], st[2]))
        elif op in ("Pad", "PadV2"):
            fill = float(ins[2]) if len(ins) > 2 else 0.0
            out = np.pad(ins[0], ins[1].astype(int), constant_values=fill)
        elif op == "LeakyRelu":
            out = np.where(ins[0] >= 0, ins[0], ins[0] * np.float32(a("alpha", 0.2)))
        elif op == "Sigmoid":
            out = (1 / (1 + np.exp(-ins[0].astype(np.float64)))).astype(np.float32)
        elif op in ("Add", "AddV2"):
            out = ins[0] + ins[1]
        elif op == "Mul":
            out = ins[0] * ins[1]
        elif op == "AddN":
            out = sum(ins[1:], ins[0])
        elif op == "Relu":
            out = np.maximum(ins[0], 0)
        elif op == "Relu6":
            out = np.clip(ins[0], 0, 6)
        elif op == "AvgPool":
            k, st = a("ksize"), a("strides")
            out = ref_avgpool(ins[0], (k[1], k[2]), (st[1], st[2]), a("padding"))
        elif op == "DepthwiseConv2dNative":
            st = a("strides")
            out = ref_depthwise(ins[0], ins[1], (st[1], st[2]), a("padding"))
        elif op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            st = a("strides")
            fused = [base64.b64decode(f).decode() for f in attr["fused_ops"]["list"]["s"]]
            conv_fn = ref_conv if op == "_FusedConv2D" else ref_depthwise
            out = conv_fn(ins[0], ins[1], (st[1], st[2]), a("padding")) + ins[2]
            if "Relu" in fused:
                out = np.maximum(out, 0)
            if "Relu6" in fused:
                out = np.clip(out, 0, 6)
        elif op == "Conv2DBackpropInput":
            st = a("strides")
            out = ref_conv_transpose(ins[2], ins[1], [int(d) for d in ins[0]], (st[1], st[2]), a("padding"))
        elif op == "ConcatV2":
            out = np.concatenate(ins[:-1], axis=int(ins[-1]))
        elif op == "Transpose":
            out = np.transpose(ins[0], ins[1])
        elif op == "Reshape":
            out = ins[0].reshape(ins[1].astype(int))
        elif op == "SplitV":
            sizes = [int(s) for s in ins[1]]
            if -1 in sizes:
                sizes[sizes.index(-1)] = ins[0].shape[int(ins[2])] - (sum(sizes) + 1)
            for k, part in enumerate(np.split(ins[0], np.cumsum(sizes)[:-1], axis=int(ins[2]))):
                v[f"{name}:{k}"] = part
            continue
        elif op == "ResizeBilinear":
            out = ref_resize(
                ins[0], list(ins[1]), bool(a("align_corners", False)), bool(a("half_pixel_centers", False))
            )
        elif op == "SparseToDense":
            out = np.full(ins[1].astype(int), ins[3], dtype=np.int64)
            for row, val in zip(
                ins[0].reshape(len(ins[0]), ins[0].shape[-1] if ins[0].ndim > 1 else 1),
                np.broadcast_to(ins[2], (len(ins[0]),)),
                strict=True,
            ):
                out[tuple(row)] = val
        else:
            raise KeyError(op)
        v[f"{name}:0"] = out
    return {k.removesuffix(":0"): val for k, val in v.items()}


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def check(
    tmp_path: Path,
    graph: Graph,
    outputs: list[str],
    *,
    dynamic_hw: bool = True,
    atol: float = 1e-4,
    feeds: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    model_json, weights = graph.write(tmp_path / "tfjs", outputs)
    out = tmp_path / "model.onnx"
    convert_tfjs_graph(model_json, weights, out, dynamic_hw=dynamic_hw)
    feeds = feeds or {k: RNG.normal(size=s).astype(np.float32) for k, s in graph.inputs.items()}
    expected = reference(graph, feeds)
    got = run_onnx(out, feeds)
    for name in outputs:
        assert got[name].shape == expected[name].shape, name
        np.testing.assert_allclose(got[name], expected[name], atol=atol, rtol=1e-4, err_msg=name)
    return onnx.load(str(out))


def nchw_input(g: Graph, shape: tuple[int, int, int, int] = (1, 3, 16, 16)) -> str:
    """An NCHW placeholder transposed to NHWC, as in the NanoDet graph."""
    g.placeholder("input", shape)
    return g.op("Transpose", "to_nhwc", ["input", g.ints("perm_nhwc", [0, 2, 3, 1])])


def conv(
    g: Graph,
    name: str,
    x: str,
    cin: int,
    cout: int,
    *,
    k: int = 3,
    stride: int = 1,
    padding: str = "VALID",
    groups: int = 1,
    dilation: int = 1,
    rng: np.random.Generator = RNG,
) -> str:
    w = g.const(f"{name}/w", rng.normal(size=(k, k, cin // groups, cout)) * 0.3)
    attrs = {
        "strides": ilist([1, stride, stride, 1]),
        "padding": s_attr(padding),
        "data_format": s_attr("NHWC"),
        "dilations": ilist([1, dilation, dilation, 1]),
    }
    return g.op("Conv2D", name, [x, w], **attrs)


# ------------------------------------------------------------------------------------------ tests


def test_float16_and_uint8_weights_are_dequantized(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 3, 4, 5))
    c16 = g.const("c16", RNG.normal(size=(5,)) * 3.1234567)  # not representable exactly in float16
    c8 = g.const("c8", RNG.normal(size=(4, 5)), quant="uint8")
    c32 = g.const("c32", RNG.normal(size=(5,)), quant=None)
    y = g.op("Add", "y", [x, c16])
    z = g.op("AddV2", "z", [y, c8])
    g.op("Add", "out", [z, c32])
    check(tmp_path, g, ["out"], dynamic_hw=False, atol=1e-6)


def test_conv2d_nhwc_valid_with_explicit_pad_bias_and_leaky_relu(tmp_path: Path) -> None:
    g = Graph()
    x = nchw_input(g, (1, 3, 17, 16))
    p = g.op("Pad", "pad", [x, g.ints("pads", [[0, 0], [1, 1], [1, 1], [0, 0]])])
    c = conv(g, "conv", p, 3, 8, stride=2)
    b = g.op("Add", "bias", [c, g.const("b", RNG.normal(size=(8,)))])
    r = g.op("LeakyRelu", "lrelu", [b], alpha={"f": 0.1})
    c2 = conv(g, "conv1x1", r, 8, 4, k=1)
    g.op("Transpose", "out", [c2, g.ints("perm_nchw", [0, 3, 1, 2])])
    model = check(tmp_path, g, ["out"], dynamic_hw=False)
    ops = [n.op_type for n in model.graph.node]
    # the pad and the bias are fused into the convolution, the layout transposes cancel out
    assert ops == ["Conv", "LeakyRelu", "Conv"]


def test_conv2d_same_padding_dilation_and_groups(tmp_path: Path) -> None:
    g = Graph()
    x = nchw_input(g, (1, 4, 19, 20))
    a = conv(g, "same", x, 4, 6, stride=2, padding="SAME")
    b = conv(g, "dilated", a, 6, 6, dilation=2)
    conv(g, "out", b, 6, 4, groups=2)
    check(tmp_path, g, ["out"], dynamic_hw=False)


def test_maxpool_after_padv2_with_minus_infinity(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("input", (1, 3, 12, 12))
    padded = g.op(
        "PadV2",
        "pad",
        [x, g.ints("pads", [[0, 0], [0, 0], [1, 1], [1, 1]]), g.const("fill", np.float32(-np.inf))],
    )
    t = g.op("Transpose", "nhwc", [padded, g.ints("perm", [0, 2, 3, 1])])
    g.op(
        "MaxPool",
        "out",
        [t],
        ksize=ilist([1, 3, 3, 1]),
        strides=ilist([1, 2, 2, 1]),
        padding=s_attr("VALID"),
        data_format=s_attr("NHWC"),
    )
    model = check(tmp_path, g, ["out"])
    assert "Pad" not in [n.op_type for n in model.graph.node]


def test_concat_split_sigmoid_identity(tmp_path: Path) -> None:
    g = Graph()
    x = nchw_input(g, (1, 3, 8, 8))
    a = conv(g, "a", x, 3, 5, k=1)
    b = conv(g, "b", x, 3, 7, k=1)
    cat = g.op("ConcatV2", "cat", [a, b, g.ints("axis", -1)], N={"i": "2"})
    t = g.op("Transpose", "t", [cat, g.ints("perm", [0, 3, 1, 2])])
    g.op("SplitV", "split", [t, g.ints("sizes", [4, -1]), g.ints("dim", 1)], num_split={"i": "2"})
    g.op("Sigmoid", "sig", ["split"])
    g.op("Identity", "out0", ["sig"])
    g.op("Identity", "out1", ["split:1"])
    check(tmp_path, g, ["out0", "out1"])


@pytest.mark.parametrize(
    ("size", "align", "half"),
    [((16, 16), False, True), ((4, 4), False, True), ((12, 10), False, False), ((13, 9), True, False)],
)
def test_resize_bilinear(tmp_path: Path, size: tuple[int, int], align: bool, half: bool) -> None:
    g = Graph()
    x = nchw_input(g, (1, 2, 8, 8))
    g.op(
        "ResizeBilinear",
        "out",
        [x, g.ints("size", list(size))],
        align_corners={"b": align},
        half_pixel_centers={"b": half},
    )
    check(tmp_path, g, ["out"], dynamic_hw=False, atol=1e-5)


def head(g: Graph, x: str, name: str, classes: int) -> tuple[str, str]:
    """A NanoDet-style head: split into scores/boxes, NCHW flatten with a folded SparseToDense shape."""
    nchw = g.op("Transpose", f"{name}/nchw", [x, g.ints(f"{name}/perm", [0, 3, 1, 2])])
    split = g.op(
        "SplitV",
        f"{name}/split",
        [nchw, g.ints(f"{name}/sizes", [classes, 4]), g.ints(f"{name}/dim", 1)],
        num_split={"i": "2"},
    )
    sig = g.op("Sigmoid", f"{name}/sig", [split])
    zeros = g.op(
        "SparseToDense",
        f"{name}/std",
        [
            g.const(f"{name}/where", np.zeros((0, 1), np.int64), dtype="int32", tf_dtype="DT_INT64"),
            g.ints(f"{name}/n", [3], "DT_INT64"),
            g.const(f"{name}/vals", np.zeros((0,), np.int64), dtype="int32", tf_dtype="DT_INT64"),
            g.ints(f"{name}/zero", 0, "DT_INT64"),
        ],
        T={"type": "DT_INT64"},
        Tindices={"type": "DT_INT64"},
    )
    shape_cls = g.op(
        "AddV2", f"{name}/shape_cls", [g.ints(f"{name}/raw_cls", [1, classes, -1], "DT_INT64"), zeros]
    )
    shape_box = g.op("AddV2", f"{name}/shape_box", [g.ints(f"{name}/raw_box", [1, 4, -1], "DT_INT64"), zeros])
    cls = g.op("Reshape", f"{name}/cls_flat", [sig, shape_cls])
    box = g.op("Reshape", f"{name}/box_flat", [f"{split}:1", shape_box])
    perm = g.ints(f"{name}/perm_out", [0, 2, 1])
    g.op("Transpose", f"{name}_cls", [cls, perm])
    g.op("Transpose", f"{name}_box", [box, perm])
    return f"{name}_cls", f"{name}_box"


def fpn_graph(h: int, w: int) -> Graph:
    """Strided backbone, top-down resize + add, bottom-up resize + add, two NanoDet-style heads.

    The weights depend only on a fixed seed, so graphs built for different sizes share them.
    """
    rng = np.random.default_rng(1)
    g = Graph()
    x = nchw_input(g, (1, 3, h, w))
    p = g.op("Pad", "pad0", [x, g.ints("pads0", [[0, 0], [1, 1], [1, 1], [0, 0]])])
    c8 = conv(g, "c8", p, 3, 6, stride=2, rng=rng)  # /2
    p = g.op("Pad", "pad1", [c8, g.ints("pads1", [[0, 0], [1, 1], [1, 1], [0, 0]])])
    c16 = g.op("LeakyRelu", "c16r", [conv(g, "c16", p, 6, 6, stride=2, rng=rng)], alpha={"f": 0.1})  # /4
    up = g.op(
        "ResizeBilinear",
        "up",
        [c16, g.ints("size_up", [h // 2, w // 2])],
        align_corners={"b": False},
        half_pixel_centers={"b": True},
    )
    top = g.op("Add", "top", [c8, up])
    down = g.op(
        "ResizeBilinear",
        "down",
        [top, g.ints("size_down", [h // 4, w // 4])],
        align_corners={"b": False},
        half_pixel_centers={"b": True},
    )
    bottom = g.op("Add", "bottom", [c16, down])
    head(g, conv(g, "h8", top, 6, 7, k=1, rng=rng), "s2", 3)
    head(g, conv(g, "h16", bottom, 6, 7, k=1, rng=rng), "s4", 3)
    return g


OUTPUTS = ["s2_cls", "s2_box", "s4_cls", "s4_box"]


def test_fpn_and_head_with_folded_sparse_to_dense(tmp_path: Path) -> None:
    model = check(tmp_path, fpn_graph(16, 24), OUTPUTS)
    assert {n.op_type for n in model.graph.node} <= {
        "Conv",
        "LeakyRelu",
        "Resize",
        "Add",
        "Split",
        "Sigmoid",
        "Reshape",
        "Transpose",
    }
    assert sum(n.op_type == "Transpose" for n in model.graph.node) == 4  # only the [1, N, C] outputs


@pytest.mark.parametrize(("h", "w"), [(32, 32), (64, 96), (96, 32)])
def test_dynamic_hw_matches_a_graph_built_for_that_size(tmp_path: Path, h: int, w: int) -> None:
    """Converted at 16×16, the model must give what the same graph authored for h×w gives."""
    model_json, weights = fpn_graph(16, 16).write(tmp_path / "tfjs", OUTPUTS)
    out = tmp_path / "dyn.onnx"
    convert_tfjs_graph(model_json, weights, out, dynamic_hw=True)
    sized = fpn_graph(h, w)
    feeds = {"input": RNG.normal(size=(1, 3, h, w)).astype(np.float32)}
    expected = reference(sized, feeds)
    got = run_onnx(out, feeds)
    for name in OUTPUTS:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-4, rtol=1e-4, err_msg=name)
    cells = (h // 2) * (w // 2)
    assert got["s2_cls"].shape == (1, cells, 3)


def test_baked_spatial_reshape_is_made_dynamic(tmp_path: Path) -> None:
    g = Graph()
    x = nchw_input(g, (1, 3, 8, 8))
    c = conv(g, "c", x, 3, 5, k=1)
    g.op("Reshape", "out", [c, g.ints("shape", [1, 64, 5])])
    model_json, weights = g.write(tmp_path / "tfjs", ["out"])
    convert_tfjs_graph(model_json, weights, tmp_path / "m.onnx")
    feeds = {"input": RNG.normal(size=(1, 3, 8, 8)).astype(np.float32)}
    np.testing.assert_allclose(
        run_onnx(tmp_path / "m.onnx", feeds)["out"], reference(g, feeds)["out"], atol=1e-4
    )
    bigger = run_onnx(tmp_path / "m.onnx", {"input": RNG.normal(size=(1, 3, 16, 24)).astype(np.float32)})[
        "out"
    ]
    assert bigger.shape == (1, 16 * 24, 5)


def test_dynamic_input_is_symbolic(tmp_path: Path) -> None:
    model_json, weights = fpn_graph(16, 16).write(tmp_path / "tfjs", OUTPUTS)
    convert_tfjs_graph(model_json, weights, tmp_path / "d.onnx")
    convert_tfjs_graph(model_json, weights, tmp_path / "s.onnx", dynamic_hw=False)
    dims = [
        d.dim_param or d.dim_value
        for d in onnx.load(str(tmp_path / "d.onnx")).graph.input[0].type.tensor_type.shape.dim
    ]
    assert dims == [1, 3, "height", "width"]
    dims = [
        d.dim_param or d.dim_value
        for d in onnx.load(str(tmp_path / "s.onnx")).graph.input[0].type.tensor_type.shape.dim
    ]
    assert dims == [1, 3, 16, 16]


def test_unknown_op_is_named(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 3, 8, 8))
    g.op("Softplus", "out", [x])
    model_json, weights = g.write(tmp_path, ["out"])
    with pytest.raises(ModelError, match="Softplus"):
        convert_tfjs_graph(model_json, weights, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_truncated_weights_and_missing_files(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 3, 4, 4))
    g.op("Add", "out", [x, g.const("c", np.ones(4))])
    model_json, weights = g.write(tmp_path, ["out"])
    weights.write_bytes(weights.read_bytes()[:-2])
    with pytest.raises(ModelError, match="truncated"):
        convert_tfjs_graph(model_json, weights, tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="not found"):
        convert_tfjs_graph(tmp_path / "nope.json", weights, tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="not found"):
        convert_tfjs_graph(model_json, tmp_path / "nope.bin", tmp_path / "m.onnx")


def test_not_a_graph_model(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"modelTopology": {"class_name": "Sequential"}}')
    with pytest.raises(ModelError, match=r"not a TensorFlow\.js graph model"):
        convert_tfjs_graph(tmp_path / "m.json", tmp_path / "w.bin", tmp_path / "m.onnx")


# ------------------------------------------------------------------ the segmentation models' ops


def window_attrs(stride: int, padding: str, *, k: int | None = None) -> dict[str, Any]:
    attrs = {
        "strides": ilist([1, stride, stride, 1]),
        "padding": s_attr(padding),
        "data_format": s_attr("NHWC"),
    }
    if k is not None:
        attrs["ksize"] = ilist([1, k, k, 1])
    return attrs


@pytest.mark.parametrize(("stride", "padding", "mult"), [(1, "SAME", 1), (2, "SAME", 2), (2, "VALID", 1)])
def test_depthwise_conv(tmp_path: Path, stride: int, padding: str, mult: int) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 11, 9, 4))
    w = g.const("dw/w", RNG.normal(size=(3, 3, 4, mult)) * 0.3)
    g.op("DepthwiseConv2dNative", "dw", [x, w], **window_attrs(stride, padding))
    check(tmp_path, g, ["dw"], dynamic_hw=False)


@pytest.mark.parametrize(
    ("k", "stride", "padding"), [(3, 1, "SAME"), (2, 2, "SAME"), (3, 2, "VALID"), (8, 8, "VALID")]
)
def test_avgpool(tmp_path: Path, k: int, stride: int, padding: str) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 8, 8, 3))
    g.op("AvgPool", "pool", [x], **window_attrs(stride, padding, k=k))
    check(tmp_path, g, ["pool"], dynamic_hw=False)


@pytest.mark.parametrize(
    ("size", "k", "stride", "padding"),
    [
        ((1, 16, 12, 3), 2, 2, "SAME"),
        ((1, 15, 11, 3), 3, 2, "SAME"),
        ((1, 17, 13, 3), 3, 2, "VALID"),
        ((1, 8, 6, 3), 3, 1, "SAME"),
    ],
)
def test_conv2d_backprop_input(
    tmp_path: Path, size: tuple[int, ...], k: int, stride: int, padding: str
) -> None:
    g = Graph()
    x_shape = (1, -(-size[1] // stride), -(-size[2] // stride), 5)
    if padding == "VALID":
        x_shape = (1, (size[1] - k) // stride + 1, (size[2] - k) // stride + 1, 5)
    x = g.placeholder("x", x_shape)
    out_size = g.ints("up/size", list(size))
    w = g.const("up/w", RNG.normal(size=(k, k, size[3], 5)) * 0.3)
    g.op("Conv2DBackpropInput", "up", [out_size, w, x], **window_attrs(stride, padding))
    check(tmp_path, g, ["up"], dynamic_hw=False)


def test_conv2d_backprop_input_cannot_follow_a_dynamic_size(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 4, 4, 2))
    out_size = g.ints("up/size", [1, 8, 8, 2])
    w = g.const("up/w", RNG.normal(size=(2, 2, 2, 2)))
    g.op("Conv2DBackpropInput", "up", [out_size, w, x], **window_attrs(2, "SAME"))
    model_json, weights = g.write(tmp_path / "tfjs", ["up"])
    with pytest.raises(ModelError, match="dynamic_hw=False"):
        convert_tfjs_graph(model_json, weights, tmp_path / "m.onnx", dynamic_hw=True)


def test_selfie_like_block(tmp_path: Path) -> None:
    """The segmentation graphs' building blocks in one graph: hard-swish (Add const, Relu6, Mul, Mul
    const), a squeeze-excite gate (global AvgPool, conv, Relu, Sigmoid, Mul broadcast), AddN, a
    transposed convolution back to full size and a final Sigmoid."""
    g = Graph()
    x = g.placeholder("x", (1, 16, 16, 3))
    c1 = conv(g, "c1", x, 3, 8, k=3, stride=2, padding="SAME")
    plus3 = g.op("Add", "plus3", [g.const("three", np.float32(3.0), quant=None), c1])
    r6 = g.op("Relu6", "r6", [plus3])
    hs = g.op("Mul", "hs", [g.op("Mul", "sixth", [g.const("k6", np.float32(1 / 6), quant=None), r6]), c1])
    dw = g.op(
        "DepthwiseConv2dNative",
        "dw",
        [hs, g.const("dw/w", RNG.normal(size=(3, 3, 8, 1)) * 0.3)],
        **window_attrs(1, "SAME"),
    )
    pooled = g.op("AvgPool", "gap", [dw], **window_attrs(8, "VALID", k=8))
    se = g.op(
        "Sigmoid",
        "se",
        [conv(g, "se/c", g.op("Relu", "se/r", [conv(g, "se/a", pooled, 8, 4, k=1)]), 4, 8, k=1)],
    )
    gated = g.op("Mul", "gated", [dw, se])
    summed = g.op("AddN", "sum", [gated, hs, dw], N={"i": "3"})
    up = g.op(
        "Conv2DBackpropInput",
        "up",
        [g.ints("up/size", [1, 16, 16, 1]), g.const("up/w", RNG.normal(size=(2, 2, 1, 8)) * 0.3), summed],
        **window_attrs(2, "SAME"),
    )
    g.op("Sigmoid", "mask", [up])
    check(tmp_path, g, ["mask", "sum"], dynamic_hw=False)


def fused_attrs(stride: int, padding: str, ops: list[str]) -> dict[str, Any]:
    return {
        **window_attrs(stride, padding),
        "dilations": ilist([1, 1, 1, 1]),
        "num_args": {"i": "1"},
        "fused_ops": {"list": {"s": [base64.b64encode(o.encode()).decode() for o in ops]}},
    }


@pytest.mark.parametrize(
    ("op", "ops", "stride", "padding"),
    [
        ("_FusedConv2D", ["BiasAdd"], 1, "SAME"),
        ("_FusedConv2D", ["BiasAdd", "Relu6"], 2, "VALID"),
        ("_FusedConv2D", ["BiasAdd", "Relu"], 1, "VALID"),
        ("FusedDepthwiseConv2dNative", ["BiasAdd", "Relu6"], 1, "SAME"),
        ("FusedDepthwiseConv2dNative", ["BiasAdd", "Relu6"], 2, "VALID"),
    ],
)
def test_fused_convolutions(tmp_path: Path, op: str, ops: list[str], stride: int, padding: str) -> None:
    """BlazePose's fused forms: convolution + bias + activation in one node, batch given as -1."""
    g = Graph()
    x = g.placeholder("x", (1, 10, 9, 4))
    g.nodes[-1]["attr"]["shape"]["shape"]["dim"][0] = {"size": "-1"}  # unknown batch, as BlazePose's
    depthwise = op == "FusedDepthwiseConv2dNative"
    w = g.const("f/w", RNG.normal(size=(3, 3, 4, 1 if depthwise else 6)) * 0.5)
    b = g.const("f/b", RNG.normal(size=(4 if depthwise else 6,)), quant=None)
    g.op(op, "f", [x, w, b], **fused_attrs(stride, padding, ops))
    model = check(tmp_path, g, ["f"], dynamic_hw=False)
    assert [n.op_type for n in model.graph.node if n.op_type == "Add"] == []  # the bias is in the Conv


def test_unsupported_fused_ops_are_refused(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", (1, 6, 6, 2))
    w, b = g.const("f/w", RNG.normal(size=(1, 1, 2, 2))), g.const("f/b", np.zeros(2), quant=None)
    g.op("_FusedConv2D", "f", [x, w, b], **fused_attrs(1, "SAME", ["BiasAdd", "Elu"]))
    model_json, weights = g.write(tmp_path / "tfjs", ["f"])
    with pytest.raises(ModelError, match="fused ops"):
        convert_tfjs_graph(model_json, weights, tmp_path / "m.onnx", dynamic_hw=False)
