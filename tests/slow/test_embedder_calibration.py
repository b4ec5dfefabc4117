"""`keliu models calibrate VIDEO` on a real video (MOT16-09, 17 s, keliu's own detector and tracker).

1. The provisioned MobileNetV2 calibrated against itself gives back its shipped thresholds (within
   the gap between neighbouring pairs): the rule reproduces the labelled-data measurement.
2. The command end to end with a small network built here (onnx helper API): the thresholds are
   written into the custom embedder's manifest and reach the resolver rules; no crop is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save
from typer.testing import CliRunner

from keliu.calibration import MIN_DIFFERENT, MIN_SAME, calibrate_thresholds, collect_pairs
from keliu.resolve import ResolverRules
from keliu.vision.embedder import AppearanceEmbedder
from keliu.vision.signature import SignatureExtractor

pytestmark = pytest.mark.slow


def test_the_provisioned_network_calibrated_against_itself_keeps_its_thresholds(
    shared_data: Path, embedder_model: Path, nanodet_model: Path
) -> None:
    reference = SignatureExtractor(AppearanceEmbedder(embedder_model))
    evidence = collect_pairs(shared_data / "video" / "MOT16-09.mp4", reference, reference)
    assert len(evidence.same["candidate"]) >= MIN_SAME
    assert len(evidence.different["candidate"]) >= MIN_DIFFERENT
    # same-person halves are more alike than strangers on screen together
    assert np.median(evidence.same["candidate"]) > np.percentile(evidence.different["candidate"], 90)
    result = calibrate_thresholds(evidence)
    shipped = ResolverRules()
    for name, value in result.values.items():
        assert abs(value - getattr(shipped, name)) <= 0.03, (name, value)


def _tiny_network(path: Path) -> Path:
    weights = np.random.default_rng(9).normal(size=(16, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["features"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 64, 32])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, path)
    return path


def test_calibrate_command_records_thresholds(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared_data: Path,
    embedder_model: Path,
    nanodet_model: Path,
) -> None:
    from keliu.cli import app
    from keliu.config import SiteConfig
    from keliu.wiring import resolver_rules

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    # the provisioned models, as `keliu models install` left them, seen from the test's KELIU_HOME
    (home / "models" / "embedder").symlink_to(embedder_model.parent)
    (home / "models" / "nanodet").symlink_to(nanodet_model.parent)
    monkeypatch.setenv("KELIU_HOME", str(home))
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["models", "install", "--embedder", str(_tiny_network(tmp_path / "tiny.onnx")), "--licence", "MIT"],
    )
    assert done.exit_code == 0, done.output
    video = shared_data / "video" / "MOT16-09.mp4"
    result = runner.invoke(app, ["models", "calibrate", str(video)])
    assert result.exit_code == 0, result.output
    assert "match_threshold" in result.output
    manifest = json.loads((home / "models" / "embedder-custom" / "manifest.json").read_text())
    values = manifest["thresholds"]["values"]
    assert manifest["thresholds"]["video"] == "MOT16-09.mp4"
    assert manifest["thresholds"]["same_pairs"] >= MIN_SAME
    assert values["match_threshold"] <= values["staff_threshold"] <= values["exemplar_threshold"]
    site = SiteConfig.model_validate(
        {"site": {"id": "s1", "name": "S"}, "cameras": [{"id": "c1", "source": "door.mp4"}]}
    )
    assert resolver_rules(site).match_threshold == values["match_threshold"]
    # only the manifest and the model are in the custom embedder's folder: nothing from the video
    assert sorted(p.name for p in (home / "models" / "embedder-custom").iterdir()) == [
        "manifest.json",
        "model.onnx",
    ]
