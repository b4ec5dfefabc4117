"""`keliu camera snapshot`: one frame of a camera with its door lines and zones drawn, for installers.

``app`` is the ``camera`` group; ``keliu.cli`` adds it to the ``keliu`` app.

    keliu camera snapshot --config site.yaml --camera door --out door.png
    keliu camera snapshot VIDEO --line door:0.5,0.1,0.5,0.9,0.8,0.5 --out door.png [--grid]

The command grabs one frame (the first, or the first at ``--at-s`` seconds), draws the camera's
lines (inside side marked) and zones with ``keliu.vision.overlay``, and writes the PNG to the path
the user gave, and nowhere else: keliu never stores frames, and this picture exists only because
the user asked for it (it shows whoever is in view; docs/setup.md says to delete it after set-up).
Every option is checked before the camera is opened, so a bad option writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keliu.cli.options import parse_line_option
from keliu.errors import ConfigError, InputError

if TYPE_CHECKING:
    from keliu.config import CameraConfig, SiteConfig
    from keliu.vision.overlay import OverlayLine, OverlayZone

__all__ = ["app", "overlay_items"]

MAX_AT_S = 3600.0

app = typer.Typer(help="摄像头 Camera set-up: snapshots with the lines drawn.", no_args_is_help=True)


def _check_out(out: Path) -> None:
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: give a file name ending in .png")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a directory; give a file name ending in .png")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: directory {out.parent} does not exist")


def _camera(
    video: str | None, lines: list[str] | None, config: Path | None, camera: str | None
) -> tuple[CameraConfig, SiteConfig | None]:
    from pydantic import ValidationError

    from keliu.config import CameraConfig, load_site_config

    if config is not None:
        site = load_site_config(config)
        if camera is None:
            if len(site.cameras) != 1:
                known = ", ".join(c.id for c in site.cameras)
                raise ConfigError(f"{config}: several cameras ({known}); choose one with --camera")
            camera = site.cameras[0].id
        cam = site.camera(camera)
        if video is not None:
            cam = cam.model_copy(update={"source": video})
        if lines:
            cam = cam.model_copy(update={"lines": [parse_line_option(t) for t in lines]})
    else:
        if camera is not None:
            raise ConfigError("--camera needs --config FILE")
        if video is None:
            raise ConfigError("give a VIDEO (file, rtsp://, http://, usb:N) or --config FILE")
        site = None
        cam = CameraConfig(id="cli", source=video)
        if lines:
            cam = cam.model_copy(update={"lines": [parse_line_option(t) for t in lines]})
    ids = [line.id for line in cam.lines]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ConfigError(f"--line: the id(s) {', '.join(repr(i) for i in doubled)} given more than once")
    try:  # model_copy does not validate; re-check the camera as a whole
        cam = CameraConfig.model_validate(cam.model_dump())
    except ValidationError as exc:
        raise ConfigError(f"camera {cam.id}: {exc.errors()[0]['msg']}") from None
    return cam, site


def overlay_items(
    cam: CameraConfig, site: SiteConfig | None = None
) -> tuple[list[OverlayLine], list[OverlayZone]]:
    """The camera's lines (named by the site's entrances where it names them) and zones, to draw."""
    from keliu.vision.overlay import OverlayLine, OverlayZone

    names: dict[str, str] = {}
    if site is not None:
        names = {e.line: e.name for e in site.analytics.entrances if e.camera == cam.id}
    lines = [
        OverlayLine(
            line.id,
            line.a,
            line.b,
            line.inside if line.kind == "door" else None,  # a pass-by line has no store side
            line.kind,
            names.get(line.id),
        )
        for line in cam.lines
    ]
    zones = [OverlayZone(zone.id, tuple(zone.polygon)) for zone in cam.zones]
    return lines, zones


def _grab_frame(source_uri: str, at_s: float):  # type: ignore[no-untyped-def]
    from keliu.vision.snapshot import grab_frame

    try:
        return grab_frame(source_uri, at_s)
    except InputError as exc:
        if str(exc).startswith("the video ends before"):
            raise InputError(f"--at-s {at_s:g}: the video ends before that time") from None
        raise


def _write_png(out: Path, png: bytes) -> None:
    """Write atomically (a partial PNG never replaces the user's file), with the usual umask mode."""
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(png)
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror}") from None


@app.command("snapshot")
def snapshot(
    out: Annotated[
        Path, typer.Option("--out", help="PNG file to write (only there; keliu keeps no copy).")
    ],
    video: Annotated[
        str | None,
        typer.Argument(
            help="Video file, rtsp://…, http://… or usb:N (default: the camera's source).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Site YAML config.", show_default=False)
    ] = None,
    camera: Annotated[
        str | None, typer.Option("--camera", help="Camera id in the site config.", show_default=False)
    ] = None,
    line: Annotated[
        list[str] | None,
        typer.Option(
            "--line",
            help="ID:AX,AY,BX,BY,IX,IY in frame fractions (replaces the config's lines; try one out).",
            show_default=False,
        ),
    ] = None,
    at_s: Annotated[
        float, typer.Option("--at-s", help="Take the first frame at or after this many seconds.")
    ] = 0.0,
    grid: Annotated[
        bool, typer.Option("--grid", help="Also draw a 0.1 grid of frame fractions, to read coordinates.")
    ] = False,
) -> None:
    """Write one frame with the camera's door lines (inside marked) and zones drawn, as a PNG."""
    import cv2

    from keliu.vision.overlay import draw_grid, draw_overlay, legend

    _check_out(out)
    if not 0.0 <= at_s <= MAX_AT_S:
        raise ConfigError(f"--at-s {at_s:g}: give 0 to {MAX_AT_S:g} seconds")
    cam, site = _camera(video, line, config, camera)
    lines, zones = overlay_items(cam, site)
    frame = _grab_frame(cam.source, at_s)
    image = draw_overlay(draw_grid(frame) if grid else frame, lines, zones)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise InputError("the frame could not be encoded as PNG")
    _write_png(out, encoded.tobytes())
    height, width = image.shape[:2]
    print(f"wrote {out} ({width}×{height}, camera {cam.id})", file=sys.stderr)
    for text in legend(lines, zones) or [
        "no lines or zones to draw (give --line or a config with lines)"
    ]:
        print(f"  {text}", file=sys.stderr)
