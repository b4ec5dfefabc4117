"""An integrator's own re-identification network in place of the provisioned embedder.

``keliu models install --embedder FILE.onnx --licence TEXT`` checks the file's contract, copies it
under ``$KELIU_HOME/models/embedder-custom/`` and records in ``manifest.json`` what keliu needs to
run it and what an auditor needs to trust it:

* **contract** (checked by ``keliu.vision.embedder.check_contract``, which loads the file with
  onnxruntime and runs one batch of zeros):
  exactly one input, float32, rank 4, NCHW with 3 channels and a fixed height and width; the batch
  dimension symbolic or fixed (a fixed batch is run padded); exactly one output, float32, rank 2,
  ``[N, D]`` with a fixed D ≥ 2, that returns ``[N, D]`` finite values. Anything else is refused
  with one line (``ModelError``: the CLI exits 2);
* **preprocessing**: the input size read from the file, the channel order (``rgb`` or ``bgr``) and
  the per-channel ``mean`` and ``std`` applied as ``(pixel / 255 − mean) / std`` (ImageNet values
  by default, as OSNet and most torchreid/FastReID exports expect);
* **provenance**: the source file name and SHA-256, the installed copy's SHA-256 (checked on every
  load: an edited file is refused), the licence string the integrator declares, the install time;
* **thresholds**: ``null`` until ``keliu models calibrate VIDEO`` writes the match, staff and
  exemplar thresholds measured for this network (``keliu.calibration``).

While it is installed the signature pipeline uses it instead of the provisioned MobileNetV2
(``keliu.wiring.build_appearance_embedder``); ``keliu models remove-embedder`` goes back. Nothing
here runs a crop or downloads anything.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from keliu.errors import ModelError
from keliu.models.install import sha256_file
from keliu.paths import models_dir

__all__ = [
    "CUSTOM_DIR",
    "DEFAULT_MEAN",
    "DEFAULT_STD",
    "InstalledEmbedder",
    "install_embedder",
    "installed_embedder",
    "remove_embedder",
    "save_thresholds",
]

CUSTOM_DIR = "embedder-custom"
ONNX_NAME = "model.onnx"
MANIFEST_VERSION = 1
# ImageNet statistics on pixel/255, RGB: what OSNet and most torchreid/FastReID exports expect (and
# the provisioned MobileNetV2's keliu.vision.embedder.DEFAULT_MEAN / DEFAULT_STD).
DEFAULT_MEAN = (0.485, 0.456, 0.406)
DEFAULT_STD = (0.229, 0.224, 0.225)


class EmbedderContract(Protocol):
    """What the checked file takes and gives (``keliu.vision.embedder.Contract``)."""

    @property
    def input_name(self) -> str: ...
    @property
    def output_name(self) -> str: ...
    @property
    def input_wh(self) -> tuple[int, int]: ...
    @property
    def dim(self) -> int: ...
    @property
    def batch(self) -> int | None: ...


@dataclass(frozen=True)
class InstalledEmbedder:
    """An installed custom embedder: its file, preprocessing and calibrated thresholds (or None)."""

    path: Path
    output_name: str
    input_wh: tuple[int, int]
    dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: Literal["rgb", "bgr"]
    licence: str
    source_sha256: str
    thresholds: dict[str, float] | None


def _triple(
    values: tuple[float, ...] | None, default: tuple[float, float, float], what: str
) -> tuple[float, float, float]:
    vals = tuple(float(v) for v in (default if values is None else values))
    if len(vals) != 3 or not all(np.isfinite(vals)):
        raise ModelError(f"--{what} needs three numbers (one per input channel), got {values}")
    if what == "std" and min(vals) <= 0:
        raise ModelError(f"--std values must be positive, got {values}")
    return (vals[0], vals[1], vals[2])


def install_embedder(
    source: Path,
    contract: EmbedderContract,
    *,
    licence: str,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    channels: str = "rgb",
    root: Path | None = None,
) -> InstalledEmbedder:
    """Install ``source``, whose ``contract`` the caller has checked (``keliu.vision.embedder.
    check_contract``; ``keliu.wiring.install_custom_embedder`` does both), as the custom embedder,
    replacing any earlier one."""
    if not licence.strip():
        raise ModelError("--licence must name the network's licence (e.g. 'MIT (OSNet, KaiyangZhou)')")
    if channels not in ("rgb", "bgr"):
        raise ModelError(f"--channels must be rgb or bgr, got {channels!r}")
    mean3 = _triple(mean, DEFAULT_MEAN, "mean")
    std3 = _triple(std, DEFAULT_STD, "std")
    root = root or models_dir()
    out_dir = root / CUSTOM_DIR
    staging = root / f".{CUSTOM_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copyfile(source, staging / ONNX_NAME)
    manifest: dict[str, Any] = {
        "name": CUSTOM_DIR,
        "manifest_version": MANIFEST_VERSION,
        "source_file": source.name,
        "source_sha256": sha256_file(source),
        "onnx": ONNX_NAME,
        "onnx_sha256": sha256_file(staging / ONNX_NAME),
        "licence": licence.strip(),
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "input": {
            "name": contract.input_name,
            "layout": "NCHW",
            "dtype": "float32",
            "width": contract.input_wh[0],
            "height": contract.input_wh[1],
            "batch": contract.batch,
        },
        "output": {"name": contract.output_name, "dim": contract.dim},
        "preprocessing": {
            "channels": channels,
            "scale": "1/255",
            "mean": list(mean3),
            "std": list(std3),
            "resize": "bilinear to width×height, aspect ratio not kept",
        },
        "thresholds": None,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    found = installed_embedder(root)
    assert found is not None
    return found


def installed_embedder(root: Path | None = None) -> InstalledEmbedder | None:
    """The installed custom embedder, None when there is none; ModelError when it is damaged."""
    out_dir = (root or models_dir()) / CUSTOM_DIR
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        path = out_dir / manifest["onnx"]
        pre, inp, out = manifest["preprocessing"], manifest["input"], manifest["output"]
        channels = pre["channels"]
        if channels not in ("rgb", "bgr"):
            raise ValueError(channels)
        embedder = InstalledEmbedder(
            path=path,
            output_name=str(out["name"]),
            input_wh=(int(inp["width"]), int(inp["height"])),
            dim=int(out["dim"]),
            mean=_triple(tuple(pre["mean"]), DEFAULT_MEAN, "mean"),
            std=_triple(tuple(pre["std"]), DEFAULT_STD, "std"),
            channels=channels,
            licence=str(manifest["licence"]),
            source_sha256=str(manifest["source_sha256"]),
            thresholds={k: float(v) for k, v in manifest["thresholds"]["values"].items()}
            if manifest.get("thresholds")
            else None,
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{manifest_path} is damaged; run `keliu models install --embedder FILE` again "
            "or `keliu models remove-embedder`"
        ) from exc
    if not path.is_file() or sha256_file(path) != manifest.get("onnx_sha256"):
        raise ModelError(
            f"custom embedder {path} is missing or changed since it was installed; "
            "run `keliu models install --embedder FILE` again or `keliu models remove-embedder`"
        )
    return embedder


def save_thresholds(values: dict[str, float], evidence: dict[str, Any], root: Path | None = None) -> None:
    """Record calibrated thresholds (and how they were found) in the custom embedder's manifest."""
    manifest_path = (root or models_dir()) / CUSTOM_DIR / "manifest.json"
    if installed_embedder(root) is None:
        raise ModelError("no custom embedder is installed; run `keliu models install --embedder FILE` first")
    manifest = json.loads(manifest_path.read_text())
    manifest["thresholds"] = {
        "values": {k: round(float(v), 4) for k, v in values.items()},
        "calibrated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **evidence,
    }
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(manifest_path)


def remove_embedder(root: Path | None = None) -> bool:
    """Remove the custom embedder (the provisioned one is used again); False when there was none."""
    out_dir = (root or models_dir()) / CUSTOM_DIR
    if not out_dir.exists():
        return False
    shutil.rmtree(out_dir)
    return True
