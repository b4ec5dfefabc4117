"""`keliu embed DIR`: the signature vector of each person crop (for evaluating re-identification), and
the crop reader that staff and exclusion enrolment share (``read_crops``, ``signatures_of``).

Reads the images it is given and writes nothing: no store, no copies of the crops.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.errors import ConfigError

__all__ = ["IMAGE_SUFFIXES", "app", "read_crops", "signatures_of"]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def read_crops(directory: Path) -> list[tuple[str, object]]:
    """(file name, BGR image) of every image file in ``directory``, sorted by name; unreadable → error."""
    import cv2

    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"{directory}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    crops: list[tuple[str, object]] = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or image.size == 0:
            raise ConfigError(f"{path}: not a readable image")
        crops.append((path.name, image))
    return crops


def signatures_of(directory: Path) -> list:  # type: ignore[type-arg]
    from keliu.wiring import build_signature_extractor

    extractor = build_signature_extractor()
    return [sig for _, crop in read_crops(directory) if (sig := extractor.extract([crop])) is not None]  # type: ignore[list-item]


@app.command()
def embed(
    directory: Annotated[Path, typer.Argument(help="Directory of person-crop images.")],
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object per image (the only format).")
    ] = True,
) -> None:
    """Print {"file": NAME, "vector": [...]} per crop: the signature vector (dot product = similarity).

    Reads the images you give it and writes nothing; for evaluating re-identification.
    """
    from keliu.wiring import build_signature_extractor

    extractor = build_signature_extractor()
    for name, crop in read_crops(directory):
        signature = extractor.extract([crop])  # type: ignore[list-item]
        if signature is None:
            raise ConfigError(f"{directory / name}: too small to describe (need at least a few pixels)")
        vector = [round(float(v), 6) for v in signature.vector()]
        sys.stdout.write(json.dumps({"file": name, "vector": vector}) + "\n")
    sys.stdout.flush()
