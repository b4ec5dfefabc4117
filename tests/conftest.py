"""Shared test fixtures: the real data under ../shared and the provisioned models.

Tests that need either fail with a clear message when it is missing; nothing is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Test modules import onnxruntime directly; keep its telemetry off in the test process too
# (keliu.vision.onnx_runtime does it for keliu; tests/slow/test_no_telemetry.py removes this
# variable from the environment of the commands it checks).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "video").is_dir():
        pytest.fail(
            f"real test data not found at {SHARED_DATA} (expected ../shared/data beside the repository)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def nanodet_model() -> Path:
    from keliu.models.install import model_path

    return model_path("nanodet")  # ModelError says to run `keliu models install` (make test does)


@pytest.fixture(scope="session")
def embedder_model() -> Path:
    from keliu.models.install import model_path

    return model_path("embedder")
