"""`keliu models install --embedder FILE.onnx`: contract check, manifest, use by signatures, thresholds.

The networks are built here with the ``onnx`` helper API (no torch): a 1×1 convolution, ReLU and
global average pooling, whose output a few lines of NumPy reproduce exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from keliu.calibration import PairEvidence, calibrate_thresholds
from keliu.errors import ModelError
from keliu.models.custom_embedder import (
    CUSTOM_DIR,
    DEFAULT_MEAN,
    DEFAULT_STD,
    installed_embedder,
    remove_embedder,
    save_thresholds,
)
from keliu.models.install import sha256_file
from keliu.resolve import ResolverRules
from keliu.vision.embedder import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, check_contract, preprocess_crops
from keliu.wiring import install_custom_embedder as install_embedder

W, H, D = 16, 32, 8
WEIGHTS = np.random.default_rng(14).normal(size=(D, 3)).astype(np.float32)


def _model(
    path: Path,
    *,
    input_shape: list[str | int] | None = None,
    input_type: int = TensorProto.FLOAT,
    extra_output: bool = False,
    flatten: bool = True,
) -> Path:
    """Conv1×1(3→D) → ReLU → GlobalAveragePool → Flatten: [N, 3, H, W] → [N, D]."""
    shape: list[str | int] = input_shape if input_shape is not None else ["N", 3, H, W]
    nodes = []
    x = "x"
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
        x = "xf"
    nodes += [
        helper.make_node("Conv", [x, "w"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
    ]
    outputs = []
    if flatten:
        nodes.append(helper.make_node("Flatten", ["p"], ["emb"], axis=1))
        outputs.append(helper.make_tensor_value_info("emb", TensorProto.FLOAT, [shape[0], D]))
    else:
        outputs.append(helper.make_tensor_value_info("p", TensorProto.FLOAT, [shape[0], D, 1, 1]))
    if extra_output:
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [shape[0], D, H, W]))
    graph = helper.make_graph(
        nodes,
        "tiny-reid",
        [helper.make_tensor_value_info("x", input_type, shape)],
        outputs,
        [numpy_helper.from_array(WEIGHTS.reshape(D, 3, 1, 1), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, path)
    return path


def _numpy_embedding(x: np.ndarray) -> np.ndarray:
    """What the tiny network computes, unit-normalised per row."""
    conv = np.einsum("dc,nchw->ndhw", WEIGHTS, x)
    out = np.maximum(conv, 0).mean(axis=(2, 3))
    return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KELIU_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_install_records_contract_preprocessing_hash_and_licence(tmp_path: Path, home: Path) -> None:
    source = _model(tmp_path / "osnet_like.onnx")
    found = install_embedder(
        source, licence="MIT (test network)", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), channels="bgr"
    )
    assert found.input_wh == (W, H) and found.dim == D and found.output_name == "emb"
    assert found.thresholds is None
    manifest = json.loads((home / "models" / CUSTOM_DIR / "manifest.json").read_text())
    assert manifest["source_file"] == "osnet_like.onnx"
    assert manifest["source_sha256"] == sha256_file(source)
    assert manifest["onnx_sha256"] == sha256_file(home / "models" / CUSTOM_DIR / "model.onnx")
    assert manifest["licence"] == "MIT (test network)"
    assert manifest["input"] == {
        "name": "x",
        "layout": "NCHW",
        "dtype": "float32",
        "width": W,
        "height": H,
        "batch": None,
    }
    assert manifest["output"] == {"name": "emb", "dim": D}
    assert manifest["preprocessing"]["channels"] == "bgr"
    assert manifest["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert manifest["preprocessing"]["std"] == [0.25, 0.25, 0.25]
    assert manifest["thresholds"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": ["N", 3, "H", "W"]}, "height and width must be fixed"),
        ({"input_shape": ["N", 1, H, W]}, "3 channels"),
        ({"input_type": TensorProto.UINT8}, "float32"),
        ({"extra_output": True}, "exactly one output"),
        ({"flatten": False}, r"\[N, D\]"),
    ],
)
def test_wrong_contracts_are_refused(tmp_path: Path, home: Path, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    bad = _model(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ModelError, match=message) as caught:
        install_embedder(bad, licence="MIT")
    assert "\n" not in str(caught.value)
    assert installed_embedder() is None  # nothing half-installed
    assert not (home / "models" / CUSTOM_DIR).exists()


def test_default_preprocessing_is_the_provisioned_networks() -> None:
    np.testing.assert_allclose(DEFAULT_MEAN, IMAGENET_MEAN_RGB)
    np.testing.assert_allclose(DEFAULT_STD, IMAGENET_STD_RGB)


def test_not_onnx_and_missing_licence_are_refused(tmp_path: Path, home: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        check_contract(garbage)
    with pytest.raises(ModelError, match="licence"):
        install_embedder(_model(tmp_path / "ok.onnx"), licence="  ")
    with pytest.raises(ModelError, match="--std"):
        install_embedder(_model(tmp_path / "ok.onnx"), licence="MIT", std=(0.2, 0.0, 0.2))
    assert installed_embedder() is None


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KELIU_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "keliu.cli", "models", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_refuses_with_one_line_and_exit_2_then_installs(tmp_path: Path, home: Path) -> None:
    bad = _model(tmp_path / "dynamic.onnx", input_shape=["N", 3, "H", "W"])
    refused = _cli(home, "install", "--embedder", str(bad), "--licence", "MIT")
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "height and width must be fixed" in refused.stderr
    no_licence = _cli(home, "install", "--embedder", str(_model(tmp_path / "ok.onnx")))
    assert no_licence.returncode == 2 and "--licence" in no_licence.stderr
    done = _cli(home, "install", "--embedder", str(tmp_path / "ok.onnx"), "--licence", "Apache-2.0 (test)")
    assert done.returncode == 0, done.stderr
    assert "enrol staff and exclusion exemplars again" in done.stderr
    listed = _cli(home, "list")
    assert "embedder-custom" in listed.stdout and "not calibrated" in listed.stdout


def test_signatures_use_the_installed_network_with_its_preprocessing(tmp_path: Path, home: Path) -> None:
    from keliu.wiring import build_signature_extractor

    install_embedder(
        _model(tmp_path / "net.onnx"),
        licence="MIT",
        mean=(0.4, 0.5, 0.6),
        std=(0.2, 0.25, 0.3),
        channels="bgr",
    )
    rng = np.random.default_rng(5)
    crop = rng.integers(0, 256, (90, 40, 3), dtype=np.uint8)
    signature = build_signature_extractor().extract([crop])
    assert signature is not None and signature.embedding.shape == (D,)
    # the extractor's flip test-time augmentation, with the recorded preprocessing, in NumPy
    small = cv2.resize(crop, (W, H), interpolation=cv2.INTER_LINEAR)
    x = preprocess_crops(
        [small, np.ascontiguousarray(small[:, ::-1])],
        (W, H),
        mean=(0.4, 0.5, 0.6),
        std=(0.2, 0.25, 0.3),
        channels="bgr",
    )
    expected = _numpy_embedding(x).sum(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(signature.embedding, expected, atol=1e-5)
    # the RGB reading of the same network gives another vector: the channel order is really applied
    x_rgb = preprocess_crops([small], (W, H), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), channels="rgb")
    x_bgr = preprocess_crops([small], (W, H), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), channels="bgr")
    assert not np.allclose(_numpy_embedding(x_rgb), _numpy_embedding(x_bgr))


def test_fixed_batch_network_runs_padded(tmp_path: Path, home: Path) -> None:
    from keliu.wiring import build_appearance_embedder

    install_embedder(_model(tmp_path / "b1.onnx", input_shape=[1, 3, H, W]), licence="MIT")
    embedder = build_appearance_embedder(threads=1)
    crops = [np.full((40, 20, 3), v, np.uint8) for v in (10, 120, 250)]
    out = embedder.embed(crops)
    assert out.shape == (3, D)
    x = preprocess_crops(crops, (W, H))
    np.testing.assert_allclose(out, _numpy_embedding(x), atol=1e-5)


def test_changed_file_is_refused_and_removal_goes_back(tmp_path: Path, home: Path) -> None:
    install_embedder(_model(tmp_path / "net.onnx"), licence="MIT")
    installed = home / "models" / CUSTOM_DIR / "model.onnx"
    installed.write_bytes(installed.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="changed since it was installed"):
        installed_embedder()
    assert remove_embedder() is True
    assert installed_embedder() is None
    assert remove_embedder() is False


def test_calibrated_thresholds_reach_the_resolver_rules(tmp_path: Path, home: Path) -> None:
    from keliu.config import SiteConfig
    from keliu.wiring import resolver_rules

    site = SiteConfig.model_validate(
        {"site": {"id": "s1", "name": "S"}, "cameras": [{"id": "c1", "source": "door.mp4"}]}
    )
    assert resolver_rules(site).match_threshold == ResolverRules().match_threshold
    install_embedder(_model(tmp_path / "net.onnx"), licence="MIT")
    assert resolver_rules(site).match_threshold == ResolverRules().match_threshold  # not calibrated yet
    save_thresholds(
        {"match_threshold": 0.55, "staff_threshold": 0.6, "exemplar_threshold": 0.7},
        {"video": "clip.mp4", "tracks": 40, "same_pairs": 30, "different_pairs": 200},
    )
    rules = resolver_rules(site)
    assert (rules.match_threshold, rules.staff_threshold, rules.exemplar_threshold) == (0.55, 0.6, 0.7)
    manifest = json.loads((home / "models" / CUSTOM_DIR / "manifest.json").read_text())
    assert manifest["thresholds"]["values"]["match_threshold"] == 0.55
    assert manifest["thresholds"]["same_pairs"] == 30


def _evidence(same_c: np.ndarray, diff_c: np.ndarray, same_r: np.ndarray, diff_r: np.ndarray) -> PairEvidence:
    ev = PairEvidence(tracks=len(same_c))
    ev.same = {"candidate": list(same_c), "reference": list(same_r)}
    ev.different = {"candidate": list(diff_c), "reference": list(diff_r)}
    return ev


def test_calibration_keeps_the_reference_false_match_rate() -> None:
    rng = np.random.default_rng(0)
    same_r, diff_r = rng.normal(0.78, 0.06, 60), rng.normal(0.50, 0.10, 400)
    # the reference against itself: the shipped thresholds come back (within the gap between pairs)
    itself = calibrate_thresholds(_evidence(same_r, diff_r, same_r, diff_r))
    for name, value in itself.values.items():
        assert abs(value - getattr(ResolverRules(), name)) < 0.03, (name, value)
        _, fmr_r, miss_r, fmr_c, miss_c, anchor = itself.table[name]
        if anchor == "false-match rate":
            assert fmr_c == fmr_r
        else:
            assert fmr_c == 0.0 and abs(miss_c - miss_r) <= 1 / 60
    # a network on another scale (similarities squeezed towards 1, better separated)
    same_c, diff_c = 0.9 + 0.1 * rng.normal(0.6, 0.05, 60), 0.9 + 0.1 * rng.normal(-0.2, 0.3, 400)
    cal = calibrate_thresholds(_evidence(same_c, diff_c, same_r, diff_r))
    match = cal.table["match_threshold"]
    assert match[5] == "false-match rate" and match[3] <= match[1]  # no more false matches
    assert match[4] < match[2]  # and fewer misses than the reference
    assert cal.values["match_threshold"] > 0.9
    assert cal.values["match_threshold"] <= cal.values["staff_threshold"] <= cal.values["exemplar_threshold"]


def test_calibration_needs_enough_pairs() -> None:
    few = np.linspace(0.5, 0.9, 10)
    with pytest.raises(ModelError, match="longer or busier video"):
        calibrate_thresholds(_evidence(few, few, few, few))
