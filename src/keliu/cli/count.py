"""`keliu count` and `keliu track`: line crossings as JSON lines, or every track as MOTChallenge rows.

Contract (stable, other tools rely on it): `keliu count` prints one JSON object per crossing on
stdout in time order; progress and logs go to stderr. Both read video only: they write no store, and
`track` writes nothing but the ``--mot`` file. The options name a camera (``--config``/``--camera``
or a VIDEO with ``--line``) and its detector; the loop itself is ``keliu.runtime.camera`` (the
one camera loop of every runner), reached through ``keliu.cli.video``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.cli.options import CameraOpt, ConfigOpt, LineOpt, StrideOpt, VideoArg, parse_line_options
from keliu.cli.video import camera_steps, progress_logger
from keliu.config import CameraConfig, SiteConfig, load_site_config
from keliu.errors import ConfigError

__all__ = ["TRACK_INTERPOLATION_S", "app"]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise ConfigError(f"--input-size {text!r}: expected WxH, e.g. 960x544") from None
    if not sep or min(size) < 32 or size[0] % 32 or size[1] % 32:
        raise ConfigError(f"--input-size {text!r}: width and height must be multiples of 32")
    return size


def _camera_from_args(
    video: str | None,
    lines: list[str] | None,
    config: Path | None,
    camera: str | None,
    detector: str | None,
    model: Path | None,
    input_size: str | None,
    score: float | None,
) -> CameraConfig:
    if config is not None:
        site: SiteConfig = load_site_config(config)
        if camera is None:
            if len(site.cameras) != 1:
                raise ConfigError(f"{config}: several cameras; choose one with --camera")
            camera = site.cameras[0].id
        cam = site.camera(camera)
        if video is not None:
            cam = cam.model_copy(update={"source": video})
        if lines:
            cam = cam.model_copy(update={"lines": parse_line_options(lines)})
    else:
        if video is None:
            raise ConfigError("give a VIDEO (file, rtsp://, http://, usb:N) or --config FILE")
        cam = CameraConfig(id="cli", source=video, lines=parse_line_options(lines or []))
    updates: dict[str, object] = {}
    if detector is not None:
        updates["name"] = detector
    if model is not None:
        updates["model_path"] = model
    if input_size is not None:
        updates["input_wh"] = _parse_size(input_size)
    if score is not None:
        updates["score_threshold"] = score
    if updates:
        try:
            detector_config = type(cam.detector).model_validate({**cam.detector.model_dump(), **updates})
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"detector: {message}") from None
        cam = cam.model_copy(update={"detector": detector_config})
    return cam


# Gaps of a track up to this long (skipped frames, a missed detection) are filled by interpolation
# in `keliu track` output; measured in bench/tracking_metrics.py.
TRACK_INTERPOLATION_S = 1.0

DetectorOpt = Annotated[
    str | None, typer.Option("--detector", help="nanodet (default) or yolo.", show_default=False)
]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="ONNX file for --detector yolo.", show_default=False)
]
SizeOpt = Annotated[str | None, typer.Option("--input-size", help="Network input WxH (multiples of 32).")]
ScoreOpt = Annotated[
    float | None, typer.Option("--score", help="Detection score threshold.", show_default=False)
]


@app.command()
def count(
    video: VideoArg = None,
    line: LineOpt = None,
    config: ConfigOpt = None,
    camera: CameraOpt = None,
    detector: DetectorOpt = None,
    model: ModelOpt = None,
    input_size: SizeOpt = None,
    score: ScoreOpt = None,
    stride: StrideOpt = None,
) -> None:
    """Count line crossings: one JSON object per crossing on stdout, in time order."""
    cam = _camera_from_args(video, line, config, camera, detector, model, input_size, score)
    if not cam.lines:
        raise ConfigError("no counting lines: give --line ID:AX,AY,BX,BY,IX,IY or lines in --config")
    progress = progress_logger(cam.id)
    for step in camera_steps(cam, stride):
        progress(step)
        for event in step.crossings:
            record = {
                "line": event.line_id,
                "direction": event.direction,
                "t": round(event.t_s, 3),
                "track": event.track_id,
            }
            sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


@app.command()
def track(
    video: VideoArg = None,
    mot: Annotated[Path, typer.Option("--mot", help="Output file (MOTChallenge format).")] = Path(
        "tracks.txt"
    ),
    config: ConfigOpt = None,
    camera: CameraOpt = None,
    detector: DetectorOpt = None,
    model: ModelOpt = None,
    input_size: SizeOpt = None,
    score: ScoreOpt = None,
    stride: StrideOpt = None,
    min_conf: Annotated[
        float,
        typer.Option(
            "--min-conf", help="Write boxes at or above this confidence (low ones still extend tracks)."
        ),
    ] = 0.45,
) -> None:
    """Write all tracks as MOTChallenge rows: frame,id,x,y,w,h,conf,-1,-1,-1 (frames 1-based, pixels)."""
    from keliu.evaluation.mot import MotRow, interpolate_gaps, write_mot

    cam = _camera_from_args(video, None, config, camera, detector, model, input_size, score)
    if not mot.parent.is_dir():
        raise ConfigError(f"--mot {mot}: directory {mot.parent} does not exist")
    rows: list[MotRow] = []
    fps_seen: list[float] = []
    progress = progress_logger(cam.id)
    for step in camera_steps(cam, stride):
        progress(step)
        frame, result = step.frame, step.result
        if frame is None:
            continue
        if frame.index and not fps_seen and frame.t_s > 0:
            fps_seen.append(frame.index / frame.t_s)
        for box in result.boxes:
            if box.confidence < min_conf:
                continue  # the gap is filled by interpolation if the track goes on
            x1, y1, x2, y2 = box.xyxy
            rows.append(
                MotRow(result.frame_index + 1, box.track_id, x1, y1, x2 - x1, y2 - y1, box.confidence)
            )
    fps = fps_seen[0] if fps_seen else 25.0
    rows = interpolate_gaps(rows, max_gap_frames=max(1, round(TRACK_INTERPOLATION_S * fps)))
    write_mot(rows, mot)
    print(f"wrote {len(rows)} rows of {len({r.track_id for r in rows})} tracks to {mot}", file=sys.stderr)
