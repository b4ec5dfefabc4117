"""Detector decoding (NanoDet GFL, YOLO layouts), letterboxing, NMS and the registry.

The models are tiny synthetic ONNX graphs whose outputs are constants, built here with
onnx.helper: no downloads, no real weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from keliu.errors import ConfigError, ModelError
from keliu.vision.detectors import DETECTORS, Detector, build_detector
from keliu.vision.detectors.base import letterbox_geometry, nms
from keliu.vision.detectors.nanodet import NanoDetDetector
from keliu.vision.detectors.yolo import YoloOnnxDetector


def constant_model(path: Path, outputs: dict[str, np.ndarray], input_shape: list[int | str]) -> Path:
    """An ONNX model with one image input whose outputs are the given constants (+ 0 × the input)."""
    nodes = [
        helper.make_node("ReduceMax", ["images"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_value"))
        nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        outs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------------------------------ helpers


def test_letterbox_geometry_and_back() -> None:
    box = letterbox_geometry((128, 64), (64, 64), keep_aspect=True)
    assert (box.scale_x, box.pad_x, box.pad_y, box.resized_wh) == (0.5, 0, 16, (64, 32))
    xyxy = np.array([[24, 24, 40, 40]], dtype=np.float32)
    np.testing.assert_allclose(box.to_frame(xyxy, (128, 64)), [[48, 16, 80, 48]])
    stretch = letterbox_geometry((128, 64), (64, 64), keep_aspect=False)
    np.testing.assert_allclose(stretch.to_frame(xyxy, (128, 64)), [[48, 24, 80, 40]])


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], dtype=np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.7], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 3, 2]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


# ------------------------------------------------------------------------------------------ nanodet


def nanodet_outputs(w: int, h: int) -> dict[str, np.ndarray]:
    """Empty NanoDet outputs for a w×h input, with one person at stride 8, cell (x=2, y=3)."""
    out = {}
    for k, stride in enumerate((8, 16, 32)):
        cells = (w // stride) * (h // stride)
        scores = np.zeros((1, cells, 80), np.float32)
        boxes = np.zeros((1, cells, 44), np.float32)
        out[f"Identity_{k}"] = scores
        out[f"Identity_{k + 3}"] = boxes
    scores, boxes = out["Identity_0"], out["Identity_3"]
    cell = 3 * (w // 8) + 2
    scores[0, cell, 0] = 0.9  # person
    scores[0, cell + 1, 5] = 0.9  # a bus next to it: ignored
    # distances in bins (× stride): left 1, top 2, right 3, bottom 4 — sharply peaked distributions
    for side, bin_ in enumerate((1, 2, 3, 4)):
        boxes[0, cell, side * 11 + bin_] = 40.0
    return out


def test_nanodet_gfl_decoding_centres_and_scaling(tmp_path: Path) -> None:
    model = constant_model(tmp_path / "nd.onnx", nanodet_outputs(64, 64), [1, 3, "height", "width"])
    det = NanoDetDetector(model, input_wh=(64, 64), score_threshold=0.5)
    assert isinstance(det, Detector)
    found = det.detect(np.zeros((128, 128, 3), np.uint8))  # same aspect: plain ×0.5 resize
    # centre ((2 + 0.5) × 8, (3 + 0.5) × 8) = (20, 28); box 20-8, 28-16, 20+24, 28+32 in input pixels
    np.testing.assert_allclose(found.xyxy, [[24, 24, 88, 120]], atol=1e-3)
    np.testing.assert_allclose(found.confidence, [0.9])
    assert len(det.detect(np.zeros((64, 64, 3), np.uint8))) == 1
    strict = NanoDetDetector(model, input_wh=(64, 64), score_threshold=0.95)
    assert len(strict.detect(np.zeros((64, 64, 3), np.uint8))) == 0


def test_nanodet_letterboxes_when_aspect_ratios_differ(tmp_path: Path) -> None:
    model = constant_model(tmp_path / "nd.onnx", nanodet_outputs(64, 64), [1, 3, "height", "width"])
    det = NanoDetDetector(model, input_wh=(64, 64), score_threshold=0.5)
    found = det.detect(np.zeros((64, 128, 3), np.uint8))  # 2:1 frame → letterbox, scale 0.5, pad_y 16
    np.testing.assert_allclose(found.xyxy, [[24, 0, 88, 64]], atol=1e-3)  # y clipped to the frame


def test_nanodet_rejects_bad_sizes_and_models(tmp_path: Path) -> None:
    model = constant_model(tmp_path / "nd.onnx", nanodet_outputs(64, 64), [1, 3, "height", "width"])
    with pytest.raises(ConfigError, match="multiples of 32"):
        NanoDetDetector(model, input_wh=(100, 64))
    with pytest.raises(ModelError, match="does not give NanoDet outputs"):
        NanoDetDetector(model, input_wh=(96, 64))  # the constants are for 64×64
    with pytest.raises(ModelError, match="not found"):
        NanoDetDetector(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load model"):
        NanoDetDetector(tmp_path / "junk.onnx")


# ------------------------------------------------------------------------------------------ yolo

ANCHORS = 100


def yolo_rows(classes: int, objectness: bool) -> np.ndarray:
    """(N, cols) rows: two overlapping people, one weak person, one car — in 64×64 input pixels."""
    cols = 4 + int(objectness) + classes
    rows = np.zeros((ANCHORS, cols), np.float32)
    first = 5 if objectness else 4
    rows[:, :4] = [5, 5, 2, 2]
    rows[0, :4] = [32, 32, 16, 16]
    rows[1, :4] = [33, 32, 16, 16]
    rows[2, :4] = [10, 10, 8, 8]
    rows[3, :4] = [50, 50, 8, 8]
    rows[0, first + 1] = 0.9  # class 1 is "person" in these tests
    rows[1, first + 1] = 0.8
    rows[2, first + 1] = 0.2
    rows[3, first + 0] = 0.95
    if objectness:
        rows[:4, 4] = 1.0
    return rows


@pytest.mark.parametrize(
    ("layout", "classes", "objectness"),
    [("channel_first", 3, False), ("channel_last", 80, False), ("channel_last", 3, True)],
)
def test_yolo_layouts(tmp_path: Path, layout: str, classes: int, objectness: bool) -> None:
    rows = yolo_rows(classes, objectness)
    output = rows.T[None] if layout == "channel_first" else rows[None]
    model = constant_model(tmp_path / "y.onnx", {"output0": output}, [1, 3, 64, 64])
    det = YoloOnnxDetector(model, person_class=1, score_threshold=0.3)
    assert det.input_wh == (64, 64)
    found = det.detect(np.zeros((64, 128, 3), np.uint8))  # letterbox: scale 0.5, pad_y 16
    np.testing.assert_allclose(found.xyxy, [[48, 16, 80, 48]], atol=1e-4)
    np.testing.assert_allclose(found.confidence, [0.9], atol=1e-6)


def test_yolo_objectness_multiplies_and_can_be_forced(tmp_path: Path) -> None:
    rows = yolo_rows(3, True)
    rows[0, 4] = 0.5  # 0.9 × 0.5 = 0.45 < the second box's 0.8
    model = constant_model(tmp_path / "y.onnx", {"output0": rows[None]}, [1, 3, 64, 64])
    found = YoloOnnxDetector(model, person_class=1, score_threshold=0.3).detect(
        np.zeros((64, 64, 3), np.uint8)
    )
    np.testing.assert_allclose(found.confidence, [0.8], atol=1e-6)
    np.testing.assert_allclose(found.xyxy, [[25, 24, 41, 40]], atol=1e-4)
    with pytest.raises(ModelError, match="person_class 7"):
        YoloOnnxDetector(model, person_class=7)


def test_yolo_dynamic_input_defaults_to_640(tmp_path: Path) -> None:
    model = constant_model(
        tmp_path / "y.onnx", {"output0": yolo_rows(3, False).T[None]}, [1, 3, "height", "width"]
    )
    assert YoloOnnxDetector(model, person_class=1).input_wh == (640, 640)
    assert YoloOnnxDetector(model, person_class=1, input_wh=(320, 192)).input_wh == (320, 192)
    fixed = constant_model(tmp_path / "f.onnx", {"output0": yolo_rows(3, False).T[None]}, [1, 3, 64, 64])
    with pytest.raises(ConfigError, match="fixed 64x64"):
        YoloOnnxDetector(fixed, input_wh=(128, 128))


# ------------------------------------------------------------------------------------------ registry


def test_registry(tmp_path: Path) -> None:
    assert set(DETECTORS) == {"nanodet", "yolo"}
    with pytest.raises(ConfigError, match="known detectors: nanodet, yolo"):
        build_detector("ssd")
    with pytest.raises(ConfigError, match="unknown option"):
        build_detector("nanodet", onnx_path=tmp_path / "x.onnx", colour="red")
    with pytest.raises(ConfigError, match="missing option"):
        build_detector("yolo")
    model = constant_model(tmp_path / "y.onnx", {"output0": yolo_rows(3, False).T[None]}, [1, 3, 64, 64])
    detector = build_detector("yolo", onnx_path=model, person_class=1, score_threshold=0.5)
    assert detector.name == "yolo"
    assert len(detector.detect(np.zeros((64, 64, 3), np.uint8))) == 1
